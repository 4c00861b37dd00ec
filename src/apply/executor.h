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
#include <string>
#include <vector>

#include "host/guest_disks.h"
#include "host/health.h"
#include "host/network.h"
#include "host/state.h"
#include "host/systemd.h"
#include "host/vmm.h"
#include "model/observed.h"
#include "plan/plan.h"

namespace cf::apply {

struct HostPorts {
  // One systemd connection per worker: an sd-bus connection is not
  // thread-safe, and job waits must not block the other workers.
  std::function<Result<std::unique_ptr<host::Systemd>>()> connect_systemd;
  host::UnitFiles& unit_files;
  host::Network& network;
  host::StateStore& state;
  host::Vmm& vmm;
  host::Health& health;
  // Whether a process on the host listens on a TCP port (the allocator skips those).
  std::function<bool(std::uint16_t)> listening;
  host::GuestDisks& disks;
  // A secret's value, for the guest's seed (provider keys, bot token).
  std::function<Result<std::string>(const model::SecretRef&)> read_secret;
};

struct ExecOptions {
  std::size_t parallelism = 1;
  // A stop job may take the VM unit's whole escalation: ExecStop (the
  // guest's power-off and the VMM's quit) and TimeoutStopSec for SIGTERM
  // before SIGKILL (units/clawfleet-vm@.service, docs/host.md).
  std::chrono::milliseconds job_deadline{std::chrono::seconds(180)};
  std::chrono::milliseconds health_deadline{std::chrono::minutes(5)};
  bool kvm = true;             // QEMU: -accel kvm, else tcg
  std::uint32_t tsc_khz = 0;   // QEMU under TCG
  // Set (by the agent, on SIGTERM) to start no new step: the steps in flight
  // finish, every later one is reported Skipped with kStoppingReason.
  const std::atomic<bool>* stop = nullptr;
};

inline constexpr const char* kStoppingReason = "the agent is stopping";

enum class Outcome { Ok, Failed, Skipped };
const char* to_string(Outcome o);  // "ok", "failed", "skipped"

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
};
using EventSink = std::function<void(const StepEvent&)>;

// Results by step index. `observed` is what the plan was made from: its
// allocations and unit states say what each step starts from.
std::vector<StepReport> execute(const plan::Plan& plan, const plan::Desired& desired, const model::Observed& observed,
                                const HostPorts& ports, const ExecOptions& options, const EventSink& on_event);

// "sha256:..." naming the guest configuration an instance runs: the hash of
// its flattened fields. Recorded as applied only after the health gate.
std::string generation_of(const std::map<std::string, std::string>& flattened);

}  // namespace cf::apply
