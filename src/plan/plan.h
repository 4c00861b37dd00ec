// The planner: desired × observed → a plan of typed steps, each with the
// fields that changed and a human reason. Pure: no I/O, no clock, no
// logging; the same inputs give the same plan (docs/ARCHITECTURE.md rule 3).
//
// Everything the planner cannot compute without the host (secret values,
// rendered files) reaches it as hashes in `Desired`, prepared by the caller.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/desired.h"
#include "model/observed.h"
#include "plan/dns.h"

namespace cf::plan {

// Closed set (Terraform's plans.Action): every step is one of these.
//
// Steps on an instance whose desired state is stopped never start it: a
// Create, Replace, Restart or Reprovision of a stopped instance writes its
// configuration and leaves the VM stopped.
enum class Action {
  Create,            // +   allocate, state dir, units, tap, boot, health gate
  Reprovision,       // ~   new guest config generation (seed), guest restart
  Restart,           // ~   vCPUs, memory, NIC, host network: stop + start the VM
  GrowDisk,          // ~   resize the disk file and filesystem in place
  Reimage,           // ~   base image change of an instance with a data disk: stop, a fresh
                     //     clone of the new root, boot; the data disk is kept
  Replace,           // -/+ destroy + create: base image change without a data disk, a disk
                     //     shrink (data loss)
  Start,             // ~   run state stopped -> running
  Stop,              // ~   run state running -> stopped
  Repair,            // ~   drift: unit inactive/failed or edited, tap missing/detached,
                     //     wrong modes, proxy down, host network (bridge, table, ip_forward)
  Destroy,           // -   in the inventory, absent from every manifest
  UpdateAllocation,  // ~   a manifest pin changed the guest address, MAC or host port, or
                     //     the Host's subnet or port range no longer holds the allocated
                     //     one: record the new allocation, rewrite the drop-ins, restart
                     //     the proxy, and restart the VM when the address or MAC changes
  Rename,            // ~   on the host under a name in metadata.previousNames: the old
                     //     name's units go, its state directory, inventory entry and tap
                     //     become the new name's (allocation, token and disks kept), and
                     //     the instance restarts as the new name with the health gate
};
inline constexpr Action kAllActions[] = {
    Action::Create, Action::Reprovision, Action::Restart, Action::GrowDisk, Action::Reimage,          Action::Replace,
    Action::Start,  Action::Stop,        Action::Repair,  Action::Destroy,  Action::UpdateAllocation, Action::Rename};
const char* to_string(Action a);  // "create", "reprovision", "restart", "grow-disk", "reimage", "replace",
                                  // "start", "stop", "repair", "destroy", "update-allocation", "rename"
const char* symbol(Action a);     // "+", "~", "-/+", "-"

// One changed field, as shown to an operator. Secrets appear only as the
// digest the caller gave (manifest::secret_digest), never as a value.
// Repair steps use the same shape for drift: `path` names the resource
// (a unit, a drop-in's path, a tap, a file), `before` is what was observed
// and `after` what the repair makes it.
struct FieldChange {
  std::string path;                   // "spec.model", "spec.providerKeys.anthropic", "host.bridge"
  std::optional<std::string> before;  // nullopt: not set before (or unknown, or missing)
  std::optional<std::string> after;   // nullopt: removed (for spec.network.*: allocated anew by apply)
  bool secret = false;
  bool operator==(const FieldChange&) const = default;
};

// Reason of a Create of an instance of which nothing is on the host; the
// text renderer shows such a step as just "# bot will be created".
inline constexpr const char* kReasonNewInstance = "new instance, nothing of it on the host";

struct Step {
  std::string instance;  // "" for host-level steps (bridge, nftables table, ip_forward)
  Action action = Action::Repair;
  std::vector<FieldChange> changes;
  // One sentence without a trailing period, completing "bot will be
  // reprovisioned: ...", e.g. "model changed (spec.model: a -> b)".
  std::string reason;
  std::vector<std::size_t> depends_on;  // indexes into Plan::steps, all smaller than this step's
  bool operator==(const Step&) const = default;
};

// Something the planner would have done and did not, with why (a destroy
// above --max-destroy, a replace of a protected instance, any destroy while
// the manifest set is incomplete or empty, a leftover not in the inventory).
// Refusals alone leave the plan empty.
struct Refusal {
  std::string instance;
  Action action = Action::Destroy;
  std::string reason;
  bool operator==(const Refusal&) const = default;
};

// How the VMs of this host run, and why: decided once here, shown by plan
// and status, followed by the executor for every VM it launches.
struct Accelerator {
  bool kvm = false;    // QEMU: -accel kvm, else tcg; Firecracker has KVM only
  std::string reason;  // a clause, no trailing period; "" in a plan not made by make_plan
  const char* name() const { return kvm ? "kvm" : "tcg"; }
  bool operator==(const Accelerator&) const = default;
};

// QEMU with `accel: auto` keeps TCG until a real boot probe (recorded for
// this boot of the host) ran a guest under KVM: a /dev/kvm that opens can
// still be unable to boot an ordinary guest (a PVM device). `kvm` and
// `tcg` are the operator's word; Firecracker has KVM only.
Accelerator accelerator_for(const model::Vmm& vmm, const model::ObservedPlatform& platform);

struct Plan {
  std::vector<Step> steps;
  std::vector<Refusal> refused;
  Accelerator accelerator;  // not a step: it changes nothing by itself
  // Sentences an operator should read that change nothing (the recorded
  // DNS default and the host's resolvers differ); no trailing period.
  std::vector<std::string> warnings;
  bool empty() const { return steps.empty(); }
  bool operator==(const Plan&) const = default;
};

// What the manifests ask for, with the host-dependent parts pre-computed.
struct Desired {
  model::Fleet fleet;
  // False when any manifest failed to load: then nothing is destroyed
  // (instances absent from the fleet may just be in the broken file).
  bool complete = true;
  // secret digest by reference, for every reference in the fleet; a
  // reference missing here shows as "(unreadable)" and is a change.
  std::map<model::SecretRef, std::string> secret_digests;
  // CA certificate path -> digest (model::DesiredState::ca_digests); a path
  // missing here shows as "(unreadable)" and is a change.
  std::map<std::string, std::string> ca_digests;
  // "sha256:..." of render_ruleset(fleet.host, every allocation): compared with
  // Observed::table_hash; "" compares nothing.
  std::string table_hash;
  // Per instance, the drop-ins clawfleet writes, path -> "sha256:..." of the
  // content it would write now (needs the allocation, hence the caller).
  std::map<std::string, std::map<std::string, std::string>> dropin_hashes;
  // The guests' resolvers (choose_dns), already in fleet.host.dns; when
  // they come from the host, apply records them in the inventory.
  DnsChoice dns;
};

struct Options {
  std::size_t max_destroy = 1;  // --max-destroy
  bool allow_destroy = false;   // --allow-destroy: lifts max_destroy and protect
};

// The data disk's field. An instance created before data disks has none,
// and its record lacks the field: apply leaves it out, the planner then
// does not compare it (docs/guest.md#the-data-disk).
inline constexpr const char* kDataDiskField = "spec.resources.dataDisk";

// An image's identity by content and its name for people (model::Image):
// in the fields only when known. A record without the digest (applied
// before image records, or from an image without one) and a Host image
// whose files do not match their records are not compared by content: the
// planner skips the digest unless both sides have it
// (docs/guest.md#image-identity).
inline constexpr const char* kImageDigestField = "host.image.digest";
inline constexpr const char* kImageVersionField = "host.image.version";

// A field of the instance's base image: "spec.image" and "host.image.*".
inline bool is_image_field(const std::string& path) {
  return path == "spec.image" || path.rfind("host.image.", 0) == 0;
}

// The fields of an instance as the planner compares them, flattened to
// path -> display value (lists joined with ",", sizes in bytes, secrets as
// their digest), including the host fields the instance depends on
// ("host.bridge", "host.subnet", "host.gateway", "host.dns", "host.vmm.kind",
// "host.vmm.binary", "host.image.kernel", "host.image.rootfs",
// "host.image.initrd", "host.image.digest" and "host.image.version" when
// known, "host.vmm.smt", and "host.caCertificates" when the
// Host lists any: each path with its certificates' digest). apply records this map in the
// instance's state when it applies, so the next plan can show before ->
// after. Network pins are not in it: the planner compares them with the
// observed allocation, which is what the VM really uses.
std::map<std::string, std::string> flatten(const model::Instance& instance, const model::Host& host,
                                           const std::map<model::SecretRef, std::string>& secret_digests,
                                           const std::map<std::string, std::string>& ca_digests);

// What changing a flattened field costs (docs/manifest.md, "change costs").
// Returns nullopt for fields whose change costs nothing (recorded only:
// labels, protect; the Host's egress, limits and state root, which no
// instance step covers) and for paths it does not know (an older
// clawfleet's record). "spec.resources.disk" and "spec.resources.dataDisk"
// give GrowDisk; the planner makes a smaller disk a Replace. "spec.state" gives Start; the planner
// makes it Start or Stop by direction, in a step of its own.
// "spec.network.ip"/"mac" give Restart and "spec.network.hostPort" and
// "host.ports.*" UpdateAllocation: the cost of the UpdateAllocation step
// the planner makes for them.
std::optional<Action> cost_of(const std::string& path);

// The VM unit's cgroup limits the manifest sets beside memory (cpuQuota,
// ioWeight): cost_of gives nullopt, and the planner shows a change in the
// Repair step that rewrites the limits drop-in; systemd applies it to the
// running unit at daemon-reload, so nothing restarts.
bool applies_live(const std::string& path);

// Paths whose values are secret digests.
bool is_secret_path(const std::string& path);

// Order: the host step (if any) first, then instances by name; an
// instance's own steps in the order Repair, UpdateAllocation, the field
// step (Replace, Restart, GrowDisk or Reprovision), Start/Stop. Every step
// depends on the instance's previous step, and every step but GrowDisk,
// Stop and Destroy on the host step. docs/plan-format.md has the rules.
Plan make_plan(const Desired& desired, const model::Observed& observed, const Options& options);

}  // namespace cf::plan
