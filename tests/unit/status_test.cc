// clawfleet status as values and as text: the row builder from hand-made
// desired, observed, plan and journal values; exact text of the table, the
// detail view and the JSON; and, on a whole fake host, that status reads no
// token and shows no secret value.
#include "cli/status_model.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>

#include "apply/desired.h"
#include "apply/executor.h"
#include "cli/status_render.h"
#include "fakes/fake_host.h"
#include "fakes/fake_journal.h"
#include "fakes/fleets.h"
#include "host/observe.h"
#include "manifest/desired_state.h"
#include "manifest/loader.h"
#include "manifest/secrets.h"

namespace cf::cli {
namespace {

using apply::JournalEvent;
using apply::JournalRecord;
using apply::Outcome;
using plan::Action;

using testing::fleet_of;
using testing::instance_yaml;

// An instance as observe() reports one that apply created: 10.80.0.<n+1>, port 18900+n-1.
model::ObservedInstance on_host(const std::string& name, int n, const std::string& active, const std::string& sub,
                                model::VmState vm, std::optional<std::string> applied) {
  model::ObservedInstance o;
  o.in_inventory = true;
  o.allocation = model::Allocation{Ipv4{(10u << 24) | (80u << 16) | std::uint32_t(n + 1)}, Mac{},
                                   std::uint16_t(18900 + n - 1), "cf" + std::string(13, char('0' + n))};
  o.applied_generation = std::move(applied);
  o.dir = model::ObservedDir{true, 0710, 0, {{"instance.json", 0600}, {"token", 0600}}};
  o.units[host::vm_unit(name)] = {"loaded", active, sub, "enabled", "", "", {}};
  o.units[host::proxy_socket_unit(name)] = {"loaded", "active", "listening", "enabled", "", "", {}};
  o.tap = model::ObservedTap{true, "cfbr0", true, true, "clawfleet:" + name};
  o.vm_state = vm;
  return o;
}

JournalRecord start(const std::string& run, std::size_t seq, const std::string& instance, const std::string& action,
                    const std::string& time) {
  return {time, run, seq, instance, action, JournalEvent::Start, std::nullopt, ""};
}
JournalRecord end(const std::string& run, std::size_t seq, const std::string& instance, const std::string& action,
                  const std::string& time, Outcome result, const std::string& error = "") {
  return {time, run, seq, instance, action, JournalEvent::End, result, error};
}

std::string gen(const model::Fleet& f, const std::string& name, const std::map<model::SecretRef, std::string>& d = {}) {
  return apply::generation_of(plan::flatten(*f.find(name), f.host, d, {}));
}

const InstanceStatus& row(const FleetStatus& s, const std::string& name) {
  for (const auto& i : s.instances)
    if (i.name == name) return i;
  ADD_FAILURE() << "no row " << name;
  return s.instances.front();
}

const model::SecretRef kOpenAi{model::SecretSource::File, "/etc/clawfleet/secrets/openai.key"};
constexpr const char* kHealthError =
    "instance beta: health gate on 127.0.0.1:18901: not started within 300000 ms (last: /startupz answered 503 "
    "(starting))";

// One fleet with every kind of row: ready (alpha), degraded with a last
// error (beta), pending create (gamma), stopped as asked (delta),
// interrupted (epsilon), unreadable secret (keyed), only on the host (omega).
class StatusModel : public ::testing::Test {
 protected:
  void SetUp() override {
    desired.fleet = fleet_of(instance_yaml("alpha") + instance_yaml("beta") + instance_yaml("gamma") +
                             instance_yaml("delta", "  state: stopped\n") + instance_yaml("epsilon") +
                             instance_yaml("keyed", "  providerKeys:\n    openai: {file: " + kOpenAi.name + "}\n"));
    // keyed's secret is not in the digests: it could not be read.
    const auto& f = desired.fleet;
    observed.instances["alpha"] = on_host("alpha", 1, "active", "running", model::VmState::Running, gen(f, "alpha"));
    observed.instances["beta"] =
        on_host("beta", 2, "failed", "failed", model::VmState::Absent, "sha256:0123456789abcdef");
    observed.instances["delta"] =
        on_host("delta", 4, "inactive", "dead", model::VmState::Absent, "sha256:4444444444444444");
    observed.instances["epsilon"] =
        on_host("epsilon", 5, "active", "running", model::VmState::Running, "sha256:5555555555555555");
    observed.instances["keyed"] =
        on_host("keyed", 6, "active", "running", model::VmState::Running, "sha256:6666666666666666");
    observed.instances["omega"] =
        on_host("omega", 7, "active", "running", model::VmState::Running, "sha256:7777777777777777");
    plan.steps = {
        {"beta", Action::Repair, {}, "clawfleet-vm@beta.service is failed", {}},
        {"gamma", Action::Create, {}, plan::kReasonNewInstance, {}},
        {"epsilon", Action::Restart, {}, "vCPUs changed (spec.resources.vcpus: 2 -> 4)", {}},
        {"keyed", Action::Reprovision, {}, "provider key changed (spec.providerKeys.openai)", {}},
        {"omega", Action::Destroy, {}, "absent from every manifest", {}},
    };
    journal = {
        start("r1", 1, "alpha", "create", "2026-11-23T12:00:00.100Z"),
        end("r1", 1, "alpha", "create", "2026-11-23T12:00:10.200Z", Outcome::Ok),
        start("r1", 2, "beta", "create", "2026-11-23T12:00:00.300Z"),
        end("r1", 2, "beta", "create", "2026-11-23T12:05:00.400Z", Outcome::Failed, kHealthError),
        start("r2", 1, "delta", "stop", "2026-11-23T13:00:00.000Z"),
        end("r2", 1, "delta", "stop", "2026-11-23T13:00:02.000Z", Outcome::Ok),
        start("r2", 2, "epsilon", "restart", "2026-11-23T13:00:03.000Z"),
    };
    // What the running gateways said (host::observe_readiness).
    readiness = {{"alpha", {true, true, {}, ""}},
                 {"epsilon", {true, false, {"telegram", "agent-database:main"}, ""}},
                 {"keyed", {false, false, {}, "/readyz: connection refused"}}};
  }

