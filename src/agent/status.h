// What the agent knows: per-instance conditions (Kubernetes style) and
// their transitions, the last reconcile, and the one-line summary sent as
// sd_notify STATUS= (docs/agent.md). Its formats: the status file
// (status_file.h) and the metrics (metrics.h). Pure: time comes in as
// arguments.
//
// Nothing here holds a secret: names, closed-set words, numbers, times, and
// error messages, which never carry a secret value (docs/apply.md#journal).
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/clock.h"
#include "model/observed.h"

namespace cf::agent {

// ChannelsReady is the gateway's own deep readiness (its channel accounts,
// agent databases, plugins: model::Readiness), present only while the VM
// runs; it is shown and counted, never a reason to back off.
// Live is its liveness (/healthz), present only while the VM unit is active
// past its health gate and liveness is on; the agent restarts an instance
// whose /healthz failed for the Host's spec.liveness.failAfter.
enum class ConditionType { Ready, Progressing, Degraded, RestartRequired, ChannelsReady, Live };
inline constexpr ConditionType kConditionTypes[] = {ConditionType::Ready,         ConditionType::Progressing,
                                                    ConditionType::Degraded,      ConditionType::RestartRequired,
                                                    ConditionType::ChannelsReady, ConditionType::Live};
// "Ready", "Progressing", "Degraded", "RestartRequired", "ChannelsReady", "Live"
const char* to_string(ConditionType t);
// Whether True is the good state (Ready, ChannelsReady, Live) rather than the bad one.
bool positive(ConditionType t);

struct Condition {
  ConditionType type = ConditionType::Ready;
  bool status = false;              // "True" / "False"
  std::string reason;               // CamelCase, e.g. "Converged", "StepFailed", "BackingOff"
  std::string message;              // for humans; "" when there is nothing to say
  std::string observed_generation;  // "sha256:..." of the desired configuration acted on
  WallTime last_transition{};       // changes only when `status` does
  bool operator==(const Condition&) const = default;
};

// What the agent knows of an instance's liveness (agent/liveness.h), for
// its Live condition.
struct LiveOutcome {
  std::optional<Millis> failing_for;  // nullopt: /healthz answers
  std::string error;                  // the last failure's
  std::string restarted;              // why the agent restarted it last ("restarted after failing for 5 min: ...")
  std::optional<Millis> held;         // failed for the whole period; its restart is held back this long (backoff)
};

// What one reconcile found out about one instance, from which its
// conditions follow (update_conditions).
struct InstanceOutcome {
  std::string generation;  // desired generation ("" for an instance being destroyed)
  bool desired_running = true;
  bool failed = false;                        // a step of it failed in this reconcile
  std::string error;                          // that step's error
  std::optional<Millis> backoff;              // held back for this long (failed now, or earlier)
  std::string last_error;                     // when held back: the error that put it there
  std::vector<std::string> pending;           // actions still to do after this reconcile ("restart", ...)
  bool restart_pending = false;               // a Restart, Reprovision or Replace among them
  bool stopped = false;                       // the agent stopped before its steps ran
  std::optional<model::Readiness> readiness;  // asked after the reconcile; nullopt: the VM does not run
  std::optional<LiveOutcome> live;            // nullopt: not watched (VM unit not active, gate not passed, off)
};

// The agent's view of one instance: its conditions and its backoff
// (cli::InstanceStatus is what `clawfleet status` observes of it).
struct InstanceConditions {
  std::string name;
  std::vector<Condition> conditions;  // in kConditionTypes order
  std::size_t failures = 0;           // consecutive, for the backoff
  std::optional<WallTime> retry_at;   // while in backoff
  const Condition* find(ConditionType t) const;
  bool is(ConditionType t) const;  // the condition is present and True
  bool operator==(const InstanceConditions&) const = default;
};

// Sets the conditions of `s` from `o`. A condition's transition time
// is `now` when its status changes (or it is new), else kept.
void update_conditions(InstanceConditions& s, const InstanceOutcome& o, WallTime now);
// Live alone (the agent's probes between reconciles): True Live, True
// Restarted, False Failing; absent for nullopt.
void update_live(InstanceConditions& s, const std::optional<LiveOutcome>& live, WallTime now);
// While a step of the instance runs: Progressing=True (reason the action).
void mark_progressing(InstanceConditions& s, const std::string& action, WallTime now);

enum class ReconcileResult { Ok, Failed, Error, LockBusy, Stopped };
const char* to_string(ReconcileResult r);  // "ok", "failed", "error", "lock-busy", "stopped"

struct ReconcileRecord {
  std::string trigger;  // Scheduler::reason()
  WallTime started{};
  WallTime finished{};
  double duration_seconds = 0;
  ReconcileResult result = ReconcileResult::Ok;
  std::size_t steps = 0;   // run
  std::size_t failed = 0;  // failed or skipped
  std::size_t held = 0;    // instances held back
  std::string error;       // Error and LockBusy: why
  bool operator==(const ReconcileRecord&) const = default;
};

struct AgentStatus {
  long pid = 0;
  std::string manifests;  // the watched directory (or the files, joined with ", ")
  // The manifest set could not be loaded; the last good one is enforced.
  std::string manifest_error;  // "" when the last load succeeded
  std::optional<WallTime> manifest_error_since;
  bool have_desired = false;  // a manifest set ever loaded
  std::optional<ReconcileRecord> last;
  std::optional<WallTime> last_success;
  std::size_t reconciles = 0;
  std::size_t errors = 0;  // reconciles with result Failed or Error
  std::map<std::string, InstanceConditions> instances;
  bool operator==(const AgentStatus&) const = default;
};

// "12 instances, 11 ready, 1 degraded: bot-7 health gate timeout", with
// "N progressing" when any, and first "manifests broken (keeping the last
// good set): FIRST ERROR; " while the manifests do not load. One line, at
// most 240 bytes.
std::string summary_line(const AgentStatus& s);

}  // namespace cf::agent
