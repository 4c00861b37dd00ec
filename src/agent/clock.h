// Time for the agent, behind an interface: the scheduler, the backoff and
// the conditions' transition times are tested with a fake clock.
#pragma once

#include <chrono>
#include <memory>

namespace cf::agent {

using SteadyTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;
using Millis = std::chrono::milliseconds;

class Clock {
 public:
  virtual ~Clock() = default;
  virtual SteadyTime now() = 0;  // deadlines, durations
  virtual WallTime wall() = 0;   // what status files and metrics show
};

std::unique_ptr<Clock> real_clock();

}  // namespace cf::agent
