// In-memory host::Health that records every call (each gate taking
// `gate_time`, so that gates of parallel steps overlap); ports listed in `failing`
// fail the gate with their message (or with give_up's reason, asked
// `give_up_asks` times), every other port starts at once. Deep
// readiness is what `readiness_of` says for the port, else ready; liveness
// fails with `dead`'s message for the port, else passes (and, with
// `restart_revives`, passes again once the gate passed for the port).
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "host/guest/health.h"

namespace cf::testing {

class FakeHealth : public host::Health {
 public:
  Status wait_started(const host::HealthTarget& t, std::chrono::milliseconds deadline,
                      const host::GiveUp& give_up) override {
    if (gate_time.count() > 0) std::this_thread::sleep_for(gate_time);
    std::lock_guard<std::mutex> lock(mu_);
    const std::uint16_t port = t.host_port;
    calls.push_back("wait_started " + std::to_string(port) + " " + std::to_string(deadline.count()) + "ms");
    tokens.push_back(t.token);
    generations.push_back(t.generation);
    booted.push_back(t.booted);
    // A port that fails asks `give_up` once, as the real gate does between
    // attempts: its reason, when it has one, is the error.
    if (auto it = failing_once.find(port); it != failing_once.end()) {
      const std::string why = it->second;
      failing_once.erase(it);
      return Error{why};
    }
    if (auto it = failing.find(port); it != failing.end()) {
      for (int i = 0; give_up && i < give_up_asks; ++i)
        if (auto why = give_up()) return Error{"gave up: " + *why};
      return Error{it->second};
    }
    if (restart_revives) dead.erase(port);
    return {};
  }
  model::Readiness readiness(const host::HealthTarget& t, std::chrono::milliseconds timeout) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls.push_back("readiness " + std::to_string(t.host_port) + " " + std::to_string(timeout.count()) + "ms");
    tokens.push_back(t.token);
    if (auto it = readiness_of.find(t.host_port); it != readiness_of.end()) return it->second;
    return model::Readiness{true, true, {}, ""};
  }
  Status alive(const host::HealthTarget& t, std::chrono::milliseconds timeout) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls.push_back("alive " + std::to_string(t.host_port) + " " + std::to_string(timeout.count()) + "ms");
    if (auto it = dead.find(t.host_port); it != dead.end()) return Error{it->second};
    return {};
  }
  std::map<std::uint16_t, std::string> failing;
  std::map<std::uint16_t, std::string> failing_once;  // the next gate only
  std::map<std::uint16_t, std::string> dead;
  bool restart_revives = false;  // a gate that passes makes /healthz answer again
  int give_up_asks = 1;          // how often a failing gate asks give_up
  std::chrono::milliseconds gate_time{0};
  std::map<std::uint16_t, model::Readiness> readiness_of;
  std::vector<std::string> calls;
  std::vector<std::string> tokens;
  std::vector<std::string> generations;
  std::vector<bool> booted;  // HealthTarget::booted of each wait_started

 private:
  std::mutex mu_;
};

}  // namespace cf::testing
