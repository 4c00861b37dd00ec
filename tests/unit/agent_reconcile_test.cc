// One reconcile of the agent against a whole fake host, with the real
// loader, planner and executor: backoff isolates a failing instance, never
// blocks a destroy, a broken manifest set keeps the last good one enforced,
// a busy lock is retried later. Liveness after the health gate (with the
// probes between reconciles): /healthz failing for less than
// spec.liveness.failAfter restarts nothing; for the whole period, exactly
// one restart step (through the health gate) that counts as a failure for
// the backoff; a success in between starts the count again; what does not
// run past its gate is not asked; `off` never restarts.
#include "agent/reconciler.h"

#include <gtest/gtest.h>

#include "agent/liveness.h"
#include "apply/engine.h"
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

class AgentReconcile : public ::testing::Test {
 protected:
  void SetUp() override {
    ReconcileOptions o;
    o.exec.parallelism = 2;
    o.exec.health_deadline = seconds(60);
    reconciler_ =
        std::make_unique<Reconciler>(ReconcilerPorts{files, env, lock, opener, clock, log, [] { return 0.5; }}, o);
  }
  void manifests(const std::string& instances) { files.file("/etc/clawfleet/fleet.yaml", kTestHost + instances); }
  void manifests(const std::string& host_extra, const std::string& instances) {
    files.file("/etc/clawfleet/fleet.yaml", kTestHost + host_extra + instances);
  }
  void with_backoff(BackoffOptions backoff) {
    ReconcileOptions o;
    o.exec.parallelism = 2;
    o.exec.health_deadline = seconds(60);
    o.backoff = backoff;
    reconciler_ =
        std::make_unique<Reconciler>(ReconcilerPorts{files, env, lock, opener, clock, log, [] { return 0.5; }}, o);
  }
  // The loop's liveness probe between reconciles, when it is due.
  LivenessProbe probe_after(milliseconds d) {
    clock.advance(d);
    std::atomic<bool> stop{false};
    EXPECT_TRUE(reconciler_->next_probe());
    if (reconciler_->next_probe()) {
      EXPECT_LE(*reconciler_->next_probe(), clock.now());
    }
    return reconciler_->probe_liveness(stop);
  }
  std::tuple<bool, std::string, std::string> live_of(const std::string& name) {
    const Condition* c = status().instances.at(name).find(ConditionType::Live);
    if (!c) return {false, "(absent)", ""};
    return {c->status, c->reason, c->message};
  }
  std::vector<std::string> restarts() {
    std::vector<std::string> out;
    for (const auto& line : journal_lines())
      if (line.find(" restart ") != std::string::npos) out.push_back(line);
    return out;
  }
  // The health port's calls for one instance's port, by kind: "alive", "wait_started", "readiness".
  std::vector<std::string> calls_for(std::uint16_t port) {
    std::vector<std::string> out;
    const std::string p = " " + std::to_string(port) + " ";
    for (const auto& c : host.health.calls)
      if (c.find(p) != std::string::npos) out.push_back(c.substr(0, c.find(' ')));
    return out;
  }
  ReconcileReport reconcile() {
    std::atomic<bool> stop{false};
    return reconciler_->reconcile("test", stop);
  }
  const AgentStatus& status() { return reconciler_->status(); }
  bool ready(const std::string& name) {
    auto it = status().instances.find(name);
    return it != status().instances.end() && it->second.is(ConditionType::Ready);
  }
  std::size_t health_calls(std::uint16_t port) {
    std::size_t n = 0;
    for (const auto& c : host.health.calls) n += c.rfind("wait_started " + std::to_string(port) + " ", 0) == 0;
    return n;
  }
  std::vector<std::string> journal_lines() {
    std::vector<std::string> out;
    for (const auto& r : journal.records)
      out.push_back(r.instance + " " + r.action + " " + apply::to_string(r.event) +
                    (r.result ? std::string(" ") + apply::to_string(*r.result) : ""));
    return out;
  }

  testing::FakeHost host;
  testing::FakeJournal journal;
  testing::FakeHostOpener opener{host, journal};
  testing::FakeLock lock;
  testing::FakeClock clock;
  testing::FakeLog log;
  testing::FakeFileReader files;
  NoEnvironment env;
  std::unique_ptr<Reconciler> reconciler_;
};

