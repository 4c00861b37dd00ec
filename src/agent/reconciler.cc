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
#include "model/units.h"

namespace cf::agent {
namespace {

using namespace std::chrono;
using plan::Action;

bool restarts(Action a) {
  return a == Action::Restart || a == Action::Reprovision || a == Action::Reimage || a == Action::Replace;
}

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
  kvm_ = plan.accelerator.kvm;
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

  // Pass 4b: liveness. What has failed /healthz for the whole period past
  // its gate is restarted, unless it is in backoff or has other steps.
  std::map<std::string, std::string> live_restarts;
  {
    const std::set<std::string> watched = past_gate(planned.value().observed, effective);
    liveness_.keep_only(watched);
    if (!stop) live_restarts = liveness_restarts(planned.value(), f, watched, host.ports(), now);
  }

  // Pass 5: execute (journalled by the engine) and plan again, logging
  // each step with its fields.
  std::vector<apply::StepReport> results;
  std::optional<Result<apply::Planned>> again;
  if (!f.plan.empty() || !f.held.empty()) {
    apply::ExecOptions exec = options_.exec;
    exec.stop = &stop;
    // A rollout stays stopped while the instance it stopped at backs off
    // (docs/apply.md#rollouts): no other is taken down before its retry.
    for (const auto& held : f.held)
      if (std::any_of(held.actions.begin(), held.actions.end(), apply::interrupts)) {
        exec.rollout_stopped =
            apply::rollout_stopped_reason(held.instance, model::max_unavailable(h)) + "; held while it backs off";
        break;
      }
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
    auto restart = live_restarts.find(name);
    if (restart != live_restarts.end()) liveness_.restarted(name, restart->second);
    if (ok && restart == live_restarts.end()) {
      backoff_.succeeded(name);
      last_errors_.erase(name);
      continue;
    }
    // A liveness restart is a failure of the instance's, also when the
    // restart itself went well: a gateway that keeps hanging backs off.
    outcomes[name].backoff = backoff_.failed(name, after);
    last_errors_[name] = ok ? restart->second : outcomes[name].error;
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
  // And the liveness of what runs past its gate now (a restart just made
  // counts afresh); probe_liveness asks them again in an interval.
  watched_ = past_gate(last_seen, planned_again ? again->value().desired.fleet.host : effective);
  last_seen_ = last_seen;
  liveness_.keep_only(watched_);
  if (!stop)
    record_liveness(host::observe_liveness(last_seen, host.ports(), options_.liveness_timeout, watched_),
                    ports_.clock.now());
  next_probe_.reset();
  if (!watched_.empty()) next_probe_ = ports_.clock.now() + probe_interval(fail_after());

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
      auto seen = last_seen.instances.find(name);
      o.generation = apply::generation_for(plan::flatten(*inst, effective, last_good_->digests, last_good_->ca_digests),
                                           seen == last_seen.instances.end() ? nullptr : &seen->second);
      o.desired_running = inst->state == model::RunState::Running;
    }
    if (!o.failed)
      if (auto left = backoff_.remaining(name, after)) {
        o.backoff = left;
        o.last_error = last_errors_[name];
      }
    if (auto it = readiness.find(name); it != readiness.end()) o.readiness = it->second;
    o.live = live_outcome(name, after);
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

Millis Reconciler::fail_after() const {
  return Millis(last_good_ ? model::fail_after_ms(last_good_->fleet.host.liveness, kvm_) : 0);
}

std::set<std::string> Reconciler::past_gate(const model::Observed& seen, const model::Host& effective) const {
  std::set<std::string> out;
  if (!last_good_ || fail_after().count() == 0) return out;
  for (const auto& inst : last_good_->fleet.instances) {
    if (inst.state != model::RunState::Running) continue;
    auto it = seen.instances.find(inst.name);
    if (it == seen.instances.end()) continue;
    auto unit = it->second.units.find(model::vm_unit(inst.name));
    if (unit == it->second.units.end() || unit->second.active_state != "active") continue;
    // Recorded only once the health gate passed (apply/executor.h).
    const std::string generation =
        apply::generation_for(plan::flatten(inst, effective, last_good_->digests, last_good_->ca_digests), &it->second);
    if (it->second.applied_generation != generation) continue;
    out.insert(inst.name);
  }
  return out;
}

std::map<std::string, std::string> Reconciler::liveness_restarts(const apply::Planned& planned, Filtered& f,
                                                                 const std::set<std::string>& watched,
                                                                 const host::Ports& ports, SteadyTime now) {
  std::map<std::string, std::string> out;
  const Millis period = fail_after();
  if (period.count() == 0) return out;
  std::set<std::string> busy;  // steps of its own come first
  for (const auto& step : f.plan.steps) busy.insert(step.instance);
  for (const auto& held : f.held) busy.insert(held.instance);
  std::set<std::string> due;
  for (const auto& name : liveness_.due(period, now))
    if (watched.count(name) && !busy.count(name) && !backoff_.remaining(name, now)) due.insert(name);
  if (due.empty()) return out;
  // Asked once more, on the host as observed now: the failures may have
  // been another writer's restart, finished since.
  record_liveness(host::observe_liveness(planned.observed, ports, options_.liveness_timeout, due), ports_.clock.now());
  const bool host_step = !f.plan.steps.empty() && f.plan.steps[0].instance.empty();
  for (const auto& name : due) {
    const auto failed_for = liveness_.failing_for(name, ports_.clock.now());
    if (!failed_for || *failed_for < period) continue;
    const std::string why = "failing for " + describe_duration(*failed_for) + ": " + liveness_.find(name)->error;
    plan::Step step;
    step.instance = name;
    step.action = Action::Restart;
    step.reason = "liveness: /healthz " + why;
    if (host_step) step.depends_on.push_back(0);
    f.origin.push_back(planned.plan.steps.size() + out.size());
    f.plan.steps.push_back(std::move(step));
    out[name] = "restarted after " + why;
  }
  return out;
}

void Reconciler::record_liveness(const std::map<std::string, Status>& answers, SteadyTime now) {
  const Millis period = fail_after();
  for (const auto& [name, answer] : answers) {
    const auto failed_for = liveness_.failing_for(name, now);
    switch (liveness_.record(name, answer, now)) {
      case Liveness::Change::Failing:
        ports_.log.write(Level::Warning,
                         fmt::format("{}: /healthz failing: {}; restarted after {} of failures", name,
                                     answer.error().message, describe_duration(period)),
                         {{"INSTANCE", name}});
        break;
      case Liveness::Change::Recovered:
        ports_.log.write(Level::Info,
                         fmt::format("{}: /healthz answers again after failing for {}", name,
                                     describe_duration(failed_for.value_or(Millis(0)))),
                         {{"INSTANCE", name}});
        break;
      case Liveness::Change::None: break;
    }
    // Live for a whole period since its liveness restart, and out of the
    // backoff that restart put it in: that failure is forgiven.
    const Liveness::Entry* e = liveness_.find(name);
    const auto live_for = liveness_.live_for(name, now);
    if (!e || e->restarted.empty() || !live_for || *live_for < period || backoff_.remaining(name, now)) continue;
    if (auto last = last_errors_.find(name); last != last_errors_.end() && last->second == e->restarted) {
      backoff_.succeeded(name);
      last_errors_.erase(last);
    }
    liveness_.forgive(name);
  }
}

std::optional<LiveOutcome> Reconciler::live_outcome(const std::string& name, SteadyTime now) const {
  const Liveness::Entry* e = liveness_.find(name);
  if (!watched_.count(name) || !e) return std::nullopt;
  LiveOutcome out;
  out.failing_for = liveness_.failing_for(name, now);
  out.error = e->error;
  out.restarted = e->restarted;
  if (out.failing_for && *out.failing_for >= fail_after()) out.held = backoff_.remaining(name, now);
  return out;
}

LivenessProbe Reconciler::probe_liveness(const std::atomic<bool>& stop) {
  LivenessProbe out;
  next_probe_.reset();
  if (!last_good_ || watched_.empty() || stop) return out;
  const Millis period = fail_after();
  next_probe_ = ports_.clock.now() + probe_interval(period);
  auto session = ports_.host.open(last_good_->fleet.host);
  if (!session) {
    ports_.log.write(Level::Warning, "liveness probe: " + session.error().message);
    return out;
  }
  record_liveness(host::observe_liveness(last_seen_, session.value()->ports(), options_.liveness_timeout, watched_),
                  ports_.clock.now());
  const SteadyTime now = ports_.clock.now();
  const WallTime wall = ports_.clock.wall();
  for (const auto& name : watched_) {
    auto it = status_.instances.find(name);
    if (it == status_.instances.end()) continue;
    const InstanceConditions before = it->second;
    update_live(it->second, live_outcome(name, now), wall);
    out.changed = out.changed || before != it->second;
  }
  for (const auto& name : liveness_.due(period, now))
    if (!backoff_.remaining(name, now)) out.restart_due = true;
  next_probe_ = now + probe_interval(period);
  return out;
}

}  // namespace cf::agent
