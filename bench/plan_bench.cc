// clawfleet_plan_bench: what a plan and an apply cost clawfleet itself,
// against the whole fake host (tests/fakes/fake_host.h), where systemd jobs
// and health gates complete at once, so only clawfleet's own work is timed.
//  1. plan = observe() + desired_for() + make_plan() on a converged host,
//     make_plan() alone on the same inputs, and both when every instance
//     needs a Reprovision (the diff path).
//  2. execute() of a plan that creates N instances, on a fresh host per run,
//     with 1 and 2 workers; then the empty-plan apply that follows.
// Every measurement is checked to have done its work (N steps, N instances
// on the host, an empty plan afterwards); a check that fails aborts.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "apply/desired.h"
#include "apply/executor.h"
#include "fakes/fake_host.h"
#include "manifest/loader.h"
#include "plan/plan.h"

namespace {

using namespace cf;
using Clock = std::chrono::steady_clock;
using plan::Action;

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "clawfleet_plan_bench: %s\n", message.c_str());
  std::exit(1);
}

void check(bool ok, const std::string& what) {
  if (!ok) die("check failed: " + what);
}

struct Stats {
  double median_ms = 0, min_ms = 0, p90_ms = 0;
  int runs = 0;
};

Stats summarize(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  const std::size_t p90 = (ms.size() * 9 + 9) / 10 - 1;  // nearest rank
  return {ms[ms.size() / 2], ms.front(), ms[p90], int(ms.size())};
}

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

// One untimed warm-up, then `runs` timed calls of `once`, `before` running
// untimed ahead of each.
Stats time_runs(int runs, const std::function<void()>& before, const std::function<void()>& once) {
  std::vector<double> ms;
  for (int i = 0; i <= runs; ++i) {
    before();
    const auto t0 = Clock::now();
    once();
    const double t = ms_since(t0);
    if (i > 0) ms.push_back(t);
  }
  return summarize(std::move(ms));
}

void report(const std::string& what, int n, const Stats& s) {
  std::printf("%-34s N=%-5d median %9.3f ms   min %9.3f ms   p90 %9.3f ms   per instance %8.2f us   (%d runs)\n",
              what.c_str(), n, s.median_ms, s.min_ms, s.p90_ms, s.median_ms * 1000.0 / n, s.runs);
  std::fflush(stdout);
}

std::string instance_name(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "b%04d", i);
  return buf;
}

// A /16 and 10000 ports: room for 1000 instances (the defaults, a /24 and
// 1000 ports, are too tight or exactly full).
const char* kHostYaml = R"(apiVersion: clawfleet.io/v1
kind: Host
spec:
  bridge: cfbr0
  subnet: 10.80.0.0/16
  ports: {first: 20000, last: 29999}
  stateRoot: /var/lib/clawfleet
  vmm: {kind: qemu}
)";

// Through manifest::load, as the CLI does, so that every default is filled
// in; 100 instances a file, well under the per-file document limit.
model::Fleet fleet_of(int n, const std::string& model) {
  std::vector<manifest::SourceFile> files{{"host.yaml", kHostYaml}};
  for (int i = 1; i <= n; ++i) {
    if ((i - 1) % 100 == 0) files.push_back({"i" + std::to_string(i) + ".yaml", ""});
    files.back().content += "---\napiVersion: clawfleet.io/v1\nkind: Instance\nmetadata: {name: " + instance_name(i) +
                            "}\nspec:\n  model: " + model + "\n";
  }
  auto r = manifest::load(files);
  if (r.diagnostics.has_errors()) die("manifest: " + format(r.diagnostics.all()[0]));
  check(int(r.fleet.instances.size()) == n, "the fleet has " + std::to_string(n) + " instances");
  return r.fleet;
}

// The fakes record every call; cleared so that the logs' growth is not
// part of what is measured.
void clear_calls(testing::FakeHost& h) {
  h.systemd.calls.clear();
  h.network.calls.clear();
  h.state.calls.clear();
  h.vmm.calls.clear();
  h.files.calls.clear();
  h.unit_files.calls.clear();
  h.health.calls.clear();
  h.health.tokens.clear();
}

struct Planned {
  model::Observed observed;
  plan::Desired desired;
  plan::Plan plan;
};

// What the CLI's observe_and_plan does.
Planned observe_and_plan(testing::FakeHost& h, const model::Fleet& fleet) {
  auto o = h.observe(fleet.host);
  if (!o) die("observe: " + o.error().message);
  Planned p;
  p.observed = std::move(o.value());
  auto desired = apply::desired_for(fleet, true, {}, {}, p.observed);
  if (!desired) die("desired: " + desired.error().message);
  p.desired = std::move(desired.value());
  p.plan = plan::make_plan(p.desired, p.observed, {});
  return p;
}

std::size_t count(const plan::Plan& p, Action a) {
  return std::size_t(std::count_if(p.steps.begin(), p.steps.end(), [&](const plan::Step& s) { return s.action == a; }));
}

std::string first_step(const plan::Plan& p) {
  if (p.empty()) return "(none)";
  const auto& s = p.steps[0];
  return std::string(plan::to_string(s.action)) + " " + (s.instance.empty() ? "host" : s.instance) + ": " + s.reason;
}

// Executes `p` and checks that every step succeeded.
void execute_ok(testing::FakeHost& h, const Planned& p, std::size_t parallelism) {
  apply::ExecOptions exec;
  exec.parallelism = parallelism;
  auto results = apply::execute(p.plan, p.desired, p.observed, h.ports(), exec, {});
  for (std::size_t i = 0; i < results.size(); ++i)
    if (results[i].outcome != apply::Outcome::Ok)
      die("step " + std::to_string(i) + " (" + plan::to_string(p.plan.steps[i].action) + " " +
          p.plan.steps[i].instance + "): " + apply::to_string(results[i].outcome) + ": " + results[i].error);
}

