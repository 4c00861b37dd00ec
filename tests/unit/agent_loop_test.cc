// The agent's loop with fake ports and a whole fake host: READY after the
// first reconcile, STATUS and the files after each, a manifest event
// reconciles, SIGTERM in the middle of a step lets that step finish (and be
// journalled) and starts no other, the watchdog stops when a reconcile
// stalls. Real time, short: the loop's threads are real.
#include "agent/agent.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <thread>

#include "agent/status_file.h"
#include "core/text.h"
#include "fakes/fake_agent.h"
#include "fakes/fake_lock.h"
#include "fakes/fleets.h"
#include "fakes/no_environment.h"

namespace cf::agent {
namespace {

using namespace std::chrono;
using testing::instance_yaml;
using testing::kTestHost;

using cf::testing::NoEnvironment;

// A health gate that holds every caller until released.
class BlockingHealth : public host::Health {
 public:
  Status wait_started(const host::HealthTarget& t, std::chrono::milliseconds, const host::GiveUp&) override {
    const std::uint16_t port = t.host_port;
    std::unique_lock<std::mutex> lock(mu_);
    entered.push_back(port);
    cv_.notify_all();
    cv_.wait(lock, [&] { return released_; });
    return {};
  }
  model::Readiness readiness(const host::HealthTarget&, std::chrono::milliseconds) override {
    return model::Readiness{true, true, {}, ""};
  }
  Status alive(const host::HealthTarget&, std::chrono::milliseconds) override { return {}; }
  bool wait_entered(std::size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, seconds(10), [&] { return entered.size() >= n; });
  }
  void release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  std::size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return entered.size();
  }
  std::vector<std::uint16_t> entered;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
};

