// End to end with real guests (guest_scenario.h): QEMU microvm under TCG
// booting the guest image of examples/guest-image, managed by the built
// clawfleet inside a real systemd in nspawn, whose uplink is the simulated
// internet of tests/integration/internet/ (internet.h): DNS for the real
// API names and TLS stand-ins for Telegram, Anthropic and OpenAI, trusted
// through the Host's caCertificates, nothing routed beyond.
//
// GuestEndToEnd.CreateReprovisionDestroy is the one scenario with the real
// OpenClaw gateway: two boots and an upgrade (minutes each here) that
// every real-gateway assertion shares; add new ones as phases of it, not as
// tests that boot their own. Created under egress deny, nothing leaves the
// host, and both pass their gate (beta's Telegram bot cannot connect);
// each gateway answers /health through its proxy and reports the applied
// generation; guests cannot reach each other. Then egress internet (a
// repair), and the purpose: alpha's chat-completions endpoint refuses a
// request without its gateway token and answers one with it from its
// OpenAI model; beta polls Telegram again by itself and an allowed user's
// message is answered with its model's reply; a stranger is told nothing
// and reaches no model. Then beta is upgraded in one reimage, the image
// and a rotated provider key together (no key printed): one restart onto
// a fresh clone of a second image derived from the first, its data disk
// kept, and the user's follow-up is answered with the rotated key in the
// same conversation (the model is sent the first question too). alpha's
// gateway starts the image's Chromium and its browser doctor passes,
// while beta (spec.browser false) has no browser tool; a revoked bot token
// leaves beta ready with its channel failing. Every call came through the
// host's NAT, none unexpected.
// Removing beta destroys it, leaving nothing. CLAWFLEET_E2E_GATEWAY=contract
// (`make e2e-contract`) runs it on the image's contract gateway instead,
// to iterate in minutes: there the image's egress probe checks DNS, NAT and
// both trust stores from inside each guest with its keys.
//
// ContractGuest.StopStartDestroy is the lifecycle on the contract gateway
// (a stand-in for OpenClaw that answers the guest contract, docs/guest.md):
// later VM scenarios whose subject is clawfleet, not OpenClaw, extend it.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "host/platform/platform.h"
#include "integration/guest_scenario.h"
#include "model/instance_dir.h"
#include "model/vm_limits.h"

namespace cf {
namespace {

using cf::testing::Gateway;
using cf::testing::GuestNetwork;
using cf::testing::GuestScenario;
using cf::testing::GuestSpec;
namespace nspawn = cf::testing::nspawn;

// The stand-ins' calls (internet.h): their log without its events.
class GuestEndToEnd : public GuestScenario {
 protected:
  nlohmann::json calls(const std::string& query = "") {
    const std::string text = internet_->ctl("GET", "/log" + query);
    auto log = nlohmann::json::parse(text, nullptr, false);
    nlohmann::json out = nlohmann::json::array();
    if (!log.is_array()) {
      ADD_FAILURE() << "the stand-ins' log: " << text;
      return out;
    }
    for (auto& e : log)
      if (e.contains("method")) out.push_back(e);
    return out;
  }
  // The model APIs' calls, one line each (when, which, what answer, how
  // long), for a failed turn's message: did the gateway ask, and when.
  std::string model_calls_text() {
    std::string out;
    for (const auto& c : calls()) {
      if (c.value("service", "") == "telegram") continue;
      const auto num = [&](const char* k) { return c.contains(k) && c[k].is_number() ? c[k].get<double>() : -1.0; };
      const auto str = [&](const char* k) { return c.contains(k) && c[k].is_string() ? c[k].get<std::string>() : ""; };
      char line[512];
      std::snprintf(line, sizeof line, "%.1f %s %s %s -> %.0f in %.0f ms %s\n", num("ts"), str("service").c_str(),
                    str("method").c_str(), str("path").c_str(), num("status"), num("ms"), str("error").c_str());
      out += line;
    }
    return out;
  }
  static std::size_t count(const nlohmann::json& calls, const std::string& api, const std::string& key = "") {
    return std::count_if(calls.begin(), calls.end(), [&](const nlohmann::json& c) {
      return c.value("api", "") == api && c.value("status", 0) == 200 && (key.empty() || c.value("key", "") == key);
    });
  }
  static double now_s() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  }
  // Polls `done` every 5 s for up to `seconds`.
  static bool wait_until(int seconds, const std::function<bool()>& done) {
    for (auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);;) {
      if (done()) return true;
      if (std::chrono::steady_clock::now() > end) return false;
      sleep(5);
    }
  }
  // POST `body` to `path` of `instance` through its proxy, with its gateway
  // token or none; the whole HTTP answer, read for up to `seconds`.
  std::string post(const std::string& instance, const std::string& path, const std::string& body, bool with_token,
                   int seconds = 60) {
    write_post_script();
    std::ofstream(c_->root() + "/var/tmp/cf-post.json") << body;
    sh("bash /var/tmp/cf-post.sh " + instance + (with_token ? " yes " : " no ") + std::to_string(seconds) + " " + path +
       " /var/tmp/cf-post.json");
    return out_;
  }
  std::string chat_completion(const std::string& instance, const std::string& body, bool with_token) {
    return post(instance, "/v1/chat/completions", body, with_token);
  }
  // The same with the token, in the background; chat_completion_answer()
  // is its whole answer once the gateway closed the connection, else "".
  void start_chat_completion(const std::string& instance, const std::string& body, int seconds) {
    write_post_script();
    std::ofstream(c_->root() + "/var/tmp/cf-chat.json") << body;
    ::unlink((c_->root() + "/var/tmp/cf-chat.done").c_str());
    sh("setsid bash -c 'bash /var/tmp/cf-post.sh " + instance + " yes " + std::to_string(seconds) +
       " /v1/chat/completions /var/tmp/cf-chat.json >/var/tmp/cf-chat.answer 2>&1; touch /var/tmp/cf-chat.done' "
       "</dev/null >/dev/null 2>&1 &");
  }
  std::string chat_completion_answer() {
    if (::access((c_->root() + "/var/tmp/cf-chat.done").c_str(), F_OK) != 0) return "";
    return nspawn::detail::read_all(c_->root() + "/var/tmp/cf-chat.answer");
  }
  // When it ended (seconds since the epoch), or -1.
  double chat_completion_ended_at() {
    struct stat st;
    if (::stat((c_->root() + "/var/tmp/cf-chat.done").c_str(), &st) != 0) return -1;
    return static_cast<double>(st.st_mtim.tv_sec) + static_cast<double>(st.st_mtim.tv_nsec) / 1e9;
  }
  // cf-post.sh INSTANCE yes|no SECONDS PATH BODY-FILE
  void write_post_script() {
    std::ofstream(c_->root() + "/var/tmp/cf-post.sh")
        << "auth=; [ \"$2\" = yes ] && auth=\"Authorization: Bearer $(cat /var/lib/clawfleet/instances/$1/token)\\r\\n\"\n"
           "port=$(sed -n 's/.*\"hostPort\": *\\([0-9]*\\).*/\\1/p' /var/lib/clawfleet/instances/$1/instance.json | "
           "head -n 1)\n"
           "exec 3<>/dev/tcp/127.0.0.1/$port || exit 1\n"
           "printf 'POST %s HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nContent-Type: application/json\\r\\n"
           "Content-Length: %s\\r\\nConnection: close\\r\\n%b\\r\\n' \"$4\" \"$(stat -c %s \"$5\")\" \"$auth\" >&3\n"
           "cat \"$5\" >&3\n"
           "timeout \"$3\" cat <&3\n";
  }
};

