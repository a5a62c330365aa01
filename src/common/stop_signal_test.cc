#include "common/stop_signal.h"

#include <gtest/gtest.h>

#include <csignal>
#include <thread>

namespace isdas {
namespace {

TEST(StopSignal, ASignalWakesAWaiter) {
  StopFlag& s = StopSignal::Install();
  EXPECT_FALSE(s.stop_requested());
  EXPECT_FALSE(s.Wait(std::chrono::milliseconds(1)));  // nothing yet: the wait times out
  std::thread waiter([&] { EXPECT_TRUE(s.Wait()); });  // blocks until the signal
  ASSERT_EQ(raise(SIGTERM), 0);                        // handled: the process goes on
  waiter.join();
  EXPECT_TRUE(s.stop_requested());
  EXPECT_TRUE(s.Wait(std::chrono::milliseconds(1)));
  EXPECT_EQ(&StopSignal::Install(), &s);
}

TEST(StopFlag, RequestWakesEveryWaiterAndStays) {
  StopFlag f;
  EXPECT_FALSE(f.Wait(std::chrono::milliseconds(1)));
  std::thread a([&] { EXPECT_TRUE(f.Wait()); });
  std::thread b([&] { EXPECT_TRUE(f.Wait(std::chrono::hours(1))); });
  f.Request();
  a.join();
  b.join();
  EXPECT_TRUE(f.stop_requested());
  EXPECT_TRUE(f.Wait(std::chrono::milliseconds(0)));
}

}  // namespace
}  // namespace isdas
