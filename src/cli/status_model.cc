#include "cli/status_model.h"

#include <fmt/core.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "apply/executor.h"
#include "cli/plan_output.h"
#include "core/text.h"
#include "host/observe.h"
#include "manifest/secrets.h"

namespace cf::cli {
namespace {

using apply::StepState;
using json = nlohmann::ordered_json;

// The table cuts long errors; the detail view and JSON keep them whole.
constexpr std::size_t kTableErrorBytes = 100;

bool broke(const std::optional<apply::LastStep>& s) {
  return s && (s->state == StepState::Failed || s->state == StepState::Interrupted);
}

std::string last_error_of(const std::optional<apply::LastStep>& s) {
  if (!broke(s)) return "";
  if (s->state == StepState::Interrupted)
    return s->action + " was interrupted (its last record is from " + s->time + "; it never finished)";
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
  if (last && last->state == StepState::Running) return set(Health::Pending, last->action + " (running)");
  // Observation wins over history: nothing left to do is settled, whatever the journal says.
  const bool settled = wanted && i.desired_generation_known && i.pending.empty() && i.refused.empty();
  if (settled && i.desired_state == "running" && active && i.applied_generation == i.desired_generation)
    return set(Health::Ready, "");
  if (settled && i.desired_state == "stopped" && !active) return set(Health::Stopped, "");
  if (i.unit_active_state == "failed") return set(Health::Degraded, "vm unit failed");
  if (broke(last))
    return set(Health::Degraded, last->action + (last->state == StepState::Failed ? " failed" : " interrupted"));
  // A missing digest makes the planner see a change; its steps mean nothing.
  if (wanted && !i.desired_generation_known) return set(Health::Unknown, "secret unreadable");
  if (!i.pending.empty()) return set(Health::Pending, actions_of(i.pending));
  if (!i.refused.empty()) return set(Health::Degraded, i.refused.front().action + " refused");
  if (!manifests_loaded) return set(Health::Unknown, "manifests not loaded");
  if (!wanted) return set(Health::Degraded, "not in the manifests");
  if (i.applied_generation != i.desired_generation) return set(Health::Unknown, "applied generation is not the desired one");
  return set(Health::Unknown, i.desired_state == "running" && !active ? "vm unit not active" : "");
}

void judge(HostStatus& h, const std::optional<apply::LastStep>& last, bool manifests_loaded) {
  auto set = [&](Health health, std::string why) {
    h.health = health;
    h.health_reason = std::move(why);
  };
  h.last_error = last_error_of(last);
  if (last && last->state == StepState::Running) return set(Health::Pending, last->action + " (running)");
  if (manifests_loaded && h.pending.empty()) return set(Health::Ready, "");
  if (broke(last))
    return set(Health::Degraded, last->action + (last->state == StepState::Failed ? " failed" : " interrupted"));
  if (!h.pending.empty()) return set(Health::Pending, actions_of(h.pending));
  return set(Health::Unknown, "manifests not loaded");
}

// Text from the host or the journal shown on a terminal: control
// characters (a newline in an error, an escape sequence) become \xNN.
std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += char(c);
  }
  return out;
}

std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }

std::string health_text(Health h, const std::string& reason) {
  return std::string(to_string(h)) + (reason.empty() ? "" : ": " + reason);
}

// "3f2a9c1b0d4e": the first 12 hex digits, enough to tell generations apart.
std::string short_generation(const std::optional<std::string>& g, bool known) {
  if (!known) return "?";
  if (!g) return "-";
  std::string hex = g->starts_with("sha256:") ? g->substr(7) : *g;
  return printable(hex.substr(0, 12));
}

std::string state_cell(const InstanceStatus& i) {
  return or_dash(i.unit_active_state) + "/" + or_dash(i.vm_state);
}