TEST_F(AgentReconcile, ConvergesAndReportsReady) {
  manifests(instance_yaml("alpha") + instance_yaml("beta"));
  ReconcileReport r = reconcile();
  EXPECT_EQ(r.result, ReconcileResult::Ok) << r.error;
  EXPECT_EQ(r.steps, 3u);  // the host, two creates
  EXPECT_TRUE(ready("alpha"));
  EXPECT_TRUE(ready("beta"));
  EXPECT_EQ(summary_line(status()), "2 instances, 2 ready");
  EXPECT_EQ(lock.calls, (std::vector<std::string>{"acquire agent timeout=0ms", "release agent"}));
  EXPECT_EQ(status().reconciles, 1u);
  EXPECT_TRUE(status().last_success.has_value());
  // Logged with the journal's fields.
  auto lines = log.all();
  EXPECT_NE(
      std::find(lines.begin(), lines.end(), "info alpha: create done (0.0 s) ACTION=create INSTANCE=alpha STEP=1"),
      lines.end());
  // Nothing left: the next reconcile runs no step.
  r = reconcile();
  EXPECT_EQ(r.steps, 0u);
  EXPECT_EQ(r.result, ReconcileResult::Ok);
}

// Once per boot of the host the agent asks whether /dev/kvm can run a
// guest (plan and status never do), and the VMs it launches follow the
// answer.
TEST_F(AgentReconcile, ProbesKvmOnceAndTheVmsFollowIt) {
  manifests(instance_yaml("alpha"));
  {
    const model::DesiredState desired{testing::fleet_of(instance_yaml("alpha")), {}, {}};
    ASSERT_TRUE(apply::plan_once(apply::Target{desired, true, {}}, host.ports()));
    EXPECT_TRUE(host.platform.probes.empty());  // planning alone never probes
  }
  host.platform.outcome = model::KvmProbe{true, "the guest kernel ran to its panic in 0.9 s", "2026-12-01T10:00:00Z"};
  ReconcileReport r = reconcile();
  EXPECT_EQ(r.result, ReconcileResult::Ok) << r.error;
  EXPECT_EQ(host.platform.probes, (std::vector<std::string>{"/usr/bin/qemu-system-x86_64 "
                                                            "/var/lib/clawfleet/images/default/vmlinux 20000ms"}));
  auto lines = log.all();
  EXPECT_NE(std::find(lines.begin(), lines.end(),
                      "info KVM boot probe: a guest ran (the guest kernel ran to its panic in 0.9 s)"),
            lines.end());
  ASSERT_EQ(host.vmm.specs.count("alpha"), 1u);
  EXPECT_TRUE(host.vmm.specs.at("alpha").kvm);
  // Recorded for this boot: not asked again.
  manifests(instance_yaml("alpha") + instance_yaml("beta"));
  r = reconcile();
  EXPECT_EQ(host.platform.probes.size(), 1u);
  ASSERT_EQ(host.vmm.specs.count("beta"), 1u);
  EXPECT_TRUE(host.vmm.specs.at("beta").kvm);
}

// On these machines (a /dev/kvm that opens and runs no guest) QEMU emulates.
TEST_F(AgentReconcile, AProbeThatRanNoGuestKeepsQemuOnTcg) {
  manifests(instance_yaml("alpha"));
  ReconcileReport r = reconcile();
  EXPECT_EQ(r.result, ReconcileResult::Ok) << r.error;
  EXPECT_EQ(host.platform.probes.size(), 1u);
  auto lines = log.all();
  EXPECT_NE(std::find(lines.begin(), lines.end(),
                      "warning KVM boot probe: no guest ran (no guest console output within 20.0 s)"),
            lines.end());
  ASSERT_EQ(host.vmm.specs.count("alpha"), 1u);
  EXPECT_FALSE(host.vmm.specs.at("alpha").kvm);
}

