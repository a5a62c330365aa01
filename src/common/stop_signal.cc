#include "common/stop_signal.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <thread>

namespace isdas {
namespace {

int g_pipe[2] = {-1, -1};

void OnSignal(int) {
  const char b = 1;
  (void)!write(g_pipe[1], &b, 1);
}

}  // namespace

bool StopFlag::Wait(std::optional<std::chrono::milliseconds> timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout.value_or(std::chrono::hours(1));
  MutexLock lock(&mu_);
  while (!stop_requested()) {
    if (!timeout) {
      cv_.Wait(&mu_);
    } else if (cv_.WaitUntil(&mu_, deadline)) {
      return stop_requested();
    }
  }
  return true;
}

void StopFlag::Request() {
  MutexLock lock(&mu_);
  requested_.store(true, std::memory_order_relaxed);
  cv_.SignalAll();
}

StopFlag& StopSignal::Install() {
  static StopFlag* flag = [] {
    auto* f = new StopFlag();
    if (pipe2(g_pipe, O_CLOEXEC) != 0) g_pipe[0] = g_pipe[1] = -1;
    // The watcher: a byte in the pipe means a signal came.
    std::thread([f] {
      char b;
      while (read(g_pipe[0], &b, 1) == 1 || errno == EINTR) f->Request();
    }).detach();
    struct sigaction sa {};
    sa.sa_handler = OnSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
    return f;
  }();
  return *flag;
}

}  // namespace isdas
