#include "common/stop_signal.h"

#include <gtest/gtest.h>

#include <csignal>
#include <thread>

namespace isdas {
namespace {

TEST(StopSignal, ASignalWakesAWaiter) {
  StopSignal& s = StopSignal::Install();
  EXPECT_FALSE(s.stop_requested());
  EXPECT_FALSE(s.Wait(std::chrono::milliseconds(1)));  // nothing yet: the wait times out
  std::thread waiter([&] { EXPECT_TRUE(s.Wait()); });  // blocks until the signal
  ASSERT_EQ(raise(SIGTERM), 0);                        // handled: the process goes on
  waiter.join();
  EXPECT_TRUE(s.stop_requested());
  EXPECT_TRUE(s.Wait(std::chrono::milliseconds(1)));
  EXPECT_EQ(&StopSignal::Install(), &s);
}

}  // namespace
}  // namespace isdas
