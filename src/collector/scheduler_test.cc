#include "collector/scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

namespace isdas::collector {
namespace {

TEST(Scheduler, TasksRunAtStartThenEveryIntervalInDueOrder) {
  int64_t now = 1000;
  Scheduler s([&] { return now; });
  std::vector<std::string> ran;
  s.Add("retention", 100, [&] { ran.push_back("retention"); });
  s.Add("reports", 30, [&] { ran.push_back("reports"); });
  EXPECT_EQ(s.RunDue(now), 1030);  // both ran at start; reports is due first
  EXPECT_EQ(ran, (std::vector<std::string>{"retention", "reports"}));
  ran.clear();
  EXPECT_EQ(s.RunDue(1029), 1030);  // nothing due yet
  EXPECT_TRUE(ran.empty());
  EXPECT_EQ(s.RunDue(1065), 1095);  // reports once, never twice to catch up
  EXPECT_EQ(ran, (std::vector<std::string>{"reports"}));
  ran.clear();
  EXPECT_EQ(s.RunDue(1100), 1130);  // both due: reports (since 1095) before retention (1100)
  EXPECT_EQ(ran, (std::vector<std::string>{"reports", "retention"}));
  const auto st = s.stats();
  ASSERT_EQ(st.size(), 2u);
  EXPECT_EQ(st[0].runs, 2u);
  EXPECT_EQ(st[1].runs, 3u);
}

TEST(Scheduler, ATaskLongerThanItsIntervalRunsAgainOnceNotInABurst) {
  int64_t now = 0;
  Scheduler s([&] { return now; });
  int runs = 0;
  s.Add("slow", 10, [&] { ++runs; });
  s.RunDue(0);
  EXPECT_EQ(s.RunDue(1000), 1010);  // 100 intervals late: one run
  EXPECT_EQ(runs, 2);
}

TEST(Scheduler, StopWakesTheThreadWithoutWaitingOutTheInterval) {
  std::atomic<int> runs{0};
  Scheduler s([] { return int64_t{0}; });  // time stands still: the next run is an hour off
  s.Add("hourly", 3600LL * 1000000, [&] { ++runs; });
  s.Start();
  while (runs.load() == 0) std::this_thread::yield();  // the run at start
  s.Stop();  // would hang for an hour (and the test time out) if it only polled
  EXPECT_EQ(runs.load(), 1);
}

}  // namespace
}  // namespace isdas::collector