constexpr const char* kBetaKeyFile = "/etc/clawfleet/secrets/anthropic-beta";
constexpr const char* kBetaKey = "sk-ant-placeholder-beta-first-key";
constexpr const char* kBetaRotatedKey = "sk-ant-placeholder-beta-rotated-key";

TEST_F(GuestEndToEnd, CreateReprovisionDestroy) {
  boot(cf::testing::gateway_from_env("CLAWFLEET_E2E_GATEWAY", Gateway::OpenClaw));
  if (IsSkipped() || HasFatalFailure()) return;
  const bool real = gateway_ == Gateway::OpenClaw;
  // The stand-in models answer with a nonce of this run.
  const std::string nonce = "n" + std::to_string(::getpid()) + "x" + std::to_string(::time(nullptr));
  const std::string reply = "The stand-in model says " + nonce;
  connect_internet(std::string("--telegram-token ") + cf::testing::kPlaceholderBotToken + " --reply '" + reply + "'");
  if (HasFatalFailure()) return;
  std::ofstream(c_->root() + kBetaKeyFile) << kBetaKey << "\n";
  ASSERT_EQ(sh(std::string("chmod 0600 ") + kBetaKeyFile), 0) << out_;

  // Created under egress deny. beta has a Telegram bot it cannot reach: the
  // gate is the gateway's startup, so beta is still created. alpha has the
  // default model, an openai/* one: it must start with no network (no Codex
  // plugin to install, docs/guest.md), and its chat-completions endpoint on.
  GuestSpec alpha{"alpha", "openai/gpt-5.5"};
  alpha.chat_completions = true;
  GuestSpec beta{"beta"};
  beta.telegram = true;
  beta.browser = false;
  beta.anthropic_key = kBetaKeyFile;
  // The least a real turn costs: no skill and no OpenAI key (with one,
  // its memory search would ask OpenAI for embeddings first). The contract
  // gateway's probe uses the OpenAI key to check Node's trust store.
  if (real) {
    beta.skills = "[]";
    beta.openai_key = "";
  }
  const GuestNetwork deny{"deny", true};
  const GuestNetwork internet{"internet", true};
  write_fleet({alpha, beta}, deny);
  ASSERT_EQ(clawfleet("plan"), 2) << out_;
  EXPECT_NE(out_.find("Plan: 2 to create"), std::string::npos) << out_;
  // The default skills are bundled and find their tools in the image (its
  // skills.json); one it does not bundle is named.
  EXPECT_EQ(out_.find(": skill "), std::string::npos) << out_;
  GuestSpec unbundled = alpha;
  unbundled.skills = "[github, session-logs]";
  write_fleet({unbundled, beta}, deny);
  clawfleet("plan");
  EXPECT_NE(out_.find("Warning: alpha: skill session-logs is not bundled with image default"), std::string::npos)
      << out_;
  write_fleet({alpha, beta}, deny);

  phases_.begin("create of 2 instances to healthy (egress deny)");
  ASSERT_EQ(clawfleet("apply --parallelism 2 --health-timeout 1800"), 2) << out_;
  phases_.end();
  std::cerr << out_;
  const int health_timeout = later_health_timeout_s(phases_.seconds("create of 2 instances to healthy (egress deny)"));
  for (const char* name : {"alpha", "beta"}) vmm_peak_kib(name);
  ASSERT_EQ(clawfleet("plan"), 0) << out_;
  // Nothing left the host: not a DNS query, not a call.
  EXPECT_EQ(calls().size(), 0u) << calls().dump(1);
  EXPECT_EQ(nspawn::detail::read_all(internet_->dir() + "/dns.log").find("query["), std::string::npos);

  phases_.begin("health, generation and isolation checks");
  for (const char* name : {"alpha", "beta"}) {
    const std::string port = field(name, "hostPort");
    ASSERT_FALSE(port.empty());
    EXPECT_NE(get("127.0.0.1", std::stoi(port), "/health", "200 OK").find("200 OK"), std::string::npos)
        << name << ": " << out_;
    // The guest reports the generation that apply recorded.
    const std::string gen = field(name, "appliedGeneration");
    EXPECT_NE(get(field(name, "ip"), 18780, "/").find("\"generation\":\"" + gen + "\""), std::string::npos)
        << name << " " << gen << ": " << out_;
  }
  // Guests never reach each other: their bridge ports are isolated, and a
  // probe on another isolated port of the same bridge (as a third guest
  // would be) reaches neither guest's gateway, while the host does.
  ASSERT_EQ(sh("bridge -d link show | grep -A1 ' master cfbr0 ' | grep -c 'isolated on'"), 0) << out_;
  EXPECT_EQ(nspawn::detail::trim(out_), "2");
  ASSERT_EQ(
      sh("ip netns add probe && ip link add cfprobe type veth peer name eth0 netns probe && "
         "ip link set cfprobe master cfbr0 && bridge link set dev cfprobe isolated on && ip link set cfprobe up && "
         "ip -n probe addr add 10.78.0.250/24 dev eth0 && ip -n probe link set eth0 up && ip -n probe link set lo up"),
      0)
      << out_;
  for (const char* name : {"alpha", "beta"}) {
    const std::string ip = field(name, "ip");
    EXPECT_NE(sh("ip netns exec probe timeout 5 bash -c 'exec 3<>/dev/tcp/" + ip + "/18789'"), 0)
        << "the probe reached " << name << ": " << out_;
    EXPECT_EQ(sh("timeout 5 bash -c 'exec 3<>/dev/tcp/" + ip + "/18789'"), 0)
        << "the host cannot reach " << name << ": " << out_;
  }
  sh("ip link del cfprobe; ip netns del probe");

  // Each gateway's own /readyz, asked by status through its proxy with its
  // token: alpha (no channel) becomes ready once its startup settles; beta,
  // minutes after it started with a Telegram account that cannot reach
  // Telegram, is ready or names telegram, whichever this gateway says —
  // either way an answer, and beta itself ready (docs/guest.md#readiness).
  phases_.begin("channels readiness (egress deny)");
  std::string alpha_channels;
  for (int i = 0; i < 60 && (alpha_channels = status_row("alpha", "Channels")) != "ready"; ++i) sleep(2);
  EXPECT_EQ(alpha_channels, "ready");
  EXPECT_EQ(clawfleet("status"), 0) << out_;
  EXPECT_EQ(status_row("beta", "Health"), "ready");
  const std::string beta_channels = status_row("beta", "Channels");
  std::cerr << "[ channels ] beta (Telegram unreachable): " << beta_channels << "\n";
  EXPECT_TRUE(beta_channels == "ready" || beta_channels.rfind("failing: telegram", 0) == 0) << beta_channels;
  phases_.end();

  // Egress internet: the host's table only, a repair; no guest restarts.
  write_fleet({alpha, beta}, internet);
  ASSERT_EQ(clawfleet("plan"), 2) << out_;
  EXPECT_NE(out_.find("Plan: 0 to create, 1 to repair, 0 to destroy."), std::string::npos) << out_;
  phases_.begin("egress internet");
  ASSERT_EQ(clawfleet("apply"), 2) << out_;
  phases_.end();
  const double opened = now_s();

  // alpha's chat-completions endpoint is on, behind its gateway token:
  // without the token, 401. With it, alpha is asked now: its turn runs on
  // its own vCPU while beta talks to its Telegram user and is upgraded.
  const std::string alpha_question = "alpha-" + nonce;
  const std::string asked_alpha =
      nlohmann::json{{"model", "openclaw"},
                     {"messages", {{{"role", "user"}, {"content", "Please answer, " + alpha_question}}}}}
          .dump();
  const int turn_timeout = later_health_timeout_s(phases_.seconds("create of 2 instances to healthy (egress deny)"));
  double alpha_asked_at = 0;
  if (real) {
    phases_.begin("alpha: chat completions refused without its token");
    EXPECT_EQ(chat_completion("alpha", asked_alpha, false).rfind("HTTP/1.1 401", 0), 0u) << out_;
    phases_.end();
    alpha_asked_at = now_s();
    start_chat_completion("alpha", asked_alpha, turn_timeout);
  }

  // The turns of beta's Telegram users (real gateway): an allowed one and
  // a stranger. The stand-in models answer every call with `reply`.
  const std::string question = "question-" + nonce;
  const std::string stranger = "stranger-" + nonce;
  const std::string followup = "followup-" + nonce;
  nlohmann::json sent;
  std::string answer;
  double alpha_s = -1;
  // When the stand-in got the bot's first reply to the allowed user after
  // `t` (the test may have been busy meanwhile), or -1.
  const auto answered_after = [&](double t) {
    sent = nlohmann::json::parse(internet_->ctl("GET", "/telegram/sent?chat_id=1001"), nullptr, false);
    if (sent.is_array())
      for (const auto& m : sent)
        if (m.is_object() && m.value("ts", 0.0) > t && m.value("text", "").find(reply) != std::string::npos)
          return m.value("ts", 0.0);
    return -1.0;
  };
  const auto polls_since = [&](double t) {
    auto c = calls();
    return std::count_if(c.begin(), c.end(), [&](const nlohmann::json& call) {
      return call.value("api", "") == "getUpdates" && call.value("ts", 0.0) > t;
    });
  };
  const auto say = [&](int user, const std::string& text) {
    return internet_->ctl("POST", "/telegram/update", nlohmann::json{{"user_id", user}, {"text", text}}.dump());
  };
  const auto turns_failed = [&] {
    return "sent to 1001: " + sent.dump(1) + "\nalpha's answer: " + answer + "\nalpha asked at " +
           std::to_string(alpha_asked_at) + "; the model APIs' calls:\n" + model_calls_text();
  };
  double beta_s = -1;
  if (real) {
    // The bot started with no way out; it polls Telegram again once the
    // host lets it (its channel's own restarts), and answers.
    phases_.begin("beta polls Telegram once egress opened");
    ASSERT_TRUE(wait_until(turn_timeout, [&] { return polls_since(opened) >= 2; })) << calls().dump(1);
    phases_.end();
    phases_.begin("beta's Telegram user answered (before the upgrade)");
    const double asked_at = now_s();
    EXPECT_NE(say(1001, "Please answer, " + question).find("update_id"), std::string::npos);
    EXPECT_NE(say(2002, "Hello from " + stranger).find("update_id"), std::string::npos);
    double at = -1;
    EXPECT_TRUE(wait_until(turn_timeout, [&] { return (at = answered_after(asked_at)) >= 0; })) << turns_failed();
    if (at >= 0) beta_s = at - asked_at;
    phases_.end();
  }

  // beta upgraded: a new image (v2: this one with a file of its own, no
  // second build) and its Anthropic key rotated in its file, in one
  // reimage: one restart onto a fresh clone of v2's root, its data disk
  // (the gateway's state: the conversation above) kept. The plan never
  // shows a key; the gate waits until beta reports its new generation.
  second_image();
  if (HasFatalFailure()) return;
  beta.image = "v2";
  write_fleet({alpha, beta}, internet);
  std::ofstream(c_->root() + kBetaKeyFile) << kBetaRotatedKey << "\n";
  ASSERT_EQ(clawfleet("plan"), 2) << out_;
  EXPECT_NE(out_.find("# beta will be reimaged: base image changed (spec.image: default -> v2)"), std::string::npos)
      << out_;
  EXPECT_NE(out_.find("Plan: 0 to create, 1 to reimage, 0 to destroy."), std::string::npos) << out_;
  EXPECT_EQ(out_.find(kBetaKey), std::string::npos) << out_;
  EXPECT_EQ(out_.find(kBetaRotatedKey), std::string::npos) << out_;
  const std::string before = field("beta", "appliedGeneration");
  phases_.begin("beta upgraded to healthy (new image, key rotated)");
  ASSERT_EQ(clawfleet("apply --health-timeout " + std::to_string(health_timeout)), 2) << out_;
  phases_.end();
  const double reprovisioned = now_s();
  const std::string after = field("beta", "appliedGeneration");
  EXPECT_NE(after, before);
  EXPECT_NE(get(field("beta", "ip"), 18780, "/").find("\"generation\":\"" + after + "\""), std::string::npos) << out_;
  EXPECT_EQ(file_of_disk("/var/lib/clawfleet/instances/beta/rootfs.ext4", "/etc/clawfleet-test-image"), "v2\n");

  if (!real) {
    // The probe of the contract variant (guest_host.h): DNS, the route,
    // NAT and both trust stores from inside each guest, with its keys.
    phases_.begin("egress probe from inside the guests");
    EXPECT_TRUE(wait_until(900, [&] {
      auto c = calls();
      return count(c, "models.list", cf::testing::kPlaceholderAnthropicKey) >= 1 &&
             count(c, "models.list", kBetaRotatedKey) >= 1 &&
             count(c, "models.list", cf::testing::kPlaceholderOpenAiKey) >= 2;
    })) << calls().dump(1);
    phases_.end();
  } else {
    // beta's new gateway, on the new root, answers the allowed user's
    // follow-up in the same conversation. Meanwhile alpha answers its chat
    // completion.
    phases_.begin("beta's follow-up asked, alpha's chat completion answered");
    ASSERT_TRUE(wait_until(900, [&] { return polls_since(reprovisioned) >= 2; })) << calls().dump(1);
    const double followup_at = now_s();
    EXPECT_NE(say(1001, "And once more, " + followup).find("update_id"), std::string::npos);
    const auto alpha_done = [&] {
      answer = chat_completion_answer();
      if (alpha_s < 0 && !answer.empty()) alpha_s = chat_completion_ended_at() - alpha_asked_at;
      return alpha_s >= 0;
    };
    EXPECT_TRUE(wait_until(turn_timeout, alpha_done)) << turns_failed();
    phases_.end();

    // The browser tool, by what the gateway itself reports (its browser
    // doctor, through /tools/invoke with the gateway token): alpha's starts
    // the image's Chromium, headless, in its sandbox; beta's is off, so its
    // agent is not offered the tool at all. Asked while beta's turn goes
    // on, on the other vCPU.
    phases_.begin("alpha's gateway starts its browser (beta's turn goes on)");
    const auto browser = [&](const std::string& instance, const std::string& action) {
      const std::string got =
          post(instance, "/tools/invoke",
               nlohmann::json{{"tool", "browser"}, {"action", action}, {"args", {{"timeoutMs", turn_timeout * 1000}}}}
                   .dump(),
               true, turn_timeout);
      const auto body = got.find("\r\n\r\n");
      return std::make_pair(
          got.substr(0, got.find("\r\n")),
          nlohmann::json::parse(body == std::string::npos ? "" : got.substr(body + 4), nullptr, false));
    };
    const double browser_asked_at = now_s();
    const auto [started_status, started] = browser("alpha", "start");
    const double browser_started_s = now_s() - browser_asked_at;
    const auto [doctor_status, doctor] = browser("alpha", "doctor");
    phases_.end();
    std::cerr << "[ browser ] alpha's browser started in " << browser_started_s << " s: " << started_status << "\n";
    EXPECT_EQ(started_status, "HTTP/1.1 200 OK") << started.dump();
    EXPECT_EQ(doctor_status, "HTTP/1.1 200 OK") << doctor.dump();
    // An object's member that is an object itself, else {}: the answer is the guest's.
    const auto member = [](const nlohmann::json& j, const char* key) {
      return j.is_object() && j.contains(key) && j[key].is_object() ? j[key] : nlohmann::json::object();
    };
    const nlohmann::json report = member(member(doctor, "result"), "details");
    EXPECT_EQ(report.value("ok", false), true) << report.dump(1);
    std::map<std::string, std::string> checks;
    if (report.contains("checks") && report["checks"].is_array())
      for (const auto& check : report["checks"])
        if (check.is_object())
          checks[check.value("id", "")] = check.value("status", "") + ": " + check.value("summary", "");
    EXPECT_EQ(checks["managed-executable"], "pass: custom at /usr/bin/chromium") << report.dump(1);
    EXPECT_EQ(checks["cdp-websocket"], "pass: CDP WebSocket is reachable") << report.dump(1);
    const nlohmann::json state = member(report, "status");
    EXPECT_EQ(state.value("running", false), true) << state.dump(1);
    EXPECT_TRUE(state.contains("pid") && state["pid"].is_number()) << state.dump(1);
    EXPECT_EQ(state.value("executablePath", ""), "/usr/bin/chromium") << state.dump(1);
    EXPECT_EQ(state.value("headless", false), true) << state.dump(1);
    EXPECT_EQ(state.value("noSandbox", true), false) << state.dump(1);
    const auto [off_status, off] = browser("beta", "status");
    EXPECT_EQ(off_status, "HTTP/1.1 404 Not Found") << off.dump();
    EXPECT_EQ(off, (nlohmann::json{{"ok", false},
                                   {"error", {{"type", "not_found"}, {"message", "Tool not available: browser"}}}}));

    phases_.begin("beta's Telegram user answered after the upgrade");
    double followed = -1;
    EXPECT_TRUE(wait_until(std::max(60, static_cast<int>(followup_at + turn_timeout - now_s())), [&] {
      return (followed = answered_after(followup_at)) >= 0;
    })) << turns_failed();
    phases_.end();

    std::cerr << "[ turns ] alpha answered after " << alpha_s << " s, beta's Telegram user after " << beta_s
              << " s, and after the upgrade after " << (followed < 0 ? -1 : followed - followup_at)
              << " s (-1: not within " << turn_timeout << " s)\n";
    for (const auto& m : sent)
      std::cerr << "[ turns ] to 1001: " << m.value("method", "") << " " << m.value("text", "") << "\n";
    // The bot's messages to the allowed user are the model's replies.
    EXPECT_NE(sent.dump().find(reply), std::string::npos) << sent.dump(1);
    EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
    EXPECT_NE(answer.find(reply), std::string::npos) << answer;
    // The model calls that held each message: the first turn's with the
    // first key; the follow-up's with the rotated one, holding the first
    // question too (the conversation came through the upgrade on the data
    // disk); alpha's with its own key.
    const auto seqs_of = [&](const std::string& text) {
      auto j = nlohmann::json::parse(internet_->ctl("GET", "/search?text=" + text), nullptr, false);
      std::set<int> out;
      if (j.is_array())
        for (const auto& n : j)
          if (n.is_number_integer()) out.insert(n.get<int>());
      return out;
    };
    const std::set<int> first_seqs = seqs_of(question), followup_seqs = seqs_of(followup),
                        alpha_seqs = seqs_of(alpha_question);
    std::size_t first_turn = 0, followup_turn = 0, with_history = 0, alpha_asked = 0;
    for (const auto& call : calls()) {
      const int seq = call.value("seq", -1);
      if (call.value("api", "") == "messages" && followup_seqs.count(seq)) {
        ++followup_turn;
        with_history += first_seqs.count(seq);
        EXPECT_EQ(call.value("key", ""), kBetaRotatedKey) << call.dump();
      } else if (call.value("api", "") == "messages" && first_seqs.count(seq)) {
        ++first_turn;
        EXPECT_EQ(call.value("key", ""), kBetaKey) << call.dump();
      }
      if (call.value("service", "") == "openai" && alpha_seqs.count(seq)) {
        ++alpha_asked;
        EXPECT_EQ(call.value("key", ""), cf::testing::kPlaceholderOpenAiKey) << call.dump();
      }
      // Only beta uses Anthropic's models: its first key before the
      // upgrade, the rotated one after.
      if (call.value("ts", 0.0) > reprovisioned) {
        EXPECT_NE(call.value("key", ""), kBetaKey) << call.dump();
      }
    }
    EXPECT_GE(first_turn, 1u) << "no model call holds the allowed user's message";
    EXPECT_GE(followup_turn, 1u) << "no model call holds the allowed user's follow-up";
    EXPECT_GE(with_history, 1u) << "no call for the follow-up holds the first question: the conversation was lost "
                                   "in the upgrade\n"
                                << model_calls_text();
    EXPECT_GE(alpha_asked, 1u) << "no OpenAI call holds alpha's question";
    EXPECT_EQ(internet_->ctl("GET", "/telegram/sent?chat_id=2002"), "[]\n");
    // Nor is the stranger's text in any request (getUpdates brought it in an answer).
    EXPECT_EQ(internet_->ctl("GET", "/search?text=" + stranger), "[]\n");

    // A revoked bot token: beta stays ready and says its channel fails.
    phases_.begin("a revoked bot token");
    internet_->ctl("POST", "/telegram/token",
                   nlohmann::json{{"token", cf::testing::kPlaceholderBotToken}, {"state", "revoked"}}.dump());
    std::string channels;
    EXPECT_TRUE(wait_until(600, [&] {
      return (channels = status_row("beta", "Channels")).rfind("failing: telegram", 0) == 0;
    })) << channels;
    EXPECT_EQ(status_row("beta", "Health"), "ready");
    phases_.end();

    // The conversation is on beta's data disk (docs/guest.md#the-data-disk):
    // OpenClaw's state directory with its agent database there, nothing of
    // it beneath the mount point on the root disk. Read from the host while
    // the guest runs (debugfs -c, read-only; minutes after the turn, its
    // blocks have been written back).
    const std::string beta_dir = c_->root() + "/var/lib/clawfleet/instances/beta";
    std::string listing;
    nspawn::detail::run("debugfs -c -R 'ls /.openclaw' " + beta_dir + "/data.img", &listing);
    EXPECT_NE(listing.find("agents"), std::string::npos) << listing;
    nspawn::detail::run("debugfs -c -R 'ls /.openclaw/agents/main/agent' " + beta_dir + "/data.img", &listing);
    EXPECT_NE(listing.find("openclaw-agent.sqlite"), std::string::npos) << listing;
    nspawn::detail::run("debugfs -c -R 'ls /var/lib/openclaw' " + beta_dir + "/rootfs.ext4", &listing);
    EXPECT_EQ(listing.find(".openclaw"), std::string::npos) << listing;
  }
  // Every call came from the host's uplink (its NAT), none unexpected.
  for (const auto& call : calls()) EXPECT_EQ(call.value("peer", ""), cf::testing::kInternetPeer) << call.dump();
  EXPECT_EQ(internet_->ctl("GET", "/log?unexpected=1"), "[]\n");

  // Each VMM's peak after its gateway's turns holds within its unit's
  // MemoryMax= with 64 MiB to spare (this host's cgroups cannot enforce
  // it; docs/host.md#limits).
  model::Resources guest;
  guest.vcpus = 1;
  guest.memory_mib = cf::testing::kGuestMemoryMiB;
  const long limit_kib = long(model::vm_memory_max_mib(guest, model::VmmKind::Qemu)) * 1024;
  for (const char* name : {"alpha", "beta"}) {
    const long peak = vmm_peak_kib(name);
    EXPECT_GT(peak, 0) << name;
    EXPECT_LT(peak, limit_kib - 64 * 1024) << name << "'s VMM came within 64 MiB of its MemoryMax=";
  }

  // Removing beta destroys it, leaving nothing of it behind: no unit in
  // any state, no tap, no directory.
  const std::string beta_tap = field("beta", "tap");
  keep_console("beta");
  write_fleet({alpha}, internet);
  ASSERT_EQ(clawfleet("plan"), 2) << out_;
  EXPECT_NE(out_.find("Plan: 0 to create, 1 to destroy."), std::string::npos) << out_;
  phases_.begin("destroy of beta");
  ASSERT_EQ(clawfleet("apply"), 2) << out_;
  phases_.end();
  EXPECT_EQ(remains_of("beta", beta_tap), "");
  sh("systemctl list-units --failed --plain --no-legend");
  EXPECT_EQ(nspawn::detail::trim(out_), "");
  // Every stop was graceful: the guests powered off when asked.
  sh("journalctl --no-pager -o cat -u clawfleet-vm@beta.service | grep 'clawfleet vm stop'");
  EXPECT_NE(out_.find("clawfleet vm stop beta: powered off after"), std::string::npos) << out_;
  std::cerr << out_;
  EXPECT_EQ(clawfleet("plan"), 0) << out_;
  EXPECT_NE(out_.find("No changes."), std::string::npos) << out_;
}

