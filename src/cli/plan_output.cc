#include "cli/plan_output.h"

#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include "core/text.h"

namespace cf::cli {
namespace {

using plan::Action;

constexpr const char* kBold = "\x1b[1m";
constexpr const char* kRed = "\x1b[31m";
constexpr const char* kGreen = "\x1b[32m";
constexpr const char* kYellow = "\x1b[33m";
constexpr const char* kBoldGreen = "\x1b[1;32m";
constexpr const char* kReset = "\x1b[0m";

// "bot will be created" reads as a sentence for every action.
const char* verb_phrase(Action a) {
  switch (a) {
    case Action::Create: return "will be created";
    case Action::Reprovision: return "will be reprovisioned";
    case Action::Restart: return "will be restarted";
    case Action::GrowDisk: return "will be resized";
    case Action::Reimage: return "will be reimaged";
    case Action::Replace: return "must be replaced";
    case Action::Start: return "will be started";
    case Action::Stop: return "will be stopped";
    case Action::Repair: return "will be repaired";
    case Action::Destroy: return "will be destroyed";
    case Action::UpdateAllocation: return "will be reallocated";
    case Action::Rename: return "will be renamed";
  }
  return "will be changed";
}

const char* refused_phrase(Action a) {
  switch (a) {
    case Action::Replace: return "will not be replaced";
    case Action::Destroy: return "will not be destroyed";
    default: return "will not be changed";
  }
}

// The summary's words: "1 to reprovision".
const char* summary_verb(Action a) {
  switch (a) {
    case Action::Create: return "create";
    case Action::Reprovision: return "reprovision";
    case Action::Restart: return "restart";
    case Action::GrowDisk: return "resize";
    case Action::Reimage: return "reimage";
    case Action::Replace: return "replace";
    case Action::Start: return "start";
    case Action::Stop: return "stop";
    case Action::Repair: return "repair";
    case Action::Destroy: return "destroy";
    case Action::UpdateAllocation: return "reallocate";
    case Action::Rename: return "rename";
  }
  return "change";
}

// A value in double quotes: '"' and '\\' escaped, then printable().
std::string quote(const std::string& s) {
  std::string q;
  for (char c : s) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return "\"" + printable(q) + "\"";
}

std::string paint(const std::string& text, const char* code, bool color) { return color ? code + text + kReset : text; }

std::string symbol_column(Action a, bool color) {
  switch (a) {
    case Action::Create: return "  " + paint("+", kGreen, color);
    case Action::Destroy: return "  " + paint("-", kRed, color);
    case Action::Replace: return paint("-", kRed, color) + "/" + paint("+", kGreen, color);
    default: return "  " + paint("~", kYellow, color);
  }
}

std::string field_line(Action a, const plan::FieldChange& c) {
  std::string value;
  if (a == Action::Create && !c.before && c.after) {
    value = quote(*c.after);
  } else if (a == Action::Destroy && c.before && !c.after) {
    value = quote(*c.before);
  } else {
    const char* absent_after = a == Action::UpdateAllocation ? "(new allocation)" : "(none)";
    value = (c.before ? quote(*c.before) : "(none)") + " -> " + (c.after ? quote(*c.after) : absent_after);
  }
  return "      " + c.path + ": " + value + (c.secret ? " (secret)" : "") + "\n";
}

std::map<Action, std::size_t> counts(const plan::Plan& p) {
  std::map<Action, std::size_t> n;
  for (const auto& s : p.steps) ++n[s.action];
  return n;
}

nlohmann::ordered_json terraform_actions(Action a) {
  switch (a) {
    case Action::Create: return nlohmann::ordered_json::array({"create"});
    case Action::Replace: return nlohmann::ordered_json::array({"delete", "create"});
    case Action::Destroy: return nlohmann::ordered_json::array({"delete"});
    default: return nlohmann::ordered_json::array({"update"});
  }
}

nlohmann::ordered_json optional_json(const std::optional<std::string>& v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
}

}  // namespace

std::string render_plan_text(const plan::Plan& p, bool color) {
  std::string out;
  if (!p.steps.empty()) out += "clawfleet will perform the following actions:\n\n";
  for (const auto& s : p.steps) {
    // Names and reasons may hold what the host said (an orphan's
    // directory name, a unit's error): printable.
    const std::string subject = s.instance.empty() ? "the host network" : printable(s.instance);
    std::string comment = "# " + subject + " " + verb_phrase(s.action);
    // A plain create says all there is to say.
    if (!(s.action == Action::Create && s.reason == plan::kReasonNewInstance)) comment += ": " + printable(s.reason);
    out += "  " + paint(comment, kBold, color) + "\n";
    out += symbol_column(s.action, color) + " " + (s.instance.empty() ? "(host)" : subject) + "\n";
    for (const auto& c : s.changes) out += field_line(s.action, c);
    out += "\n";
  }
  if (!p.refused.empty()) {
    out += paint("Refused:", kBold, color) + "\n\n";
    for (const auto& r : p.refused)
      out += "  " +
             paint("# " + printable(r.instance) + " " + refused_phrase(r.action) + ": " + printable(r.reason), kBold,
                   color) +
             "\n";
    out += "\n";
  }
  // What changes nothing but should be read: after everything else.
  std::string warnings;
  for (const auto& w : p.warnings) warnings += paint("Warning:", kYellow, color) + " " + printable(w) + ".\n";
  if (p.steps.empty())
    return out + paint("No changes.", kBoldGreen, color) + " The host matches the manifests.\n" +
           accelerator_line(p.accelerator) + warnings;

  auto n = counts(p);
  std::string summary = fmt::format("{} to create", n[Action::Create]);
  for (Action a : plan::kAllActions) {
    if (a == Action::Create || a == Action::Destroy || !n[a]) continue;
    summary += fmt::format(", {} to {}", n[a], summary_verb(a));
  }
  summary += fmt::format(", {} to destroy.", n[Action::Destroy]);
  return out + paint("Plan:", kBold, color) + " " + summary + "\n" + accelerator_line(p.accelerator) + warnings;
}

std::string accelerator_line(const plan::Accelerator& a) {
  if (a.reason.empty()) return "";
  return std::string("Accelerator: ") + a.name() + " (" + printable(a.reason) + ")\n";
}

std::string render_plan_json(const plan::Plan& p) {
  using json = nlohmann::ordered_json;
  json steps = json::array();
  for (std::size_t i = 0; i < p.steps.size(); ++i) {
    const auto& s = p.steps[i];
    json changes = json::array();
    for (const auto& c : s.changes)
      changes.push_back({{"path", c.path},
                         {"before", optional_json(c.before)},
                         {"after", optional_json(c.after)},
                         {"secret", c.secret}});
    steps.push_back({{"index", i},
                     {"scope", s.instance.empty() ? "host" : "instance"},
                     {"instance", s.instance.empty() ? json(nullptr) : json(s.instance)},
                     {"action", plan::to_string(s.action)},
                     {"actions", terraform_actions(s.action)},
                     {"reason", s.reason},
                     {"depends_on", s.depends_on},
                     {"changes", changes}});
  }
  json refused = json::array();
  for (const auto& r : p.refused)
    refused.push_back({{"instance", r.instance}, {"action", plan::to_string(r.action)}, {"reason", r.reason}});
  auto n = counts(p);
  json summary = json::object();
  for (Action a : plan::kAllActions) summary[plan::to_string(a)] = n[a];
  summary["steps"] = p.steps.size();
  summary["refused"] = p.refused.size();
  json out{{"format_version", 1}, {"changes", !p.empty()}, {"steps", steps}, {"refused", refused}};
  if (!p.accelerator.reason.empty())
    out["accelerator"] = {{"name", p.accelerator.name()}, {"reason", p.accelerator.reason}};
  if (!p.warnings.empty()) out["warnings"] = p.warnings;
  out["summary"] = summary;
  return out.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace cf::cli