std::string summary_line(const FleetStatus& s) {
  std::map<Health, std::size_t> n;
  for (const auto& i : s.instances) ++n[i.health];
  std::string out = plural(s.instances.size(), "instance", "instances");
  std::string parts;
  for (Health h : {Health::Ready, Health::Stopped, Health::Pending, Health::Degraded, Health::Unknown})
    if (n[h]) parts += fmt::format("{}{} {}", parts.empty() ? "" : ", ", n[h], to_string(h));
  return out + (parts.empty() ? "" : ": " + parts) + "\n";
}

// Rows of cells, each column as wide as its widest cell, two spaces
// apart; the last column is not padded (no trailing blanks).
std::string aligned(const std::vector<std::vector<std::string>>& rows, const std::string& indent = "") {
  std::vector<std::size_t> width;
  for (const auto& r : rows)
    for (std::size_t c = 0; c < r.size(); ++c) {
      if (width.size() <= c) width.push_back(0);
      width[c] = std::max(width[c], r[c].size());
    }
  std::string out;
  for (const auto& r : rows) {
    std::string line = indent;
    for (std::size_t c = 0; c < r.size(); ++c)
      line += c + 1 == r.size() ? r[c] : r[c] + std::string(width[c] - r[c].size() + 2, ' ');
    out += line + "\n";
  }
  return out;
}

std::string step_result(const apply::LastStep& s) {
  std::string out = apply::to_string(s.state);
  if (s.state == StepState::Failed && !s.error.empty()) out += ": " + printable(s.error);
  return out;
}

json optional_string(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }
json non_empty(const std::string& v) { return v.empty() ? json(nullptr) : json(v); }

json actions_json(const std::vector<StatusAction>& actions) {
  json out = json::array();
  for (const auto& a : actions) out.push_back({{"action", a.action}, {"reason", a.reason}});
  return out;
}

json step_json(const apply::LastStep& s) {
  return {{"run", s.run},         {"seq", s.seq},
          {"action", s.action},   {"time", s.time},
          {"state", apply::to_string(s.state)}, {"error", non_empty(s.error)}};
}

json instance_json(const InstanceStatus& i) {
  json units = json::array();
  for (const auto& [name, u] : i.units)
    units.push_back({{"name", name},
                     {"load_state", u.load_state},
                     {"active_state", u.active_state},
                     {"sub_state", u.sub_state},
                     {"unit_file_state", u.unit_file_state}});
  json recent = json::array();
  for (const auto& s : i.recent_steps) recent.push_back(step_json(s));
  return {
      {"name", i.name},
      {"desired_state", non_empty(i.desired_state)},
      {"observed", {{"unit_active_state", non_empty(i.unit_active_state)},
                    {"unit_sub_state", non_empty(i.unit_sub_state)},
                    {"vm_state", non_empty(i.vm_state)}}},
      {"health", to_string(i.health)},
      {"health_reason", i.health_reason},
      {"pending", actions_json(i.pending)},
      {"refused", actions_json(i.refused)},
      {"generation", {{"applied", optional_string(i.applied_generation)},
                      {"desired", optional_string(i.desired_generation)},
                      {"desired_known", i.desired_generation_known},
                      {"unreadable_secrets", i.unreadable_secrets}}},
      {"ip", i.ip ? json(to_string(*i.ip)) : json(nullptr)},
      {"host_port", i.host_port ? json(*i.host_port) : json(nullptr)},
      {"last_step", i.last_step ? step_json(*i.last_step) : json(nullptr)},
      {"last_error", non_empty(i.last_error)},
      {"units", units},
      {"tap", {{"name", non_empty(i.tap_name)},
               {"present", i.tap.present},
               {"up", i.tap.up},
               {"master", non_empty(i.tap.master)},
               {"isolated", i.tap.isolated}}},
      {"dir", {{"exists", i.dir.exists}, {"mode", fmt::format("{:04o}", i.dir.mode)}, {"uid", i.dir.uid}}},
      {"inventory", {{"listed", i.in_inventory}, {"protect", i.protect}}},
      {"recent_steps", recent},
  };
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
    if (fresh) steps.push_back({rec.run, rec.seq, rec.action, rec.time, StepState::Interrupted, ""});
    apply::LastStep& s = steps[it->second];
    s.time = rec.time;
    switch (rec.result) {
      case apply::StepResult::None:
        s.state = !active_run.empty() && rec.run == active_run ? StepState::Running : StepState::Interrupted;
        break;
      case apply::StepResult::Ok: s.state = StepState::Ok; break;
      case apply::StepResult::Skipped: s.state = StepState::Skipped; break;
      case apply::StepResult::Failed:
        s.state = StepState::Failed;
        s.error = rec.error;
        break;
    }
  }
  if (steps.size() > max) steps.erase(steps.begin(), steps.end() - std::ptrdiff_t(max));
  return steps;
}

