// In-memory host::Health that records every call; ports listed in `failing`
// fail with their message, every other port is ready at once.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "host/guest/health.h"

namespace cf::testing {

class FakeHealth : public host::Health {
 public:
  Status wait_ready(const host::HealthTarget& t, std::chrono::milliseconds deadline) override {
    std::lock_guard<std::mutex> lock(mu_);
    const std::uint16_t port = t.host_port;
    calls.push_back("wait_ready " + std::to_string(port) + " " + std::to_string(deadline.count()) + "ms");
    tokens.push_back(t.token);
    generations.push_back(t.generation);
    if (auto it = failing.find(port); it != failing.end()) return Error{it->second};
    return {};
  }
  std::map<std::uint16_t, std::string> failing;
  std::vector<std::string> calls;
  std::vector<std::string> tokens;
  std::vector<std::string> generations;

 private:
  std::mutex mu_;
};

}  // namespace cf::testing