// A gateway whose Telegram account fails its deep readiness is still
// ready and applied: ChannelsReady says what fails, and nothing backs off.
TEST_F(AgentReconcile, AFailingChannelIsShownNeverBackedOff) {
  host.health.readiness_of[18900] = model::Readiness{true, false, {"telegram"}, ""};
  host.health.readiness_of[18901] = model::Readiness{false, false, {}, "/readyz: connection refused"};
  manifests(instance_yaml("alpha") + instance_yaml("beta") + instance_yaml("gamma"));
  ReconcileReport r = reconcile();
  EXPECT_EQ(r.result, ReconcileResult::Ok) << r.error;
  for (const char* name : {"alpha", "beta", "gamma"}) EXPECT_TRUE(ready(name)) << name;
  const Condition* alpha = status().instances.at("alpha").find(ConditionType::ChannelsReady);
  ASSERT_NE(alpha, nullptr);
  EXPECT_EQ(std::tuple(alpha->status, alpha->reason, alpha->message),
            std::tuple(false, std::string("NotReady"), std::string("failing: telegram")));
  const Condition* beta = status().instances.at("beta").find(ConditionType::ChannelsReady);
  ASSERT_NE(beta, nullptr);
  EXPECT_EQ(std::tuple(beta->status, beta->reason, beta->message),
            std::tuple(false, std::string("ProbeFailed"), std::string("/readyz: connection refused")));
  EXPECT_TRUE(status().instances.at("gamma").is(ConditionType::ChannelsReady));
  EXPECT_EQ(status().instances.at("alpha").failures, 0u);
  EXPECT_EQ(summary_line(status()), "3 instances, 3 ready");
  // Asked once each, with that instance's own token.
  std::size_t asked = std::count_if(host.health.calls.begin(), host.health.calls.end(),
                                    [](const std::string& c) { return c.rfind("readiness ", 0) == 0; });
  EXPECT_EQ(asked, 3u);

  // Still failing on the next reconcile: no step, no backoff.
  r = reconcile();
  EXPECT_EQ(r.steps, 0u);
  EXPECT_EQ(r.result, ReconcileResult::Ok);
  EXPECT_FALSE(r.retry_at.has_value());

  // A stopped instance has no gateway to ask: the condition goes.
  manifests(instance_yaml("alpha", "  state: stopped\n") + instance_yaml("beta") + instance_yaml("gamma"));
  r = reconcile();
  EXPECT_EQ(r.result, ReconcileResult::Ok) << r.error;
  EXPECT_EQ(status().instances.at("alpha").find(ConditionType::ChannelsReady), nullptr);
}

TEST_F(AgentReconcile, OneBadInstanceBacksOffWithoutDelayingTheOthers) {
  host.health.failing[18900] = "health gate: /ready timed out after 60 s";  // "bad" gets the first port
  manifests(instance_yaml("bad") + instance_yaml("good1"));
  ReconcileReport r = reconcile();
  EXPECT_EQ(r.result, ReconcileResult::Failed);
  EXPECT_TRUE(ready("good1"));
  EXPECT_FALSE(ready("bad"));
  const InstanceConditions& bad = status().instances.at("bad");
  EXPECT_EQ(bad.find(ConditionType::Degraded)->message,
            "instance bad: health gate: /ready timed out after 60 s; retry in 5.0 s");
  EXPECT_EQ(bad.failures, 1u);
  EXPECT_EQ(r.retry_at, clock.now() + seconds(5));
  EXPECT_EQ(summary_line(status()),
            "2 instances, 1 ready, 1 degraded: bad health gate: /ready timed out after 60 s; retry in 5.0 s");
  EXPECT_EQ(health_calls(18900), 1u);

  // One second later a new instance arrives: it is created at once, "bad"
  // is left alone.
  clock.advance(seconds(1));
  manifests(instance_yaml("bad") + instance_yaml("good1") + instance_yaml("good2"));
  r = reconcile();
  EXPECT_EQ(r.result, ReconcileResult::Ok) << r.error;
  EXPECT_TRUE(ready("good2"));
  ASSERT_EQ(r.held.size(), 1u);
  EXPECT_EQ(r.held[0].instance, "bad");
  EXPECT_EQ(r.held[0].remaining, milliseconds(4000));
  EXPECT_EQ(health_calls(18900), 1u);
  EXPECT_EQ(status().instances.at("bad").find(ConditionType::Degraded)->reason, "BackingOff");

  // Still failing when its backoff ends: 10 s next time.
  clock.advance(seconds(4));
  r = reconcile();
  EXPECT_EQ(health_calls(18900), 2u);
  EXPECT_EQ(status().instances.at("bad").failures, 2u);
  EXPECT_EQ(r.retry_at, clock.now() + seconds(10));

  // Fixed: retried when the backoff ends, Ready, and the backoff forgotten.
  host.health.failing.clear();
  clock.advance(seconds(10));
  r = reconcile();
  EXPECT_EQ(r.result, ReconcileResult::Ok) << r.error;
  EXPECT_TRUE(ready("bad"));
  EXPECT_EQ(status().instances.at("bad").failures, 0u);
  EXPECT_EQ(reconciler_->backoff().failures("bad"), 0u);
  EXPECT_EQ(summary_line(status()), "3 instances, 3 ready");
}

