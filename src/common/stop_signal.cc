#include "common/stop_signal.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <thread>

namespace isdas {
namespace {

std::atomic<bool> g_requested{false};
int g_pipe[2] = {-1, -1};
std::mutex g_mu;
std::condition_variable g_cv;

void OnSignal(int) {
  g_requested.store(true, std::memory_order_relaxed);
  const char b = 1;
  (void)!write(g_pipe[1], &b, 1);
}

}  // namespace

StopSignal& StopSignal::Install() {
  static StopSignal* s = [] {
    if (pipe2(g_pipe, O_CLOEXEC) != 0) g_pipe[0] = g_pipe[1] = -1;
    // The watcher: a byte in the pipe means a signal came.
    std::thread([] {
      char b;
      while (read(g_pipe[0], &b, 1) == 1 || errno == EINTR) {
        { std::lock_guard<std::mutex> lock(g_mu); }
        g_cv.notify_all();
      }
    }).detach();
    struct sigaction sa {};
    sa.sa_handler = OnSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
    return new StopSignal();
  }();
  return *s;
}

bool StopSignal::stop_requested() const { return g_requested.load(std::memory_order_relaxed); }

bool StopSignal::Wait(std::optional<std::chrono::milliseconds> timeout) {
  std::unique_lock<std::mutex> lock(g_mu);
  auto done = [] { return g_requested.load(std::memory_order_relaxed); };
  if (!timeout) {
    g_cv.wait(lock, done);
    return true;
  }
  return g_cv.wait_for(lock, *timeout, done);
}

void StopSignal::Request() {
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g_requested.store(true, std::memory_order_relaxed);
  }
  g_cv.notify_all();
}

}  // namespace isdas
