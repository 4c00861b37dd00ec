// The executor against a whole fake host (tests/fakes/fake_host.h): plans
// made by the real planner from the real observe(), applied, observed and
// planned again until nothing is left.
#include "apply/executor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <optional>
#include <random>

#include "apply/desired.h"
#include "core/pem.h"
#include "core/text.h"
#include "fakes/fake_host.h"
#include "fakes/fleets.h"
#include "fakes/test_certificate.h"
#include "host/network/network.h"
#include "host/vmm/launch.h"
#include "manifest/loader.h"
#include "model/instance_dir.h"

namespace cf::apply {
namespace {

using plan::Action;

using testing::fleet_of;
using testing::instance_yaml;

class Executor : public ::testing::Test {
 protected:
  struct Pass {
    plan::Plan plan;
    std::vector<StepReport> results;
  };

  plan::Plan plan_for(const model::Fleet& fleet, plan::Options options = {}) {
    auto observed = host().observe(fleet.host);
    EXPECT_TRUE(observed) << observed.error().message;
    observed_ = observed.value();
    auto desired = desired_for(fleet, true, {}, ca_digests_, observed_);
    EXPECT_TRUE(desired) << desired.error().message;
    desired_ = desired.value();
    return plan::make_plan(desired_, observed_, options);
  }

  Pass apply(const model::Fleet& fleet, plan::Options options = {}, std::size_t steps = SIZE_MAX) {
    Pass p{plan_for(fleet, options), {}};
    plan::Plan run = p.plan;
    if (steps < run.steps.size()) run.steps.resize(steps);
    ExecOptions exec;
    exec.parallelism = 2;
    p.results = execute(run, desired_, observed_, host().ports(), exec, [&](const StepEvent& e) {
      events_.push_back(std::to_string(e.index) +
                        (e.start ? " start" : std::string(" end ") + to_string(e.result.outcome)));
    });
    return p;
  }

  // Runs `fleet`'s plan with `workers` and 10 ms gates (docs/apply.md#rollouts):
  // its results, and the most instances down at once (from the start of a
  // step that interrupts to its end).
  std::pair<Pass, int> rollout(const model::Fleet& fleet, std::size_t workers,
                               std::optional<std::uint32_t> max_unavailable = std::nullopt) {
    Pass p{plan_for(fleet), {}};
    ExecOptions exec;
    exec.parallelism = workers;
    exec.max_unavailable = max_unavailable;
    host().health.gate_time = std::chrono::milliseconds(10);
    std::mutex mu;
    int down = 0, most = 0;
    p.results = execute(p.plan, desired_, observed_, host().ports(), exec, [&](const StepEvent& e) {
      if (!interrupts(e.step->action)) return;
      std::lock_guard<std::mutex> lock(mu);
      if (e.start) most = std::max(most, ++down);
      if (!e.start && e.result.outcome != Outcome::Skipped) --down;
    });
    host().health.gate_time = std::chrono::milliseconds(0);
    return {p, most};
  }

  // Applies until the plan is empty; fails the test after `rounds`.
  void converge(const model::Fleet& fleet, int rounds = 3) {
    for (int i = 0; i < rounds; ++i) {
      Pass p = apply(fleet);
      if (p.plan.empty()) return;
      for (std::size_t s = 0; s < p.results.size(); ++s)
        EXPECT_EQ(p.results[s].outcome, Outcome::Ok)
            << p.plan.steps[s].instance << " " << plan::to_string(p.plan.steps[s].action) << ": " << p.results[s].error;
    }
    plan::Plan left = plan_for(fleet);
    ASSERT_TRUE(left.empty()) << "not converged after " << rounds
                              << " rounds; first step: " << plan::to_string(left.steps[0].action) << " "
                              << left.steps[0].instance << ": " << left.steps[0].reason;
  }

  testing::FakeHost& host() { return *host_; }
  void fresh_host() { host_ = std::make_unique<testing::FakeHost>(); }