// The agent follows a rollout's rule (docs/apply.md#rollouts): a change
// that restarts three running instances goes one at a time; the first
// that fails is rolled back and the others wait, also in the reconciles
// while it backs off; its retry passing lets the rollout go on.
TEST_F(AgentReconcile, ARolloutStaysStoppedWhileTheInstanceItStoppedAtBacksOff) {
  manifests(instance_yaml("a") + instance_yaml("b") + instance_yaml("c"));
  ASSERT_EQ(reconcile().result, ReconcileResult::Ok);
  for (const char* n : {"a", "b", "c"})
    host.vmm.set_state(std::string("/var/lib/clawfleet/instances/") + n + "/vm/vmm.sock", host::VmState::Running);
  host.health.failing_once[18900] = "not started";  // a's port
  manifests(instance_yaml("a", "  skills: [github]\n") + instance_yaml("b", "  skills: [github]\n") +
            instance_yaml("c", "  skills: [github]\n"));
  ReconcileReport r = reconcile();
  EXPECT_EQ(r.result, ReconcileResult::Failed);
  EXPECT_EQ(status().instances.at("a").find(ConditionType::Degraded)->message,
            "instance a: rolled back: not started (the previous root and configuration passed the health gate "
            "again); retry in 5.0 s");
  EXPECT_EQ(health_calls(18901), 1u);  // b and c: only their creates' gates
  EXPECT_EQ(health_calls(18902), 1u);
  std::vector<std::string> skipped;
  for (const auto& line : log.all())
    if (line.find("reprovision skipped") != std::string::npos) skipped.push_back(line.substr(0, line.find(" ACTION=")));
  EXPECT_EQ(skipped,
            (std::vector<std::string>{
                "warning b: reprovision skipped: the rollout stopped at a, which failed (at most 1 down at once)",
                "warning c: reprovision skipped: the rollout stopped at a, which failed (at most 1 down at once)"}));

  // While a backs off, b and c are not taken down either.
  clock.advance(seconds(1));
  r = reconcile();
  EXPECT_EQ(health_calls(18901), 1u);
  EXPECT_EQ(health_calls(18902), 1u);
  skipped.clear();
  for (const auto& line : log.all())
    if (line.find("held while it backs off") != std::string::npos)
      skipped.push_back(line.substr(0, line.find(" ACTION=")));
  EXPECT_EQ(skipped, (std::vector<std::string>{"warning b: reprovision skipped: the rollout stopped at a, which failed "
                                               "(at most 1 down at once); held while it backs off",
                                               "warning c: reprovision skipped: the rollout stopped at a, which failed "
                                               "(at most 1 down at once); held while it backs off"}));

  // a's retry passes: the rest follow, one at a time.
  clock.advance(seconds(4));
  r = reconcile();
  EXPECT_EQ(r.result, ReconcileResult::Ok) << r.error;
  EXPECT_EQ(summary_line(status()), "3 instances, 3 ready");
  EXPECT_EQ(health_calls(18901), 2u);
  EXPECT_EQ(health_calls(18902), 2u);
}

TEST_F(AgentReconcile, ADestroyIsNeverBlockedByBackoff) {
  host.health.failing[18900] = "health gate: /ready timed out after 60 s";  // "bad" gets the first port
  manifests(instance_yaml("bad") + instance_yaml("good"));
  ASSERT_EQ(reconcile().result, ReconcileResult::Failed);
  ASSERT_TRUE(reconciler_->backoff().remaining("bad", clock.now()));
  ASSERT_NE(host.leftovers("bad"), std::vector<std::string>{});  // kept: its guest was started

  // Removed from the manifests while in backoff: destroyed at once.
  manifests(instance_yaml("good"));
  ReconcileReport r = reconcile();
  EXPECT_EQ(r.result, ReconcileResult::Ok) << r.error;
  EXPECT_TRUE(r.held.empty());
  EXPECT_EQ(host.leftovers("bad"), std::vector<std::string>{});
  EXPECT_EQ(status().instances.count("bad"), 0u);
  EXPECT_EQ(summary_line(status()), "1 instance, 1 ready");
}

