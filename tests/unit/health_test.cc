// The real health gate and readiness probe against a loopback HTTP server
// in the test that records requests.
#include "host/guest/health.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>

#include "fakes/fake_vmm.h"

namespace cf::host {
namespace {

using std::chrono::milliseconds;
using testing::Conn;
using testing::LoopbackTcpServer;

HealthTarget target(std::uint16_t port, std::string token, std::string generation = "sha256:aa") {
  return HealthTarget{port, std::move(token), Ipv4{0x7f000001}, std::move(generation), port};
}

// Answers each request with the status the script gives for its path.
struct Guest {
  std::mutex mu;
  std::map<std::string, std::vector<int>> script;        // path -> statuses, last one repeats
  std::vector<std::string> requests;                     // "GET /ready auth=<Authorization header>"
  std::vector<std::string> generations = {"sha256:aa"};  // what "/" reports, last one repeats
  std::map<std::string, std::string> bodies;             // path -> body, else {"ok":true} for 200
  std::string not_started;                               // when set, "/" answers 503 with it

  void serve(Conn& c) {
    std::string req;
    if (!c.read_until(req, "\r\n\r\n")) return;
    std::string path = req.substr(4, req.find(' ', 4) - 4);
    std::string auth;
    if (auto at = req.find("Authorization: "); at != std::string::npos)
      auth = req.substr(at + 15, req.find("\r\n", at) - at - 15);
    int status = 404;
    {
      std::lock_guard<std::mutex> lock(mu);
      requests.push_back("GET " + path + (auth.empty() ? "" : " auth=" + auth));
      auto& s = script[path];
      if (!s.empty()) {
        status = s.front();
        if (s.size() > 1) s.erase(s.begin());
      }
    }
    std::string body = status == 200 ? "{\"ok\":true}" : "{}";
    if (auto b = bodies.find(path); b != bodies.end()) body = b->second;
    if (path == "/" && !not_started.empty()) {
      status = 503;
      body = not_started;
    } else if (path == "/") {
      std::lock_guard<std::mutex> lock(mu);
      status = 200;
      body = "{\"generation\":\"" + generations.front() + "\"}";
      if (generations.size() > 1) generations.erase(generations.begin());
    }
    c.write("HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " + std::to_string(body.size()) +
            "\r\nConnection: close\r\n\r\n" + body);
  }
};

// The gate sends no token: it needs none, and what it never sends a guest
// cannot collect.
TEST(Health, StartedWhenHealthAndStartupAnswer200WithoutTheToken) {
  Guest g;
  g.script["/health"] = {503, 200};
  g.script["/startupz"] = {503, 200};
  LoopbackTcpServer server([&](Conn& c) { g.serve(c); });
  ASSERT_TRUE(server.ok());
  auto s = real_health(milliseconds(10))->wait_started(target(server.port, "t0ken"), milliseconds(5000), {});
  ASSERT_TRUE(s) << s.error().message;
  // The first time the gateway is not up, the guest's status endpoint is
  // asked why (then every 5 s): here it has a generation, no failures.
  EXPECT_EQ(g.requests, (std::vector<std::string>{"GET /health", "GET /", "GET /health", "GET /startupz", "GET /health",
                                                  "GET /startupz", "GET /"}));
}

// /readyz is never asked by the gate: a failing channel does not hold it.
TEST(Health, AFailingChannelDoesNotHoldTheGate) {
  Guest g;
  g.script["/health"] = {200};
  g.script["/startupz"] = {200};
  g.script["/readyz"] = {503};
  LoopbackTcpServer server([&](Conn& c) { g.serve(c); });
  ASSERT_TRUE(server.ok());
  auto s = real_health(milliseconds(10))->wait_started(target(server.port, "t"), milliseconds(5000), {});
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(std::count(g.requests.begin(), g.requests.end(), "GET /readyz"), 0);
}

TEST(Health, StillStartingIsSaid) {
  Guest g;
  g.script["/health"] = {200};
  g.script["/startupz"] = {503};
  g.bodies["/startupz"] = R"({"ok":false,"status":"starting"})";
  LoopbackTcpServer server([&](Conn& c) { g.serve(c); });
  ASSERT_TRUE(server.ok());
  auto s = real_health(milliseconds(20))->wait_started(target(server.port, "t"), milliseconds(200), {});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "health gate on 127.0.0.1:" + std::to_string(server.port) +
                                   ": not started within 200 ms (last: /startupz answered 503 (starting))");
}

// A guest that still runs the previous configuration is not ready until it
// reports the generation that was applied.
TEST(Health, WaitsForTheAppliedGeneration) {
  Guest g;
  g.script["/health"] = {200};
  g.script["/startupz"] = {200};
  g.generations = {"sha256:old", "sha256:old", "sha256:new"};
  LoopbackTcpServer server([&](Conn& c) { g.serve(c); });
  ASSERT_TRUE(server.ok());
  auto s = real_health(milliseconds(10))->wait_started(target(server.port, "t", "sha256:new"), milliseconds(5000), {});
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(std::count(g.requests.begin(), g.requests.end(), "GET /"), 3);
}

TEST(Health, AnOldGenerationIsNamedInTheError) {
  Guest g;
  g.script["/health"] = {200};
  g.script["/startupz"] = {200};
  g.generations = {"sha256:0123456789abcdef0123"};
  LoopbackTcpServer server([&](Conn& c) { g.serve(c); });
  ASSERT_TRUE(server.ok());
  auto s = real_health(milliseconds(20))
               ->wait_started(target(server.port, "t", "sha256:fedcba9876543210fedc"), milliseconds(200), {});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "health gate on 127.0.0.1:" + std::to_string(server.port) +
                                   ": not started within 200 ms (last: the guest runs generation sha256:0123456789ab…, "
                                   "not sha256:fedcba987654…)");
}