  std::unique_ptr<testing::FakeHost> host_ = std::make_unique<testing::FakeHost>();
  model::Observed observed_;
  plan::Desired desired_;
  std::vector<std::string> events_;
  std::map<std::string, std::string> ca_digests_;  // what load_desired read
};

TEST_F(Executor, CreatesAFleetThatThenPlansEmpty) {
  auto fleet = fleet_of(instance_yaml("alpha") + instance_yaml("beta"));
  Pass first = apply(fleet);
  ASSERT_FALSE(first.plan.empty());
  for (std::size_t i = 0; i < first.results.size(); ++i)
    EXPECT_EQ(first.results[i].outcome, Outcome::Ok) << i << ": " << first.results[i].error;
  EXPECT_TRUE(plan_for(fleet).empty()) << "a second plan is not empty";

  for (const char* name : {"alpha", "beta"}) {
    const auto& rec = host().state.records.at(name);
    EXPECT_TRUE(rec.applied_generation) << name;
    EXPECT_FALSE(rec.applied.empty()) << name;
    EXPECT_TRUE(host().state.inventory.instances.count(name)) << name;
    EXPECT_TRUE(host().files.has(std::string("/etc/systemd/system/clawfleet-proxy@") + name + ".socket.d/listen.conf"));
    EXPECT_EQ(host().systemd.unit(host::vm_unit(name))->active_state, "active");
    EXPECT_EQ(host().systemd.unit(host::vm_unit(name))->unit_file_state, "enabled");
    const host::Link* tap = host().network.link(rec.allocation.tap);
    ASSERT_NE(tap, nullptr) << name;
    EXPECT_TRUE(tap->isolated);
    EXPECT_EQ(tap->master, "cfbr0");
  }
  EXPECT_NE(host().state.records.at("alpha").allocation.ip, host().state.records.at("beta").allocation.ip);
  // Every gate got the instance's own token.
  ASSERT_EQ(host().health.tokens.size(), 2u);
  EXPECT_NE(host().health.tokens[0], host().health.tokens[1]);
}

// The Host's CAs reach the seed through the file-reading port, checked
// again: a file that no longer holds what the plan saw fails the step.
TEST_F(Executor, CaCertificatesAreReadAgainAndMustBeWhatThePlanSaw) {
  auto fleet = fleet_of(instance_yaml("alpha"));
  fleet.host.ca_certificates = {"/etc/ca/corp.pem"};
  host().files.file("/etc/ca/corp.pem", testing::kTestCaCertificate);
  ca_digests_["/etc/ca/corp.pem"] = "sha256:000000000000";
  Pass p = apply(fleet);
  ASSERT_EQ(p.plan.steps.back().instance, "alpha");
  EXPECT_EQ(
      p.results.back().error,
      "instance alpha: CA certificate /etc/ca/corp.pem changed since the plan was made; plan again (rolled back)");

  ca_digests_["/etc/ca/corp.pem"] = certificates_digest(testing::kTestCaCertificate);
  converge(fleet);
  const std::string& user_data = host().disks.seeds.at("/var/lib/clawfleet/instances/alpha/seed.img").user_data;
  EXPECT_NE(user_data.find(base64_encode(testing::kTestCaCertificate)), std::string::npos);
}

TEST_F(Executor, DestroyLeavesNothingBehind) {
  converge(fleet_of(instance_yaml("alpha") + instance_yaml("beta")));
  Pass p = apply(fleet_of(instance_yaml("alpha")));
  ASSERT_EQ(p.plan.steps.size(), 1u);
  EXPECT_EQ(p.plan.steps[0].action, Action::Destroy);
  ASSERT_EQ(p.results[0].outcome, Outcome::Ok) << p.results[0].error;
  EXPECT_EQ(host().leftovers("beta"), std::vector<std::string>{});
  EXPECT_FALSE(host().leftovers("alpha").empty());
  EXPECT_TRUE(plan_for(fleet_of(instance_yaml("alpha"))).empty());
}

// systemd marks a unit "failed" when its VMM had to be SIGKILLed after
// TimeoutStopSec (or ExecStop failed), though the stop job ends "done" and
// the VM is gone: a destroy clears that, so `systemctl --failed` does not
// list an instance that no longer exists.
TEST_F(Executor, DestroyOfAVmThatEndedFailedLeavesNoFailedUnit) {
  converge(fleet_of(instance_yaml("alpha") + instance_yaml("beta")));
  host().systemd.stop_leaves_failed = {host::vm_unit("beta"), host::proxy_service_unit("beta")};
  host().systemd.calls.clear();
  Pass p = apply(fleet_of(instance_yaml("alpha")));
  ASSERT_EQ(p.plan.steps.size(), 1u);
  ASSERT_EQ(p.results[0].outcome, Outcome::Ok) << p.results[0].error;
  EXPECT_EQ(host().leftovers("beta"), std::vector<std::string>{});
  const auto& calls = host().systemd.calls;
  for (const auto& unit : {host::vm_unit("beta"), host::proxy_socket_unit("beta"), host::proxy_service_unit("beta")}) {
    auto reset = std::find(calls.begin(), calls.end(), "reset_failed " + unit);
    EXPECT_NE(reset, calls.end()) << unit;
    // After the reload that dropped its drop-ins, or a reload could not matter.
    EXPECT_LT(std::find(calls.begin(), calls.end(), "daemon_reload"), reset) << unit;
  }
}

TEST_F(Executor, StoppingAnInstanceLeavesNoFailedUnit) {
  converge(fleet_of(instance_yaml("alpha")));
  host().systemd.stop_leaves_failed = {host::vm_unit("alpha")};
  auto stopped = fleet_of(instance_yaml("alpha", "  state: stopped\n"));
  Pass p = apply(stopped);
  ASSERT_EQ(p.plan.steps.size(), 1u);
  EXPECT_EQ(p.plan.steps[0].action, Action::Stop);
  ASSERT_EQ(p.results[0].outcome, Outcome::Ok) << p.results[0].error;
  EXPECT_EQ(host().systemd.unit(host::vm_unit("alpha"))->active_state, "inactive");
  EXPECT_TRUE(plan_for(stopped).empty());
}

TEST_F(Executor, OneFailingInstanceDoesNotStopTheOthers) {
  auto fleet = fleet_of(instance_yaml("alpha") + instance_yaml("beta") + instance_yaml("gamma"));
  // beta gets the second port; its gate fails after its VM started.
  host().health.failing[18901] =
      "health gate on 127.0.0.1:18901: not ready within 300000 ms (last: /ready answered 503)";
  Pass p = apply(fleet);
  std::map<std::string, Outcome> by;
  for (std::size_t i = 0; i < p.plan.steps.size(); ++i)
    if (!p.plan.steps[i].instance.empty()) by[p.plan.steps[i].instance] = p.results[i].outcome;
  EXPECT_EQ(by["alpha"], Outcome::Ok);
  EXPECT_EQ(by["beta"], Outcome::Failed);
  EXPECT_EQ(by["gamma"], Outcome::Ok);
  // Failed after boot: kept (Degraded), and the configuration is not recorded as applied.
  EXPECT_TRUE(host().state.records.count("beta"));
  EXPECT_FALSE(host().state.records.at("beta").applied_generation);
  host().health.failing.clear();
  converge(fleet);
}

TEST_F(Executor, CreateThatFailsBeforeBootIsRolledBack) {
  auto fleet = fleet_of(instance_yaml("alpha") + instance_yaml("beta"));
  host().unit_files.failures["write /etc/systemd/system/clawfleet-proxy@beta.socket.d/listen.conf"] =
      "cannot write listen.conf: No space left on device";
  Pass p = apply(fleet);
  bool saw = false;
  for (std::size_t i = 0; i < p.plan.steps.size(); ++i) {
    if (p.plan.steps[i].instance != "beta") continue;
    saw = true;
    EXPECT_EQ(p.results[i].outcome, Outcome::Failed);
    EXPECT_EQ(p.results[i].error, "cannot write listen.conf: No space left on device (rolled back)");
  }
  EXPECT_TRUE(saw);
  EXPECT_EQ(host().leftovers("beta"), std::vector<std::string>{});
  EXPECT_FALSE(host().leftovers("alpha").empty());
  host().unit_files.failures.clear();
  converge(fleet);
}

// One decision for every VM launched, the plan's: QEMU emulates even where
// /dev/kvm opens (a PVM device here opens and cannot boot a guest), and is
// given the TSC frequency TCG needs (Firecracker: AcceleratorFor).
TEST_F(Executor, VmsAreLaunchedWithThePlansAccelerator) {
  auto fleet = fleet_of(instance_yaml("alpha"));
  host().platform.kvm = true;
  host().platform.khz = 2400000;
  fleet.host.vmm.kind = model::VmmKind::Qemu;
  plan::Plan p = plan_for(fleet);
  EXPECT_FALSE(p.accelerator.kvm) << p.accelerator.reason;
  converge(fleet);
  ASSERT_TRUE(host().vmm.specs.count("alpha"));
  EXPECT_FALSE(host().vmm.specs.at("alpha").kvm);
  EXPECT_EQ(host().vmm.specs.at("alpha").tsc_khz, 2400000u);
}

// A Host change rewrites every launch record (what `vm prepare` brings
// back after a reboot) and the state root's ruleset, which is the kernel's.
TEST_F(Executor, AHostChangeRewritesEveryLaunchRecordAndTheRuleset) {
  auto fleet = fleet_of(instance_yaml("alpha") + instance_yaml("beta"));
  converge(fleet);
  fleet.host.egress = model::Egress::Deny;
  Pass p = apply(fleet);
  ASSERT_FALSE(p.plan.empty());
  EXPECT_EQ(p.plan.steps[0].instance, "");
  for (const auto& r : p.results) EXPECT_EQ(r.outcome, Outcome::Ok) << r.error;
  for (const char* name : {"alpha", "beta"}) {
    auto launch = host::launch_from_json(host().state.files.at(std::string(name) + "/launch.json"));
    ASSERT_TRUE(launch) << launch.error().message;
    EXPECT_FALSE(launch.value().ip_forward) << name;
  }
  ASSERT_TRUE(host().network.table);
  EXPECT_EQ(host().state.ruleset, host().network.table);
  EXPECT_EQ(host().network.table->find("masquerade"), std::string::npos);  // deny routes nothing
  EXPECT_TRUE(plan_for(fleet).empty());
}

// A guest's rules (its tap passes only its MAC and address) are loaded
// before its tap exists, so its VMM never sees a tap without them; the
// host's neighbour entry for it is permanent. A destroy takes both away,
// and the next plan is empty.
TEST_F(Executor, EveryGuestsRulesPrecedeItsTapAndGoWithIt) {
  converge(fleet_of(instance_yaml("alpha") + instance_yaml("beta")));
  const model::Allocation alpha = host().state.records.at("alpha").allocation;
  const model::Allocation beta = host().state.records.at("beta").allocation;
  ASSERT_TRUE(host().network.table);
  EXPECT_EQ(*host().network.table, host::render_ruleset(desired_.fleet.host, {alpha, beta}));
  EXPECT_EQ(host().state.ruleset, host().network.table);
  EXPECT_EQ(host().network.neighbours, (std::map<std::string, Mac>{{"cfbr0 " + to_string(alpha.ip), alpha.mac},
                                                                   {"cfbr0 " + to_string(beta.ip), beta.mac}}));

  host().network.calls.clear();
  auto fleet = fleet_of(instance_yaml("alpha") + instance_yaml("beta") + instance_yaml("gamma"));
  Pass p = apply(fleet);
  for (const auto& r : p.results) EXPECT_EQ(r.outcome, Outcome::Ok) << r.error;
  const model::Allocation gamma = host().state.records.at("gamma").allocation;
  const auto& calls = host().network.calls;
  auto replaced = std::find(calls.begin(), calls.end(), "replace_ruleset");
  auto tap =
      std::find(calls.begin(), calls.end(),
                "ensure_tap " + gamma.tap + " cfbr0 clawfleet:gamma owner " + std::to_string(model::vmm_uid(gamma)));
  ASSERT_NE(replaced, calls.end());
  ASSERT_NE(tap, calls.end());
  EXPECT_LT(replaced, tap) << "gamma's tap was made before its rules were loaded";
  EXPECT_NE(host().network.table->find("jump guest-" + gamma.tap), std::string::npos);
  EXPECT_EQ(host().network.neighbours.at("cfbr0 " + to_string(gamma.ip)), gamma.mac);
  EXPECT_TRUE(plan_for(fleet).empty());

  p = apply(fleet_of(instance_yaml("alpha") + instance_yaml("gamma")));
  for (const auto& r : p.results) EXPECT_EQ(r.outcome, Outcome::Ok) << r.error;
  EXPECT_EQ(*host().network.table, host::render_ruleset(desired_.fleet.host, {alpha, gamma}));
  EXPECT_EQ(host().state.ruleset, host().network.table);
  EXPECT_EQ(host().network.neighbours.count("cfbr0 " + to_string(beta.ip)), 0u);
  EXPECT_TRUE(plan_for(fleet_of(instance_yaml("alpha") + instance_yaml("gamma"))).empty());
}

// Fail fast: a VM that does not stay up ends its gate at once, with why.
TEST_F(Executor, TheGateGivesUpOnAVmThatDoesNotStayUp) {
  const std::string vm = host::vm_unit("alpha");
  const std::pair<std::pair<std::string, std::string>, std::string> cases[] = {
      {{"failed", "failed"}, "gave up: " + vm + " failed: the VM does not stay up (its journal says why)"},
      {{"inactive", "dead"}, "gave up: " + vm + " was stopped"},
      // One restart, however long it is seen, is not a loop.
      {{"activating", "auto-restart"}, "not ready"},
  };
  for (const auto& [state, error] : cases) {
    fresh_host();
    host().health.failing[18900] = "not ready";
    host().health.give_up_asks = 5;
    host().systemd.start_leaves[vm] = state;
    Pass p = apply(fleet_of(instance_yaml("alpha")));
    ASSERT_FALSE(p.results.empty());
    EXPECT_EQ(p.results.back().outcome, Outcome::Failed);
    EXPECT_EQ(p.results.back().error, "instance alpha: " + error);
  }
}

// A create that booted its guest and then failed the health gate is
// resumed next time; if that fails before the VM starts, nothing is rolled
// back (the guest may hold data by now).
TEST_F(Executor, AResumedCreateIsNeverRolledBack) {
  auto fleet = fleet_of(instance_yaml("alpha"));
  host().health.failing[18900] = "not ready";
  Pass first = apply(fleet);
  ASSERT_EQ(first.results.back().outcome, Outcome::Failed);
  ASSERT_TRUE(host().state.records.count("alpha"));
  host().health.failing.clear();
  host().unit_files.failures["write /etc/systemd/system/clawfleet-proxy@alpha.socket.d/listen.conf"] = "disk full";
  host().files.remove("/etc/systemd/system/clawfleet-proxy@alpha.socket.d/listen.conf");
  Pass second = apply(fleet);
  ASSERT_FALSE(second.plan.empty());
  EXPECT_EQ(second.plan.steps.back().action, Action::Create);
  EXPECT_EQ(second.results.back().error, "disk full");
  EXPECT_TRUE(host().state.records.count("alpha"));
  EXPECT_TRUE(host().state.inventory.instances.count("alpha"));
  host().unit_files.failures.clear();
  converge(fleet);
}

TEST_F(Executor, EventsBracketEveryStep) {
  Pass p = apply(fleet_of(instance_yaml("alpha")));
  ASSERT_FALSE(p.plan.empty());
  std::vector<std::string> want;
  // Host step first, then the instance's.
  for (std::size_t i = 0; i < p.plan.steps.size(); ++i)
    want.insert(want.end(), {std::to_string(i) + " start", std::to_string(i) + " end ok"});
  EXPECT_EQ(events_, want);
}

// Crash at every step boundary: only the first k steps of a plan run, then
// a fresh run (new observation, new plan) must converge with nothing leaked.
TEST_F(Executor, ConvergesAfterStoppingAtEveryStepBoundary) {
  auto before = fleet_of(instance_yaml("alpha") + instance_yaml("beta") + instance_yaml("gamma"));
  auto after = fleet_of(instance_yaml("alpha", "  resources: {vcpus: 4}\n") +
                        instance_yaml("gamma", "  state: stopped\n") + instance_yaml("delta"));
  converge(before);
  const std::size_t total = plan_for(after).steps.size();
  ASSERT_GE(total, 4u);
  for (std::size_t k = 0; k <= total; ++k) {
    fresh_host();
    converge(before);
    apply(after, {}, k);
    converge(after);
    EXPECT_EQ(host().leftovers("beta"), std::vector<std::string>{}) << "stopped after " << k << " steps";
  }
}

// Property: for random pairs of fleets, with random drift made by hand in
// between, one plan applied to the fake host leaves nothing to plan.
TEST_F(Executor, OnePlanConvergesRandomFleetsAndDrift) {
  std::mt19937 rng(20261123);
  auto pick = [&](auto const& options) { return options[rng() % std::size(options)]; };
  const char* names[] = {"a1", "b2", "c3", "d4", "e5", "f6"};
  const char* models[] = {"ollama/qwen3", "ollama/llama4", "openrouter/x"};
  const char* cpus[] = {"1", "2", "4"};
  const char* mem[] = {"512", "1024"};
  const char* disks[] = {"10GiB", "20GiB", "12GiB"};
  auto random_fleet = [&] {
    std::string yaml;
    for (const char* n : names) {
      if (rng() % 3 == 0) continue;
      yaml +=
          instance_yaml(n, std::string("  resources: {vcpus: ") + pick(cpus) + ", memoryMiB: " + pick(mem) +
                               ", disk: " + pick(disks) + "}\n  state: " + (rng() % 4 ? "running" : "stopped") + "\n");
      // instance_yaml's model line comes first; a second would be a duplicate key.
      yaml.replace(yaml.rfind("ollama/qwen3"), 12, pick(models));
    }
    return fleet_of(yaml.empty() ? instance_yaml("a1") : yaml);
  };
  const plan::Options everything{100, true};
  for (int round = 0; round < 40; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    fresh_host();
    auto a = random_fleet();
    converge(a);
    // Drift by hand.
    for (const auto& inst : a.instances) {
      const auto& rec = host().state.records.at(inst.name);
      switch (rng() % 6) {
        case 0: (void)host().network.delete_link(rec.allocation.tap); break;
        case 1:
          host().files.file("/etc/systemd/system/clawfleet-proxy@" + inst.name + ".socket.d/listen.conf", "# edited\n");
          break;
        case 2: host().state.dirs[inst.name].mode = 0755; break;
        case 3:
          if (const host::UnitStatus* u = host().systemd.unit(host::vm_unit(inst.name))) {
            host::UnitStatus failed = *u;
            failed.active_state = "failed", failed.sub_state = "failed";
            host().systemd.set_unit(failed);
          }
          break;
        default: break;
      }
    }
    auto b = random_fleet();
    Pass p = apply(b, everything);
    for (std::size_t i = 0; i < p.results.size(); ++i)
      EXPECT_EQ(p.results[i].outcome, Outcome::Ok)
          << p.plan.steps[i].instance << " " << plan::to_string(p.plan.steps[i].action) << ": " << p.results[i].error;
    plan::Plan left = plan_for(b, everything);
    EXPECT_TRUE(left.empty()) << plan::to_string(left.steps[0].action) << " " << left.steps[0].instance << ": "
                              << left.steps[0].reason;
    for (const char* n : names) {
      if (!b.find(n)) {
        EXPECT_EQ(host().leftovers(n), std::vector<std::string>{}) << n;
      }
    }
  }
}

// `names` on `image` of a Host with two images (default and v2), and
// `host_extra` lines in its spec.
model::Fleet fleet_on(const std::string& image, const std::vector<std::string>& names,
                      const std::string& host_extra = "") {
  std::string yaml = std::string(testing::kTestHost) + host_extra +
                     "  images:\n"
                     "    default: {kernel: /var/lib/clawfleet/images/default/vmlinux, "
                     "rootfs: /var/lib/clawfleet/images/default/rootfs.ext4}\n"
                     "    v2: {kernel: /var/lib/clawfleet/images/v2/vmlinux, "
                     "rootfs: /var/lib/clawfleet/images/v2/rootfs.ext4}\n";
  for (const auto& n : names) yaml += instance_yaml(n, "  image: " + image + "\n");
  auto r = manifest::load({{"m.yaml", yaml}});
  EXPECT_FALSE(r.diagnostics.has_errors()) << (r.diagnostics.all().empty() ? "" : format(r.diagnostics.all()[0]));
  return r.fleet;
}

// Rollouts in waves (docs/apply.md#rollouts): a new image for 10 running
// instances, 10 workers. With rollout.maxUnavailable 2 no more than 2 are
// down at once (from their step's start to its gate's end); the first
// that fails its gate is rolled back and no other begins after it: they
// keep the old image and the plan still shows them. Without the bound (10)
// the same fleet has more down at once, so the count can see it.
TEST_F(Executor, ARolloutHasAtMostMaxUnavailableDownAndStopsAtTheFirstFailure) {
  std::vector<std::string> names;
  for (char c = 'a'; c <= 'j'; ++c) names.push_back(std::string("bot-") + c);
  auto run = [&](const model::Fleet& fleet, std::optional<std::uint32_t> override_max) {
    return rollout(fleet, 10, override_max);
  };
  auto all_running = [&] {
    for (const auto& n : names)
      host().vmm.set_state("/var/lib/clawfleet/instances/" + n + "/vm/vmm.sock", host::VmState::Running);
  };

  // The bound unset on a fleet of 10 (the control): more than 2 at once.
  converge(fleet_on("default", names, "  rollout: {maxUnavailable: 10}\n"));
  all_running();
  auto [loose, loose_most] = run(fleet_on("v2", names, "  rollout: {maxUnavailable: 10}\n"), std::nullopt);
  ASSERT_EQ(loose.plan.steps.size(), 10u);
  for (const auto& r : loose.results) EXPECT_EQ(r.outcome, Outcome::Ok) << r.error;
  EXPECT_GT(loose_most, 2);

  // Back on the old image; then the rollout with 2, bot-e failing its gate.
  fresh_host();
  converge(fleet_on("default", names, "  rollout: {maxUnavailable: 2}\n"));
  all_running();
  const std::uint16_t e_port = host().state.records.at("bot-e").allocation.host_port;
  host().health.failing_once[e_port] = "not started";
  host().disks.calls.clear();
  auto [p, most] = run(fleet_on("v2", names, "  rollout: {maxUnavailable: 2}\n"), std::nullopt);
  ASSERT_EQ(p.plan.steps.size(), 10u);
  EXPECT_LE(most, 2);
  EXPECT_GE(most, 2);  // the bound is used, not one at a time
  std::vector<std::string> ok, failed, skipped;
  for (std::size_t i = 0; i < p.results.size(); ++i) {
    EXPECT_EQ(p.plan.steps[i].action, Action::Reimage);
    const std::string& n = p.plan.steps[i].instance;
    if (p.results[i].outcome == Outcome::Ok) ok.push_back(n);
    if (p.results[i].outcome == Outcome::Failed) failed.push_back(n);
    if (p.results[i].outcome == Outcome::Skipped) {
      skipped.push_back(n);
      EXPECT_EQ(p.results[i].error, "the rollout stopped at bot-e, which failed (at most 2 down at once)");
    }
  }
  EXPECT_EQ(failed, std::vector<std::string>{"bot-e"});
  // In name order, two at a time: a-d before e; while e's gate and its
  // rollback's run, the other slot goes on (f, g), and none begins after.
  for (const char* n : {"bot-a", "bot-b", "bot-c", "bot-d"})
    EXPECT_NE(std::find(ok.begin(), ok.end(), n), ok.end()) << n;
  EXPECT_GE(skipped.size(), 1u);
  for (const auto& n : skipped) EXPECT_GT(n, "bot-e");
  EXPECT_EQ(ok.size() + failed.size() + skipped.size(), 10u);
  // What was skipped never went down and keeps its image; the plan still
  // shows it, and the one rolled back.
  for (const auto& n : skipped) {
    EXPECT_EQ(host().state.records.at(n).applied.at("spec.image"), "default") << n;
    for (const auto& c : host().disks.calls) EXPECT_EQ(c.find("/instances/" + n + "/"), std::string::npos) << c;
  }
  auto again = plan_for(fleet_on("v2", names, "  rollout: {maxUnavailable: 2}\n"));
  EXPECT_EQ(again.steps.size(), skipped.size() + 1);

  // `apply --max-unavailable 1` overrides the Host: one at a time.
  all_running();
  auto [one, one_most] = run(fleet_on("v2", names, "  rollout: {maxUnavailable: 2}\n"), 1u);
  for (const auto& r : one.results) EXPECT_EQ(r.outcome, Outcome::Ok) << r.error;
  EXPECT_EQ(one_most, 1);
  EXPECT_TRUE(plan_for(fleet_on("v2", names)).empty());
}

// A rename restarts a running instance under its new name: renames are a
// rollout too, at most maxUnavailable down at once.
TEST_F(Executor, RenamesOfRunningInstancesAreARollout) {
  const std::vector<std::string> names{"bot-a", "bot-b", "bot-c", "bot-d"};
  converge(fleet_on("default", names, "  rollout: {maxUnavailable: 1}\n"));
  for (const auto& n : names)
    host().vmm.set_state("/var/lib/clawfleet/instances/" + n + "/vm/vmm.sock", host::VmState::Running);
  std::string yaml = std::string(testing::kTestHost) + "  rollout: {maxUnavailable: 1}\n";
  for (const auto& n : names)
    yaml += "---\napiVersion: clawfleet.io/v1\nkind: Instance\nmetadata: {name: new-" + n.substr(4) +
            ", previousNames: [" + n + "]}\nspec:\n  model: ollama/qwen3\n";
  auto loaded = manifest::load({{"m.yaml", yaml}});
  ASSERT_FALSE(loaded.diagnostics.has_errors()) << format(loaded.diagnostics.all()[0]);
  auto [p, most] = rollout(loaded.fleet, 4);
  ASSERT_EQ(p.plan.steps.size(), 4u);
  for (std::size_t i = 0; i < p.results.size(); ++i) {
    EXPECT_EQ(p.plan.steps[i].action, Action::Rename);
    EXPECT_EQ(p.results[i].outcome, Outcome::Ok) << p.results[i].error;
  }
  EXPECT_EQ(most, 1);
}

// What is not a rollout is not held by one: creates go on beside a
// rollout that stopped, and a stopped instance's reimage takes nothing down.
TEST_F(Executor, CreatesAndStoppedInstancesAreNotPartOfARollout) {
  converge(fleet_on("default", {"bot-a", "bot-b"}));
  host().vmm.set_state("/var/lib/clawfleet/instances/bot-a/vm/vmm.sock", host::VmState::Running);
  host().health.failing_once[host().state.records.at("bot-a").allocation.host_port] = "not started";
  auto fleet = fleet_on("v2", {"bot-a", "bot-b", "bot-c"});
  Pass p = apply(fleet);
  std::map<std::string, std::pair<Action, Outcome>> got;
  for (std::size_t i = 0; i < p.results.size(); ++i)
    got[p.plan.steps[i].instance] = {p.plan.steps[i].action, p.results[i].outcome};
  EXPECT_EQ(got.at("bot-a"), std::pair(Action::Reimage, Outcome::Failed));
  // bot-b's VM is not running (the fake VMM says so): its reimage is no
  // rollout's; bot-c is new.
  EXPECT_EQ(got.at("bot-b"), std::pair(Action::Reimage, Outcome::Ok));
  EXPECT_EQ(got.at("bot-c"), std::pair(Action::Create, Outcome::Ok));
}

}  // namespace
}  // namespace cf::apply