TEST_F(AgentReconcile, ABrokenManifestSetKeepsTheLastGoodOneEnforced) {
  manifests(instance_yaml("alpha") + instance_yaml("beta"));
  ASSERT_EQ(reconcile().result, ReconcileResult::Ok);

  // A broken commit that also drops beta: nothing is destroyed.
  manifests(instance_yaml("alpha"));
  files.file("/etc/clawfleet/zz.yaml", "kind: [\n");
  journal.records.clear();
  ReconcileReport r = reconcile();
  EXPECT_EQ(r.result, ReconcileResult::Error);
  const std::string error = status().manifest_error;
  EXPECT_EQ(error, "/etc/clawfleet/zz.yaml:2:1: error: invalid YAML: end of sequence flow not found");
  EXPECT_EQ(r.error, "the manifests do not load (enforcing the last good set): " + error);
  EXPECT_TRUE(journal.records.empty());
  EXPECT_TRUE(ready("alpha"));
  EXPECT_TRUE(ready("beta"));
  EXPECT_EQ(summary_line(status()),
            "manifests broken (keeping the last good set): " + error + "; 2 instances, 2 ready");
  const auto since = status().manifest_error_since;
  ASSERT_TRUE(since);

  // Drift is still repaired meanwhile, and the error stays, since the same time.
  host.systemd.set_unit(host::UnitStatus{
      "clawfleet-vm@beta.service", "", "inactive", "dead", "enabled", "/etc/systemd/system/clawfleet-vm@.service", {}});
  clock.advance(minutes(5));
  r = reconcile();
  EXPECT_EQ(r.result, ReconcileResult::Error);
  EXPECT_EQ(journal_lines(), (std::vector<std::string>{"beta repair start", "beta repair end ok"}));
  EXPECT_EQ(host.systemd.unit("clawfleet-vm@beta.service")->active_state, "active");
  EXPECT_EQ(status().manifest_error, error);
  EXPECT_EQ(status().manifest_error_since, since);
  EXPECT_EQ(host.leftovers("beta").empty(), false);

  // Fixed: the error is gone, and only now is beta destroyed (it is absent
  // from the repaired set).
  files.remove("/etc/clawfleet/zz.yaml");
  r = reconcile();
  EXPECT_EQ(r.result, ReconcileResult::Ok) << r.error;
  EXPECT_EQ(status().manifest_error, "");
  EXPECT_EQ(host.leftovers("beta"), std::vector<std::string>{});
  EXPECT_EQ(summary_line(status()), "1 instance, 1 ready");
}

TEST_F(AgentReconcile, NoGoodSetYetDoesNothing) {
  files.file("/etc/clawfleet/a.yaml", "kind: [\n");
  ReconcileReport r = reconcile();
  EXPECT_EQ(r.result, ReconcileResult::Error);
  EXPECT_EQ(r.error, "the manifests do not load: " + status().manifest_error);
  EXPECT_TRUE(opener.opened.empty());
  EXPECT_EQ(summary_line(status()).rfind("manifests broken: /etc/clawfleet/a.yaml:", 0), 0u) << summary_line(status());
}

TEST_F(AgentReconcile, ABusyLockIsNotAReconcile) {
  manifests(instance_yaml("alpha"));
  lock.simulate_holder({4242, "apply", "2026-01-01T00:00:00Z"});
  ReconcileReport r = reconcile();
  EXPECT_EQ(r.result, ReconcileResult::LockBusy);
  EXPECT_EQ(r.error,
            "another clawfleet holds /run/clawfleet/lock: pid 4242 (apply), since 2026-01-01T00:00:00Z; gave up after "
            "0 s (use --lock-timeout to wait)");
  EXPECT_TRUE(opener.opened.empty());
  EXPECT_EQ(status().reconciles, 0u);
  lock.other_record.reset();  // the holder is gone
  EXPECT_EQ(reconcile().result, ReconcileResult::Ok);
}

TEST_F(AgentReconcile, UnobservableHostIsAnError) {
  manifests(instance_yaml("alpha"));
  opener.open_error = "cannot connect to the system bus: No such file or directory";
  ReconcileReport r = reconcile();
  EXPECT_EQ(r.result, ReconcileResult::Error);
  EXPECT_EQ(r.error, "cannot connect to the system bus: No such file or directory");
  EXPECT_EQ(status().errors, 1u);
  EXPECT_EQ(summary_line(status()),
            "0 instances, 0 ready; last reconcile: cannot connect to the system bus: No such file or directory");
}

