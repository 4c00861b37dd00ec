// The health gate: an instance is healthy when its gateway answers
// `/health` through the host proxy (127.0.0.1:<host port>) and `/ready`
// with its token as Bearer, both 200, and the guest's generation endpoint
// (<guest ip>:18790, docs/guest.md) reports the configuration generation
// that was applied: a guest still running an older one is not healthy.
// Real adapter: libcurl, polled until a deadline. Fake:
// tests/fakes/fake_health.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/net.h"
#include "core/result.h"

namespace cf::host {

struct HealthTarget {
  std::uint16_t host_port = 0;
  std::string token;                  // sent, never shown
  Ipv4 guest;                         // the guest's address on the bridge
  std::string generation;             // "sha256:..." the guest must report
  std::uint16_t status_port = 18790;  // the guest's generation endpoint (host/guest/seed.h)
};

class Health {
 public:
  virtual ~Health() = default;
  // Polls until all three pass or the deadline passes; the error says which
  // check failed last and how ("/ready answered 503", "connection
  // refused", "the guest runs generation sha256:ab12…, not sha256:cd34…").
  virtual Status wait_ready(const HealthTarget& target, std::chrono::milliseconds deadline) = 0;
};

// `interval`: time between attempts.
std::unique_ptr<Health> real_health(std::chrono::milliseconds interval = std::chrono::milliseconds(1000));

}  // namespace cf::host
