#include "host/guest/health.h"

#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "host/http/unix_http.h"

namespace cf::host {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// What the guest's generation endpoint reports: {"generation": "..."}.
std::optional<std::string> reported_generation(const std::string& body) {
  try {
    auto j = nlohmann::json::parse(body);
    if (j.is_object() && j.contains("generation") && j["generation"].is_string())
      return j["generation"].get<std::string>();
  } catch (const nlohmann::json::exception&) {}
  return std::nullopt;
}

std::string shorten(const std::string& generation) {
  return generation.size() > 19 ? generation.substr(0, 19) + "…" : generation;
}

class LoopbackHealth : public Health {
 public:
  explicit LoopbackHealth(milliseconds interval) : interval_(interval) {}

  Status wait_ready(const HealthTarget& t, milliseconds deadline) override {
    const auto until = Clock::now() + deadline;
    std::string last = "no attempt made";
    for (;;) {
      auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now());
      if (left.count() <= 0) break;
      // Each request gets what is left, up to 5 s: a guest that accepts and
      // never answers must not eat the whole deadline in one attempt.
      auto per_request = std::min(left, milliseconds(5000));
      if (auto s = check(t, per_request))
        last = *s;
      else
        return {};
      std::this_thread::sleep_for(std::min(interval_, std::chrono::duration_cast<milliseconds>(until - Clock::now())));
    }
    return Error{"health gate on 127.0.0.1:" + std::to_string(t.host_port) + ": not ready within " +
                 std::to_string(deadline.count()) + " ms (last: " + last + ")"};
  }

 private:
  // nullopt when every check passed, else what failed.
  static std::optional<std::string> check(const HealthTarget& t, milliseconds timeout) {
    auto health = loopback_http(t.host_port, "/health", {}, timeout);
    if (!health) return health.error().message;
    if (!health.value()) return "/health: connection refused";
    if (health.value()->status != 200) return "/health answered " + std::to_string(health.value()->status);
    auto ready = loopback_http(t.host_port, "/ready", {"Authorization: Bearer " + t.token}, timeout);
    if (!ready) return ready.error().message;
    if (!ready.value()) return "/ready: connection refused";
    if (ready.value()->status != 200) return "/ready answered " + std::to_string(ready.value()->status);
    const std::string where = to_string(t.guest) + ":" + std::to_string(t.status_port);
    auto gen = tcp_http(to_string(t.guest), t.status_port, "/", timeout);
    if (!gen) return "generation endpoint " + where + ": " + gen.error().message;
    if (!gen.value()) return "generation endpoint " + where + ": connection refused";
    auto reported = reported_generation(gen.value()->body);
    if (gen.value()->status != 200 || !reported)
      return "generation endpoint " + where + " answered " + std::to_string(gen.value()->status) +
             " without a generation (the gateway has not started)";
    if (*reported != t.generation)
      return "the guest runs generation " + shorten(*reported) + ", not " + shorten(t.generation);
    return std::nullopt;
  }

  milliseconds interval_;
};

}  // namespace

std::unique_ptr<Health> real_health(milliseconds interval) { return std::make_unique<LoopbackHealth>(interval); }

}  // namespace cf::host