const std::string kRefused = "/healthz: connection refused";

TEST(AgentLivenessProbe, ATenthOfThePeriodWithin5To30Seconds) {
  EXPECT_EQ(probe_interval(minutes(5)), seconds(30));
  EXPECT_EQ(probe_interval(minutes(2)), seconds(12));
  EXPECT_EQ(probe_interval(seconds(30)), seconds(5));
  EXPECT_EQ(probe_interval(hours(24)), seconds(30));
}

// The tests below set the period the default has under KVM.
const char* const kFiveMinutes = "  liveness: {failAfter: 5m}\n";

// Unset, the period follows the accelerator: this host's QEMU has no KVM
// probe that ran, so TCG, where a gateway's start takes minutes: 15 min.
TEST_F(AgentReconcile, LivenessDefaultUnderTcgIsFifteenMinutes) {
  manifests("", instance_yaml("alpha"));
  ASSERT_EQ(reconcile().result, ReconcileResult::Ok);
  host.health.dead[18900] = kRefused;
  for (int i = 0; i < 30; ++i) EXPECT_FALSE(probe_after(seconds(30)).restart_due) << i;
  EXPECT_TRUE(probe_after(seconds(30)).restart_due);  // 15 min since the first failure
}

TEST_F(AgentReconcile, LivenessFailingLessThanThePeriodRestartsNothing) {
  manifests(kFiveMinutes, instance_yaml("alpha"));
  ASSERT_EQ(reconcile().result, ReconcileResult::Ok);
  EXPECT_EQ(live_of("alpha"), std::tuple(true, std::string("Live"), std::string("")));
  EXPECT_EQ(reconciler_->next_probe(), clock.now() + seconds(30));

  host.health.dead[18900] = kRefused;
  LivenessProbe p = probe_after(seconds(30));
  EXPECT_FALSE(p.restart_due);
  EXPECT_TRUE(p.changed);
  EXPECT_EQ(live_of("alpha"), std::tuple(false, std::string("Failing"), "failing for 0.0 s: " + kRefused));
  for (int i = 0; i < 8; ++i) EXPECT_FALSE(probe_after(seconds(30)).restart_due) << i;
  EXPECT_EQ(live_of("alpha"), std::tuple(false, std::string("Failing"), "failing for 4 min: " + kRefused));

  // A reconcile meanwhile (a resync) asks again and restarts nothing either.
  clock.advance(seconds(12));
  ReconcileReport r = reconcile();
  EXPECT_EQ(r.result, ReconcileResult::Ok) << r.error;
  EXPECT_EQ(r.steps, 0u);
  EXPECT_EQ(restarts(), std::vector<std::string>{});
  EXPECT_EQ(live_of("alpha"), std::tuple(false, std::string("Failing"), "failing for 4 min 12 s: " + kRefused));
  EXPECT_EQ(reconciler_->backoff().failures("alpha"), 0u);
  EXPECT_TRUE(status().instances.at("alpha").is(ConditionType::Ready));
  auto lines = log.all();
  EXPECT_NE(
      std::find(lines.begin(), lines.end(),
                "warning alpha: /healthz failing: " + kRefused + "; restarted after 5 min of failures INSTANCE=alpha"),
      lines.end());
}

