#include "agent/status.h"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <nlohmann/json.hpp>

#include "agent/schedule.h"

namespace cf::agent {
namespace {

using json = nlohmann::ordered_json;
using namespace std::chrono;

Condition* find_mut(InstanceStatus& s, ConditionType t) {
  for (auto& c : s.conditions)
    if (c.type == t) return &c;
  return nullptr;
}

void set(InstanceStatus& s, ConditionType t, bool status, std::string reason, std::string message,
         const std::string& generation, WallTime now) {
  Condition* c = find_mut(s, t);
  if (!c) {
    s.conditions.push_back(Condition{t, !status, "", "", "", now});
    std::sort(s.conditions.begin(), s.conditions.end(),
              [](const Condition& a, const Condition& b) { return int(a.type) < int(b.type); });
    c = find_mut(s, t);
  }
  if (c->status != status || c->reason.empty()) c->last_transition = now;
  c->status = status;
  c->reason = std::move(reason);
  c->message = std::move(message);
  if (!generation.empty()) c->observed_generation = generation;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// "instance bot: health gate: ..." says the name twice in "bot instance bot: ...".
std::string short_error(const std::string& name, std::string message) {
  const std::string prefix = "instance " + name + ": ";
  if (message.rfind(prefix, 0) == 0) message.erase(0, prefix.size());
  if (auto nl = message.find('\n'); nl != std::string::npos) message.resize(nl);
  return message;
}

std::string camel(const std::string& action) {
  std::string out;
  bool up = true;
  for (char ch : action) {
    if (ch == '-') {
      up = true;
      continue;
    }
    out += up ? char(std::toupper(static_cast<unsigned char>(ch))) : ch;
    up = false;
  }
  return out;
}

std::optional<WallTime> parse_rfc3339(const std::string& s) {
  std::tm tm{};
  if (s.size() < 20 || !strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return std::nullopt;
  return system_clock::from_time_t(timegm(&tm));
}

std::string cut(std::string s, std::size_t max) {
  if (s.size() <= max) return s;
  s.resize(max - 3);
  // Do not end inside a UTF-8 sequence.
  while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.pop_back();
  if (!s.empty() && (static_cast<unsigned char>(s.back()) & 0x80)) s.pop_back();
  return s + "...";
}

}  // namespace

const char* to_string(ConditionType t) {
  switch (t) {
    case ConditionType::Ready: return "Ready";
    case ConditionType::Progressing: return "Progressing";
    case ConditionType::Degraded: return "Degraded";
    case ConditionType::RestartRequired: return "RestartRequired";
  }
  return "Unknown";
}

const char* to_string(ReconcileResult r) {
  switch (r) {
    case ReconcileResult::Ok: return "ok";
    case ReconcileResult::Failed: return "failed";
    case ReconcileResult::Error: return "error";
    case ReconcileResult::LockBusy: return "lock-busy";
    case ReconcileResult::Stopped: return "stopped";
  }
  return "unknown";
}

const Condition* InstanceStatus::find(ConditionType t) const {
  for (const auto& c : conditions)
    if (c.type == t) return &c;
  return nullptr;
}

bool InstanceStatus::is(ConditionType t) const {
  const Condition* c = find(t);
  return c && c->status;
}

void update_conditions(InstanceStatus& s, const InstanceOutcome& o, WallTime now) {
  const std::string& g = o.generation;
  const std::string pending = join(o.pending, ", ");
  if (o.failed) {
    const std::string retry = o.backoff ? "; retry in " + describe_duration(*o.backoff) : "";
    set(s, ConditionType::Ready, false, "StepFailed", o.error, g, now);
    set(s, ConditionType::Progressing, false, "BackingOff", "retry in " + describe_duration(o.backoff.value_or(Millis{0})), g, now);
    set(s, ConditionType::Degraded, true, "StepFailed", o.error + retry, g, now);
  } else if (o.backoff) {
    const std::string retry = "retry in " + describe_duration(*o.backoff);
    set(s, ConditionType::Ready, false, "BackingOff", pending.empty() ? retry : pending + " held back; " + retry, g, now);
    set(s, ConditionType::Progressing, false, "BackingOff", retry, g, now);
    set(s, ConditionType::Degraded, true, "BackingOff", o.last_error.empty() ? retry : o.last_error + "; " + retry, g, now);
  } else if (o.stopped) {
    set(s, ConditionType::Ready, false, "AgentStopping", pending + " not started: the agent is stopping", g, now);
    set(s, ConditionType::Progressing, false, "AgentStopping", "", g, now);
    if (!find_mut(s, ConditionType::Degraded)) set(s, ConditionType::Degraded, false, "NoFailures", "", g, now);
  } else if (!o.pending.empty()) {
    set(s, ConditionType::Ready, false, "Pending", pending + " pending", g, now);
    set(s, ConditionType::Progressing, true, "Pending", pending + " pending", g, now);
    set(s, ConditionType::Degraded, false, "NoFailures", "", g, now);
  } else {
    set(s, ConditionType::Ready, true, o.desired_running ? "Converged" : "Stopped",
        o.desired_running ? "" : "stopped, as the manifests ask", g, now);
    set(s, ConditionType::Progressing, false, "Converged", "", g, now);
    set(s, ConditionType::Degraded, false, "NoFailures", "", g, now);
  }
  if (o.restart_pending)
    set(s, ConditionType::RestartRequired, true, "RestartPending", pending + " pending: the guest has not been restarted yet", g, now);
  else
    set(s, ConditionType::RestartRequired, false, "UpToDate", "", g, now);
}

void mark_progressing(InstanceStatus& s, const std::string& action, WallTime now) {
  set(s, ConditionType::Progressing, true, camel(action), action + " in progress", "", now);
}

std::string summary_line(const AgentStatus& s) {
  std::string out;
  if (!s.manifest_error.empty())
    out = std::string(s.have_desired ? "manifests broken (keeping the last good set): " : "manifests broken: ") +
          short_error("", s.manifest_error) + "; ";
  std::size_t ready = 0, progressing = 0;
  std::vector<std::string> degraded;
  for (const auto& [name, i] : s.instances) {
    ready += i.is(ConditionType::Ready);
    progressing += i.is(ConditionType::Progressing);
    if (i.is(ConditionType::Degraded)) {
      const Condition* c = i.find(ConditionType::Degraded);
      degraded.push_back(name + (c->message.empty() ? "" : " " + cut(short_error(name, c->message), 80)));
    }
  }
  const std::size_t n = s.instances.size();
  out += fmt::format("{} instance{}, {} ready", n, n == 1 ? "" : "s", ready);
  if (progressing) out += fmt::format(", {} progressing", progressing);
  if (!degraded.empty()) {
    std::vector<std::string> shown(degraded.begin(), degraded.begin() + std::ptrdiff_t(std::min<std::size_t>(degraded.size(), 3)));
    out += fmt::format(", {} degraded: {}", degraded.size(), join(shown, ", "));
    if (degraded.size() > shown.size()) out += fmt::format(" and {} more", degraded.size() - shown.size());
  }
  if (s.last && s.last->result == ReconcileResult::Error && s.manifest_error.empty())
    out += "; last reconcile: " + short_error("", s.last->error);
  return cut(out, 240);
}

std::string rfc3339(WallTime t) {
  std::time_t tt = system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

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
      backoff = {{"failures", i.failures}, {"retry_at", rfc3339(*i.retry_at)}, {"retry_in_seconds", std::max<long long>(0, left)}};
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
      InstanceStatus i;
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

std::string render_metrics(const AgentStatus& s) {
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  metric("clawfleet_reconcile_total", "counter", "Reconciles the agent ran since it started (not counting lock-busy retries).");
  out += fmt::format("clawfleet_reconcile_total {}\n", s.reconciles);
  metric("clawfleet_reconcile_errors_total", "counter",
         "Reconciles with a failed step, or whose manifests or host could not be read.");
  out += fmt::format("clawfleet_reconcile_errors_total {}\n", s.errors);
  metric("clawfleet_reconcile_duration_seconds", "gauge", "How long the last reconcile took.");
  out += fmt::format("clawfleet_reconcile_duration_seconds {:.3f}\n", s.last ? s.last->duration_seconds : 0.0);
  metric("clawfleet_instances", "gauge", "Instances whose condition is True, by condition.");
  for (auto t : kConditionTypes) {
    std::size_t n = 0;
    for (const auto& [_, i] : s.instances) n += i.is(t);
    out += fmt::format("clawfleet_instances{{condition=\"{}\"}} {}\n", to_string(t), n);
  }
  metric("clawfleet_manifest_error", "gauge", "1 while the manifests do not load (the last good set is enforced).");
  out += fmt::format("clawfleet_manifest_error {}\n", s.manifest_error.empty() ? 0 : 1);
  metric("clawfleet_last_success_timestamp_seconds", "gauge",
         "When the last reconcile without errors finished, in seconds since the epoch (0: none yet).");
  out += fmt::format("clawfleet_last_success_timestamp_seconds {}\n",
                     s.last_success ? duration_cast<seconds>(s.last_success->time_since_epoch()).count() : 0);
  return out;
}

}  // namespace cf::agent

namespace cf::agent {

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
      const bool bad = (c.type == ConditionType::Ready && !c.status && !i.is(ConditionType::Degraded)) ||
                       (c.type != ConditionType::Ready && c.status);
      if (!bad) continue;
      out += fmt::format("{}: {}={} {}{}", name, to_string(c.type), c.status ? "True" : "False", c.reason,
                         c.message.empty() ? "" : ": " + c.message);
      if (c.type == ConditionType::Degraded && i.retry_at)
        out += fmt::format(" ({} failure{}, next try at {})", i.failures, i.failures == 1 ? "" : "s", rfc3339(*i.retry_at));
      out += fmt::format(" since {}\n", rfc3339(c.last_transition));
    }
  }
  (void)now;
  return out;
}

}  // namespace cf::agent