namespace cf::apply {
namespace {

// The guest disks: a create makes the data disk empty (the guest formats
// it), clones the image's rootfs to the disk size and writes a seed whose
// instance-id is the generation the health gate waits for; a converged
// instance's seed is not rewritten.
// What `clawfleet restore --replace` leaves (apply/backup.h): the VM
// stopped, another token in its file. The next apply starts it with a seed
// that holds that token and gates it with that token.
TEST_F(Executor, AStoppedInstanceWhoseTokenWasReplacedStartsOnIt) {
  auto fleet = fleet_of(instance_yaml("alpha"));
  converge(fleet);
  const std::string seed = "/var/lib/clawfleet/instances/alpha/seed.img";
  const host::SeedFiles before = host().disks.seeds.at(seed);
  ASSERT_EQ(host().systemd.stop(host::vm_unit("alpha"), std::chrono::seconds(1)).value(), host::JobResult::Done);
  const std::string restored(64, 'e');
  host().state.tokens["alpha"] = restored;
  Pass p = apply(fleet);
  ASSERT_EQ(p.plan.steps.size(), 1u);
  EXPECT_EQ(p.plan.steps[0].action, plan::Action::Repair) << p.plan.steps[0].reason;
  EXPECT_EQ(p.results[0].outcome, Outcome::Ok) << p.results[0].error;
  EXPECT_EQ(host().systemd.unit(host::vm_unit("alpha"))->active_state, "active");
  EXPECT_EQ(host().health.tokens.back(), restored);
  EXPECT_NE(host().disks.seeds.at(seed).user_data, before.user_data);
  EXPECT_TRUE(plan_for(fleet).empty());
}

// metadata.previousNames: alpha becomes omega with its allocation, token
// and disks, and nothing of alpha is left; a rename stopped part-way is
// finished by the next run.
TEST_F(Executor, ARenameKeepsTheAllocationTokenAndDisksAndLeavesNothingOfTheOldName) {
  for (const char* fail : {"", "rename_instance", "write_inventory"}) {
    fresh_host();
    converge(fleet_of(instance_yaml("alpha")));
    const host::InstanceRecord before = host().state.records.at("alpha");
    const std::string token = host().state.tokens.at("alpha");
    const std::uint64_t data = host().disks.sizes.at("/var/lib/clawfleet/instances/alpha/data.img");
    auto fleet = fleet_of(
        "---\napiVersion: clawfleet.io/v1\nkind: Instance\nmetadata: {name: omega, previousNames: "
        "[alpha]}\nspec:\n  model: ollama/qwen3\n");
    if (*fail) {
      host().state.failing = {fail};  // the run stops there
      Pass p = apply(fleet);
      ASSERT_EQ(p.plan.steps.size(), 1u) << fail;
      EXPECT_EQ(p.results[0].outcome, Outcome::Failed) << fail;
      host().state.failing.clear();
    }
    Pass p = apply(fleet);
    ASSERT_EQ(p.plan.steps.size(), 1u) << fail;
    EXPECT_EQ(p.plan.steps[0].action, plan::Action::Rename) << p.plan.steps[0].reason;
    EXPECT_EQ(p.results[0].outcome, Outcome::Ok) << p.results[0].error;
    const host::InstanceRecord& after = host().state.records.at("omega");
    EXPECT_EQ(after.allocation, before.allocation);
    EXPECT_EQ(host().state.tokens.at("omega"), token);
    EXPECT_EQ(host().disks.sizes.at("/var/lib/clawfleet/instances/omega/data.img"), data);
    EXPECT_EQ(host().health.tokens.back(), token);
    EXPECT_EQ(host().systemd.unit(host::vm_unit("omega"))->active_state, "active");
    EXPECT_EQ(host().state.inventory.instances.at("omega").tap, before.allocation.tap);
    EXPECT_EQ(host().network.link(before.allocation.tap)->alias, "clawfleet:omega");
    EXPECT_EQ(host().leftovers("alpha"), std::vector<std::string>{}) << fail;
    EXPECT_TRUE(plan_for(fleet).empty()) << fail;
  }
}

TEST_F(Executor, CreateClonesTheRootDiskAndWritesTheSeed) {
  auto fleet = fleet_of(instance_yaml("alpha", "  resources: {disk: 2GiB, dataDisk: 3GiB}\n"));
  converge(fleet);
  const std::string dir = "/var/lib/clawfleet/instances/alpha";
  auto& d = host().disks;
  EXPECT_EQ(d.calls, (std::vector<std::string>{
                         "create_empty " + dir + "/data.img 3221225472",
                         "clone /var/lib/clawfleet/images/default/rootfs.ext4 " + dir + "/rootfs.ext4 2147483648",
                         "write_seed " + dir + "/seed.img"}));
  ASSERT_EQ(host().health.generations.size(), 1u);
  const std::string gen = host().health.generations[0];
  EXPECT_EQ(d.seeds.at(dir + "/seed.img").meta_data, "instance-id: cf-" + gen.substr(7) + "\nlocal-hostname: alpha\n");
  EXPECT_EQ(host().state.records.at("alpha").applied_generation, gen);
}

TEST_F(Executor, ReprovisionWritesANewSeedAndRestartsForTheNewGeneration) {
  converge(fleet_of(instance_yaml("alpha")));
  const std::string first = host().health.generations.back();
  host().disks.calls.clear();
  host().systemd.calls.clear();
  auto changed = fleet_of(instance_yaml("alpha", "  skills: [github]\n"));
  Pass p = apply(changed);
  ASSERT_EQ(p.plan.steps.size(), 1u);
  EXPECT_EQ(p.plan.steps[0].action, Action::Reprovision);
  EXPECT_EQ(p.results[0].outcome, Outcome::Ok) << p.results[0].error;
  // The seed that worked is kept until the new one passes (a rollback's).
  const std::string dir = "/var/lib/clawfleet/instances/alpha";
  EXPECT_EQ(host().disks.calls,
            (std::vector<std::string>{"keep " + dir + "/seed.img " + dir + "/seed.previous.img",
                                      "write_seed " + dir + "/seed.img", "remove " + dir + "/seed.previous.img"}));
  EXPECT_NE(std::find_if(host().systemd.calls.begin(), host().systemd.calls.end(),
                         [](const std::string& c) { return c.rfind("restart clawfleet-vm@alpha.service", 0) == 0; }),
            host().systemd.calls.end());
  EXPECT_NE(host().health.generations.back(), first);
  EXPECT_TRUE(host().health.booted.back());
  converge(changed);
}

// Each disk grows on its own: its file, then the running guest is told of
// that drive only.
TEST_F(Executor, GrowDiskGrowsAndTellsTheRunningGuestWithoutARestart) {
  const std::string dir = "/var/lib/clawfleet/instances/alpha";
  for (auto [resources, reason, file, drive, bytes] :
       {std::tuple{"{disk: 20GiB}", "disk grows (spec.resources.disk: 10GiB -> 20GiB)", "rootfs.ext4", "rootfs",
                   "21474836480"},
        std::tuple{"{dataDisk: 16GiB}", "data disk grows (spec.resources.dataDisk: 8GiB -> 16GiB)", "data.img", "data",
                   "17179869184"}}) {
    SCOPED_TRACE(resources);
    fresh_host();
    converge(fleet_of(instance_yaml("alpha")));
    host().vmm.set_state(dir + "/vm/vmm.sock", host::VmState::Running);
    host().disks.calls.clear();
    host().systemd.calls.clear();
    host().vmm.calls.clear();
    auto bigger = fleet_of(instance_yaml("alpha", std::string("  resources: ") + resources + "\n"));
    Pass p = apply(bigger);
    ASSERT_EQ(p.plan.steps.size(), 1u);
    EXPECT_EQ(p.plan.steps[0].action, Action::GrowDisk);
    EXPECT_EQ(p.plan.steps[0].reason, reason);
    EXPECT_EQ(p.results[0].outcome, Outcome::Ok) << p.results[0].error;
    // The generation covers the disk size too: a new seed, read at the next boot.
    EXPECT_EQ(host().disks.calls,
              (std::vector<std::string>{"grow " + dir + "/" + file + " " + bytes, "write_seed " + dir + "/seed.img"}));
    std::vector<std::string> notified;
    for (const auto& c : host().vmm.calls)
      if (c.rfind("notify_disk_grown", 0) == 0) notified.push_back(c);
    EXPECT_EQ(notified, (std::vector<std::string>{"notify_disk_grown " + dir + "/vm/vmm.sock " + drive + " " + bytes}));
    for (const auto& c : host().systemd.calls) EXPECT_EQ(c.rfind("restart", 0), std::string::npos) << c;
    EXPECT_EQ(host().vmm.specs.at("alpha").data_path, dir + "/data.img");
    // The guest kept running on the seed it booted with: the gate takes the
    // generation it reports.
    ASSERT_FALSE(host().health.booted.empty());
    EXPECT_FALSE(host().health.booted.back());
    converge(bigger);
  }
}

// alpha on `image` of a Host with two: default and v2.
model::Fleet with_image(const std::string& image) {
  const std::string host = std::string(testing::kTestHost) +
                           "  images:\n"
                           "    default: {kernel: /var/lib/clawfleet/images/default/vmlinux, "
                           "rootfs: /var/lib/clawfleet/images/default/rootfs.ext4}\n"
                           "    v2: {kernel: /var/lib/clawfleet/images/v2/vmlinux, "
                           "rootfs: /var/lib/clawfleet/images/v2/rootfs.ext4}\n";
  auto r = manifest::load({{"m.yaml", host + instance_yaml("alpha", "  image: " + image + "\n")}});
  EXPECT_FALSE(r.diagnostics.has_errors());
  return r.fleet;
}

// Another image for an instance with a data disk: the VM stopped, the old
// root disk removed and the new image's cloned, the VM booted with the
// data disk as it was (not made again, not grown).
TEST_F(Executor, AReimageClonesTheNewRootAndKeepsTheDataDisk) {
  converge(with_image("default"));
  const std::string dir = "/var/lib/clawfleet/instances/alpha";
  host().vmm.set_state(dir + "/vm/vmm.sock", host::VmState::Running);
  host().disks.calls.clear();
  host().systemd.calls.clear();
  Pass p = apply(with_image("v2"));
  ASSERT_EQ(p.plan.steps.size(), 1u);
  EXPECT_EQ(p.plan.steps[0].action, Action::Reimage);
  EXPECT_EQ(p.plan.steps[0].reason, "base image changed (spec.image: default -> v2)");
  EXPECT_EQ(p.results[0].outcome, Outcome::Ok) << p.results[0].error;
  // The root and seed that worked are kept until the new ones pass.
  EXPECT_EQ(host().disks.calls,
            (std::vector<std::string>{
                "keep " + dir + "/seed.img " + dir + "/seed.previous.img",
                "keep " + dir + "/rootfs.ext4 " + dir + "/rootfs.previous.ext4", "remove " + dir + "/rootfs.ext4",
                "clone /var/lib/clawfleet/images/v2/rootfs.ext4 " + dir + "/rootfs.ext4 10737418240",
                "write_seed " + dir + "/seed.img", "remove " + dir + "/rootfs.previous.ext4",
                "remove " + dir + "/seed.previous.img"}));
  // Stopped before its root went, started again after.
  std::vector<std::string> vm;
  for (const auto& c : host().systemd.calls)
    if (c.find("clawfleet-vm@alpha.service") != std::string::npos) vm.push_back(c.substr(0, c.find(' ')));
  ASSERT_GE(vm.size(), 2u);
  EXPECT_EQ(vm.front(), "stop");
  EXPECT_EQ(vm.back(), "restart");
  EXPECT_EQ(host().vmm.specs.at("alpha").data_path, dir + "/data.img");
  EXPECT_EQ(host().vmm.specs.at("alpha").image.kernel, "/var/lib/clawfleet/images/v2/vmlinux");
  EXPECT_TRUE(host().health.booted.back());
  EXPECT_EQ(host().state.records.at("alpha").applied.at("spec.image"), "v2");

  // Killed after the old root went: the rerun makes the new one.
  host().disks.sizes.erase(dir + "/rootfs.ext4");
  host().state.records.at("alpha").applied["spec.image"] = "default";
  host().disks.calls.clear();
  p = apply(with_image("v2"));
  ASSERT_EQ(p.plan.steps.size(), 1u);
  EXPECT_EQ(p.results[0].outcome, Outcome::Ok) << p.results[0].error;
  EXPECT_NE(std::find(host().disks.calls.begin(), host().disks.calls.end(),
                      "clone /var/lib/clawfleet/images/v2/rootfs.ext4 " + dir + "/rootfs.ext4 10737418240"),
            host().disks.calls.end());
  converge(with_image("v2"));
}

// Images by content (docs/guest.md#image-identity): a create records the
// digest of the image it cloned; the same file recorded again with other
// content is a reimage that records the new one; a step that does not
// clone keeps what the root was cloned from.
TEST_F(Executor, OnlyANewRootRecordsTheImagesDigest) {
  const std::string images = "/var/lib/clawfleet/images/default";
  auto record = [&](std::int64_t rootfs_mtime, char hex, const std::string& version) {
    host().files.file(images + "/vmlinux", "");
    host().files.stat_as(images + "/vmlinux", 10, 1);
    host().files.file(images + "/rootfs.ext4", "");
    host().files.stat_as(images + "/rootfs.ext4", 20, rootfs_mtime);
    host().files.file(images + "/image.json", R"({"format": 1, "version": ")" + version +
                                                  R"(", "files": {"vmlinux": {"size": 10, )"
                                                  R"("mtimeNs": 1, "sha256": ")" +
                                                  std::string(64, 'a') +
                                                  R"("}, "rootfs.ext4": {"size": 20, )"
                                                  R"("mtimeNs": )" +
                                                  std::to_string(rootfs_mtime) + R"(, "sha256": ")" +
                                                  std::string(64, hex) + R"("}}})");
  };
  const std::string dir = "/var/lib/clawfleet/instances/alpha";
  record(100, 'b', "v1");
  converge(fleet_of(instance_yaml("alpha")));
  const auto& applied = [&]() -> const std::map<std::string, std::string>& {
    return host().state.records.at("alpha").applied;
  };
  const std::string v1 = applied().at(plan::kImageDigestField);
  EXPECT_EQ(v1.rfind("sha256:", 0), 0u);
  EXPECT_EQ(applied().at(plan::kImageVersionField), "v1");

  // The file replaced at the same path, recorded again.
  record(200, 'c', "v2");
  host().disks.calls.clear();
  Pass p = apply(fleet_of(instance_yaml("alpha")));
  ASSERT_EQ(p.plan.steps.size(), 1u);
  EXPECT_EQ(p.plan.steps[0].action, Action::Reimage);
  EXPECT_EQ(p.plan.steps[0].reason.rfind("image content changed (host.image.digest: " + v1.substr(0, 19) + " -> ", 0),
            0u)
      << p.plan.steps[0].reason;
  EXPECT_EQ(p.results[0].outcome, Outcome::Ok) << p.results[0].error;
  EXPECT_EQ(host().disks.calls[2], "remove " + dir + "/rootfs.ext4");
  const std::string v2 = applied().at(plan::kImageDigestField);
  EXPECT_NE(v2, v1);
  EXPECT_EQ(applied().at(plan::kImageVersionField), "v2");
  converge(fleet_of(instance_yaml("alpha")));

  // Replaced but not recorded: unknown, a warning, and no step; a
  // reprovision then keeps the digest of what the root was cloned from.
  host().files.stat_as(images + "/rootfs.ext4", 20, 300);
  p = apply(fleet_of(instance_yaml("alpha", "  skills: [github]\n")));
  ASSERT_EQ(p.plan.steps.size(), 1u);
  EXPECT_EQ(p.plan.steps[0].action, Action::Reprovision);
  ASSERT_EQ(p.plan.warnings.size(), 1u);
  EXPECT_EQ(p.plan.warnings[0].rfind("image default is not identified by its content", 0), 0u) << p.plan.warnings[0];
  EXPECT_EQ(p.results[0].outcome, Outcome::Ok) << p.results[0].error;
  EXPECT_EQ(applied().at(plan::kImageDigestField), v2);
  EXPECT_EQ(applied().at(plan::kImageVersionField), "v2");

  // Recorded again with other content, while the record of an instance
  // applied before records has none: a reprovision records none either.
  record(400, 'd', "v3");
  host().state.records.at("alpha").applied.erase(plan::kImageDigestField);
  host().state.records.at("alpha").applied.erase(plan::kImageVersionField);
  p = apply(fleet_of(instance_yaml("alpha", "  skills: [github, tmux]\n")));
  ASSERT_EQ(p.plan.steps.size(), 1u);
  EXPECT_EQ(p.plan.steps[0].action, Action::Reprovision);
  EXPECT_EQ(p.results[0].outcome, Outcome::Ok) << p.results[0].error;
  EXPECT_EQ(applied().count(plan::kImageDigestField), 0u);
  converge(fleet_of(instance_yaml("alpha", "  skills: [github, tmux]\n")));
}