FleetStatus build_status(const model::DesiredState* desired, const model::Observed& observed, const plan::Plan& plan,
                         const std::vector<apply::JournalRecord>& journal, const std::string& active_run) {
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
      if (s.desired_generation_known)
        s.desired_generation = apply::generation_of(plan::flatten(*want, desired->fleet.host, desired->digests));
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
      s.vm_state = o.vm_state;
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

namespace {

// Only when the host step is not settled: it holds up every instance.
std::string host_line(const HostStatus& h) {
  if (h.health == Health::Ready) return "";
  std::string out = "host network: " + health_text(h.health, h.health_reason);
  if (!h.last_error.empty()) out += "; last error: " + cut(printable(h.last_error), kTableErrorBytes);
  return out + "\n";
}

}  // namespace

std::string render_status_table(const FleetStatus& s) {
  std::string out;
  if (!s.instances.empty()) {
    std::vector<std::vector<std::string>> rows{{"NAME", "STATE", "HEALTH", "GENERATION", "IP", "PORT", "LAST ERROR"}};
    for (const auto& i : s.instances)
      rows.push_back({i.name, printable(state_cell(i)), health_text(i.health, i.health_reason),
                      short_generation(i.applied_generation, true) + "/" +
                          short_generation(i.desired_generation, i.desired_generation_known),
                      i.ip ? to_string(*i.ip) : "-", i.host_port ? std::to_string(*i.host_port) : "-",
                      or_dash(cut(printable(i.last_error), kTableErrorBytes))});
    out += aligned(rows);
  }
  return out + host_line(s.host) + summary_line(s) + accelerator_line(s.host.accelerator);
}

namespace {

std::string render_instance_detail(const InstanceStatus& i) {
  std::vector<std::vector<std::string>> rows;
  auto field = [&](const char* label, const std::string& value) { rows.push_back({std::string(label) + ":", value}); };
  auto list = [&](const char* label, const std::vector<StatusAction>& actions) {
    if (actions.empty()) return field(label, "-");
    for (std::size_t n = 0; n < actions.size(); ++n)
      rows.push_back({n ? "" : std::string(label) + ":", actions[n].action + ": " + printable(actions[n].reason)});
  };

  field("Name", i.name);
  field("Desired state", i.desired_state.empty()       ? "unknown (the manifests did not load)"
                         : i.desired_state == "absent" ? "absent (not in the manifests)"
                                                       : i.desired_state);
  std::string observed = "nothing of it on this host";
  if (!i.vm_state.empty())
    observed = (i.unit_active_state.empty() ? "vm unit not loaded"
                                            : "vm unit " + i.unit_active_state + "/" + i.unit_sub_state) +
               ", vmm " + i.vm_state;
  field("Observed", printable(observed));
  field("Health", health_text(i.health, i.health_reason));
  std::string desired_gen = i.desired_generation.value_or("none");
  if (!i.desired_generation_known) {
    desired_gen = "unknown (the manifests did not load)";
    if (!i.unreadable_secrets.empty()) {
      desired_gen = "unknown (cannot read secret";
      for (std::size_t n = 0; n < i.unreadable_secrets.size(); ++n)
        desired_gen += (n ? ", " : " ") + i.unreadable_secrets[n];
      desired_gen += ")";
    }
  }
  field("Generation", printable("applied " + i.applied_generation.value_or("none") + ", desired " + desired_gen));
  field("IP", i.ip ? to_string(*i.ip) : "-");
  field("Port", i.host_port ? std::to_string(*i.host_port) : "-");
  field("Last error", or_dash(printable(i.last_error)));
  list("Pending", i.pending);
  list("Refused", i.refused);
  std::string tap = "-";
  if (i.tap.present)
    tap = (i.tap_name.empty() ? "(name not recorded)" : i.tap_name) + " (" + (i.tap.up ? "up" : "down") + ", " +
          (i.tap.master.empty() ? "not attached" : "on " + i.tap.master) + ", " +
          (i.tap.isolated ? "isolated" : "not isolated") + ")";
  else if (!i.tap_name.empty())
    tap = i.tap_name + " (missing)";
  field("Tap", printable(tap));
  field("Directory", i.dir.exists ? fmt::format("{:04o}, uid {}", i.dir.mode, i.dir.uid) : "missing");
  field("Inventory", i.in_inventory ? (i.protect ? "listed, protected" : "listed") : "not listed");
  std::string out = aligned(rows);

  std::vector<std::vector<std::string>> units;
  for (const auto& [name, u] : i.units)
    units.push_back({printable(name), u.active_state.empty() ? "not loaded" : printable(u.active_state + "/" + u.sub_state),
                     printable(u.unit_file_state)});
  out += units.empty() ? "Units:          -\n" : "Units:\n" + aligned(units, "  ");

  std::vector<std::vector<std::string>> steps;
  for (const auto& s : i.recent_steps)
    steps.push_back({printable(s.time), printable(s.run) + "#" + std::to_string(s.seq), printable(s.action), step_result(s)});
  out += steps.empty() ? "Recent steps:   -\n" : "Recent steps:\n" + aligned(steps, "  ");
  return out;
}

}  // namespace

std::string render_status_detail(const FleetStatus& s) {
  std::string out;
  for (const auto& i : s.instances) out += (out.empty() ? "" : "\n") + render_instance_detail(i);
  return out + host_line(s.host) + accelerator_line(s.host.accelerator);
}

std::string render_status_json(const FleetStatus& s) {
  json instances = json::array();
  for (const auto& i : s.instances) instances.push_back(instance_json(i));
  json summary{{"instances", s.instances.size()}};
  for (Health h : {Health::Ready, Health::Stopped, Health::Pending, Health::Degraded, Health::Unknown})
    summary[to_string(h)] =
        std::count_if(s.instances.begin(), s.instances.end(), [&](const InstanceStatus& i) { return i.health == h; });
  summary["all_ready"] = status_exit_code(s) == 0;
  json host{{"health", to_string(s.host.health)},
            {"health_reason", s.host.health_reason},
            {"pending", actions_json(s.host.pending)},
            {"last_error", non_empty(s.host.last_error)}};
  if (!s.host.accelerator.reason.empty())
    host["accelerator"] = {{"name", s.host.accelerator.name()}, {"reason", s.host.accelerator.reason}};
  json out{{"format_version", 1},
           {"manifests_loaded", s.manifests_loaded},
           {"instances", instances},
           {"host", host},
           {"summary", summary}};
  return out.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string active_run(const std::vector<apply::JournalRecord>& journal, const std::optional<apply::LockHolder>& holder) {
  if (!holder || journal.empty()) return "";
  const std::string& run = journal.back().run;
  auto first = std::find_if(journal.begin(), journal.end(), [&](const apply::JournalRecord& r) { return r.run == run; });
  // "2026-11-23T12:00:00.123Z" against "2026-11-23T12:00:00Z": to the second.
  if (first->time.substr(0, 19) < holder->since.substr(0, 19)) return "";
  return run;
}

}  // namespace cf::cli