TEST(Health, DeadlineSaysWhatFailedLast) {
  Guest g;
  g.script["/health"] = {200};
  g.script["/startupz"] = {503};
  LoopbackTcpServer server([&](Conn& c) { g.serve(c); });
  ASSERT_TRUE(server.ok());
  auto s = real_health(milliseconds(20))->wait_started(target(server.port, "s3cret-token"), milliseconds(300), {});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "health gate on 127.0.0.1:" + std::to_string(server.port) +
                                   ": not started within 300 ms (last: /startupz answered 503)");
}

TEST(Health, NobodyListening) {
  std::uint16_t port = 0;
  {
    LoopbackTcpServer gone([](Conn&) {});
    ASSERT_TRUE(gone.ok());
    port = gone.port;
  }
  auto s = real_health(milliseconds(20))->wait_started(target(port, "t"), milliseconds(200), {});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "health gate on 127.0.0.1:" + std::to_string(port) +
                                   ": not started within 200 ms (last: /health: connection refused)");
}

TEST(Health, AGuestThatNeverAnswersCannotOutlastTheDeadline) {
  LoopbackTcpServer server([](Conn& c) { c.hang(); });
  ASSERT_TRUE(server.ok());
  auto t0 = std::chrono::steady_clock::now();
  auto s = real_health(milliseconds(20))->wait_started(target(server.port, "t"), milliseconds(400), {});
  ASSERT_FALSE(s);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(2000));
  EXPECT_NE(s.error().message.find("(last: GET /health: no answer within"), std::string::npos) << s.error().message;
}

// Fail fast: a guest whose gateway keeps failing (or that systemd gave up
// on) says so on its status endpoint, and the gate stops at once.
TEST(Health, AGatewayThatDoesNotStartEndsTheGateAtOnce) {
  const std::pair<std::string, std::string> cases[] = {
      {R"({"generation":null,"gatewayFailures":3,"lastFailure":"exit-code exited 1","gatewayGaveUp":false})",
       "the guest's gateway failed 3 times since the guest booted (last: exit-code exited 1): it does not start"},
      {R"({"generation":null,"gatewayFailures":1,"lastFailure":"exit-code exited 78","gatewayGaveUp":true})",
       "the guest's gateway failed 1 time since the guest booted (last: exit-code exited 78) and systemd gave up on "
       "it: it does not start"},
      // The guest writes it: bounded and printable.
      {R"({"generation":null,"gatewayFailures":99999999999,"lastFailure":"\u001b[2J)" + std::string(100, 'x') + R"("})",
       "the guest's gateway failed 1000000 times since the guest booted (last: ?[2J" + std::string(60, 'x') +
           "): it does not start"},
  };
  for (const auto& [body, why] : cases) {
    Guest g;
    g.script["/health"] = {503};
    g.not_started = body;
    LoopbackTcpServer server([&](Conn& c) { g.serve(c); });
    ASSERT_TRUE(server.ok());
    const auto t0 = std::chrono::steady_clock::now();
    auto s = real_health(milliseconds(20))->wait_started(target(server.port, "t"), milliseconds(20000), {});
    ASSERT_FALSE(s);
    const std::string prefix = "health gate on 127.0.0.1:" + std::to_string(server.port) + ": gave up after ";
    EXPECT_EQ(s.error().message.rfind(prefix, 0), 0u) << s.error().message;
    EXPECT_EQ(s.error().message.substr(s.error().message.find(" ms: ") + 5), why);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  }
}

// Fewer failures, systemd still restarting it: the gateway may yet start.
TEST(Health, AGatewayThatFailedOnceIsWaitedFor) {
  Guest g;
  g.script["/health"] = {503};
  g.not_started = R"({"generation":null,"gatewayFailures":2,"lastFailure":"exit-code exited 1","gatewayGaveUp":false})";
  LoopbackTcpServer server([&](Conn& c) { g.serve(c); });
  ASSERT_TRUE(server.ok());
  auto s = real_health(milliseconds(20))->wait_started(target(server.port, "t"), milliseconds(300), {});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "health gate on 127.0.0.1:" + std::to_string(server.port) +
                                   ": not started within 300 ms (last: /health answered 503)");
}