// The KVM boot probe (host::boot_probe) with the image's own kernel, on
// this machine directly (not in nspawn, where /dev/kvm cannot be opened):
// under TCG the kernel reaches its panic, which proves the probe can tell a
// guest that ran; under KVM it says what this machine's /dev/kvm did,
// within its deadline (a PVM device here: no guest runs).
TEST(KvmProbe, TellsAGuestThatRanFromOneThatDidNot) {
  if (::access("/usr/bin/qemu-system-x86_64", X_OK) != 0) GTEST_SKIP() << "qemu-system-x86 is not installed";
  auto image = cf::testing::guest_image(CLAWFLEET_SOURCE_DIR, Gateway::OpenClaw);
  ASSERT_TRUE(image) << image.error().message;
  const std::string kernel = image.value() + "/vmlinux";
  model::KvmProbe tcg = host::boot_probe("/usr/bin/qemu-system-x86_64", kernel, "tcg", host::real_platform()->tsc_khz(),
                                         std::chrono::seconds(120));
  std::cerr << "[ probe ] tcg: " << tcg.detail << "\n";
  EXPECT_TRUE(tcg.runs) << tcg.detail;
  EXPECT_EQ(tcg.detail.rfind("the guest kernel ran to its panic in ", 0), 0u) << tcg.detail;
  if (::access("/dev/kvm", R_OK | W_OK) != 0) GTEST_SKIP() << "/dev/kvm cannot be opened here";
  const auto t0 = std::chrono::steady_clock::now();
  model::KvmProbe kvm = host::boot_probe("/usr/bin/qemu-system-x86_64", kernel, "kvm", 0, std::chrono::seconds(20));
  std::cerr << "[ probe ] kvm: " << (kvm.runs ? "a guest ran: " : "no guest ran: ") << kvm.detail << "\n";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(25));
  EXPECT_FALSE(kvm.detail.empty());
}