// Rollback (docs/apply.md#rollback): a reimage whose new root fails its
// gate goes back to the root, seed and launch record that worked, gated
// again on the generation they were applied with; the record keeps the
// old image, so the next plan still shows the reimage. The data disk is
// never touched.
TEST_F(Executor, AReimageThatFailsItsGateIsRolledBack) {
  converge(with_image("default"));
  const std::string dir = "/var/lib/clawfleet/instances/alpha";
  const auto seed_before = host().disks.seeds.at(dir + "/seed.img");
  const auto generation = host().state.records.at("alpha").applied_generation;
  const std::string launch_before = host().state.files.at("alpha/launch.json");
  host().disks.calls.clear();
  host().health.failing_once[18900] = "health gate on 127.0.0.1:18900: gave up after 90000 ms: it does not start";
  Pass p = apply(with_image("v2"));
  ASSERT_EQ(p.plan.steps.size(), 1u);
  EXPECT_EQ(p.plan.steps[0].action, Action::Reimage);
  EXPECT_EQ(p.results[0].outcome, Outcome::Failed);
  EXPECT_EQ(p.results[0].error,
            "instance alpha: rolled back: health gate on 127.0.0.1:18900: gave up after 90000 ms: it does not start "
            "(the previous root and configuration passed the health gate again)");
  EXPECT_EQ(host().disks.calls,
            (std::vector<std::string>{
                "keep " + dir + "/seed.img " + dir + "/seed.previous.img",
                "keep " + dir + "/rootfs.ext4 " + dir + "/rootfs.previous.ext4", "remove " + dir + "/rootfs.ext4",
                "clone /var/lib/clawfleet/images/v2/rootfs.ext4 " + dir + "/rootfs.ext4 10737418240",
                "write_seed " + dir + "/seed.img", "move " + dir + "/rootfs.previous.ext4 " + dir + "/rootfs.ext4",
                "move " + dir + "/seed.previous.img " + dir + "/seed.img"}));
  for (const auto& c : host().disks.calls) EXPECT_EQ(c.find("data.img"), std::string::npos) << c;
  EXPECT_EQ(host().disks.seeds.at(dir + "/seed.img"), seed_before);
  EXPECT_EQ(host().state.files.at("alpha/launch.json"), launch_before);
  // Gated again on the seed put back, whichever generation it names.
  EXPECT_FALSE(host().health.booted.back());
  EXPECT_EQ(host().state.records.at("alpha").applied.at("spec.image"), "default");
  EXPECT_EQ(host().state.records.at("alpha").applied_generation, generation);
  EXPECT_EQ(host().systemd.unit(host::vm_unit("alpha"))->active_state, "active");
  auto again = plan_for(with_image("v2"));
  ASSERT_EQ(again.steps.size(), 1u);
  EXPECT_EQ(again.steps[0].action, Action::Reimage);
  converge(with_image("v2"));
  EXPECT_FALSE(host().disks.sizes.count(dir + "/rootfs.previous.ext4"));
  EXPECT_FALSE(host().disks.seeds.count(dir + "/seed.previous.img"));
}