// The caller's reason (the VM unit failed) ends the gate between attempts.
TEST(Health, TheCallersReasonEndsTheGate) {
  Guest g;
  g.script["/health"] = {503};
  LoopbackTcpServer server([&](Conn& c) { g.serve(c); });
  ASSERT_TRUE(server.ok());
  int asked = 0;
  auto s = real_health(milliseconds(20))
               ->wait_started(target(server.port, "t"), milliseconds(20000), [&]() -> std::optional<std::string> {
                 if (++asked < 3) return std::nullopt;
                 return "clawfleet-vm@bot.service failed";
               });
  ASSERT_FALSE(s);
  EXPECT_EQ(asked, 3);
  EXPECT_EQ(s.error().message.substr(s.error().message.find(" ms: ") + 5), "clawfleet-vm@bot.service failed");
}

// Deep readiness is one request, with the token (the gateway names what
// fails only to an authenticated caller).
TEST(Readiness, ReadyWithTheToken) {
  Guest g;
  g.script["/readyz"] = {200};
  g.bodies["/readyz"] = R"({"ready":true,"failing":[],"uptimeMs":81234})";
  LoopbackTcpServer server([&](Conn& c) { g.serve(c); });
  ASSERT_TRUE(server.ok());
  auto r = real_health()->readiness(target(server.port, "t0ken"), milliseconds(2000));
  EXPECT_EQ(r, (model::Readiness{true, true, {}, ""}));
  EXPECT_EQ(g.requests, (std::vector<std::string>{"GET /readyz auth=Bearer t0ken"}));
}

// Names from the guest are bounded and made printable: it writes them.
TEST(Readiness, FailingChannelsAreNamed) {
  Guest g;
  g.script["/readyz"] = {503};
  std::string many = R"({"ready":false,"failing":["telegram","x\u001b[2J",7)";
  for (int n = 0; n < 20; ++n) many += ",\"c" + std::to_string(n) + "\"";
  g.bodies["/readyz"] = many + "]}";
  LoopbackTcpServer server([&](Conn& c) { g.serve(c); });
  ASSERT_TRUE(server.ok());
  auto r = real_health()->readiness(target(server.port, "t"), milliseconds(2000));
  EXPECT_TRUE(r.answered);
  EXPECT_FALSE(r.ready);
  ASSERT_EQ(r.failing.size(), 17u);
  EXPECT_EQ(r.failing[0], "telegram");
  EXPECT_EQ(r.failing[1], "x?[2J");
  EXPECT_EQ(r.failing[15], "c13");
  EXPECT_EQ(r.failing[16], "…");
}

TEST(Readiness, AnAnswerThatIsNoReadinessIsAnError) {
  Guest g;
  g.script["/readyz"] = {401};
  LoopbackTcpServer server([&](Conn& c) { g.serve(c); });
  ASSERT_TRUE(server.ok());
  auto r = real_health()->readiness(target(server.port, "t"), milliseconds(2000));
  EXPECT_EQ(r, (model::Readiness{false, false, {}, "/readyz answered 401 without a readiness"}));
}

TEST(Readiness, NobodyListening) {
  std::uint16_t port = 0;
  {
    LoopbackTcpServer gone([](Conn&) {});
    ASSERT_TRUE(gone.ok());
    port = gone.port;
  }
  auto r = real_health()->readiness(target(port, "t"), milliseconds(500));
  EXPECT_EQ(r, (model::Readiness{false, false, {}, "/readyz: connection refused"}));
}

// Liveness is one unauthenticated /healthz, 200 or what went wrong.
TEST(Liveness, AliveWhen200WithoutTheToken) {
  Guest g;
  g.script["/healthz"] = {200, 503};
  g.bodies["/healthz"] = R"({"ok":true,"status":"live"})";
  LoopbackTcpServer server([&](Conn& c) { g.serve(c); });
  ASSERT_TRUE(server.ok());
  auto health = real_health();
  EXPECT_TRUE(health->alive(target(server.port, "t0ken"), milliseconds(2000)));
  auto s = health->alive(target(server.port, "t0ken"), milliseconds(2000));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "/healthz answered 503");
  EXPECT_EQ(g.requests, (std::vector<std::string>{"GET /healthz", "GET /healthz"}));
}

TEST(Liveness, NobodyListening) {
  std::uint16_t port = 0;
  {
    LoopbackTcpServer gone([](Conn&) {});
    ASSERT_TRUE(gone.ok());
    port = gone.port;
  }
  auto s = real_health()->alive(target(port, "t"), milliseconds(500));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "/healthz: connection refused");
}

TEST(Liveness, AHungGatewayCostsTheTimeoutOnly) {
  LoopbackTcpServer server([](Conn& c) { c.hang(); });
  ASSERT_TRUE(server.ok());
  auto t0 = std::chrono::steady_clock::now();
  auto s = real_health()->alive(target(server.port, "t"), milliseconds(300));
  ASSERT_FALSE(s);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(2000));
  EXPECT_EQ(s.error().message.rfind("GET /healthz: no answer within", 0), 0u) << s.error().message;
}

}  // namespace
}  // namespace cf::host