  FleetStatus build(const std::string& active_run = "") {
    return build_status(&desired, observed, plan, journal, active_run, readiness);
  }

  // The generations are the planner's business (plan::flatten); fixed
  // here so the text below does not move when flatten() gains a field.
  FleetStatus golden() {
    FleetStatus s = build();
    for (auto& i : s.instances) {
      if (i.desired_generation) i.desired_generation = "sha256:" + std::string(64, i.name[0] == 'a' ? '3' : 'd');
      if (i.name == "alpha") i.applied_generation = i.desired_generation;
    }
    return s;
  }

  model::DesiredState desired;
  model::Observed observed;
  plan::Plan plan;
  std::vector<JournalRecord> journal;
  std::map<std::string, model::Readiness> readiness;
};

TEST_F(StatusModel, ReadyWhenTheDesiredGenerationRunsAndNothingIsLeftToDo) {
  auto s = build();
  const auto& a = row(s, "alpha");
  EXPECT_EQ(a.health, Health::Ready);
  EXPECT_EQ(a.health_reason, "");
  EXPECT_EQ(a.desired_state, "running");
  EXPECT_EQ(a.unit_active_state, "active");
  EXPECT_EQ(a.vm_state, "running");
  EXPECT_EQ(a.applied_generation, gen(desired.fleet, "alpha"));
  EXPECT_EQ(a.desired_generation, gen(desired.fleet, "alpha"));
  EXPECT_EQ(to_string(*a.ip), "10.80.0.2");
  EXPECT_EQ(a.host_port, 18900);
  EXPECT_EQ(a.last_error, "");
  ASSERT_TRUE(a.last_step);
  EXPECT_EQ(a.last_step->outcome, Outcome::Ok);
}

TEST_F(StatusModel, NotReadyWhenTheAppliedGenerationIsAnother) {
  observed.instances["alpha"].applied_generation = "sha256:0000000000000000";
  EXPECT_EQ(row(build(), "alpha").health, Health::Unknown);
  EXPECT_EQ(row(build(), "alpha").health_reason, "applied generation is not the desired one");
  observed.instances["alpha"].applied_generation = std::nullopt;
  EXPECT_EQ(row(build(), "alpha").health, Health::Unknown);
}

// An instance created before data disks records no data disk size, and
// apply leaves it out of its generation: so does status, which finds it
// settled. The image's digest is not part of a generation either.
TEST_F(StatusModel, AnInstanceCreatedBeforeDataDisksIsAtItsGeneration) {
  auto fields = plan::flatten(*desired.fleet.find("alpha"), desired.fleet.host, {}, {});
  fields.erase(plan::kDataDiskField);
  observed.instances["alpha"].applied = fields;
  observed.instances["alpha"].applied_generation = apply::generation_of(fields);
  EXPECT_NE(observed.instances["alpha"].applied_generation, gen(desired.fleet, "alpha"));
  EXPECT_EQ(row(build(), "alpha").health, Health::Ready);
  // With the field recorded, the data disk's size is part of it.
  observed.instances["alpha"].applied[plan::kDataDiskField] = "1";
  EXPECT_EQ(row(build(), "alpha").health, Health::Unknown);
  fields[plan::kImageDigestField] = "sha256:" + std::string(64, 'a');
  EXPECT_EQ(apply::generation_of(fields), *observed.instances["alpha"].applied_generation);
}

TEST_F(StatusModel, DegradedWithTheJournalsLastError) {
  const auto built = build();
  const auto& b = row(built, "beta");
  EXPECT_EQ(b.health, Health::Degraded);
  // The unit's failure is what observation shows; the error is why.
  EXPECT_EQ(b.health_reason, "vm unit failed");
  EXPECT_EQ(b.last_error, kHealthError);
  ASSERT_EQ(b.pending.size(), 1u);
  EXPECT_EQ(b.pending[0], (StatusAction{"repair", "clawfleet-vm@beta.service is failed"}));

  observed.instances["beta"].units[host::vm_unit("beta")].active_state = "active";
  EXPECT_EQ(row(build(), "beta").health_reason, "create failed");
}

TEST_F(StatusModel, PendingCreateOfAnInstanceNotYetOnTheHost) {
  const auto built = build();
  const auto& g = row(built, "gamma");
  EXPECT_EQ(g.health, Health::Pending);
  EXPECT_EQ(g.health_reason, "create");
  EXPECT_EQ(g.unit_active_state, "");
  EXPECT_EQ(g.vm_state, "");
  EXPECT_EQ(g.applied_generation, std::nullopt);
  EXPECT_EQ(g.desired_generation, gen(desired.fleet, "gamma"));
  EXPECT_FALSE(g.ip);
  EXPECT_FALSE(g.last_step);
}

TEST_F(StatusModel, StoppedAsAskedIsSettled) {
  const auto built = build();
  const auto& d = row(built, "delta");
  EXPECT_EQ(d.health, Health::Stopped);
  EXPECT_EQ(d.desired_state, "stopped");
}

TEST_F(StatusModel, AnInterruptedStepIsDegradedUnlessItsApplyIsStillRunning) {
  const auto built = build();
  const auto& e = row(built, "epsilon");
  EXPECT_EQ(e.health, Health::Degraded);
  EXPECT_EQ(e.health_reason, "restart interrupted");
  EXPECT_EQ(e.last_error,
            "restart was interrupted (its last record is from 2026-11-23T13:00:03.000Z; it never finished)");
  ASSERT_TRUE(e.last_step);
  EXPECT_STREQ(apply::state_text(*e.last_step), "interrupted");

  const auto running = build("r2");
  EXPECT_EQ(row(running, "epsilon").health, Health::Pending);
  EXPECT_EQ(row(running, "epsilon").health_reason, "restart (running)");
  EXPECT_EQ(row(running, "epsilon").last_error, "");
}

TEST_F(StatusModel, AnUnreadableSecretMakesTheGenerationUnknownNotAFailure) {
  const auto built = build();
  const auto& k = row(built, "keyed");
  EXPECT_EQ(k.health, Health::Unknown);
  EXPECT_EQ(k.health_reason, "secret unreadable");
  EXPECT_FALSE(k.desired_generation_known);
  EXPECT_EQ(k.desired_generation, std::nullopt);
  EXPECT_EQ(k.unreadable_secrets, std::vector<std::string>{"file /etc/clawfleet/secrets/openai.key"});

  desired.digests[kOpenAi] = "sha256:0123456789ab";
  const auto readable = build();
  EXPECT_TRUE(row(readable, "keyed").desired_generation_known);
  EXPECT_EQ(row(readable, "keyed").desired_generation, gen(desired.fleet, "keyed", desired.digests));
  EXPECT_EQ(row(readable, "keyed").health_reason, "reprovision");
}

TEST_F(StatusModel, AnInstanceOnlyOnTheHost) {
  const auto built = build();
  const auto& o = row(built, "omega");
  EXPECT_EQ(o.desired_state, "absent");
  EXPECT_EQ(o.desired_generation, std::nullopt);
  EXPECT_TRUE(o.desired_generation_known);
  EXPECT_EQ(o.health, Health::Pending);
  EXPECT_EQ(o.health_reason, "destroy");

  // Protected, or a leftover outside the inventory: the plan refuses.
  plan.steps.pop_back();
  plan.refused = {{"omega", Action::Destroy, "not in the inventory; clawfleet does not touch it"}};
  EXPECT_EQ(row(build(), "omega").health, Health::Degraded);
  EXPECT_EQ(row(build(), "omega").health_reason, "destroy refused");
}

TEST_F(StatusModel, WithoutManifestsOnlyTheHostIsShownAndNothingIsReady) {
  auto s = build_status(nullptr, observed, {}, journal);
  EXPECT_FALSE(s.manifests_loaded);
  ASSERT_EQ(s.instances.size(), 6u);  // what is on the host; gamma is only in the manifests
  EXPECT_EQ(row(s, "alpha").health, Health::Unknown);
  EXPECT_EQ(row(s, "alpha").health_reason, "manifests not loaded");
  EXPECT_EQ(row(s, "alpha").desired_state, "");
  EXPECT_FALSE(row(s, "alpha").desired_generation_known);
  EXPECT_EQ(row(s, "beta").health, Health::Degraded);  // a failed unit needs no manifest
  EXPECT_EQ(s.host.health, Health::Unknown);
  EXPECT_EQ(status_exit_code(s), 3);
}

TEST_F(StatusModel, ExitCodeIsZeroOnlyWhenEverythingIsSettled) {
  EXPECT_EQ(status_exit_code(build()), 3);
  auto s = build();
  std::erase_if(s.instances, [](const InstanceStatus& i) { return i.name != "alpha" && i.name != "delta"; });
  EXPECT_EQ(status_exit_code(s), 0);
  // The host step holds up every instance.
  plan.steps.insert(plan.steps.begin(), {"", Action::Repair, {}, "bridge cfbr0 is missing", {}});
  s.host = build().host;
  EXPECT_EQ(s.host.health, Health::Pending);
  EXPECT_EQ(status_exit_code(s), 3);
  EXPECT_EQ(status_exit_code(FleetStatus{}), 3);  // host unknown
  FleetStatus empty;
  empty.host.health = Health::Ready;
  EXPECT_EQ(status_exit_code(empty), 0);
}

TEST_F(StatusModel, RecentStepsPairStartsWithEndsAndKeepTheLastFive) {
  journal.clear();
  for (std::size_t seq = 1; seq <= 6; ++seq) {
    journal.push_back(start("r1", seq, "alpha", "repair", "2026-11-23T12:00:0" + std::to_string(seq) + ".000Z"));
    journal.push_back(start("r1", seq + 10, "beta", "repair", "2026-11-23T12:00:0" + std::to_string(seq) + ".500Z"));
    if (seq != 6)
      journal.push_back(end("r1", seq, "alpha", "repair", "2026-11-23T12:00:0" + std::to_string(seq) + ".900Z",
                            seq == 3 ? Outcome::Failed : Outcome::Ok, seq == 3 ? "boom" : ""));
  }
  auto steps = recent_steps(journal, "alpha", 5);
  ASSERT_EQ(steps.size(), 5u);
  EXPECT_EQ(steps[0], (apply::LastStep{"r1", 2, "repair", "2026-11-23T12:00:02.900Z", Outcome::Ok, false, ""}));
  EXPECT_EQ(steps[1], (apply::LastStep{"r1", 3, "repair", "2026-11-23T12:00:03.900Z", Outcome::Failed, false, "boom"}));
  EXPECT_EQ(steps[4], (apply::LastStep{"r1", 6, "repair", "2026-11-23T12:00:06.000Z", std::nullopt, false, ""}));
  EXPECT_TRUE(recent_steps(journal, "alpha", 5, "r1")[4].running);
  // The last of them is what apply::last_steps says.
  EXPECT_EQ(steps.back(), apply::last_steps(journal).at("alpha"));
  EXPECT_TRUE(recent_steps(journal, "nobody", 5).empty());
}

TEST_F(StatusModel, TheActiveRunIsTheNewestOneIfItBeganUnderTheCurrentHolder) {
  apply::LockHolder holder{4242, "apply", "2026-11-23T13:00:00Z"};
  EXPECT_EQ(active_run(journal, holder), "r2");
  holder.since = "2026-11-23T13:00:01Z";  // r2 began before this holder: it is a dead writer's
  EXPECT_EQ(active_run(journal, holder), "");
  EXPECT_EQ(active_run(journal, std::nullopt), "");
  EXPECT_EQ(active_run({}, holder), "");
}

TEST_F(StatusModel, GoldenTable) {
  EXPECT_EQ(
      render_status_table(golden()),
      "NAME     STATE            HEALTH                         CHANNELS                                GENERATION    "
      "             IP         PORT   LAST ERROR\n"
      "alpha    active/running   ready                          ready                                   "
      "333333333333/333333333333  10.80.0.2  18900  -\n"
      "beta     failed/absent    degraded: vm unit failed       -                                       "
      "0123456789ab/dddddddddddd  10.80.0.3  18901  "
      "instance beta: health gate on 127.0.0.1:18901: not started within 300000 ms (last: /startupz answ...\n"
      "delta    inactive/absent  stopped                        -                                       "
      "444444444444/dddddddddddd  10.80.0.5  18903  -\n"
      "epsilon  active/running   degraded: restart interrupted  failing: telegram, agent-database:main  "
      "555555555555/dddddddddddd  10.80.0.6  18904  "
      "restart was interrupted (its last record is from 2026-11-23T13:00:03.000Z; it never finished)\n"
      "gamma    -/-              pending: create                -                                       "
      "-/dddddddddddd             -          -      -\n"
      "keyed    active/running   unknown: secret unreadable     unknown                                 "
      "666666666666/?             10.80.0.7  18905  -\n"
      "omega    active/running   pending: destroy               -                                       "
      "777777777777/-             10.80.0.8  18906  -\n"
      "7 instances: 1 ready, 1 stopped, 2 pending, 2 degraded, 1 unknown\n");
}

// The plan's accelerator decision ends the table and the detail, and is
// the host's in JSON; without manifests (no plan) nothing is claimed.
TEST_F(StatusModel, ShowsThePlansAccelerator) {
  plan.accelerator = {false, "qemu emulates: /dev/kvm cannot be opened"};
  FleetStatus s = build();
  const std::string line = "Accelerator: tcg (qemu emulates: /dev/kvm cannot be opened)\n";
  for (const std::string& out : {render_status_table(s), render_status_detail(s)})
    EXPECT_EQ(out.substr(out.size() - line.size()), line) << out;
  auto j = nlohmann::json::parse(render_status_json(s));
  EXPECT_EQ(j["host"]["accelerator"]["name"], "tcg");
  EXPECT_EQ(j["host"]["accelerator"]["reason"], "qemu emulates: /dev/kvm cannot be opened");

  FleetStatus none = build_status(nullptr, observed, plan::Plan{}, journal);
  EXPECT_EQ(render_status_table(none).find("Accelerator"), std::string::npos);
  EXPECT_FALSE(nlohmann::json::parse(render_status_json(none))["host"].contains("accelerator"));
}

TEST_F(StatusModel, GoldenDetail) {
  FleetStatus s = golden();
  std::erase_if(s.instances, [](const InstanceStatus& i) { return i.name != "beta"; });
  EXPECT_EQ(render_status_detail(s),
            "Name:           beta\n"
            "Desired state:  running\n"
            "Observed:       vm unit failed/failed, vmm absent\n"
            "Health:         degraded: vm unit failed\n"
            "Channels:       - (the vm does not run)\n"
            "Generation:     applied sha256:0123456789abcdef, desired "
            "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd\n"
            "IP:             10.80.0.3\n"
            "Port:           18901\n"
            "Last error:     " +
                std::string(kHealthError) +
                "\n"
                "Pending:        repair: clawfleet-vm@beta.service is failed\n"
                "Refused:        -\n"
                "Tap:            cf2222222222222 (up, on cfbr0, isolated)\n"
                "Directory:      0710, uid 0\n"
                "Inventory:      listed\n"
                "Units:\n"
                "  clawfleet-proxy@beta.socket  active/listening  enabled\n"
                "  clawfleet-vm@beta.service    failed/failed     enabled\n"
                "Recent steps:\n"
                "  2026-11-23T12:05:00.400Z  r1#2  create  failed: " +
                std::string(kHealthError) + "\n");
}

TEST_F(StatusModel, GoldenDetailOfAnInstanceNotYetCreated) {
  FleetStatus s = golden();
  std::erase_if(s.instances, [](const InstanceStatus& i) { return i.name != "keyed" && i.name != "gamma"; });
  s.host.health = Health::Pending;
  s.host.health_reason = "repair";
  EXPECT_EQ(
      render_status_detail(s),
      "Name:           gamma\n"
      "Desired state:  running\n"
      "Observed:       nothing of it on this host\n"
      "Health:         pending: create\n"
      "Channels:       - (the vm does not run)\n"
      "Generation:     applied none, desired sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd\n"
      "IP:             -\n"
      "Port:           -\n"
      "Last error:     -\n"
      "Pending:        create: new instance, nothing of it on the host\n"
      "Refused:        -\n"
      "Tap:            -\n"
      "Directory:      missing\n"
      "Inventory:      not listed\n"
      "Units:          -\n"
      "Recent steps:   -\n"
      "\n"
      "Name:           keyed\n"
      "Desired state:  running\n"
      "Observed:       vm unit active/running, vmm running\n"
      "Health:         unknown: secret unreadable\n"
      "Channels:       unknown (/readyz: connection refused)\n"
      "Generation:     applied sha256:6666666666666666, desired unknown (cannot read secret file "
      "/etc/clawfleet/secrets/openai.key)\n"
      "IP:             10.80.0.7\n"
      "Port:           18905\n"
      "Last error:     -\n"
      "Pending:        reprovision: provider key changed (spec.providerKeys.openai)\n"
      "Refused:        -\n"
      "Tap:            cf6666666666666 (up, on cfbr0, isolated)\n"
      "Directory:      0710, uid 0\n"
      "Inventory:      listed\n"
      "Units:\n"
      "  clawfleet-proxy@keyed.socket  active/listening  enabled\n"
      "  clawfleet-vm@keyed.service    active/running    enabled\n"
      "Recent steps:   -\n"
      "host network: pending: repair\n");
}

TEST_F(StatusModel, GoldenJson) {
  FleetStatus s = golden();
  std::erase_if(s.instances, [](const InstanceStatus& i) { return i.name != "beta"; });
  EXPECT_EQ(render_status_json(s), R"json({
  "format_version": 1,
  "manifests_loaded": true,
  "instances": [
    {
      "name": "beta",
      "desired_state": "running",
      "observed": {
        "unit_active_state": "failed",
        "unit_sub_state": "failed",
        "vm_state": "absent"
      },
      "health": "degraded",
      "health_reason": "vm unit failed",
      "channels": null,
      "pending": [
        {
          "action": "repair",
          "reason": "clawfleet-vm@beta.service is failed"
        }
      ],
      "refused": [],
      "generation": {
        "applied": "sha256:0123456789abcdef",
        "desired": "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
        "desired_known": true,
        "unreadable_secrets": []
      },
      "ip": "10.80.0.3",
      "host_port": 18901,
      "last_step": {
        "run": "r1",
        "seq": 2,
        "action": "create",
        "time": "2026-11-23T12:05:00.400Z",
        "state": "failed",
        "error": "instance beta: health gate on 127.0.0.1:18901: not started within 300000 ms (last: /startupz answered 503 (starting))"
      },
      "last_error": "instance beta: health gate on 127.0.0.1:18901: not started within 300000 ms (last: /startupz answered 503 (starting))",
      "units": [
        {
          "name": "clawfleet-proxy@beta.socket",
          "load_state": "loaded",
          "active_state": "active",
          "sub_state": "listening",
          "unit_file_state": "enabled"
        },
        {
          "name": "clawfleet-vm@beta.service",
          "load_state": "loaded",
          "active_state": "failed",
          "sub_state": "failed",
          "unit_file_state": "enabled"
        }
      ],
      "tap": {
        "name": "cf2222222222222",
        "present": true,
        "up": true,
        "master": "cfbr0",
        "isolated": true
      },
      "dir": {
        "exists": true,
        "mode": "0710",
        "uid": 0
      },
      "inventory": {
        "listed": true,
        "protect": false
      },
      "recent_steps": [
        {
          "run": "r1",
          "seq": 2,
          "action": "create",
          "time": "2026-11-23T12:05:00.400Z",
          "state": "failed",
          "error": "instance beta: health gate on 127.0.0.1:18901: not started within 300000 ms (last: /startupz answered 503 (starting))"
        }
      ]
    }
  ],
  "host": {
    "health": "ready",
    "health_reason": "",
    "pending": [],
    "last_error": null
  },
  "summary": {
    "instances": 1,
    "ready": 0,
    "stopped": 0,
    "pending": 0,
    "degraded": 1,
    "unknown": 0,
    "all_ready": false
  }
}
)json");
}

TEST_F(StatusModel, ControlCharactersFromTheHostOrTheJournalAreShownEscaped) {
  journal.push_back(start("r3", 1, "alpha", "repair", "2026-11-23T14:00:00.000Z"));
  journal.push_back(
      end("r3", 1, "alpha", "repair", "2026-11-23T14:00:01.000Z", Outcome::Failed, "line one\nline two \x1b[31mred"));
  const std::string table = render_status_table(build());
  EXPECT_NE(table.find("line one\\x0aline two \\x1b[31mred\n"), std::string::npos) << table;
  EXPECT_EQ(table.find('\x1b'), std::string::npos);
}

// The whole path status takes, on a fake host that apply converged: it
// reads no token, and its output holds no token and no secret value, even
// when a journal error names the token's path.
TEST(StatusOnAFakeHost, ReadsNoTokenAndShowsNoSecret) {
  testing::FakeHost h;
  const std::string secret = "sk-live-SECRET-VALUE-never-shown";
  h.files.file("/etc/clawfleet/secrets/openai.key", secret + "\n");
  h.state.tokens["alpha"] = std::string(64, '7');
  h.state.tokens["beta"] = std::string(64, '8');
  auto fleet =
      fleet_of(instance_yaml("alpha", "  providerKeys:\n    openai: {file: /etc/clawfleet/secrets/openai.key}\n") +
               instance_yaml("beta"));
  struct NoEnv : Environment {
    std::optional<std::string> get(const std::string&) const override { return std::nullopt; }
  } env;

  // apply: alpha comes up; beta fails its health gate.
  manifest::Digests digests = manifest::read_digests(fleet, h.files, env);
  ASSERT_TRUE(digests.problems.empty());
  auto observed = h.observe(fleet.host);
  ASSERT_TRUE(observed) << observed.error().message;
  auto pd = apply::desired_for(fleet, true, digests.digests, {}, observed.value()).value();
  auto p = plan::make_plan(pd, observed.value(), {});
  h.health.failing[18901] = "health gate on 127.0.0.1:18901: not ready within 300000 ms";
  testing::FakeJournal journal;
  apply::execute(p, pd, observed.value(), h.ports(), apply::ExecOptions{}, [&](const apply::StepEvent& e) {
    JournalRecord rec{"",
                      "r1",
                      e.index,
                      e.step->instance,
                      plan::to_string(e.step->action),
                      e.start ? JournalEvent::Start : JournalEvent::End,
                      std::nullopt,
                      ""};
    if (!e.start) rec.result = e.result.outcome == Outcome::Ok ? Outcome::Ok : Outcome::Failed;
    if (!e.start) rec.error = e.result.error;
    ASSERT_TRUE(journal.append(rec));
  });
  ASSERT_TRUE(journal.append({"", "r2", 0, "beta", "repair", JournalEvent::End, Outcome::Failed,
                              "cannot write /var/lib/clawfleet/instances/beta/token: Permission denied"}));

  // status, from here on with empty call logs.
  h.state.calls.clear();
  h.files.calls.clear();
  manifest::Digests again = manifest::read_digests(fleet, h.files, env);
  auto seen = h.observe(fleet.host);
  ASSERT_TRUE(seen) << seen.error().message;
  auto pd_again = apply::desired_for(fleet, true, again.digests, {}, seen.value()).value();
  auto plan = plan::make_plan(pd_again, seen.value(), {});
  auto records = journal.read(SIZE_MAX);
  ASSERT_TRUE(records);
  // As `clawfleet status` does: the effective Host (its resolvers) from the plan.
  model::DesiredState desired{pd_again.fleet, again.digests, {}};
  FleetStatus s = build_status(&desired, seen.value(), plan, records.value().records);
  EXPECT_EQ(row(s, "alpha").health, Health::Ready) << row(s, "alpha").health_reason;
  EXPECT_EQ(row(s, "beta").health, Health::Degraded);
  EXPECT_EQ(row(s, "beta").last_error, "cannot write /var/lib/clawfleet/instances/beta/token: Permission denied");

  for (const std::string& out : {render_status_table(s), render_status_detail(s), render_status_json(s)}) {
    EXPECT_NE(out.find("instances/beta/token: Permission denied"), std::string::npos) << out;
    EXPECT_EQ(out.find(secret), std::string::npos) << out;
    for (const auto& [name, token] : h.state.tokens)
      EXPECT_EQ(out.find(token), std::string::npos) << name << "\n" << out;
  }
  for (const auto& call : h.state.calls) EXPECT_EQ(call.find("token"), std::string::npos) << call;
  for (const auto& call : h.files.calls) EXPECT_EQ(call.find("/token"), std::string::npos) << call;
  // The one secret status reads is the manifest's, for its digest.
  EXPECT_EQ(std::count(h.files.calls.begin(), h.files.calls.end(), "read_file /etc/clawfleet/secrets/openai.key"), 1);
}

TEST(StatusCli, UsageErrorsExit1) {
  auto run = [](const std::string& args) {
    int rc = std::system((std::string(CLAWFLEET_BINARY) + " " + args + " >/dev/null 2>&1 </dev/null").c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  };
  EXPECT_EQ(run("status -o yaml"), 1);
  EXPECT_EQ(run("status --manifests a -f b"), 1);
  EXPECT_EQ(run("status a b"), 1);
  EXPECT_EQ(run("status --help"), 0);
}

}  // namespace
}  // namespace cf::cli