// A rollback that fails too is said, with both reasons; a rerun after it
// (or after a kill while the old root was kept) starts from the kept root:
// the root beside it is an untested clone.
TEST_F(Executor, AFailedRollbackIsReportedAndTheKeptRootIsTheOneThatWorked) {
  converge(fleet_of(instance_yaml("alpha")));
  const std::string dir = "/var/lib/clawfleet/instances/alpha";
  host().health.failing[18900] = "not started";
  Pass p = apply(fleet_of(instance_yaml("alpha", "  skills: [github]\n")));
  ASSERT_EQ(p.plan.steps.size(), 1u);
  EXPECT_EQ(p.plan.steps[0].action, Action::Reprovision);
  EXPECT_EQ(p.results[0].error, "instance alpha: rollback failed: not started (after: not started)");
  host().health.failing.clear();

  // Killed during a reimage with its old root kept: the rerun keeps it.
  host().disks.sizes[dir + "/rootfs.previous.ext4"] = 10737418240;
  host().disks.calls.clear();
  host().state.records.at("alpha").applied["host.image.rootfs"] = "/var/lib/clawfleet/images/old/rootfs.ext4";
  p = apply(fleet_of(instance_yaml("alpha", "  skills: [github]\n")));
  ASSERT_EQ(p.plan.steps.size(), 1u);
  EXPECT_EQ(p.plan.steps[0].action, Action::Reimage);
  EXPECT_EQ(p.results[0].outcome, Outcome::Ok) << p.results[0].error;
  for (const auto& c : host().disks.calls)
    EXPECT_NE(c, "keep " + dir + "/rootfs.ext4 " + dir + "/rootfs.previous.ext4");
  EXPECT_FALSE(host().disks.sizes.count(dir + "/rootfs.previous.ext4"));
  converge(fleet_of(instance_yaml("alpha", "  skills: [github]\n")));
}

