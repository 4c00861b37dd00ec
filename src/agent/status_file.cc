#include "agent/status_file.h"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>

#include "core/time.h"

namespace cf::agent {
namespace {

using json = nlohmann::ordered_json;
using namespace std::chrono;

}  // namespace

std::string render_status_file(const AgentStatus& s, WallTime now) {
  json j;
  j["format_version"] = 1;
  j["pid"] = s.pid;
  j["updated"] = rfc3339(now);
  j["summary"] = summary_line(s);
  j["manifests"] = {{"source", s.manifests},
                    {"loaded", s.manifest_error.empty()},
                    {"enforcing_last_good", !s.manifest_error.empty() && s.have_desired},
                    {"error", s.manifest_error},
                    {"error_since", s.manifest_error_since ? rfc3339(*s.manifest_error_since) : ""}};
  json last = nullptr;
  if (s.last) {
    last = {{"trigger", s.last->trigger},
            {"started", rfc3339(s.last->started)},
            {"finished", rfc3339(s.last->finished)},
            {"duration_seconds", std::round(s.last->duration_seconds * 1000) / 1000},
            {"result", to_string(s.last->result)},
            {"steps", s.last->steps},
            {"failed", s.last->failed},
            {"held_back", s.last->held},
            {"error", s.last->error}};
  }
  j["last_reconcile"] = last;
  j["last_success"] = s.last_success ? json(rfc3339(*s.last_success)) : json(nullptr);
  j["reconciles"] = s.reconciles;
  j["errors"] = s.errors;
  json instances = json::object();
  for (const auto& [name, i] : s.instances) {
    json conds = json::array();
    for (const auto& c : i.conditions)
      conds.push_back({{"type", to_string(c.type)},
                       {"status", c.status ? "True" : "False"},
                       {"reason", c.reason},
                       {"message", c.message},
                       {"observedGeneration", c.observed_generation},
                       {"lastTransitionTime", rfc3339(c.last_transition)}});
    json backoff = nullptr;
    if (i.retry_at) {
      auto left = duration_cast<seconds>(*i.retry_at - now).count();
      backoff = {{"failures", i.failures},
                 {"retry_at", rfc3339(*i.retry_at)},
                 {"retry_in_seconds", std::max<long long>(0, left)}};
    }
    instances[name] = {{"conditions", conds}, {"backoff", backoff}};
  }
  j["instances"] = instances;
  // Messages carry text from outside (a manifest's values, a VMM's replies):
  // bytes that are not UTF-8 become U+FFFD instead of an exception.
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

Result<AgentStatus> parse_status_file(const std::string& text) {
  try {
    json j = json::parse(text);
    if (j.value("format_version", 0) != 1) return Error{"unknown format_version (expected 1)"};
    AgentStatus s;
    s.pid = j.value("pid", 0L);
    const json& m = j.at("manifests");
    s.manifests = m.value("source", "");
    s.manifest_error = m.value("error", "");
    s.have_desired = m.value("enforcing_last_good", false) || s.manifest_error.empty();
    if (auto since = parse_rfc3339(m.value("error_since", ""))) s.manifest_error_since = since;
    if (j.contains("last_reconcile") && j["last_reconcile"].is_object()) {
      const json& l = j["last_reconcile"];
      ReconcileRecord r;
      r.trigger = l.value("trigger", "");
      r.started = parse_rfc3339(l.value("started", "")).value_or(WallTime{});
      r.finished = parse_rfc3339(l.value("finished", "")).value_or(WallTime{});
      r.duration_seconds = l.value("duration_seconds", 0.0);
      const std::string result = l.value("result", "");
      for (auto v : {ReconcileResult::Ok, ReconcileResult::Failed, ReconcileResult::Error, ReconcileResult::LockBusy,
                     ReconcileResult::Stopped})
        if (result == to_string(v)) r.result = v;
      r.steps = l.value("steps", std::size_t{0});
      r.failed = l.value("failed", std::size_t{0});
      r.held = l.value("held_back", std::size_t{0});
      r.error = l.value("error", "");
      s.last = r;
    }
    if (j.contains("last_success") && j["last_success"].is_string())
      s.last_success = parse_rfc3339(j["last_success"].get<std::string>());
    s.reconciles = j.value("reconciles", std::size_t{0});
    s.errors = j.value("errors", std::size_t{0});
    for (const auto& [name, v] : j.at("instances").items()) {
      InstanceConditions i;
      i.name = name;
      for (const auto& c : v.at("conditions")) {
        Condition cond;
        const std::string type = c.value("type", "");
        bool known = false;
        for (auto t : kConditionTypes)
          if (type == to_string(t)) cond.type = t, known = true;
        if (!known) continue;
        cond.status = c.value("status", "") == "True";
        cond.reason = c.value("reason", "");
        cond.message = c.value("message", "");
        cond.observed_generation = c.value("observedGeneration", "");
        cond.last_transition = parse_rfc3339(c.value("lastTransitionTime", "")).value_or(WallTime{});
        i.conditions.push_back(cond);
      }
      if (v.contains("backoff") && v["backoff"].is_object()) {
        i.failures = v["backoff"].value("failures", std::size_t{0});
        i.retry_at = parse_rfc3339(v["backoff"].value("retry_at", ""));
      }
      s.instances[name] = std::move(i);
    }
    return s;
  } catch (const std::exception& e) {
    return Error{std::string("not a valid agent status file: ") + e.what()};
  }
}

std::string render_agent_text(const AgentStatus& s, bool running, WallTime now) {
  std::string out = fmt::format("agent: pid {}, {}: {}\n", s.pid, running ? "running" : "not running", summary_line(s));
  if (!s.manifest_error.empty())
    out += fmt::format("agent: manifests broken since {}: {}{}\n",
                       s.manifest_error_since ? rfc3339(*s.manifest_error_since) : "?", s.manifest_error,
                       s.have_desired ? " (enforcing the last good set)" : "");
  if (s.last)
    out += fmt::format("agent: last reconcile {} ({}) at {}, {} step{}, {:.1f} s{}\n", to_string(s.last->result),
                       s.last->trigger, rfc3339(s.last->finished), s.last->steps, s.last->steps == 1 ? "" : "s",
                       s.last->duration_seconds, s.last->error.empty() ? "" : ": " + s.last->error);
  if (s.last_success) out += "agent: last success at " + rfc3339(*s.last_success) + "\n";
  for (const auto& [name, i] : s.instances) {
    for (const auto& c : i.conditions) {
      // The conditions worth a line: what is wrong or under way.
      const bool bad =
          c.type == ConditionType::Ready ? !c.status && !i.is(ConditionType::Degraded) : c.status != positive(c.type);
      if (!bad) continue;
      out += fmt::format("{}: {}={} {}{}", name, to_string(c.type), c.status ? "True" : "False", c.reason,
                         c.message.empty() ? "" : ": " + c.message);
      if (c.type == ConditionType::Degraded && i.retry_at)
        out += fmt::format(" ({} failure{}, next try at {})", i.failures, i.failures == 1 ? "" : "s",
                           rfc3339(*i.retry_at));
      out += fmt::format(" since {}\n", rfc3339(c.last_transition));
    }
  }
  (void)now;
  return out;
}

}  // namespace cf::agent
