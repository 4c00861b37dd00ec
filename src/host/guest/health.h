// The gateway's probes, through the host proxy (127.0.0.1:<host port>),
// as the pinned OpenClaw defines them (docs/guest.md#readiness):
//
//   - the health gate after a (re)start: `/health` (the HTTP server is
//     live) and `/startupz` (startup has settled), both 200, and the guest's
//     generation endpoint (<guest ip>:18780) reports the configuration
//     generation that was applied: a guest still running an older one has
//     not started. Channels and agents are not consulted: a revoked bot
//     token or a Telegram outage must not fail an apply.
//   - deep readiness, once: `/readyz` with the gateway token as Bearer (the
//     gateway names what fails only to an authenticated caller).
//   - liveness, once: `/healthz` (the HTTP server is live: 200
//     {"ok":true,"status":"live"}, unauthenticated, answered before any
//     other route), what the agent restarts a hung gateway on.
//
// Real adapter: libcurl, the gate polled until a deadline. Fake:
// tests/fakes/fake_health.h.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/net.h"
#include "core/result.h"
#include "model/observed.h"

namespace cf::host {

struct HealthTarget {
  std::uint16_t host_port = 0;
  std::string token;                  // sent to /readyz only, never shown
  Ipv4 guest;                         // the guest's address on the bridge
  std::string generation;             // "sha256:..." the guest must report
  std::uint16_t status_port = 18780;  // the guest's generation endpoint (host/guest/seed.h)
  // False for a guest this apply did not boot: it reads its seed at boot,
  // so it reports the generation it booted with, whichever that was.
  bool booted = true;
};

// Asked between the gate's attempts: why waiting on is hopeless (the VM
// unit failed or keeps restarting), or nullopt.
using GiveUp = std::function<std::optional<std::string>()>;

// A guest whose gateway failed this often since it booted does not start
// (the guest's status endpoint counts them, docs/guest.md#readiness).
inline constexpr unsigned kGatewayFailuresToGiveUp = 3;

class Health {
 public:
  virtual ~Health() = default;
  // The gate: polls until all three pass or the deadline passes; the error
  // says which check failed last and how ("/startupz answered 503
  // (starting)", "connection refused", "the guest runs generation
  // sha256:ab12…, not sha256:cd34…"). It gives up at once, saying why,
  // when the guest reports that its gateway failed
  // kGatewayFailuresToGiveUp times or that systemd gave up on it, or when
  // `give_up` (may be empty) names a reason.
  virtual Status wait_started(const HealthTarget& target, std::chrono::milliseconds deadline,
                              const GiveUp& give_up) = 0;
  // One `/readyz` request, bounded by `timeout`; never an error: what went
  // wrong is in the answer.
  virtual model::Readiness readiness(const HealthTarget& target, std::chrono::milliseconds timeout) = 0;
  // One `/healthz` request, bounded by `timeout`: success when it answers
  // 200; else what went wrong ("/healthz answered 503", "/healthz:
  // connection refused", "GET /healthz: no answer within 5000 ms").
  virtual Status alive(const HealthTarget& target, std::chrono::milliseconds timeout) = 0;
};

// `interval`: time between attempts.
std::unique_ptr<Health> real_health(std::chrono::milliseconds interval = std::chrono::milliseconds(1000));

}  // namespace cf::host
