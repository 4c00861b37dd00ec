// The converge engine, the one pipeline under `clawfleet apply` (and
// `plan` and `status`, which stop after plan_once) and the agent:
//
//   plan_once:  observe → the host-rendered desired parts → plan
//   apply_once: journal the run → execute → observe and plan again
//
// What differs stays with the callers: apply prints and picks an exit code;
// the agent keeps the last good desired state, holds back instances in
// backoff and turns the results into conditions. `apply` may not include
// `manifest`, so the desired state arrives loaded (manifest::load_desired).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "apply/executor.h"
#include "apply/session.h"
#include "core/result.h"
#include "host/ports.h"
#include "model/desired.h"
#include "model/observed.h"
#include "plan/plan.h"

namespace cf::apply {

struct Target {
  const model::DesiredState& desired;
  // The whole manifest set loaded: when false nothing is destroyed
  // (instances absent from the fleet may just be in the broken file).
  bool complete = true;
  plan::Options options;
};

struct Planned {
  model::Observed observed;
  plan::Desired desired;
  plan::Plan plan;
};

Result<Planned> plan_once(const Target& target, const host::Ports& ports);

// Before the plan that apply or the agent will follow (never plan or
// status): with QEMU and `accel: auto`, a /dev/kvm that opens and no probe
// recorded since the host booted, runs the KVM boot probe
// (host::Platform::probe_kvm) with the kernel of the `default` image (else
// the first), so that plan_once's accelerator follows what the machine can
// do. nullopt when no probe was needed.
inline constexpr std::chrono::milliseconds kKvmProbeDeadline{20000};
std::optional<model::KvmProbe> probe_accelerator(const model::Host& host, const host::Ports& ports);

struct Applied {
  std::string run;                  // the journal's run id; "" when no step ran
  std::vector<StepReport> results;  // by index into the steps executed
  std::string journal_error;        // the first append that failed, "" when none (the steps ran anyway)
  Result<Planned> again;            // planned anew after executing (its error says what could not be observed)
};

// Executes `steps` — planned.plan, or the part of it the caller lets run,
// `seq[i]` being step i's index in planned.plan (the journal's seq; empty:
// the same index) — recording each step's start and end in the session's
// journal before `on_event` hears of it, then plans again. With no steps
// nothing is journalled and only the second plan is made.
Applied apply_once(const Target& target, const Planned& planned, const plan::Plan& steps,
                   const std::vector<std::size_t>& seq, HostSession& session, const ExecOptions& exec,
                   const EventSink& on_event);

}  // namespace cf::apply
