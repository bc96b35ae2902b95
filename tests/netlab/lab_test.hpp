// A NetLab per test: skipped where network namespaces are unavailable, and torn down with
// whatever the test started, also when an assertion fails.
#pragma once
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "tests/netlab/net_lab.hpp"

namespace meshcast::netlab {

class LabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto available = NetLab::available(); !available)
      GTEST_SKIP() << "no network namespaces here: " << available.error();
    lab_ = std::make_unique<NetLab>(MESHCAST_EXE);
    configure(*lab_);
    auto started = lab_->start();
    ASSERT_TRUE(started) << started.error();
  }
  void TearDown() override {
    stop_processes();
    lab_.reset();
  }
  // Before the lab starts (its coturn and tracker configuration).
  virtual void configure(NetLab&) {}
  // The test's own processes, stopped before the lab goes.
  virtual void stop_processes() {}

  std::unique_ptr<NetLab> lab_;
};

}  // namespace meshcast::netlab
