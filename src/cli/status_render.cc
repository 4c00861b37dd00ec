#include "cli/status_render.h"

#include <fmt/core.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "cli/plan_output.h"
#include "core/text.h"

namespace cf::cli {
namespace {

using json = nlohmann::ordered_json;

// The table cuts long errors; the detail view and JSON keep them whole.
constexpr std::size_t kTableErrorBytes = 100;

std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }

std::string health_text(Health h, const std::string& reason) {
  return std::string(to_string(h)) + (reason.empty() ? "" : ": " + printable(reason));
}

// "3f2a9c1b0d4e": the first 12 hex digits, enough to tell generations apart.
std::string short_generation(const std::optional<std::string>& g, bool known) {
  if (!known) return "?";
  if (!g) return "-";
  std::string hex = g->starts_with("sha256:") ? g->substr(7) : *g;
  return printable(hex.substr(0, 12));
}

std::string state_cell(const InstanceStatus& i) { return or_dash(i.unit_active_state) + "/" + or_dash(i.vm_state); }

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
  std::string out = apply::state_text(s);
  if (s.outcome == apply::Outcome::Failed && !s.error.empty()) out += ": " + printable(s.error);
  return out;
}

json optional_string(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }
json non_empty(const std::string& v) { return v.empty() ? json(nullptr) : json(v); }

// A running gateway's own readiness: "ready", "failing: telegram",
// "unknown"; the detail view says why it is unknown.
std::string channels_text(const std::optional<model::Readiness>& r, bool detail) {
  if (!r) return detail ? "- (the vm does not run)" : "-";
  if (!r->answered) return detail ? "unknown (" + printable(r->error) + ")" : "unknown";
  if (r->ready) return "ready";
  return r->failing.empty() ? "not ready" : "failing: " + printable(join(r->failing, ", "));
}

json channels_json(const std::optional<model::Readiness>& r) {
  if (!r) return nullptr;
  return {
      {"ready", r->answered ? json(r->ready) : json(nullptr)}, {"failing", r->failing}, {"error", non_empty(r->error)}};
}

json actions_json(const std::vector<StatusAction>& actions) {
  json out = json::array();
  for (const auto& a : actions) out.push_back({{"action", a.action}, {"reason", a.reason}});
  return out;
}

json step_json(const apply::LastStep& s) {
  return {{"run", s.run},
          {"seq", s.seq},
          {"action", s.action},
          {"time", s.time},
          {"state", apply::state_text(s)},
          {"error", non_empty(s.error)}};
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
      {"observed",
       {{"unit_active_state", non_empty(i.unit_active_state)},
        {"unit_sub_state", non_empty(i.unit_sub_state)},
        {"vm_state", non_empty(i.vm_state)}}},
      {"health", to_string(i.health)},
      {"health_reason", i.health_reason},
      {"channels", channels_json(i.channels)},
      {"pending", actions_json(i.pending)},
      {"refused", actions_json(i.refused)},
      {"generation",
       {{"applied", optional_string(i.applied_generation)},
        {"desired", optional_string(i.desired_generation)},
        {"desired_known", i.desired_generation_known},
        {"unreadable_secrets", i.unreadable_secrets}}},
      {"ip", i.ip ? json(to_string(*i.ip)) : json(nullptr)},
      {"host_port", i.host_port ? json(*i.host_port) : json(nullptr)},
      {"last_step", i.last_step ? step_json(*i.last_step) : json(nullptr)},
      {"last_error", non_empty(i.last_error)},
      {"units", units},
      {"tap",
       {{"name", non_empty(i.tap_name)},
        {"present", i.tap.present},
        {"up", i.tap.up},
        {"master", non_empty(i.tap.master)},
        {"isolated", i.tap.isolated}}},
      {"dir", {{"exists", i.dir.exists}, {"mode", fmt::format("{:04o}", i.dir.mode)}, {"uid", i.dir.uid}}},
      {"inventory", {{"listed", i.in_inventory}, {"protect", i.protect}}},
      {"recent_steps", recent},
  };
}

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
    std::vector<std::vector<std::string>> rows{
        {"NAME", "STATE", "HEALTH", "CHANNELS", "GENERATION", "IP", "PORT", "LAST ERROR"}};
    for (const auto& i : s.instances)
      rows.push_back({i.name, printable(state_cell(i)), health_text(i.health, i.health_reason),
                      channels_text(i.channels, false),
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
  field("Channels", channels_text(i.channels, true));
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
    units.push_back({printable(name),
                     u.active_state.empty() ? "not loaded" : printable(u.active_state + "/" + u.sub_state),
                     printable(u.unit_file_state)});
  out += units.empty() ? "Units:          -\n" : "Units:\n" + aligned(units, "  ");

  std::vector<std::vector<std::string>> steps;
  for (const auto& s : i.recent_steps)
    steps.push_back(
        {printable(s.time), printable(s.run) + "#" + std::to_string(s.seq), printable(s.action), step_result(s)});
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

}  // namespace cf::cli
