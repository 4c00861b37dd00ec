#include "cli/status_model.h"

#include <algorithm>
#include <set>
#include <utility>

#include "apply/executor.h"
#include "host/observe.h"
#include "manifest/secrets.h"

namespace cf::cli {
namespace {

bool broke(const std::optional<apply::LastStep>& s) { return s && apply::failed_or_interrupted(*s); }

std::string last_error_of(const std::optional<apply::LastStep>& s) {
  if (!broke(s)) return "";
  if (!s->outcome) return s->action + " was interrupted (its last record is from " + s->time + "; it never finished)";
  return s->error.empty() ? s->action + " failed" : s->error;
}

std::string actions_of(const std::vector<StatusAction>& actions) {
  std::string out;
  for (const auto& a : actions) out += (out.empty() ? "" : ", ") + a.action;
  return out;
}

// First match wins; docs/cli.md#status lists the same order.
void judge(InstanceStatus& i, bool manifests_loaded) {
  auto set = [&](Health h, std::string why) {
    i.health = h;
    i.health_reason = std::move(why);
  };
  const auto& last = i.last_step;
  const bool wanted = manifests_loaded && i.desired_state != "absent";
  const bool active = i.unit_active_state == "active";
  if (last && last->running) return set(Health::Pending, last->action + " (running)");
  // Observation wins over history: nothing left to do is settled, whatever the journal says.
  const bool settled = wanted && i.desired_generation_known && i.pending.empty() && i.refused.empty();
  if (settled && i.desired_state == "running" && active && i.applied_generation == i.desired_generation)
    return set(Health::Ready, "");
  if (settled && i.desired_state == "stopped" && !active) return set(Health::Stopped, "");
  if (i.unit_active_state == "failed") return set(Health::Degraded, "vm unit failed");
  if (broke(last)) return set(Health::Degraded, last->action + (last->outcome ? " failed" : " interrupted"));
  // A missing digest makes the planner see a change; its steps mean nothing.
  if (wanted && !i.desired_generation_known) return set(Health::Unknown, "secret unreadable");
  if (!i.pending.empty()) return set(Health::Pending, actions_of(i.pending));
  if (!i.refused.empty()) return set(Health::Degraded, i.refused.front().action + " refused");
  if (!manifests_loaded) return set(Health::Unknown, "manifests not loaded");
  if (!wanted) return set(Health::Degraded, "not in the manifests");
  if (i.applied_generation != i.desired_generation)
    return set(Health::Unknown, "applied generation is not the desired one");
  return set(Health::Unknown, i.desired_state == "running" && !active ? "vm unit not active" : "");
}

void judge(HostStatus& h, const std::optional<apply::LastStep>& last, bool manifests_loaded) {
  auto set = [&](Health health, std::string why) {
    h.health = health;
    h.health_reason = std::move(why);
  };
  h.last_error = last_error_of(last);
  if (last && last->running) return set(Health::Pending, last->action + " (running)");
  if (manifests_loaded && h.pending.empty()) return set(Health::Ready, "");
  if (broke(last)) return set(Health::Degraded, last->action + (last->outcome ? " failed" : " interrupted"));
  if (!h.pending.empty()) return set(Health::Pending, actions_of(h.pending));
  return set(Health::Unknown, "manifests not loaded");
}

}  // namespace

const char* to_string(Health h) {
  switch (h) {
    case Health::Ready: return "ready";
    case Health::Stopped: return "stopped";
    case Health::Pending: return "pending";
    case Health::Degraded: return "degraded";
    case Health::Unknown: return "unknown";
  }
  return "unknown";
}

std::vector<apply::LastStep> recent_steps(const std::vector<apply::JournalRecord>& journal, const std::string& instance,
                                          std::size_t max, const std::string& active_run) {
  std::vector<apply::LastStep> steps;
  std::map<std::pair<std::string, std::size_t>, std::size_t> at;  // (run, seq) -> index into steps
  for (const auto& rec : journal) {
    if (rec.instance != instance) continue;
    auto [it, fresh] = at.try_emplace({rec.run, rec.seq}, steps.size());
    if (fresh)
      steps.push_back(apply::step_of(rec, active_run));
    else
      steps[it->second] = apply::step_of(rec, active_run);
  }
  if (steps.size() > max) steps.erase(steps.begin(), steps.end() - std::ptrdiff_t(max));
  return steps;
}

FleetStatus build_status(const model::DesiredState* desired, const model::Observed& observed, const plan::Plan& plan,
                         const std::vector<apply::JournalRecord>& journal, const std::string& active_run,
                         const std::map<std::string, model::Readiness>& readiness) {
  FleetStatus out;
  out.manifests_loaded = desired != nullptr;
  const auto last = apply::last_steps(journal, active_run);
  auto last_of = [&](const std::string& name) -> std::optional<apply::LastStep> {
    auto it = last.find(name);
    return it == last.end() ? std::nullopt : std::optional<apply::LastStep>(it->second);
  };

  // Every instance either side knows of; the journal alone adds none (a
  // destroyed instance stays in its history).
  std::set<std::string> names;
  if (desired)
    for (const auto& i : desired->fleet.instances) names.insert(i.name);
  for (const auto& [name, _] : observed.instances) names.insert(name);

  for (const auto& name : names) {
    InstanceStatus s;
    s.name = name;
    const model::Instance* want = desired ? desired->fleet.find(name) : nullptr;
    if (desired) s.desired_state = want ? model::to_string(want->state) : "absent";
    if (want) {
      for (const auto& ref : model::secret_refs(*want)) {
        const std::string what = manifest::describe(ref);
        if (!desired->digests.count(ref) &&
            std::find(s.unreadable_secrets.begin(), s.unreadable_secrets.end(), what) == s.unreadable_secrets.end())
          s.unreadable_secrets.push_back(what);
      }
      s.desired_generation_known = s.unreadable_secrets.empty();
      // The same hash apply records as applied once the health gate passes.
      if (s.desired_generation_known) {
        auto seen = observed.instances.find(name);
        s.desired_generation =
            apply::generation_for(plan::flatten(*want, desired->fleet.host, desired->digests, desired->ca_digests),
                                  seen == observed.instances.end() ? nullptr : &seen->second);
      }
    } else {
      s.desired_generation_known = desired != nullptr;
    }

    if (auto it = observed.instances.find(name); it != observed.instances.end()) {
      const model::ObservedInstance& o = it->second;
      s.units = o.units;
      if (auto u = o.units.find(host::vm_unit(name)); u != o.units.end()) {
        s.unit_active_state = u->second.active_state;
        s.unit_sub_state = u->second.sub_state;
      }
      s.vm_state = model::to_string(o.vm_state);
      s.applied_generation = o.applied_generation;
      if (o.allocation) {
        s.ip = o.allocation->ip;
        s.host_port = o.allocation->host_port;
        s.tap_name = o.allocation->tap;
      }
      s.tap = o.tap;
      s.dir = o.dir;
      s.in_inventory = o.in_inventory;
      s.protect = o.protect;
    }

    for (const auto& step : plan.steps)
      if (step.instance == name) s.pending.push_back({plan::to_string(step.action), step.reason});
    for (const auto& r : plan.refused)
      if (r.instance == name) s.refused.push_back({plan::to_string(r.action), r.reason});
    s.last_step = last_of(name);
    s.last_error = last_error_of(s.last_step);
    s.recent_steps = recent_steps(journal, name, kRecentSteps, active_run);
    if (auto r = readiness.find(name); r != readiness.end()) s.channels = r->second;
    judge(s, out.manifests_loaded);
    out.instances.push_back(std::move(s));
  }

  for (const auto& step : plan.steps)
    if (step.instance.empty()) out.host.pending.push_back({plan::to_string(step.action), step.reason});
  judge(out.host, last_of(""), out.manifests_loaded);
  out.host.accelerator = plan.accelerator;
  return out;
}

int status_exit_code(const FleetStatus& s) {
  auto settled = [](Health h) { return h == Health::Ready || h == Health::Stopped; };
  bool ok = true;
  for (const auto& i : s.instances) ok = ok && settled(i.health);
  return ok && settled(s.host.health) ? 0 : 3;
}

std::string active_run(const std::vector<apply::JournalRecord>& journal,
                       const std::optional<apply::LockHolder>& holder) {
  if (!holder || journal.empty()) return "";
  const std::string& run = journal.back().run;
  auto first =
      std::find_if(journal.begin(), journal.end(), [&](const apply::JournalRecord& r) { return r.run == run; });
  // "2026-11-23T12:00:00.123Z" against "2026-11-23T12:00:00Z": to the second.
  if (first->time.substr(0, 19) < holder->since.substr(0, 19)) return "";
  return run;
}

}  // namespace cf::cli
