#include "agent/reconciler.h"

#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <set>

#include "apply/engine.h"
#include "host/observe.h"
#include "manifest/defaults.h"
#include "manifest/desired_state.h"

namespace cf::agent {
namespace {

using namespace std::chrono;
using plan::Action;

bool restarts(Action a) { return a == Action::Restart || a == Action::Reprovision || a == Action::Replace; }

}  // namespace

Reconciler::Reconciler(ReconcilerPorts ports, ReconcileOptions options)
    : ports_(std::move(ports)),
      options_(std::move(options)),
      backoff_(options_.backoff, ports_.uniform),
      host_backoff_(options_.backoff, ports_.uniform) {
  status_.pid = ::getpid();
  status_.manifests = options_.manifests.files.empty() ? options_.manifests.dir : "";
  for (const auto& f : options_.manifests.files) status_.manifests += (status_.manifests.empty() ? "" : ", ") + f;
}

std::string Reconciler::state_root() const {
  return last_good_ ? last_good_->fleet.host.state_root : manifest::default_host().state_root;
}

void Reconciler::load() {
  // A secret that cannot be read makes the desired state unknown: the
  // same as a manifest that does not load.
  manifest::LoadedDesired loaded = manifest::load_desired(ports_.files, ports_.env, options_.manifests);
  std::string error;
  std::size_t errors = 0;
  for (const auto& d : loaded.diagnostics.all()) {
    if (d.severity != Severity::Error) continue;
    if (errors++ == 0) error = format(d);
  }
  if (errors > 1) error += fmt::format(" (and {} more error{})", errors - 1, errors == 2 ? "" : "s");
  if (!errors && !loaded.secret_problems.empty()) error = loaded.secret_problems.front();
  const WallTime now = ports_.clock.wall();
  if (error.empty()) {
    if (!status_.manifest_error.empty()) ports_.log.write(Level::Info, "the manifests load again");
    last_good_ = std::move(loaded.state);
    status_.manifest_error.clear();
    status_.manifest_error_since.reset();
    status_.have_desired = true;
    return;
  }
  if (status_.manifest_error != error)
    ports_.log.write(Level::Error, std::string("the manifests do not load: ") + error +
                                       (last_good_ ? "; keeping the last good set" : "; nothing to enforce yet"));
  if (status_.manifest_error.empty()) status_.manifest_error_since = now;
  status_.manifest_error = error;
}

ReconcileReport Reconciler::reconcile(const std::string& trigger, const std::atomic<bool>& stop,
                                      const std::function<void(const apply::StepEvent&)>& on_step) {
  const SteadyTime t0 = ports_.clock.now();
  const WallTime w0 = ports_.clock.wall();
  ReconcileReport r = run(trigger, stop, on_step);
  if (r.result == ReconcileResult::LockBusy) return r;  // nothing ran: not a reconcile
  ReconcileRecord rec;
  rec.trigger = trigger;
  rec.started = w0;
  rec.finished = ports_.clock.wall();
  rec.duration_seconds = duration<double>(ports_.clock.now() - t0).count();
  rec.result = r.result;
  rec.steps = r.steps;
  rec.failed = r.failed;
  rec.held = r.held.size();
  rec.error = r.error;
  status_.last = rec;
  ++status_.reconciles;
  if (r.result == ReconcileResult::Failed || r.result == ReconcileResult::Error) ++status_.errors;
  if (r.result == ReconcileResult::Ok) status_.last_success = rec.finished;
  return r;
}

ReconcileReport Reconciler::run(const std::string& trigger, const std::atomic<bool>& stop,
                                const std::function<void(const apply::StepEvent&)>& on_step) {
  ReconcileReport report;
  auto fail = [&](ReconcileResult result, std::string error) {
    report.result = result;
    report.error = std::move(error);
    return report;
  };

  // Pass 1: one writer at a time; busy means another apply runs: the loop
  // retries shortly, it never waits here.
  auto lock = ports_.lock.acquire("agent", options_.lock_timeout);
  if (!lock) return fail(ReconcileResult::LockBusy, lock.error().message);

  // Pass 2: the manifests, or the last good set when they do not load.
  load();
  if (!last_good_) return fail(ReconcileResult::Error, "the manifests do not load: " + status_.manifest_error);
  const bool complete = status_.manifest_error.empty();
  const model::Fleet& fleet = last_good_->fleet;
  const model::Host& h = fleet.host;

  // Pass 3: observe and plan, as apply does.
  auto session = ports_.host.open(h);
  if (!session) return fail(ReconcileResult::Error, session.error().message);
  apply::HostSession& host = *session.value();
  const apply::Target target{*last_good_, complete, options_.plan};
  if (auto probe = apply::probe_accelerator(h, host.ports()))
    ports_.log.write(
        probe->runs ? Level::Info : Level::Warning,
        std::string("KVM boot probe: ") + (probe->runs ? "a guest ran" : "no guest ran") + " (" + probe->detail + ")");
  auto planned = apply::plan_once(target, host.ports());
  if (!planned) return fail(ReconcileResult::Error, planned.error().message);
  const plan::Plan& plan = planned.value().plan;
  // Once, not on every resync: a warning changes nothing until acted on.
  if (plan.warnings != last_warnings_)
    for (const auto& w : plan.warnings) ports_.log.write(Level::Warning, w);
  last_warnings_ = plan.warnings;
  // The Host with what only the host can tell (the guests' resolvers): the
  // one generations are computed from.
  const model::Host& effective = planned.value().desired.fleet.host;

  // Pass 4: leave instances in backoff alone (a destroy is never held).
  const SteadyTime now = ports_.clock.now();
  Filtered f = hold_back(plan, [&](const std::string& name) { return backoff_.remaining(name, now); });
  report.held = f.held;
  for (const auto& held : f.held)
    ports_.log.write(
        Level::Info,
        fmt::format("{}: held back for {} after {} failure{}", held.instance, describe_duration(held.remaining),
                    backoff_.failures(held.instance), backoff_.failures(held.instance) == 1 ? "" : "s"),
        {{"INSTANCE", held.instance}});

  // Pass 5: execute (journalled by the engine) and plan again, logging
  // each step with its fields.
  std::vector<apply::StepReport> results;
  std::optional<Result<apply::Planned>> again;
  if (!f.plan.empty() || !f.held.empty()) {
    apply::ExecOptions exec = options_.exec;
    exec.stop = &stop;
    std::map<std::size_t, SteadyTime> started;
    std::mutex status_mu;  // step events come from executor threads, one at a time
    auto on_event = [&](const apply::StepEvent& e) {
      const std::string who = e.step->instance.empty() ? "host" : e.step->instance;
      const std::string action = plan::to_string(e.step->action);
      Fields fields{{"INSTANCE", who}, {"STEP", std::to_string(e.seq)}, {"ACTION", action}, {"RUN", e.run}};
      if (e.start) {
        started[e.index] = ports_.clock.now();
        ports_.log.write(Level::Info, fmt::format("{}: {} started: {}", who, action, e.step->reason), fields);
        if (!e.step->instance.empty()) {
          std::lock_guard<std::mutex> lock(status_mu);
          InstanceConditions& s = status_.instances[e.step->instance];
          s.name = e.step->instance;
          mark_progressing(s, action, ports_.clock.wall());
        }
      } else if (e.result.outcome == apply::Outcome::Ok) {
        double secs = duration<double>(ports_.clock.now() - started[e.index]).count();
        ports_.log.write(Level::Info, fmt::format("{}: {} done ({:.1f} s)", who, action, secs), fields);
      } else {
        ports_.log.write(e.result.outcome == apply::Outcome::Failed ? Level::Error : Level::Warning,
                         fmt::format("{}: {} {}: {}", who, action, apply::to_string(e.result.outcome), e.result.error),
                         fields);
      }
      if (on_step) on_step(e);
    };
    apply::Applied applied = apply::apply_once(target, planned.value(), f.plan, f.origin, host, exec, on_event);
    report.run = applied.run;
    results = std::move(applied.results);
    if (!applied.journal_error.empty()) ports_.log.write(Level::Warning, "journal: " + applied.journal_error);
    again = std::move(applied.again);
  }

  // Pass 6: backoff and the outcome of each instance.
  std::map<std::string, InstanceOutcome> outcomes;
  std::set<std::string> destroyed;
  bool stopped = false;
  const SteadyTime after = ports_.clock.now();
  std::map<std::string, bool> ran_ok;  // instance -> every step it ran succeeded
  for (std::size_t i = 0; i < results.size(); ++i) {
    const plan::Step& step = f.plan.steps[i];
    const apply::StepReport& res = results[i];
    ++report.steps;
    if (res.outcome == apply::Outcome::Skipped && res.error == apply::kStoppingReason) {
      stopped = true;
      if (!step.instance.empty()) outcomes[step.instance].stopped = true;
      continue;
    }
    if (res.outcome != apply::Outcome::Ok) ++report.failed;
    if (step.instance.empty()) {
      if (res.outcome == apply::Outcome::Failed)
        host_backoff_.failed("", after);
      else if (res.outcome == apply::Outcome::Ok)
        host_backoff_.succeeded("");
      continue;
    }
    InstanceOutcome& o = outcomes[step.instance];
    if (res.outcome == apply::Outcome::Failed && !o.failed) {
      o.failed = true;
      o.error = res.error;
    }
    // Skipped because the host step failed: not this instance's failure.
    if (res.outcome == apply::Outcome::Ok || res.outcome == apply::Outcome::Failed)
      ran_ok.emplace(step.instance, true).first->second &= res.outcome == apply::Outcome::Ok;
    if (step.action == Action::Destroy && res.outcome == apply::Outcome::Ok) destroyed.insert(step.instance);
  }
  for (auto& [name, ok] : ran_ok) {
    if (ok) {
      backoff_.succeeded(name);
      last_errors_.erase(name);
      continue;
    }
    outcomes[name].backoff = backoff_.failed(name, after);
    last_errors_[name] = outcomes[name].error;
    ports_.log.write(
        Level::Warning,
        fmt::format("{}: backing off for {} after {} failure{}", name, describe_duration(*outcomes[name].backoff),
                    backoff_.failures(name), backoff_.failures(name) == 1 ? "" : "s"),
        {{"INSTANCE", name}});
  }

  // Pass 7: plan again; what is left is pending (converged means nothing).
  std::map<std::string, std::vector<Action>> pending;
  bool planned_again = false;
  if (again) {
    if (*again) {
      for (const auto& s : again->value().plan.steps)
        if (!s.instance.empty()) pending[s.instance].push_back(s.action);
      planned_again = true;
    } else {
      report.error = "after applying, " + again->error().message;
    }
  }
  if (!planned_again)
    for (const auto& s : plan.steps)
      if (!s.instance.empty() && !destroyed.count(s.instance)) pending[s.instance].push_back(s.action);
  // Steps that ran and succeeded are not pending even without a second plan.
  if (!planned_again)
    for (std::size_t i = 0; i < results.size(); ++i)
      if (results[i].outcome == apply::Outcome::Ok) {
        auto& v = pending[f.plan.steps[i].instance];
        if (auto it = std::find(v.begin(), v.end(), f.plan.steps[i].action); it != v.end()) v.erase(it);
      }

  // Pass 8: each running gateway's deep readiness, on the host as the last
  // observation left it (shown, never a reason to back off).
  const model::Observed& last_seen = planned_again ? again->value().observed : planned.value().observed;
  std::map<std::string, model::Readiness> readiness =
      stop ? std::map<std::string, model::Readiness>{}
           : host::observe_readiness(last_seen, host.ports(), options_.readiness_timeout);

  // Pass 9: conditions for every desired instance, and for those on the
  // host still to be destroyed.
  const WallTime wall = ports_.clock.wall();
  std::set<std::string> names;
  for (const auto& i : fleet.instances) names.insert(i.name);
  for (const auto& [name, actions] : pending)
    if (!actions.empty()) names.insert(name);
  for (const auto& name : destroyed) status_.instances.erase(name);
  std::erase_if(status_.instances, [&](const auto& kv) { return !names.count(kv.first); });
  for (const auto& name : names) {
    InstanceOutcome& o = outcomes[name];
    if (const model::Instance* inst = fleet.find(name)) {
      o.generation = apply::generation_of(plan::flatten(*inst, effective, last_good_->digests, last_good_->ca_digests));
      o.desired_running = inst->state == model::RunState::Running;
    }
    if (!o.failed)
      if (auto left = backoff_.remaining(name, after)) {
        o.backoff = left;
        o.last_error = last_errors_[name];
      }
    if (auto it = readiness.find(name); it != readiness.end()) o.readiness = it->second;
    for (Action a : pending[name]) {
      o.pending.push_back(plan::to_string(a));
      o.restart_pending = o.restart_pending || restarts(a);
    }
    InstanceConditions& s = status_.instances[name];
    s.name = name;
    update_conditions(s, o, wall);
    s.failures = backoff_.failures(name);
    s.retry_at.reset();
    if (auto left = backoff_.remaining(name, after)) s.retry_at = wall + *left;
  }

  // The next attempt of whatever is backing off.
  report.retry_at = backoff_.next_expiry(after);
  if (auto host_retry = host_backoff_.next_expiry(after);
      host_retry && (!report.retry_at || *host_retry < *report.retry_at))
    report.retry_at = host_retry;

  if (stopped)
    report.result = ReconcileResult::Stopped;
  else if (report.failed)
    report.result = ReconcileResult::Failed;
  else if (!complete || !report.error.empty())
    report.result = ReconcileResult::Error;
  if (!complete && report.error.empty())
    report.error = "the manifests do not load (enforcing the last good set): " + status_.manifest_error;
  if (report.failed && report.error.empty())
    report.error = fmt::format("{} step{} failed or skipped", report.failed, report.failed == 1 ? "" : "s");
  (void)trigger;
  return report;
}

}  // namespace cf::agent
