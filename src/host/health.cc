#include "host/health.h"

#include <thread>

#include "host/unix_http.h"

namespace cf::host {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

class LoopbackHealth : public Health {
 public:
  explicit LoopbackHealth(milliseconds interval) : interval_(interval) {}

  Status wait_ready(std::uint16_t port, const std::string& token, milliseconds deadline) override {
    const auto until = Clock::now() + deadline;
    std::string last = "no attempt made";
    for (;;) {
      auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now());
      if (left.count() <= 0) break;
      // Each request gets what is left, up to 5 s: a guest that accepts and
      // never answers must not eat the whole deadline in one attempt.
      auto per_request = std::min(left, milliseconds(5000));
      auto health = loopback_http(port, "/health", {}, per_request);
      if (!health) {
        last = health.error().message;
      } else if (!health.value()) {
        last = "/health: connection refused";
      } else if (health.value()->status != 200) {
        last = "/health answered " + std::to_string(health.value()->status);
      } else {
        auto ready = loopback_http(port, "/ready", {"Authorization: Bearer " + token}, per_request);
        if (!ready) last = ready.error().message;
        else if (!ready.value()) last = "/ready: connection refused";
        else if (ready.value()->status != 200) last = "/ready answered " + std::to_string(ready.value()->status);
        else return {};
      }
      std::this_thread::sleep_for(std::min(interval_, std::chrono::duration_cast<milliseconds>(until - Clock::now())));
    }
    return Error{"health gate on 127.0.0.1:" + std::to_string(port) + ": not ready within " +
                 std::to_string(deadline.count()) + " ms (last: " + last + ")"};
  }

 private:
  milliseconds interval_;
};

}  // namespace

std::unique_ptr<Health> real_health(milliseconds interval) { return std::make_unique<LoopbackHealth>(interval); }

}  // namespace cf::host