TEST_F(AgentReconcile, LivenessFailingThePeriodRestartsOnceThroughTheGateAndBacksOff) {
  manifests(kFiveMinutes, instance_yaml("alpha") + instance_yaml("beta"));
  ASSERT_EQ(reconcile().result, ReconcileResult::Ok);
  host.health.dead[18900] = kRefused;
  EXPECT_FALSE(probe_after(seconds(30)).restart_due);
  for (int i = 0; i < 9; ++i) EXPECT_FALSE(probe_after(seconds(30)).restart_due) << i;
  LivenessProbe p = probe_after(seconds(30));  // 5 min since the first failure
  EXPECT_TRUE(p.restart_due);

  // The reconcile it asks for restarts alpha: its VM unit, then the health
  // gate; the restart fixed it.
  host.health.calls.clear();
  host.systemd.calls.clear();
  host.health.restart_revives = true;
  ReconcileReport r = reconcile();
  EXPECT_EQ(r.result, ReconcileResult::Ok) << r.error;
  EXPECT_EQ(r.steps, 1u);
  EXPECT_EQ(restarts(), (std::vector<std::string>{"alpha restart start", "alpha restart end ok"}));
  auto lines = log.all();
  EXPECT_NE(std::find(lines.begin(), lines.end(),
                      "info alpha: restart started: liveness: /healthz failing for 5 min: " + kRefused +
                          " ACTION=restart INSTANCE=alpha STEP=0"),
            lines.end());
  // Asked once more, then restarted and gated, and only then asked again.
  EXPECT_EQ(calls_for(18900), (std::vector<std::string>{"alive", "wait_started", "readiness", "alive"}));
  EXPECT_EQ(calls_for(18901), (std::vector<std::string>{"readiness", "alive"}));
  EXPECT_TRUE(std::any_of(host.systemd.calls.begin(), host.systemd.calls.end(),
                          [](const std::string& c) { return c.rfind("restart clawfleet-vm@alpha.service", 0) == 0; }));
  // A failure for the backoff, shown with why.
  EXPECT_EQ(reconciler_->backoff().failures("alpha"), 1u);
  EXPECT_EQ(r.retry_at, clock.now() + seconds(5));
  const InstanceConditions& alpha = status().instances.at("alpha");
  EXPECT_EQ(alpha.find(ConditionType::Degraded)->message,
            "restarted after failing for 5 min: " + kRefused + "; retry in 5.0 s");
  EXPECT_EQ(live_of("alpha"),
            std::tuple(true, std::string("Restarted"), "restarted after failing for 5 min: " + kRefused));
  EXPECT_EQ(reconciler_->backoff().failures("beta"), 0u);

  // Exactly one: the next reconcile restarts nothing.
  clock.advance(seconds(5));
  r = reconcile();
  EXPECT_EQ(r.steps, 0u);
  EXPECT_EQ(restarts().size(), 2u);

  // Live for a whole period after it: the restart is forgiven.
  for (int i = 0; i < 10; ++i) probe_after(seconds(30));
  EXPECT_EQ(reconciler_->backoff().failures("alpha"), 0u);
  EXPECT_EQ(live_of("alpha"), std::tuple(true, std::string("Live"), std::string("")));
}

// A gateway that keeps hanging: the next restart only after another whole
// period, and never while the backoff holds it.
TEST_F(AgentReconcile, LivenessWhileInBackoffItIsNotRestartedAgain) {
  with_backoff(BackoffOptions{minutes(8), minutes(10), 0.2});
  manifests(kFiveMinutes, instance_yaml("alpha"));
  ASSERT_EQ(reconcile().result, ReconcileResult::Ok);
  host.health.dead[18900] = kRefused;
  for (int i = 0; i < 10; ++i) probe_after(seconds(30));
  ASSERT_TRUE(probe_after(seconds(30)).restart_due);
  ASSERT_EQ(reconcile().steps, 1u);
  ASSERT_EQ(reconciler_->backoff().failures("alpha"), 1u);
  EXPECT_EQ(live_of("alpha"), std::tuple(false, std::string("Failing"), "failing for 0.0 s: " + kRefused));

  // Failing for a whole period again, but 8 min of backoff: held.
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(probe_after(seconds(30)).restart_due) << i;
  EXPECT_EQ(live_of("alpha"), std::tuple(false, std::string("Failing"),
                                         "failing for 5 min: " + kRefused + "; restart held back for 3 min (backoff)"));
  ReconcileReport r = reconcile();
  EXPECT_EQ(r.steps, 0u);
  EXPECT_EQ(restarts().size(), 2u);

  // When the backoff ends, the retry restarts it, and backs off longer.
  for (int i = 0; i < 6; ++i) probe_after(seconds(30));
  r = reconcile();
  EXPECT_EQ(r.steps, 1u);
  EXPECT_EQ(restarts().size(), 4u);
  EXPECT_EQ(reconciler_->backoff().failures("alpha"), 2u);
  EXPECT_EQ(r.retry_at, clock.now() + minutes(10));
}