// A reprovision that fails before its guest restarts (a secret it cannot
// read) leaves the running guest alone: only the kept seed goes back.
TEST_F(Executor, AReprovisionThatFailsBeforeItsRestartRestartsNothing) {
  converge(fleet_of(instance_yaml("alpha")));
  const std::string dir = "/var/lib/clawfleet/instances/alpha";
  const auto seed_before = host().disks.seeds.at(dir + "/seed.img");
  host().systemd.calls.clear();
  host().disks.fail("write_seed " + dir + "/seed.img", "disk full");
  Pass p = apply(fleet_of(instance_yaml("alpha", "  skills: [github]\n")));
  ASSERT_EQ(p.plan.steps.size(), 1u);
  EXPECT_EQ(p.plan.steps[0].action, Action::Reprovision);
  EXPECT_EQ(p.results[0].error, "instance alpha: disk full");
  for (const auto& c : host().systemd.calls) {
    EXPECT_NE(c.rfind("restart", 0), 0u) << c;
    EXPECT_NE(c.rfind("stop", 0), 0u) << c;
  }
  EXPECT_EQ(host().disks.seeds.at(dir + "/seed.img"), seed_before);
  EXPECT_FALSE(host().disks.seeds.count(dir + "/seed.previous.img"));
  host().disks.fail("write_seed " + dir + "/seed.img", "");
  converge(fleet_of(instance_yaml("alpha", "  skills: [github]\n")));
}