// The create plan for a fresh host: N creates (and the host step).
void check_create_plan(const plan::Plan& p, int n) {
  check(count(p, Action::Create) == std::size_t(n),
        "the create plan has " + std::to_string(n) + " create steps (it has " +
            std::to_string(count(p, Action::Create)) + " of " + std::to_string(p.steps.size()) + ")");
}

// Converged: a fresh plan is empty, and the host holds the N instances,
// each recorded as applied, its VM unit active and enabled.
void check_converged(testing::FakeHost& h, const model::Fleet& fleet, int n) {
  Planned again = observe_and_plan(h, fleet);
  check(again.plan.empty(), "a fresh plan after the apply is empty (first step: " + first_step(again.plan) + ")");
  check(again.observed.instances.size() == std::size_t(n), "observe() sees " + std::to_string(n) +
                                                               " instances (it sees " +
                                                               std::to_string(again.observed.instances.size()) + ")");
  check(h.state.inventory.instances.size() == std::size_t(n) && h.state.records.size() == std::size_t(n),
        "the fake host's inventory and state hold " + std::to_string(n) + " instances");
  for (const auto& inst : fleet.instances) {
    auto rec = h.state.records.find(inst.name);
    check(rec != h.state.records.end() && rec->second.applied_generation, inst.name + " is recorded as applied");
    const host::UnitStatus* vm = h.systemd.unit(host::vm_unit(inst.name));
    check(vm && vm->active_state == "active" && vm->unit_file_state == "enabled", inst.name + "'s VM unit is active");
  }
}

// Part 1: plan time on a converged host.
void bench_plan(int n) {
  const model::Fleet fleet = fleet_of(n, "ollama/qwen3");
  const model::Fleet changed = fleet_of(n, "ollama/llama4");  // every instance: Reprovision
  testing::FakeHost h;
  {
    Planned create = observe_and_plan(h, fleet);
    check_create_plan(create.plan, n);
    execute_ok(h, create, 2);
    check_converged(h, fleet, n);
  }

  // One probe decides the repetitions, so that 1000 stays quick.
  clear_calls(h);
  auto t0 = Clock::now();
  Planned last = observe_and_plan(h, fleet);
  const int runs = ms_since(t0) > 20 ? 21 : 51;

  auto s = time_runs(
      runs, [&] { clear_calls(h); }, [&] { last = observe_and_plan(h, fleet); });
  check(last.plan.empty() && last.observed.instances.size() == std::size_t(n),
        "the converged plan is empty and made from " + std::to_string(n) + " observed instances");
  report("plan, converged (empty)", n, s);

  // The same observed and desired, planned again: the planner alone.
  const Planned inputs = last;
  plan::Plan p;
  s = time_runs(
      runs, [] {}, [&] { p = plan::make_plan(inputs.desired, inputs.observed, {}); });
  check(p.empty(), "make_plan alone, converged, gives an empty plan");
  report("  make_plan only, converged", n, s);

  s = time_runs(
      runs, [&] { clear_calls(h); }, [&] { last = observe_and_plan(h, changed); });
  check(last.plan.steps.size() == std::size_t(n) && count(last.plan, Action::Reprovision) == std::size_t(n),
        "the changed-model plan has " + std::to_string(n) + " reprovision steps and nothing else (first step: " +
            first_step(last.plan) + ", " + std::to_string(last.plan.steps.size()) + " steps)");
  report("plan, all reprovision", n, s);

  const Planned reprovision = last;
  s = time_runs(
      runs, [] {}, [&] { p = plan::make_plan(reprovision.desired, reprovision.observed, {}); });
  check(p.steps.size() == std::size_t(n), "make_plan alone, changed model, gives " + std::to_string(n) + " steps");
  report("  make_plan only, all reprovision", n, s);
}

// Part 2: executing a create plan, on a fresh host per run (not timed,
// nor are the plan before and the checks after).
void bench_execute(int n, std::size_t parallelism, int runs) {
  const model::Fleet fleet = fleet_of(n, "ollama/qwen3");
  std::unique_ptr<testing::FakeHost> h;
  Planned create;
  std::vector<double> exec_ms, replan_ms;
  for (int i = 0; i <= runs; ++i) {  // run 0: warm-up
    h = std::make_unique<testing::FakeHost>();
    create = observe_and_plan(*h, fleet);
    check_create_plan(create.plan, n);

    auto t0 = Clock::now();
    execute_ok(*h, create, parallelism);
    const double exec = ms_since(t0);

    // The apply that follows: observe and plan, nothing to execute.
    clear_calls(*h);
    t0 = Clock::now();
    Planned again = observe_and_plan(*h, fleet);
    const double replan = ms_since(t0);
    check(again.plan.empty(),
          "the apply after the create has an empty plan (first step: " + first_step(again.plan) + ")");

    check_converged(*h, fleet, n);
    if (i > 0) exec_ms.push_back(exec), replan_ms.push_back(replan);
  }
  report("execute create, parallelism " + std::to_string(parallelism), n, summarize(exec_ms));
  report("  then empty-plan apply", n, summarize(replan_ms));
}

}  // namespace

int main() {
  std::printf("clawfleet_plan_bench: whole fake host (jobs and health gates complete at once)\n\n");
  std::printf("1. plan = observe() + desired_for() + make_plan()\n");
  for (int n : {10, 100, 1000}) bench_plan(n);

  std::printf("\n2. executor, create plan for N instances (fresh fake host per run)\n");
  for (int n : {10, 100, 1000})
    for (std::size_t parallelism : {1, 2}) bench_execute(n, parallelism, n >= 1000 ? 5 : 11);
  return 0;
}
