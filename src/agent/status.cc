#include "agent/status.h"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>

#include "agent/schedule.h"
#include "core/text.h"

namespace cf::agent {
namespace {

Condition* find_mut(InstanceConditions& s, ConditionType t) {
  for (auto& c : s.conditions)
    if (c.type == t) return &c;
  return nullptr;
}

void set(InstanceConditions& s, ConditionType t, bool status, std::string reason, std::string message,
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

}  // namespace

const char* to_string(ConditionType t) {
  switch (t) {
    case ConditionType::Ready: return "Ready";
    case ConditionType::Progressing: return "Progressing";
    case ConditionType::Degraded: return "Degraded";
    case ConditionType::RestartRequired: return "RestartRequired";
    case ConditionType::ChannelsReady: return "ChannelsReady";
    case ConditionType::Live: return "Live";
  }
  return "Unknown";
}

bool positive(ConditionType t) {
  return t == ConditionType::Ready || t == ConditionType::ChannelsReady || t == ConditionType::Live;
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

const Condition* InstanceConditions::find(ConditionType t) const {
  for (const auto& c : conditions)
    if (c.type == t) return &c;
  return nullptr;
}

bool InstanceConditions::is(ConditionType t) const {
  const Condition* c = find(t);
  return c && c->status;
}

void update_conditions(InstanceConditions& s, const InstanceOutcome& o, WallTime now) {
  const std::string& g = o.generation;
  const std::string pending = join(o.pending, ", ");
  if (o.failed) {
    const std::string retry = o.backoff ? "; retry in " + describe_duration(*o.backoff) : "";
    set(s, ConditionType::Ready, false, "StepFailed", o.error, g, now);
    set(s, ConditionType::Progressing, false, "BackingOff",
        "retry in " + describe_duration(o.backoff.value_or(Millis{0})), g, now);
    set(s, ConditionType::Degraded, true, "StepFailed", o.error + retry, g, now);
  } else if (o.backoff) {
    const std::string retry = "retry in " + describe_duration(*o.backoff);
    set(s, ConditionType::Ready, false, "BackingOff", pending.empty() ? retry : pending + " held back; " + retry, g,
        now);
    set(s, ConditionType::Progressing, false, "BackingOff", retry, g, now);
    set(s, ConditionType::Degraded, true, "BackingOff", o.last_error.empty() ? retry : o.last_error + "; " + retry, g,
        now);
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
    set(s, ConditionType::RestartRequired, true, "RestartPending",
        pending + " pending: the guest has not been restarted yet", g, now);
  else
    set(s, ConditionType::RestartRequired, false, "UpToDate", "", g, now);
  if (!o.readiness)
    std::erase_if(s.conditions, [](const Condition& c) { return c.type == ConditionType::ChannelsReady; });
  else if (!o.readiness->answered)
    set(s, ConditionType::ChannelsReady, false, "ProbeFailed", o.readiness->error, g, now);
  else if (o.readiness->ready)
    set(s, ConditionType::ChannelsReady, true, "Ready", "", g, now);
  else
    set(s, ConditionType::ChannelsReady, false, "NotReady",
        o.readiness->failing.empty() ? "" : "failing: " + join(o.readiness->failing, ", "), g, now);
  update_live(s, o.live, now);
  if (o.live)
    if (Condition* c = find_mut(s, ConditionType::Live)) c->observed_generation = g;
}

void update_live(InstanceConditions& s, const std::optional<LiveOutcome>& live, WallTime now) {
  if (!live) {
    std::erase_if(s.conditions, [](const Condition& c) { return c.type == ConditionType::Live; });
    return;
  }
  if (live->failing_for) {
    std::string message = "failing for " + describe_duration(*live->failing_for) + ": " + live->error;
    if (live->held) message += "; restart held back for " + describe_duration(*live->held) + " (backoff)";
    set(s, ConditionType::Live, false, "Failing", std::move(message), "", now);
  } else if (!live->restarted.empty()) {
    set(s, ConditionType::Live, true, "Restarted", live->restarted, "", now);
  } else {
    set(s, ConditionType::Live, true, "Live", "", "", now);
  }
}

void mark_progressing(InstanceConditions& s, const std::string& action, WallTime now) {
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
    std::vector<std::string> shown(degraded.begin(),
                                   degraded.begin() + std::ptrdiff_t(std::min<std::size_t>(degraded.size(), 3)));
    out += fmt::format(", {} degraded: {}", degraded.size(), join(shown, ", "));
    if (degraded.size() > shown.size()) out += fmt::format(" and {} more", degraded.size() - shown.size());
  }
  if (s.last && s.last->result == ReconcileResult::Error && s.manifest_error.empty())
    out += "; last reconcile: " + short_error("", s.last->error);
  return cut(out, 240);
}

}  // namespace cf::agent
