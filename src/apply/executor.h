// The executor: carries out a plan's steps through the host ports. Each
// step is check-then-act and idempotent (a rerun after a crash converges);
// the host-level step runs first, then instances in parallel with a bounded
// number of workers, each instance's steps in order. One instance failing
// never stops another; a step whose dependency failed is skipped.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apply/outcome.h"
#include "host/ports.h"
#include "model/observed.h"
#include "plan/plan.h"

namespace cf::apply {

struct ExecOptions {
  std::size_t parallelism = 1;
  // A stop job may take the VM unit's whole escalation: ExecStop (the
  // guest's power-off and the VMM's quit) and TimeoutStopSec for SIGTERM
  // before SIGKILL (units/clawfleet-vm@.service, docs/host.md).
  std::chrono::milliseconds job_deadline{std::chrono::seconds(180)};
  std::chrono::milliseconds health_deadline{std::chrono::minutes(5)};
  // Set (by the agent, on SIGTERM) to start no new step: the steps in flight
  // finish, every later one is reported Skipped with kStoppingReason.
  const std::atomic<bool>* stop = nullptr;
  // `apply --max-unavailable`: how many running instances a restart-class
  // step may have down at once, instead of the Host's rollout.maxUnavailable
  // (model::max_unavailable; docs/apply.md#rollouts).
  std::optional<std::uint32_t> max_unavailable;
  // Set (by the agent) when the rollout already stopped: while the instance
  // that failed backs off, no other instance is taken down; this is why.
  std::optional<std::string> rollout_stopped;
};

inline constexpr const char* kStoppingReason = "the agent is stopping";
// "the rollout stopped at <instance>, which failed (at most N down at once)"
std::string rollout_stopped_reason(const std::string& failed, std::uint32_t max_unavailable);

// Whether `action` on a running instance takes its gateway down until its
// health gate passes again: a reimage, reprovision, restart, replace or
// new allocation (creates, grows, repairs, starts, stops and destroys do
// not count: there is nothing up to keep, or the change is online).
bool interrupts(plan::Action action);

struct StepReport {
  Outcome outcome = Outcome::Skipped;
  std::string error;  // for Failed and Skipped: why
};

// Progress and journal events, delivered one at a time (the executor
// serialises them) from worker threads: `start` true before a step runs,
// false after it with its result.
struct StepEvent {
  std::size_t index = 0;
  const plan::Step* step = nullptr;
  bool start = true;
  StepReport result;
  // Set by apply_once (engine.h) as journalled: the run id, and the step's
  // index in the whole plan.
  std::string run;
  std::size_t seq = 0;
};
using EventSink = std::function<void(const StepEvent&)>;

// Results by step index. `observed` is what the plan was made from: its
// allocations and unit states say what each step starts from. VMs are
// launched with the plan's accelerator. A rollout (docs/apply.md#rollouts):
// the steps of running instances that take them down (interrupts) start
// only while fewer than max_unavailable such instances are in flight; once
// one fails, the others not begun are Skipped with kRolloutStoppedReason.
std::vector<StepReport> execute(const plan::Plan& plan, const plan::Desired& desired, const model::Observed& observed,
                                const host::Ports& ports, const ExecOptions& options, const EventSink& on_event);

// "sha256:..." naming the guest configuration an instance runs: the hash of
// its flattened fields but those systemd applies live (plan::applies_live)
// and the image's digest and version (which only a new root clone records;
// the guest is given the same configuration on either image). Recorded as
// applied only after the health gate.
std::string generation_of(const std::map<std::string, std::string>& flattened);

// The generation apply records for an instance given `flattened`
// (plan::flatten) on the host as `seen` found it: without the data disk's
// size when the instance has a record without it (created before data
// disks, docs/guest.md#the-data-disk). What the agent and `status` compare
// with the recorded one.
std::string generation_for(std::map<std::string, std::string> flattened, const model::ObservedInstance* seen);

}  // namespace cf::apply