class ContractGuest : public GuestScenario {};

// One guest stopped, started and destroyed by clawfleet through real QEMU:
// each stop is the guest powering off when asked (ACPI), never a failed
// unit; the destroy leaves nothing.
TEST_F(ContractGuest, StopStartDestroy) {
  boot(Gateway::Contract);
  if (IsSkipped() || HasFatalFailure()) return;
  write_fleet({{"solo"}});
  phases_.begin("create to healthy");
  ASSERT_EQ(clawfleet("apply --health-timeout 1200"), 2) << out_;
  phases_.end();
  const int health_timeout = later_health_timeout_s(phases_.seconds("create to healthy"));
  const std::string tap = field("solo", "tap");
  const std::string port = field("solo", "hostPort");
  // The running QEMU as the shipped VM unit confines it: the instance's
  // own user (model::vmm_uid), no capability (the two to become that user
  // went with the change), none to gain, a seccomp filter.
  const std::string uid = std::to_string(model::vmm_uid({parse_ipv4(field("solo", "ip")).value(), {}, 0, ""}));
  const std::string ids = uid + " " + uid + " " + uid + " " + uid;
  sh("pid=$(systemctl show -p MainPID --value clawfleet-vm@solo.service); readlink /proc/$pid/exe; "
     "grep -E '^(Uid|Gid|Groups|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/$pid/status | "
     "tr -s '\t ' ' '");
  EXPECT_EQ(out_, "/usr/bin/qemu-system-x86_64\nUid: " + ids + "\nGid: " + ids +
                      "\nGroups: \nCapPrm: 0000000000000000\nCapEff: 0000000000000000\nCapBnd: 00000000000000c0\n"
                      "CapAmb: 0000000000000000\nNoNewPrivs: 1\nSeccomp: 2\n");

  write_fleet({{"solo", "anthropic/claude-sonnet-4-6", "stopped"}});
  phases_.begin("stop");
  ASSERT_EQ(clawfleet("apply"), 2) << out_;
  phases_.end();
  EXPECT_EQ(clawfleet("plan"), 0) << out_;
  sh("systemctl show -p ActiveState --value clawfleet-vm@solo.service; systemctl list-units --failed --plain --no-legend");
  EXPECT_EQ(nspawn::detail::trim(out_), "inactive");
  sh("journalctl --no-pager -o cat -u clawfleet-vm@solo.service | grep 'clawfleet vm stop'");
  EXPECT_NE(out_.find("clawfleet vm stop solo: powered off after"), std::string::npos) << out_;
  std::cerr << out_;
  // The data disk, made empty and sparse by clawfleet, was formatted and
  // mounted by the guest, its root given to the gateway's user with the
  // scratch directory (docs/guest.md#the-data-disk); it takes a few MiB of
  // its 8 GiB. The guest powered off, so the file system is clean.
  const std::string data = c_->root() + "/var/lib/clawfleet/instances/solo/data.img";
  std::string data_disk;
  nspawn::detail::run("debugfs -R 'ls /' " + data + " && debugfs -R 'stat /' " + data +
                          " | grep -o 'User: *[0-9]*' && stat -c '%s %a' " + data + " && du -m " + data,
                      &data_disk);
  EXPECT_NE(data_disk.find("lost+found"), std::string::npos) << data_disk;
  EXPECT_NE(data_disk.find("tmp"), std::string::npos) << data_disk;
  EXPECT_EQ(data_disk.find("User:     0"), std::string::npos) << data_disk;
  EXPECT_NE(data_disk.find("User:"), std::string::npos) << data_disk;
  EXPECT_NE(data_disk.find("\n8589934592 660\n"), std::string::npos) << data_disk;
  const auto du = data_disk.rfind('\n', data_disk.size() - 2);
  EXPECT_LT(std::stol(data_disk.substr(du + 1)), 512) << data_disk;
  // QEMU's serial port through the console keeper (host/vmm/console.h):
  // the log holds the guest kernel's first line and, written as QEMU
  // exited, its last; private to the VMM's user (and root).
  sh("f=/var/lib/clawfleet/instances/solo/vm/console.log; grep -q 'Linux version' $f && echo first; "
     "grep -q 'reboot: Power down' $f && echo last; stat -c '%a %u' $f");
  EXPECT_EQ(nspawn::detail::trim(out_), "first\nlast\n600 " + uid);

  // Started again on another image (a reimage with the start, one boot):
  // a fresh root disk from the new image, the data disk as it was, with a
  // file put there while the guest was off (docs/guest.md#the-data-disk).
  std::string written;
  nspawn::detail::run("echo kept >/tmp/cf-kept-" + uid + " && debugfs -w -R 'write /tmp/cf-kept-" + uid +
                          " /kept-across-images' " + data + "; rm -f /tmp/cf-kept-" + uid,
                      &written);
  ASSERT_EQ(file_of_disk("/var/lib/clawfleet/instances/solo/data.img", "/kept-across-images"), "kept\n") << written;
  second_image();
  if (HasFatalFailure()) return;
  GuestSpec on_v2{"solo"};
  on_v2.image = "v2";
  write_fleet({on_v2});
  ASSERT_EQ(clawfleet("plan"), 2) << out_;
  EXPECT_NE(out_.find("# solo will be reimaged: base image changed (spec.image: default -> v2)"), std::string::npos)
      << out_;
  EXPECT_NE(out_.find("Plan: 0 to create, 1 to reimage, 1 to start, 0 to destroy."), std::string::npos) << out_;
  phases_.begin("reimage and start to healthy");
  ASSERT_EQ(clawfleet("apply --health-timeout " + std::to_string(health_timeout)), 2) << out_;
  phases_.end();
  EXPECT_NE(get("127.0.0.1", std::stoi(port), "/health", "200 OK").find("200 OK"), std::string::npos) << out_;
  EXPECT_EQ(clawfleet("plan"), 0) << out_;
  EXPECT_EQ(file_of_disk("/var/lib/clawfleet/instances/solo/rootfs.ext4", "/etc/clawfleet-test-image"), "v2\n");
  EXPECT_EQ(file_of_disk("/var/lib/clawfleet/instances/solo/data.img", "/kept-across-images"), "kept\n");
  EXPECT_EQ(field("solo", "hostPort"), port);

  // Onto an image whose gateway fails at once: the gate gives up as soon
  // as the guest says so, not at its deadline, and the instance is rolled
  // back to the root that worked and healthy on it again, the reason shown
  // and the reimage still planned (docs/apply.md#rollback).
  broken_image();
  if (HasFatalFailure()) return;
  GuestSpec on_broken{"solo"};
  on_broken.image = "broken";
  write_fleet({on_broken});
  phases_.begin("reimage onto a broken image, gate given up, rolled back to healthy");
  EXPECT_EQ(clawfleet("apply --health-timeout " + std::to_string(health_timeout)), 4) << out_;
  phases_.end();
  EXPECT_NE(out_.find("solo: reimage failed: instance solo: rolled back: health gate on 127.0.0.1:" + port +
                      ": gave up after "),
            std::string::npos)
      << out_;
  EXPECT_NE(out_.find("the guest's gateway failed 1 time since the guest booted (last: exit-code exited 1) and "
                      "systemd gave up on it: it does not start (the previous root and configuration passed the "
                      "health gate again)"),
            std::string::npos)
      << out_;
  // Given up before its deadline: after the broken guest's boot.
  if (auto at = out_.find("gave up after "); at != std::string::npos) {
    EXPECT_LT(std::stol(out_.substr(at + 14)), health_timeout * 1000L) << out_;
  }
  EXPECT_NE(get("127.0.0.1", std::stoi(port), "/health", "200 OK").find("200 OK"), std::string::npos);
  EXPECT_EQ(file_of_disk("/var/lib/clawfleet/instances/solo/rootfs.ext4", "/etc/clawfleet-test-image"), "v2\n");
  EXPECT_EQ(file_of_disk("/var/lib/clawfleet/instances/solo/data.img", "/kept-across-images"), "kept\n");
  sh("ls /var/lib/clawfleet/instances/solo | grep previous");
  EXPECT_EQ(out_, "");
  EXPECT_EQ(clawfleet("plan"), 2) << out_;
  EXPECT_NE(out_.find("# solo will be reimaged: base image changed (spec.image: v2 -> broken)"), std::string::npos)
      << out_;

  // A backup while solo runs is a reflink snapshot of its data disk; where
  // this state root cannot make one, it is refused, saying how to take one
  // stopped (docs/apply.md#backup-and-restore).
  const std::string archive = "/var/tmp/solo.clawfleet-backup";
  if (clawfleet("backup solo -o " + archive) == 0) {
    EXPECT_NE(out_.find("a crash-consistent snapshot taken while it ran"), std::string::npos) << out_;
  } else {
    EXPECT_NE(out_.find("clawfleet backup: solo is running, and its data disk cannot be snapshotted while it runs: "
                        "the filesystem of /var/lib/clawfleet/instances/solo cannot reflink"),
              std::string::npos)
        << out_;
    EXPECT_NE(out_.find("stop it first (spec.state: stopped, then clawfleet apply)"), std::string::npos) << out_;
    EXPECT_NE(sh("test -e " + archive), 0);
  }
  // Stopped, it is backed up as it is: its data disk, token and record.
  GuestSpec stopped_v2{"solo", "anthropic/claude-sonnet-4-6", "stopped"};
  stopped_v2.image = "v2";
  write_fleet({stopped_v2});
  ASSERT_EQ(clawfleet("apply"), 2) << out_;
  ASSERT_EQ(clawfleet("backup solo -o " + archive), 0) << out_;
  EXPECT_NE(out_.find("Backed up solo to " + archive + " in "), std::string::npos) << out_;
  EXPECT_NE(out_.find("its data disk (8.0 GiB, taken with the guest stopped), gateway token and record."),
            std::string::npos)
      << out_;
  sh("stat -c %a " + archive);
  EXPECT_EQ(nspawn::detail::trim(out_), "600");
  // An ordinary zstd frame: zstd itself shows what the archive is.
  std::string head;
  nspawn::detail::run("zstd -dc " + c_->root() + archive + " | head -n 2", &head);
  EXPECT_EQ(head.rfind("clawfleet-backup 1\n{", 0), 0u) << head;
  EXPECT_NE(head.find("\"consistency\":\"stopped\""), std::string::npos) << head;
  EXPECT_NE(head.find("\"instance\":\"solo\""), std::string::npos) << head;
  sh("cat /var/lib/clawfleet/instances/solo/token");
  const std::string token = out_;

  // The empty set destroys nothing, so a stopped second instance (created,
  // never booted) stays while solo goes.
  keep_console("solo");
  write_fleet({{"spare", "anthropic/claude-sonnet-4-6", "stopped"}});
  phases_.begin("destroy (and a stopped create)");
  ASSERT_EQ(clawfleet("apply"), 2) << out_;
  phases_.end();
  EXPECT_EQ(remains_of("solo", tap), "");
  sh("systemctl list-units --failed --plain --no-legend");
  EXPECT_EQ(nspawn::detail::trim(out_), "");
  sh("journalctl --no-pager -o cat -u clawfleet-vm@solo.service | grep -c 'clawfleet vm stop solo: powered off after'");
  EXPECT_EQ(nspawn::detail::trim(out_), "4");
  EXPECT_EQ(clawfleet("plan"), 0) << out_;

  // Restored: a damaged archive is refused and leaves nothing; the backup
  // brings back the data disk (the file the guest's disk kept across
  // images) and the token, and apply creates solo on them.
  write_fleet({stopped_v2, {"spare", "anthropic/claude-sonnet-4-6", "stopped"}});
  ASSERT_EQ(sh("cp " + archive + " /var/tmp/bad && printf X | dd of=/var/tmp/bad bs=1 seek=300 conv=notrunc"), 0)
      << out_;
  EXPECT_EQ(clawfleet("restore solo /var/tmp/bad"), 1) << out_;
  EXPECT_NE(out_.find("clawfleet restore: /var/tmp/bad is not a backup clawfleet can restore: "), std::string::npos)
      << out_;
  sh("ls -a /var/lib/clawfleet/instances");
  EXPECT_EQ(out_, ".\n..\nspare\n");
  phases_.begin("restore and a stopped create");
  ASSERT_EQ(clawfleet("restore solo " + archive), 0) << out_;
  EXPECT_NE(out_.find("Restored solo's data disk (8.0 GiB, "), std::string::npos) << out_;
  EXPECT_NE(out_.find("from a backup of solo taken "), std::string::npos) << out_;
  EXPECT_NE(out_.find(" (stopped).\nclawfleet apply (or the agent) creates solo on them.\n"), std::string::npos)
      << out_;
  EXPECT_EQ(clawfleet("restore solo " + archive), 1) << out_;
  EXPECT_NE(out_.find("clawfleet restore: solo exists on this host (/var/lib/clawfleet/instances/solo is there, "
                      "without its record): a restore recreates a destroyed instance; apply first, to finish or "
                      "undo what is there\n"),
            std::string::npos)
      << out_;
  ASSERT_EQ(clawfleet("plan"), 2) << out_;
  EXPECT_NE(out_.find("Plan: 1 to create, 0 to destroy."), std::string::npos) << out_;
  ASSERT_EQ(clawfleet("apply"), 2) << out_;
  phases_.end();
  EXPECT_EQ(file_of_disk("/var/lib/clawfleet/instances/solo/data.img", "/kept-across-images"), "kept\n");
  sh("cat /var/lib/clawfleet/instances/solo/token");
  EXPECT_EQ(out_, token);
  EXPECT_EQ(clawfleet("plan"), 0) << out_;

  // Over an instance on the host only with --replace: a file changed since
  // the backup is as it was in the backup again.
  nspawn::detail::run("echo changed >/tmp/cf-kept-" + uid + " && debugfs -w -R 'rm /kept-across-images' " + data +
                          " && debugfs -w -R 'write /tmp/cf-kept-" + uid + " /kept-across-images' " + data +
                          "; rm -f /tmp/cf-kept-" + uid,
                      &written);
  ASSERT_EQ(file_of_disk("/var/lib/clawfleet/instances/solo/data.img", "/kept-across-images"), "changed\n") << written;
  EXPECT_EQ(clawfleet("restore solo " + archive), 1) << out_;
  EXPECT_NE(out_.find("clawfleet restore: solo exists on this host: a restore recreates a destroyed instance, or "
                      "replaces this one's data with --replace (what it has now is lost)"),
            std::string::npos)
      << out_;
  ASSERT_EQ(clawfleet("restore solo --replace " + archive), 0) << out_;
  EXPECT_NE(out_.find("Replaced solo's data disk (8.0 GiB, "), std::string::npos) << out_;
  EXPECT_EQ(file_of_disk("/var/lib/clawfleet/instances/solo/data.img", "/kept-across-images"), "kept\n");
  sh("ls -a /var/lib/clawfleet/instances; cat /var/lib/clawfleet/instances/solo/token");
  EXPECT_EQ(out_, ".\n..\nsolo\nspare\n" + token);
  EXPECT_EQ(clawfleet("plan"), 0) << out_;

  // Renamed (metadata.previousNames, docs/manifest.md#rename): keeper is
  // solo with its data disk, token, port and tap, and nothing is left
  // under solo's name. A running one's rename is RealApply's.
  GuestSpec keeper = stopped_v2;
  keeper.name = "keeper";
  keeper.previous_names = "[solo]";
  write_fleet({keeper, {"spare", "anthropic/claude-sonnet-4-6", "stopped"}});
  ASSERT_EQ(clawfleet("plan"), 2) << out_;
  EXPECT_NE(out_.find("# keeper will be renamed: it was solo (metadata.previousNames)\n"), std::string::npos) << out_;
  ASSERT_EQ(clawfleet("apply"), 2) << out_;
  EXPECT_EQ(clawfleet("plan"), 0) << out_;
  EXPECT_EQ(file_of_disk("/var/lib/clawfleet/instances/keeper/data.img", "/kept-across-images"), "kept\n");
  EXPECT_EQ(field("keeper", "hostPort"), port);
  EXPECT_EQ(field("keeper", "tap"), tap);
  sh("cat /var/lib/clawfleet/instances/keeper/token; ip -o link show " + tap + " | grep -o 'alias .*'");
  EXPECT_EQ(out_, token + "alias clawfleet:keeper\n");
  sh("systemctl list-units --all --plain --no-legend 'clawfleet-*@solo.*'; ls /etc/systemd/system "
     "/etc/systemd/system/*.wants | grep '@solo\\.'; ls -a /var/lib/clawfleet/instances; true");
  EXPECT_EQ(out_, ".\n..\nkeeper\nspare\n");
}

}  // namespace
}  // namespace cf
