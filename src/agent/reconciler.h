// One reconcile of the agent: the same passes as `clawfleet apply` (lock,
// load, observe, plan, execute with a journal, plan again), plus what makes
// it safe to run unattended in a loop:
//
//   - a manifest set that does not load (or whose secrets cannot be read)
//     is reported and the last good one keeps being enforced, with
//     `complete = false` so that nothing is destroyed because of it;
//   - instances in backoff have their steps held back (a Destroy never is);
//   - a stop flag (SIGTERM) lets the step in flight finish and starts none;
//   - the outcome becomes per-instance conditions and the AgentStatus,
//     with each running gateway's own readiness (ChannelsReady);
//   - liveness: an instance running past its health gate whose /healthz
//     has failed for the Host's spec.liveness.failAfter is restarted (a
//     restart step, through the health gate), which counts as a failure
//     for its backoff (Live; probe_liveness asks between reconciles).
//
// Not thread-safe: one reconcile at a time, from one thread; status() and
// the rest may be read between reconciles.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/clock.h"
#include "agent/liveness.h"
#include "agent/ports.h"
#include "agent/schedule.h"
#include "agent/status.h"
#include "apply/engine.h"
#include "apply/executor.h"
#include "apply/lock.h"
#include "apply/session.h"
#include "core/env.h"
#include "core/fs.h"
#include "manifest/loader.h"
#include "plan/plan.h"

namespace cf::agent {

struct ReconcileOptions {
  manifest::SourceSpec manifests;
  plan::Options plan;
  apply::ExecOptions exec;  // `stop` is the reconciler's to set
  Millis lock_timeout{0};   // busy: give up at once, the agent retries later
  BackoffOptions backoff;
  // Each running gateway's /readyz after a reconcile (host::observe_readiness).
  Millis readiness_timeout{5000};
  // Each /healthz of liveness (host::observe_liveness).
  Millis liveness_timeout{5000};
};

struct ReconcilerPorts {
  FileReader& files;  // manifests and secret files
  const Environment& env;
  apply::LockPort& lock;
  apply::HostOpener& host;
  Clock& clock;
  Log& log;
  std::function<double()> uniform;  // jitter for the backoff, in [0, 1)
};

struct ReconcileReport {
  ReconcileResult result = ReconcileResult::Ok;
  std::string error;
  std::string run;  // the journal's run id ("" when nothing ran)
  std::size_t steps = 0;
  std::size_t failed = 0;
  std::vector<HeldBack> held;
  std::optional<SteadyTime> retry_at;  // the earliest end of a backoff
};

// What a liveness probe between reconciles found.
struct LivenessProbe {
  bool restart_due = false;  // an instance failed for the whole period, outside backoff: reconcile now
  bool changed = false;      // status() changed (a Live condition)
};

class Reconciler {
 public:
  Reconciler(ReconcilerPorts ports, ReconcileOptions options);

  // `on_step` is called for every step event (from executor threads,
  // serialised), after the journal and the log: the loop's proof of progress.
  ReconcileReport reconcile(const std::string& trigger, const std::atomic<bool>& stop,
                            const std::function<void(const apply::StepEvent&)>& on_step = {});

  // Between reconciles: one /healthz of each instance liveness watches (on
  // the host as the last reconcile left it), each answer recorded.
  LivenessProbe probe_liveness(const std::atomic<bool>& stop);
  // When probe_liveness is due; nullopt while there is nothing to watch
  // (liveness off, no instance running past its gate).
  std::optional<SteadyTime> next_probe() const { return next_probe_; }

  const AgentStatus& status() const { return status_; }
  // Of the last good manifest set; the default state root before one loaded.
  std::string state_root() const;
  const Backoff& backoff() const { return backoff_; }

 private:
  // Loads the manifests; on failure keeps last_good_ and sets the error.
  void load();
  ReconcileReport run(const std::string& trigger, const std::atomic<bool>& stop,
                      const std::function<void(const apply::StepEvent&)>& on_step);
  // The instances liveness watches on `seen`: desired running, VM unit
  // active, running the desired generation (their last apply passed its
  // health gate). None while liveness is off.
  std::set<std::string> past_gate(const model::Observed& seen, const model::Host& effective) const;
  // Restart steps (appended to `f`, journalled after the plan's own) for
  // what failed liveness for the whole period and fails still when asked
  // once more: instance -> why, for the Live condition and the backoff.
  std::map<std::string, std::string> liveness_restarts(const apply::Planned& planned, Filtered& f,
                                                       const std::set<std::string>& watched, const host::Ports& ports,
                                                       SteadyTime now);
  // Records answers, logs the runs of failures that start and end, and
  // forgives a liveness restart once the instance was live for the period.
  void record_liveness(const std::map<std::string, Status>& answers, SteadyTime now);
  std::optional<LiveOutcome> live_outcome(const std::string& name, SteadyTime now) const;
  Millis fail_after() const;

  ReconcilerPorts ports_;
  ReconcileOptions options_;
  Backoff backoff_;
  Backoff host_backoff_;  // the host step is never held back, but is retried
  std::optional<model::DesiredState> last_good_;
  bool kvm_ = false;  // the last plan's accelerator: the default liveness period follows it
  std::map<std::string, std::string> last_errors_;  // by instance, while in backoff
  std::vector<std::string> last_warnings_;          // the last plan's, logged when they change
  Liveness liveness_;
  std::set<std::string> watched_;  // past their gate at the last reconcile: what liveness asks
  model::Observed last_seen_;      // the host as the last reconcile left it: where they are
  std::optional<SteadyTime> next_probe_;
  AgentStatus status_;
};

}  // namespace cf::agent