// An instance created before data disks: a root disk, no data disk, a
// record without the field. It is not given one behind its back (its
// state is on its root disk): no step, and a change of another field
// keeps it as it is, the VM launched with two drives.
TEST_F(Executor, AnInstanceCreatedBeforeDataDisksKeepsItsTwoDrives) {
  converge(fleet_of(instance_yaml("alpha")));
  const std::string dir = "/var/lib/clawfleet/instances/alpha";
  host().disks.sizes.erase(dir + "/data.img");
  host().state.records.at("alpha").applied.erase("spec.resources.dataDisk");
  EXPECT_TRUE(plan_for(fleet_of(instance_yaml("alpha"))).empty());
  host().disks.calls.clear();
  auto changed = fleet_of(instance_yaml("alpha", "  skills: [github]\n"));
  Pass p = apply(changed);
  ASSERT_EQ(p.plan.steps.size(), 1u);
  EXPECT_EQ(p.plan.steps[0].action, Action::Reprovision);
  EXPECT_EQ(p.results[0].outcome, Outcome::Ok) << p.results[0].error;
  EXPECT_EQ(host().disks.calls,
            (std::vector<std::string>{"keep " + dir + "/seed.img " + dir + "/seed.previous.img",
                                      "write_seed " + dir + "/seed.img", "remove " + dir + "/seed.previous.img"}));
  EXPECT_EQ(host().state.records.at("alpha").applied.count("spec.resources.dataDisk"), 0u);
  EXPECT_EQ(host().vmm.specs.at("alpha").data_path, "");
  EXPECT_EQ(host().vmm.specs.at("alpha").seed_path, dir + "/seed.img");
  converge(changed);
}