TEST_F(AgentReconcile, LivenessASuccessInBetweenStartsTheCountAgain) {
  manifests(kFiveMinutes, instance_yaml("alpha"));
  ASSERT_EQ(reconcile().result, ReconcileResult::Ok);
  host.health.dead[18900] = kRefused;
  for (int i = 0; i < 7; ++i) EXPECT_FALSE(probe_after(seconds(30)).restart_due);  // 3 min failing
  host.health.dead.clear();
  EXPECT_FALSE(probe_after(seconds(30)).restart_due);
  EXPECT_EQ(live_of("alpha"), std::tuple(true, std::string("Live"), std::string("")));
  host.health.dead[18900] = "/healthz answered 503";
  for (int i = 0; i < 9; ++i) EXPECT_FALSE(probe_after(seconds(30)).restart_due) << i;
  EXPECT_EQ(live_of("alpha"),
            std::tuple(false, std::string("Failing"), std::string("failing for 4 min: /healthz answered 503")));
  EXPECT_EQ(reconcile().steps, 0u);
  auto lines = log.all();
  EXPECT_NE(std::find(lines.begin(), lines.end(),
                      "info alpha: /healthz answers again after failing for 3 min 30 s INSTANCE=alpha"),
            lines.end());
}

// Another writer's restart (clawfleet apply) looks like failures from
// here: asked once more before restarting, it answers, and nothing runs.
TEST_F(AgentReconcile, LivenessAnAnswerWhenAskedOnceMoreCancelsTheRestart) {
  manifests(kFiveMinutes, instance_yaml("alpha"));
  ASSERT_EQ(reconcile().result, ReconcileResult::Ok);
  host.health.dead[18900] = kRefused;
  for (int i = 0; i < 10; ++i) probe_after(seconds(30));
  ASSERT_TRUE(probe_after(seconds(30)).restart_due);
  host.health.dead.clear();
  ReconcileReport r = reconcile();
  EXPECT_EQ(r.steps, 0u);
  EXPECT_EQ(restarts(), std::vector<std::string>{});
  EXPECT_EQ(reconciler_->backoff().failures("alpha"), 0u);
  EXPECT_EQ(live_of("alpha"), std::tuple(true, std::string("Live"), std::string("")));
}

// Not asked: a stopped instance, and one whose health gate never passed
// (it is starting, or failing its start: backoff handles that).
TEST_F(AgentReconcile, LivenessWhatDoesNotRunPastItsGateIsNotAsked) {
  host.health.failing[18901] = "health gate: not started within 60000 ms";
  host.health.dead[18900] = kRefused;
  host.health.dead[18901] = kRefused;
  manifests("", instance_yaml("alpha", "  state: stopped\n") + instance_yaml("beta"));
  EXPECT_EQ(reconcile().result, ReconcileResult::Failed);
  EXPECT_EQ(calls_for(18900), std::vector<std::string>{});
  EXPECT_EQ(calls_for(18901), (std::vector<std::string>{"wait_started", "readiness"}));
  EXPECT_EQ(live_of("alpha"), std::tuple(false, std::string("(absent)"), std::string("")));
  EXPECT_EQ(live_of("beta"), std::tuple(false, std::string("(absent)"), std::string("")));
  EXPECT_FALSE(reconciler_->next_probe());
  for (int i = 0; i < 12; ++i) {
    clock.advance(seconds(30));
    reconcile();
  }
  for (const auto& c : host.health.calls) EXPECT_EQ(c.rfind("alive", 0), std::string::npos) << c;
  EXPECT_EQ(restarts(), std::vector<std::string>{});
}

TEST_F(AgentReconcile, LivenessOffNeverRestarts) {
  manifests("  liveness: {failAfter: off}\n", instance_yaml("alpha"));
  host.health.dead[18900] = kRefused;
  ASSERT_EQ(reconcile().result, ReconcileResult::Ok);
  EXPECT_FALSE(reconciler_->next_probe());
  std::atomic<bool> stop{false};
  for (int i = 0; i < 12; ++i) {
    clock.advance(minutes(5));
    EXPECT_FALSE(reconciler_->probe_liveness(stop).restart_due);
    EXPECT_EQ(reconcile().steps, 0u);
  }
  for (const auto& c : host.health.calls) EXPECT_EQ(c.rfind("alive", 0), std::string::npos) << c;
  EXPECT_EQ(restarts(), std::vector<std::string>{});
  EXPECT_EQ(live_of("alpha"), std::tuple(false, std::string("(absent)"), std::string("")));
}

}  // namespace
}  // namespace cf::agent
