#include "host/guest/health.h"

#include <algorithm>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/text.h"
#include "host/http/unix_http.h"

namespace cf::host {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A guest that lists more is shown this many and "…".
constexpr std::size_t kMaxFailing = 16;

// What the guest's generation endpoint reports: {"generation": "..."}.
std::optional<std::string> reported_generation(const std::string& body) {
  try {
    auto j = nlohmann::json::parse(body);
    if (j.is_object() && j.contains("generation") && j["generation"].is_string())
      return j["generation"].get<std::string>();
  } catch (const nlohmann::json::exception&) {}
  return std::nullopt;
}

// A guest's report of a gateway that does not start ({"generation": null,
// "gatewayFailures": 3, "lastFailure": "exit-code exited 1",
// "gatewayGaveUp": false}), or nullopt. The guest writes it: bounded,
// printable.
std::optional<std::string> gateway_not_starting(const std::string& body) {
  try {
    auto j = nlohmann::json::parse(body);
    if (!j.is_object() || !j.contains("gatewayFailures") || !j["gatewayFailures"].is_number_unsigned())
      return std::nullopt;
    const auto n = std::min<std::uint64_t>(j["gatewayFailures"].get<std::uint64_t>(), 1000000);
    const bool gave_up =
        j.contains("gatewayGaveUp") && j["gatewayGaveUp"].is_boolean() && j["gatewayGaveUp"].get<bool>();
    if (n == 0 || (n < kGatewayFailuresToGiveUp && !gave_up)) return std::nullopt;
    std::string last;
    if (j.contains("lastFailure") && j["lastFailure"].is_string()) {
      const std::string given = j["lastFailure"].get<std::string>();
      for (char ch : utf8_prefix(given, 64)) last += static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f ? '?' : ch;
    }
    return "the guest's gateway failed " + std::to_string(n) + (n == 1 ? " time" : " times") +
           " since the guest booted" + (last.empty() ? "" : " (last: " + last + ")") +
           (gave_up ? " and systemd gave up on it" : "") + ": it does not start";
  } catch (const nlohmann::json::exception&) {}
  return std::nullopt;
}

std::string shorten(const std::string& generation) {
  return generation.size() > 19 ? generation.substr(0, 19) + "…" : generation;
}

// What /startupz says while it is not 200: {"ok": false, "status": "starting"}.
std::string startup_status(const std::string& body) {
  try {
    auto j = nlohmann::json::parse(body);
    if (j.is_object() && j.contains("status") && j["status"].is_string()) return j["status"].get<std::string>();
  } catch (const nlohmann::json::exception&) {}
  return "";
}

// The names in /readyz's "failing" list, each made printable and bounded:
// the guest writes them.
std::vector<std::string> failing_of(const nlohmann::json& j) {
  std::vector<std::string> out;
  if (!j.contains("failing") || !j["failing"].is_array()) return out;
  for (const auto& f : j["failing"]) {
    if (!f.is_string()) continue;
    if (out.size() == kMaxFailing) {
      out.push_back("…");
      break;
    }
    const std::string given = f.get<std::string>();  // outlives the view into it
    std::string name;
    for (char ch : utf8_prefix(given, 64)) name += static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f ? '?' : ch;
    out.push_back(std::move(name));
  }
  return out;
}

// One GET of a probe through the proxy: nullopt when it answered 200, else
// what went wrong.
std::optional<std::string> not_200(std::uint16_t port, const std::string& path, milliseconds timeout) {
  auto reply = loopback_http(port, path, {}, timeout);
  if (!reply) return reply.error().message;
  if (!reply.value()) return path + ": connection refused";
  if (reply.value()->status != 200) return path + " answered " + std::to_string(reply.value()->status);
  return std::nullopt;
}

class LoopbackHealth : public Health {
 public:
  explicit LoopbackHealth(milliseconds interval) : interval_(interval) {}

