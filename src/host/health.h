// The health gate: an instance is healthy when its gateway answers
// `/health` through the host proxy (127.0.0.1:<host port>) and `/ready`
// with its token as Bearer, both 200. Real adapter: libcurl to loopback,
// polled until a deadline. Fake: tests/fakes/fake_health.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/result.h"

namespace cf::host {

class Health {
 public:
  virtual ~Health() = default;
  // Polls until both answer 200 or the deadline passes; the error says which
  // endpoint failed last and how ("/ready answered 503", "connection
  // refused"). The token is sent, never shown.
  virtual Status wait_ready(std::uint16_t host_port, const std::string& token, std::chrono::milliseconds deadline) = 0;
};

// `interval`: time between attempts.
std::unique_ptr<Health> real_health(std::chrono::milliseconds interval = std::chrono::milliseconds(1000));

}  // namespace cf::host
