// When the agent reconciles, and which instances it leaves alone for now.
// Pure and clock-driven (the caller passes `now`), so every rule here is
// tested with a fake clock (tests/unit/agent_schedule_test.cc).
//
//   - debounce: a manifest event schedules a reconcile `debounce` after the
//     last event of a burst (a multi-file commit is applied once), but never
//     later than `debounce_max` after the first one (a directory that never
//     goes quiet is still applied);
//   - SIGHUP: at once;
//   - resync: `resync` after the last reconcile finished (drift made
//     outside clawfleet is found even when nothing triggers);
//   - retry: when the lock was busy, `lock_retry` later; when an instance's
//     backoff ends, then;
//   - liveness: at once when a probe between reconciles found an instance
//     to restart (Reconciler::probe_liveness).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/clock.h"
#include "plan/plan.h"

namespace cf::agent {

struct ScheduleOptions {
  Millis debounce{500};
  Millis debounce_max{5000};
  Millis resync{std::chrono::minutes(5)};
  Millis lock_retry{2000};
};

// What the last reconcile asks of the schedule.
struct Finished {
  bool lock_busy = false;
  std::optional<SteadyTime> retry_at;  // the earliest end of an instance's backoff
};

class Scheduler {
 public:
  // The first reconcile is due at once.
  Scheduler(ScheduleOptions options, SteadyTime now);

  void manifest_changed(SteadyTime now);
  void reload_requested(SteadyTime now);  // SIGHUP
  void liveness_failed(SteadyTime now);   // an instance is due for its liveness restart
  void started(SteadyTime now);
  void finished(SteadyTime now, const Finished& f);

  bool running() const { return running_; }
  // Whether a reconcile should start now (never while one runs).
  bool due(SteadyTime now) const;
  // When the next reconcile is due; past events while running count from
  // when it finishes.
  SteadyTime next(SteadyTime now) const;
  // Why the next reconcile runs: "manifests changed", "SIGHUP", "resync",
  // "retry", "liveness", "start".
  std::string reason(SteadyTime now) const;

 private:
  ScheduleOptions options_;
  bool running_ = false;
  std::optional<SteadyTime> burst_first_;  // first event of the pending burst
  std::optional<SteadyTime> burst_last_;
  bool reload_ = false;
  bool liveness_ = false;
  bool first_ = true;
  SteadyTime resync_at_;
  std::optional<SteadyTime> retry_at_;
};

struct BackoffOptions {
  Millis initial{5000};
  Millis max{std::chrono::minutes(10)};
  double jitter = 0.2;  // each delay is scaled by a factor in [1 - jitter, 1 + jitter)
};

// Per-instance exponential backoff: after the n-th consecutive failure an
// instance is left alone for initial * 2^(n-1), capped at max, times the
// jitter factor (so that instances failing together do not retry in
// lockstep). A success forgets the instance.
class Backoff {
 public:
  // `uniform` gives numbers in [0, 1): the jitter (a fixed value in tests).
  Backoff(BackoffOptions options, std::function<double()> uniform);

  // Records a failure; returns the delay until the next attempt.
  Millis failed(const std::string& name, SteadyTime now);
  void succeeded(const std::string& name);
  // Time left while the instance is held back; nullopt when it may run.
  std::optional<Millis> remaining(const std::string& name, SteadyTime now) const;
  std::size_t failures(const std::string& name) const;
  // The earliest end of a backoff still running.
  std::optional<SteadyTime> next_expiry(SteadyTime now) const;
  std::vector<std::string> names() const;

 private:
  struct Entry {
    std::size_t failures = 0;
    SteadyTime until;
  };
  BackoffOptions options_;
  std::function<double()> uniform_;
  std::map<std::string, Entry> entries_;
};

// An instance whose steps were left out of this reconcile.
struct HeldBack {
  std::string instance;
  Millis remaining{0};
  std::vector<plan::Action> actions;  // the steps left out, in plan order
  bool operator==(const HeldBack&) const = default;
};

struct Filtered {
  plan::Plan plan;                  // what runs
  std::vector<std::size_t> origin;  // plan index -> index in the input plan
  std::vector<HeldBack> held;       // by instance name
};

// Leaves out the steps of instances in backoff, except Destroy (removing an
// instance is never blocked by its earlier failures), and every step that
// depends on a step left out; a Destroy's dependency on a left-out step is
// dropped. depends_on indexes are renumbered for the smaller plan.
Filtered hold_back(const plan::Plan& plan, const std::function<std::optional<Millis>(const std::string&)>& remaining);

// "1.5 s", "20 s", "4 min 10 s": how long, for messages.
std::string describe_duration(Millis d);

}  // namespace cf::agent