// A CPU quota or IO weight is systemd's alone: the limits drop-in is
// rewritten and reloaded, the running VM and its generation stay.
TEST_F(Executor, CgroupLimitsApplyToTheRunningVmWithoutARestart) {
  converge(fleet_of(instance_yaml("alpha")));
  auto limits = [&] { return host().unit_files.read_dropin("clawfleet-vm@alpha.service", "manifest-limits").value(); };
  EXPECT_EQ(limits(), "# clawfleet: owned by instance alpha\n[Service]\nMemoryMax=3328M\n");
  const std::string generation = host().state.records.at("alpha").applied_generation.value_or("");
  host().disks.calls.clear();
  host().systemd.calls.clear();
  auto throttled = fleet_of(instance_yaml("alpha", "  resources: {cpuQuota: 50%, ioWeight: 20}\n"));
  Pass p = apply(throttled);
  ASSERT_EQ(p.plan.steps.size(), 1u);
  EXPECT_EQ(p.plan.steps[0].action, Action::Repair);
  EXPECT_EQ(p.results[0].outcome, Outcome::Ok) << p.results[0].error;
  EXPECT_EQ(limits(), "# clawfleet: owned by instance alpha\n[Service]\nMemoryMax=3328M\nCPUQuota=50%\nIOWeight=20\n");
  EXPECT_NE(std::find(host().systemd.calls.begin(), host().systemd.calls.end(), "daemon_reload"),
            host().systemd.calls.end());
  for (const auto& c : host().systemd.calls) EXPECT_EQ(c.rfind("restart", 0), std::string::npos) << c;
  EXPECT_EQ(host().disks.calls, std::vector<std::string>{});
  EXPECT_EQ(host().state.records.at("alpha").applied_generation.value_or(""), generation);
  converge(throttled);
}

TEST_F(Executor, AnUnreadableSecretFailsTheInstanceNamingTheSecret) {
  host().missing_secrets.insert("/etc/clawfleet/secrets/openai");
  Pass p = apply(fleet_of(instance_yaml("alpha", "  providerKeys: {openai: {file: /etc/clawfleet/secrets/openai}}\n")));
  ASSERT_EQ(p.results.size(), 2u);
  EXPECT_EQ(p.results[1].outcome, Outcome::Failed);
  EXPECT_EQ(p.results[1].error, "instance alpha: secret /etc/clawfleet/secrets/openai is missing (rolled back)");
  EXPECT_TRUE(host().leftovers("alpha").empty());
}

}  // namespace
}  // namespace cf::apply
