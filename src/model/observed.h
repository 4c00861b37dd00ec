// What clawfleet finds on the host, as plain values: the input to the
// planner beside the desired fleet. Built by host::observe(); read-only.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/net.h"

namespace cf::model {

// An instance's guest address, MAC, host port and tap: allocated once,
// recorded in its state, stable thereafter.
struct Allocation {
  Ipv4 ip;
  Mac mac;
  std::uint16_t host_port = 0;
  std::string tap;
  bool operator==(const Allocation&) const = default;
};

struct ObservedUnit {
  std::string load_state;  // "" when systemd does not know the unit
  std::string active_state;
  std::string sub_state;
  std::string unit_file_state;
  std::string fragment_path;                         // the unit file (for an instance: its template), "" when none
  std::string fragment_hash;                         // "sha256:..." of its content, "" when none or unreadable
  std::map<std::string, std::string> dropin_hashes;  // drop-in path -> "sha256:..." of its content, "" when unreadable
  bool operator==(const ObservedUnit&) const = default;
};

struct ObservedTap {
  bool present = false;
  std::string master;  // "" when not attached
  bool up = false;
  bool isolated = false;
  std::string alias;
  bool operator==(const ObservedTap&) const = default;
};

struct ObservedDir {
  bool exists = false;
  unsigned mode = 0;
  unsigned uid = 0;
  std::map<std::string, unsigned> files;  // regular files in it, with modes
  bool operator==(const ObservedDir&) const = default;
};

// What the VMM answers on an instance's API socket.
enum class VmState { Absent, NotStarted, Running, Paused, Unknown };
const char* to_string(VmState s);  // "absent", "not-started", "running", "paused", "unknown"

struct ObservedInstance {
  bool in_inventory = false;
  bool protect = false;                  // from the inventory
  std::optional<Allocation> allocation;  // from instance.json
  std::string desired_hash;              // what was last applied
  std::optional<std::string> applied_generation;
  ObservedDir dir;
  std::map<std::string, ObservedUnit> units;  // by unit name
  ObservedTap tap;
  VmState vm_state = VmState::Absent;  // Unknown also when the socket's answer could not be read
  // The instance's fields as last applied (plan::flatten, recorded in
  // instance.json by apply): what a plan shows as "before".
  std::map<std::string, std::string> applied;
  bool operator==(const ObservedInstance&) const = default;
};

struct ObservedBridge {
  bool present = false;
  bool up = false;
  std::vector<Cidr> addresses;
  bool operator==(const ObservedBridge&) const = default;
};

// The last KVM boot probe of this boot of the host (host::Platform): a
// tiny guest started under /dev/kvm, judged by what its console printed.
struct KvmProbe {
  bool runs = false;   // the guest's kernel ran far enough to print its panic
  std::string detail;  // "kernel panic after 0.8 s", "no console output within 20 s", ...
  std::string time;    // RFC 3339, when it ran
  bool operator==(const KvmProbe&) const = default;
};

// What the machine offers its VMs, whatever the manifests say.
struct ObservedPlatform {
  bool kvm_device = false;            // /dev/kvm opens read-write (it may still not boot a guest)
  std::uint32_t tsc_khz = 0;          // from /proc/cpuinfo; 0 when unknown (QEMU under TCG needs it)
  std::optional<KvmProbe> kvm_probe;  // none yet since this boot
  bool operator==(const ObservedPlatform&) const = default;
};

// What an instance's gateway says of its deep readiness (OpenClaw's
// `/readyz`, asked with the gateway token so that it names what fails):
// its channel accounts, agent databases and plugins. Shown, never a reason
// to fail an apply (docs/guest.md#readiness).
struct Readiness {
  bool answered = false;             // false: no usable answer, `error` says why
  bool ready = false;                // /readyz answered 200 {"ready": true}
  std::vector<std::string> failing;  // as the gateway names them: "telegram", "agent-database:main"
  std::string error;                 // "connection refused", "/readyz answered 401", ...
  bool operator==(const Readiness&) const = default;
};

// The guests' default resolvers: what apply recorded when the Host was first
// applied, and what the host uses now (host/platform/resolvers.h).
struct ObservedDns {
  std::vector<Ipv4> recorded;  // inventory.json "defaultDns"; empty: none recorded yet
  std::vector<Ipv4> current;   // the host's upstream resolvers now, loopback dropped
  std::string source;          // the file `current` came from, "" when none
  std::string problem;         // why `current` is empty (each file tried), "" otherwise
  bool operator==(const ObservedDns&) const = default;
};

// One of OpenClaw's bundled skills as the image's build found it
// (skills.json beside the rootfs, docs/guest.md#skills): what it lacks
// there. Needs that depend on the instance (env, config) are not kept.
struct SkillRecord {
  std::vector<std::string> missing_bins;      // each one is needed
  std::vector<std::string> missing_any_bins;  // one of them is needed
  std::vector<std::string> missing_os;        // the systems it runs on, when Linux is not one
  bool operator==(const SkillRecord&) const = default;
};

// An image's skills record: the bundled skills by name, or why there is
// none to check against.
struct ObservedSkills {
  std::string path;                                           // where it is looked for
  bool absent = false;                                        // no such file: the image is not checked
  std::optional<std::map<std::string, SkillRecord>> bundled;  // nullopt: `problem` says why
  std::string problem;                                        // "no such file", "not a skills record: ..."
  bool operator==(const ObservedSkills&) const = default;
};

// An image's identity by content (image.json beside its files,
// docs/guest.md#image-identity): the digest of its files as their records
// give them, trusted while each file has the size and modification time
// its record names.
struct ObservedImage {
  std::string digest;   // "sha256:<hex>" over the files' digests; "" when unknown
  std::string version;  // the rootfs's record's version; "" when none
  std::string problem;  // why `digest` is unknown: "rootfs.ext4 changed since ...", "" otherwise
  bool operator==(const ObservedImage&) const = default;
};

struct Observed {
  ObservedPlatform platform;
  // Per image of the Host (by name), its identity.
  std::map<std::string, ObservedImage> images;
  // Per image of the Host (by name), its skills record.
  std::map<std::string, ObservedSkills> image_skills;
  ObservedDns dns;
  ObservedBridge bridge;
  std::optional<std::string> table_hash;  // "sha256:..." of clawfleet's nftables table; nullopt when absent
  bool ip_forward = false;
  // The IPv4 networks of the host's own links (the bridge and clawfleet's
  // taps aside), sorted, unique: what egress `internet` keeps guests out of.
  std::vector<Cidr> host_networks;
  // Every instance the inventory lists, and every one for which a marker
  // of clawfleet's was found (state dir, unit, tap alias).
  std::map<std::string, ObservedInstance> instances;
  bool operator==(const Observed&) const = default;
};

}  // namespace cf::model
