#include "collector/scheduler.h"

#include <algorithm>

namespace isdas::collector {

Scheduler::Scheduler(Clock clock) : clock_(std::move(clock)) {}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::Add(std::string name, int64_t interval_us, std::function<void()> task) {
  MutexLock lock(&mu_);
  Task t{name, std::max<int64_t>(interval_us, 1), std::move(task), INT64_MIN, {}};
  t.stats.name = std::move(name);
  tasks_.push_back(std::move(t));
}

int64_t Scheduler::RunDue(int64_t now_us) {
  MutexLock run(&run_mu_);
  for (;;) {
    // The task most overdue, if any is due.
    size_t pick = SIZE_MAX;
    std::function<void()> fn;
    {
      MutexLock lock(&mu_);
      if (stopping_) break;
      for (size_t i = 0; i < tasks_.size(); ++i) {
        if (tasks_[i].due_us <= now_us &&
            (pick == SIZE_MAX || tasks_[i].due_us < tasks_[pick].due_us)) {
          pick = i;
        }
      }
      if (pick == SIZE_MAX) break;
      tasks_[pick].due_us = now_us + tasks_[pick].interval_us;
      fn = tasks_[pick].fn;
    }
    const int64_t start = clock_();
    fn();
    const int64_t end = clock_();
    MutexLock lock(&mu_);
    Stats& s = tasks_[pick].stats;
    ++s.runs;
    s.last_start_us = start;
    s.last_duration_us = end - start;
  }
  MutexLock lock(&mu_);
  int64_t next = INT64_MAX;
  for (const Task& t : tasks_) next = std::min(next, t.due_us);
  return next;
}

void Scheduler::Start() {
  thread_ = std::thread([this] {
    for (;;) {
      const int64_t next = RunDue(clock_());
      MutexLock lock(&mu_);
      if (stopping_) return;
      const int64_t wait_us = next == INT64_MAX ? 3600LL * 1000000 : next - clock_();
      if (wait_us > 0) cv_.WaitFor(&mu_, std::chrono::microseconds(wait_us));
      if (stopping_) return;
    }
  });
}

void Scheduler::Stop() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
    cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

std::vector<Scheduler::Stats> Scheduler::stats() const {
  MutexLock lock(&mu_);
  std::vector<Stats> out;
  for (const Task& t : tasks_) out.push_back(t.stats);
  return out;
}

}  // namespace isdas::collector