  Status wait_started(const HealthTarget& t, milliseconds deadline, const GiveUp& give_up) override {
    const auto start = Clock::now();
    const auto until = start + deadline;
    std::string last = "no attempt made";
    std::optional<Clock::time_point> last_peek;
    auto hopeless = [&](const std::string& why) {
      const auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
      return Error{"health gate on 127.0.0.1:" + std::to_string(t.host_port) + ": gave up after " +
                   std::to_string(waited) + " ms: " + why};
    };
    for (;;) {
      auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now());
      if (left.count() <= 0) break;
      // Each request gets what is left, up to 5 s: a guest that accepts and
      // never answers must not eat the whole deadline in one attempt.
      auto per_request = std::min(left, milliseconds(5000));
      // While the gateway is not up, its guest is asked why now and then:
      // not at every attempt, a guest still booting does not answer at all.
      const bool peek = !last_peek || Clock::now() - *last_peek >= kPeekEvery;
      if (peek) last_peek = Clock::now();
      Attempt a = check(t, per_request, peek, until);
      if (a.started) return {};
      if (a.hopeless) return hopeless(a.why);
      last = a.why;
      if (give_up)
        if (auto why = give_up()) return hopeless(*why);
      std::this_thread::sleep_for(std::min(interval_, std::chrono::duration_cast<milliseconds>(until - Clock::now())));
    }
    return Error{"health gate on 127.0.0.1:" + std::to_string(t.host_port) + ": not started within " +
                 std::to_string(deadline.count()) + " ms (last: " + last + ")"};
  }

  model::Readiness readiness(const HealthTarget& t, milliseconds timeout) override {
    model::Readiness r;
    auto reply = loopback_http(t.host_port, "/readyz", {"Authorization: Bearer " + t.token}, timeout);
    if (!reply) {
      r.error = reply.error().message;
      return r;
    }
    if (!reply.value()) {
      r.error = "/readyz: connection refused";
      return r;
    }
    const int status = reply.value()->status;
    try {
      auto j = nlohmann::json::parse(reply.value()->body);
      if ((status == 200 || status == 503) && j.is_object() && j.contains("ready") && j["ready"].is_boolean()) {
        r.answered = true;
        r.ready = status == 200 && j["ready"].get<bool>();
        r.failing = failing_of(j);
        return r;
      }
    } catch (const nlohmann::json::exception&) {}
    r.error = "/readyz answered " + std::to_string(status) + " without a readiness";
    return r;
  }

  Status alive(const HealthTarget& t, milliseconds timeout) override {
    if (auto failed = not_200(t.host_port, "/healthz", timeout)) return Error{*failed};
    return {};
  }

 private:
  static constexpr milliseconds kPeekEvery{5000};
  static constexpr milliseconds kPeekTimeout{1000};

  struct Attempt {
    bool started = false;
    bool hopeless = false;  // the guest said its gateway does not start
    std::string why;        // what failed
  };

  // One attempt of the three checks; with `peek`, a gateway that is not up
  // makes the guest's status endpoint asked why.
  static Attempt check(const HealthTarget& t, milliseconds timeout, bool peek, Clock::time_point until) {
    const std::string where = to_string(t.guest) + ":" + std::to_string(t.status_port);
    auto waiting = [&](std::string why) {
      const auto left = std::chrono::duration_cast<milliseconds>(until - Clock::now());
      if (peek && left.count() > 0) {
        auto gen = tcp_http(to_string(t.guest), t.status_port, "/", std::min(left, kPeekTimeout));
        if (gen && gen.value())
          if (auto hopeless = gateway_not_starting(gen.value()->body)) return Attempt{false, true, *hopeless};
      }
      return Attempt{false, false, std::move(why)};
    };
    if (auto health = not_200(t.host_port, "/health", timeout)) return waiting(*health);
    auto startup = loopback_http(t.host_port, "/startupz", {}, timeout);
    if (!startup) return waiting(startup.error().message);
    if (!startup.value()) return waiting("/startupz: connection refused");
    if (startup.value()->status != 200) {
      const std::string why = startup_status(startup.value()->body);
      return waiting("/startupz answered " + std::to_string(startup.value()->status) +
                     (why == "starting" || why == "draining" ? " (" + why + ")" : ""));
    }
    auto gen = tcp_http(to_string(t.guest), t.status_port, "/", timeout);
    if (!gen) return {false, false, "generation endpoint " + where + ": " + gen.error().message};
    if (!gen.value()) return {false, false, "generation endpoint " + where + ": connection refused"};
    auto reported = reported_generation(gen.value()->body);
    if (gen.value()->status != 200 || !reported) {
      if (auto hopeless = gateway_not_starting(gen.value()->body)) return {false, true, *hopeless};
      return {false, false,
              "generation endpoint " + where + " answered " + std::to_string(gen.value()->status) +
                  " without a generation (the gateway has not started)"};
    }
    if (t.booted && *reported != t.generation)
      return {false, false, "the guest runs generation " + shorten(*reported) + ", not " + shorten(t.generation)};
    return {true, false, ""};
  }

  milliseconds interval_;
};

}  // namespace

std::unique_ptr<Health> real_health(milliseconds interval) { return std::make_unique<LoopbackHealth>(interval); }

}  // namespace cf::host
