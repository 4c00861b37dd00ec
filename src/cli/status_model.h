// clawfleet status, as values: one row per instance built from the desired
// fleet (when the manifests loaded), the observed host, the plan between
// them and the apply journal (docs/cli.md#status); status_render.h shows
// them.
//
// Pure. It sees the secrets' digests only (manifest::load_desired), never a
// gateway token or a secret value; the journal holds none
// (docs/apply.md#journal), nor does what the gateways said of their
// readiness.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "apply/journal.h"
#include "apply/lock.h"
#include "model/desired.h"
#include "model/observed.h"
#include "plan/plan.h"

namespace cf::cli {

// Ready and Stopped are settled (what the manifests ask for, and nothing
// left to do); the other three make `clawfleet status` exit 3.
enum class Health { Ready, Stopped, Pending, Degraded, Unknown };
const char* to_string(Health h);  // "ready", "stopped", "pending", "degraded", "unknown"

// A plan step or a refusal that concerns one instance (or the host).
struct StatusAction {
  std::string action;  // plan::to_string(Action)
  std::string reason;
  bool operator==(const StatusAction&) const = default;
};

struct InstanceStatus {
  std::string name;
  // "running", "stopped", "absent" (not in the manifests), "" (the
  // manifests did not load: unknown).
  std::string desired_state;
  std::string unit_active_state;  // of the VM unit; "" when systemd does not know it
  std::string unit_sub_state;
  std::string vm_state;  // what the VMM says (observe()); "" when nothing of it is on the host
  Health health = Health::Unknown;
  std::string health_reason;  // "" or e.g. "create failed", "create, start"
  std::vector<StatusAction> pending;
  std::vector<StatusAction> refused;
  std::optional<std::string> applied_generation;  // "sha256:..."
  std::optional<std::string> desired_generation;  // nullopt: none, or unknown (below)
  bool desired_generation_known = true;           // false: a secret could not be read, or no manifests
  std::vector<std::string> unreadable_secrets;    // manifest::describe of each: "file /etc/x"
  std::optional<Ipv4> ip;
  std::optional<std::uint16_t> host_port;
  std::optional<apply::LastStep> last_step;
  std::string last_error;  // the last step failed or was interrupted; else ""
  std::map<std::string, model::ObservedUnit> units;
  std::string tap_name;  // from the allocation; "" when none
  model::ObservedTap tap;
  model::ObservedDir dir;
  bool in_inventory = false;
  bool protect = false;
  std::vector<apply::LastStep> recent_steps;  // oldest first, at most kRecentSteps
  // The gateway's deep readiness (host::observe_readiness); nullopt when
  // its VM does not run. Shown only: it never changes `health`.
  std::optional<model::Readiness> channels;
  bool operator==(const InstanceStatus&) const = default;
};

// The host-level step (bridge, nftables table, ip_forward).
struct HostStatus {
  Health health = Health::Unknown;
  std::string health_reason;
  std::vector<StatusAction> pending;
  std::string last_error;
  plan::Accelerator accelerator;  // the plan's; none without manifests
  bool operator==(const HostStatus&) const = default;
};

struct FleetStatus {
  bool manifests_loaded = true;
  std::vector<InstanceStatus> instances;  // by name
  HostStatus host;
  bool operator==(const FleetStatus&) const = default;
};

inline constexpr std::size_t kRecentSteps = 5;

// `desired` null: the manifests did not load; status then shows what is on
// the host and says nothing is known to be ready. `plan` is the plan from
// desired to observed (empty without desired). `journal` oldest first;
// steps of `active_run` with no end yet are running, others interrupted.
// `readiness`: by instance, what its running gateway said (host::observe_readiness).
FleetStatus build_status(const model::DesiredState* desired, const model::Observed& observed, const plan::Plan& plan,
                         const std::vector<apply::JournalRecord>& journal, const std::string& active_run = "",
                         const std::map<std::string, model::Readiness>& readiness = {});

// Per instance, its steps in the journal (a start and its end are one),
// oldest first, the last `max` of them.
std::vector<apply::LastStep> recent_steps(const std::vector<apply::JournalRecord>& journal, const std::string& instance,
                                          std::size_t max, const std::string& active_run = "");

// Exit status: 0 when every instance in `s` is ready or stopped as asked
// and the host step is ready too (instance steps depend on it), else 3.
int status_exit_code(const FleetStatus& s);

// The run of whoever holds the lock now (apply, agent): the newest run in the
// journal, if it began at or after `holder.since`. "" without a holder.
std::string active_run(const std::vector<apply::JournalRecord>& journal,
                       const std::optional<apply::LockHolder>& holder);

}  // namespace cf::cli