template <class F>
bool eventually(F f, milliseconds within = seconds(10)) {
  const auto end = steady_clock::now() + within;
  while (steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return f();
}

class AgentLoop : public ::testing::Test {
 protected:
  void start(AgentOptions ao = {}, std::size_t parallelism = 2) {
    ReconcileOptions o;
    o.exec.parallelism = parallelism;
    reconciler_ =
        std::make_unique<Reconciler>(ReconcilerPorts{files, env, lock, opener, *clock_, log, [] { return 0.5; }}, o);
    if (ao.metrics_path.empty()) ao.metrics_path = "/var/lib/node_exporter/clawfleet.prom";
    agent_ = std::make_unique<Agent>(AgentPorts{events, notifier, writer, log, *clock_}, *reconciler_, ao);
    thread_ = std::thread([this] { rc_ = agent_->run(); });
  }
  int stop() {
    events.push({EventKind::Stop, "SIGTERM"});
    thread_.join();
    return rc_;
  }
  void TearDown() override {
    if (thread_.joinable()) stop();
  }
  void manifests(const std::string& instances) { files.file("/etc/clawfleet/fleet.yaml", kTestHost + instances); }
  bool notified(const std::string& text) {
    auto m = notifier.messages();
    return std::find(m.begin(), m.end(), text) != m.end();
  }

  testing::FakeHost host;
  testing::FakeJournal journal;
  testing::FakeHostOpener opener{host, journal};
  testing::FakeLock lock;
  std::unique_ptr<Clock> clock_ = real_clock();
  testing::FakeLog log;
  testing::FakeFileReader files;
  NoEnvironment env;
  testing::FakeEventSource events;
  testing::FakeNotifier notifier;
  testing::FakeFileWriter writer;
  std::unique_ptr<Reconciler> reconciler_;
  std::unique_ptr<Agent> agent_;
  std::thread thread_;
  int rc_ = -1;
};

TEST_F(AgentLoop, ReadyAfterTheFirstReconcileThenStatusAndFiles) {
  manifests(instance_yaml("alpha") + instance_yaml("beta"));
  notifier.watchdog_usec = microseconds(100000);
  start();
  ASSERT_TRUE(eventually([&] { return notified("READY=1\nSTATUS=2 instances, 2 ready"); }));
  EXPECT_EQ(notifier.messages().front(), "WATCHDOG=1");  // pinged from the start
  ASSERT_TRUE(eventually([&] {
    auto m = notifier.messages();
    return std::count(m.begin(), m.end(), std::string("WATCHDOG=1")) >= 3;
  }));
  // Half the watchdog interval at most between turns of the loop.
  for (auto t : events.timeouts) EXPECT_LE(t, milliseconds(50));

  EXPECT_EQ(stop(), 0);
  EXPECT_EQ(writer.modes["/var/lib/clawfleet/agent-status.json"], 0600u);
  // The state root is made (0711) before the status file goes in.
  ASSERT_GE(writer.calls.size(), 2u);
  EXPECT_EQ(writer.calls[0], "ensure_dir /var/lib/clawfleet " + std::to_string(0711));
  EXPECT_EQ(writer.calls[1], "write /var/lib/clawfleet/agent-status.json " + std::to_string(0600));
  auto parsed = parse_status_file(writer.files["/var/lib/clawfleet/agent-status.json"]);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_TRUE(parsed.value().instances.at("alpha").is(ConditionType::Ready));
  EXPECT_NE(writer.files["/var/lib/node_exporter/clawfleet.prom"].find("clawfleet_instances{condition=\"Ready\"} 2\n"),
            std::string::npos);
  EXPECT_TRUE(notified("STOPPING=1\nSTATUS=stopping: 2 instances, 2 ready"));
  auto lines = log.all();
  EXPECT_EQ(lines.back(), "info stopped");
}

// A diagnostic quotes at most 64 bytes of a value; cut inside a UTF-8
// character, the message made the status file's JSON dump throw and ended
// the agent on every reconcile.
TEST_F(AgentLoop, ALongNonAsciiValueInABrokenManifestIsReported) {
  manifests("---\napiVersion: clawfleet.io/v1\nkind: Instance\nmetadata: {name: " + std::string(63, 'a') +
            "\xc3\xa9}\nspec:\n  model: ollama/qwen3\n");
  start();
  ASSERT_TRUE(eventually([&] { return writer.files.count("/var/lib/clawfleet/agent-status.json") > 0; }));
  EXPECT_EQ(stop(), 0);
  const std::string text = writer.files["/var/lib/clawfleet/agent-status.json"];
  EXPECT_TRUE(is_valid_utf8(text));
  auto parsed = parse_status_file(text);
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_NE(parsed.value().manifest_error.find("metadata.name: \"" + std::string(63, 'a') + "\" is not a DNS label"),
            std::string::npos)
      << parsed.value().manifest_error;
}

TEST_F(AgentLoop, AManifestChangeIsAppliedAfterTheDebounce) {
  manifests(instance_yaml("alpha"));
  AgentOptions ao;
  ao.schedule.debounce = milliseconds(30);
  start(ao);
  ASSERT_TRUE(eventually([&] { return notified("READY=1\nSTATUS=1 instance, 1 ready"); }));
  manifests(instance_yaml("alpha") + instance_yaml("beta"));
  for (int i = 0; i < 5; ++i) events.push({EventKind::ManifestChanged, "/etc/clawfleet/fleet.yaml"});
  ASSERT_TRUE(eventually([&] { return notified("STATUS=2 instances, 2 ready"); }));
  EXPECT_TRUE(notified("STATUS=reconciling (manifests changed); 1 instance, 1 ready"));
  EXPECT_EQ(stop(), 0);
  EXPECT_EQ(reconciler_->status().reconciles, 2u);  // the burst was one reconcile
}

TEST_F(AgentLoop, SighupReconcilesAtOnce) {
  manifests(instance_yaml("alpha"));
  start();
  ASSERT_TRUE(eventually([&] { return notified("READY=1\nSTATUS=1 instance, 1 ready"); }));
  events.push({EventKind::Reload, "SIGHUP"});
  ASSERT_TRUE(eventually([&] { return notified("STATUS=reconciling (SIGHUP); 1 instance, 1 ready"); }));
  EXPECT_EQ(stop(), 0);
}

// SIGTERM while alpha's create waits at its health gate: the create
// finishes and is journalled, beta's and gamma's never start, exit 0.
TEST_F(AgentLoop, SigtermMidStepFinishesTheStepAndStartsNoOther) {
  manifests(instance_yaml("alpha") + instance_yaml("beta") + instance_yaml("gamma"));
  BlockingHealth health;
  opener.health = &health;
  start({}, 1);
  ASSERT_TRUE(health.wait_entered(1));
  events.push({EventKind::Stop, "SIGTERM"});
  ASSERT_TRUE(eventually([&] { return notified("STOPPING=1\nSTATUS=stopping: starting"); }));
  std::this_thread::sleep_for(milliseconds(50));
  EXPECT_TRUE(thread_.joinable());
  EXPECT_EQ(rc_, -1);  // still waiting for the step in flight
  health.release();
  thread_.join();
  EXPECT_EQ(rc_, 0);
  EXPECT_EQ(health.count(), 1u);
  EXPECT_EQ(journal.calls,
            (std::vector<std::string>{"append 0 - repair start", "append 0 - repair end ok",
                                      "append 1 alpha create start", "append 1 alpha create end ok",
                                      "append 2 beta create end skipped", "append 3 gamma create end skipped"}));
  EXPECT_EQ(journal.records.back().error, "the agent is stopping");
  auto lines = log.all();
  EXPECT_NE(std::find(lines.begin(), lines.end(), "info SIGTERM: stopping after the steps in flight"), lines.end());
  EXPECT_EQ(lines.back(), "info stopped");
  // READY too: the first reconcile did finish.
  EXPECT_TRUE(eventually([&] {
    for (const auto& m : notifier.messages())
      if (m.rfind("READY=1\n", 0) == 0) return true;
    return false;
  }));
  const InstanceConditions& beta = reconciler_->status().instances.at("beta");
  EXPECT_EQ(beta.find(ConditionType::Ready)->reason, "AgentStopping");
}

// A reconcile with no step event for longer than stall_after: no more
// WATCHDOG=1, so systemd restarts the service.
TEST_F(AgentLoop, TheWatchdogStopsWhenAReconcileStalls) {
  manifests(instance_yaml("alpha"));
  BlockingHealth health;
  opener.health = &health;
  notifier.watchdog_usec = microseconds(20000);
  AgentOptions ao;
  ao.stall_after = milliseconds(100);
  start(ao);
  ASSERT_TRUE(health.wait_entered(1));
  std::this_thread::sleep_for(milliseconds(150));
  auto pings = [&] {
    auto m = notifier.messages();
    return std::count(m.begin(), m.end(), std::string("WATCHDOG=1"));
  };
  const auto before = pings();
  std::this_thread::sleep_for(milliseconds(150));
  EXPECT_EQ(pings(), before);
  health.release();
  ASSERT_TRUE(eventually([&] { return pings() > before; }));
  EXPECT_EQ(stop(), 0);
}

TEST_F(AgentLoop, OnceRunsOneReconcile) {
  manifests(instance_yaml("alpha"));
  AgentOptions ao;
  ao.once = true;
  start(ao);
  thread_.join();
  EXPECT_EQ(rc_, 0);
  EXPECT_EQ(reconciler_->status().reconciles, 1u);
}

TEST_F(AgentLoop, AFailingEventSourceEndsTheAgent) {
  manifests(instance_yaml("alpha"));
  events.fail = "poll: Bad file descriptor";
  start();
  thread_.join();
  EXPECT_EQ(rc_, 1);
  auto lines = log.all();
  EXPECT_NE(std::find(lines.begin(), lines.end(), "error cannot wait for events: poll: Bad file descriptor"),
            lines.end());
}

}  // namespace
}  // namespace cf::agent
