// The launch record: everything the VM unit needs to bring one instance
// back without the agent (after a host reboot, or a crash of the VMM).
// apply writes it to <state>/instances/<name>/launch.json; the unit's
// `clawfleet vm prepare|run|stop NAME` reads it. It describes what was
// last applied, never what the manifests say now.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/net.h"
#include "core/result.h"
#include "host/network/network.h"
#include "host/state/state.h"
#include "host/vmm/console.h"
#include "host/vmm/jail.h"
#include "host/vmm/vmm.h"
#include "model/desired.h"
#include "model/observed.h"

namespace cf::host {

struct LaunchRecord {
  std::string name;
  std::string bridge;
  Cidr bridge_address;  // the gateway address with the subnet's prefix
  std::string tap;
  Ipv4 ip;  // the guest's, with its MAC: the host's permanent neighbour entry
  Mac mac;
  model::VmmKind vmm = model::VmmKind::Firecracker;
  // The VMM's uid and gid (model::vmm_uid); 0 in a record written before
  // VMMs had users of their own, whose unit then still runs it as root.
  std::uint32_t uid = 0;
  std::string api_socket;
  std::vector<std::string> argv;                           // run in the foreground by `vm run`
  std::vector<std::pair<std::string, std::string>> files;  // path -> content, written by `vm prepare`
  // Host-level state every VM needs and a reboot loses: with egress
  // allowed, ip_forward. (The ruleset holds every guest, so it is one file
  // of the state root's, not a copy in each record.)
  bool ip_forward = false;
  // Under Firecracker's jailer: its jail, laid out by `vm prepare`, and
  // `vm run` runs argv (the jailer) as root.
  std::optional<Jail> jail{};
  bool operator==(const LaunchRecord&) const = default;
};

// Where an instance's files live under the state root: root's in dir, the
// VMM's own (what it creates: sockets, logs) in vm_dir
// (model/instance_dir.h).
struct InstancePaths {
  std::string dir, rootfs, seed, vmm_config, launch;
  std::string data;  // the data disk (docs/guest.md#the-data-disk)
  // The root disk and seed that last passed a gate, kept while a new one
  // is tried (docs/apply.md#rollback).
  std::string previous_rootfs, previous_seed;
  std::string vm_dir, api_socket, log, metrics;
  ConsolePaths console;
};
InstancePaths paths_for(const std::string& state_root, const std::string& name);

// Where the running VMM of an instance listens, and the name it knows its
// root disk by: the host's paths, or its jail's under the jailer.
struct VmmView {
  std::string api_socket;
  std::string rootfs;
  std::string data;
};
VmmView vmm_view(const model::Host& host, const std::string& instance);

// The VM of `instance` as the VMM backend runs it; with `data_disk`, its
// data disk is the third drive (an instance created before data disks has
// none: docs/guest.md#the-data-disk).
VmSpec vm_spec(const model::Host& host, const model::Instance& instance, const model::Allocation& alloc, bool kvm,
               std::uint32_t tsc_khz, bool data_disk);

Result<LaunchRecord> make_launch_record(const model::Host& host, const model::Instance& instance,
                                        const model::Allocation& alloc, const Vmm& vmm, bool kvm, std::uint32_t tsc_khz,
                                        bool data_disk);

std::string to_json(const LaunchRecord& r);
Result<LaunchRecord> launch_from_json(const std::string& text);

// The bridge, the tap (attached, isolated, alias), the guest's permanent
// neighbour entry, the nftables ruleset (render_ruleset, for every guest)
// and ip_forward, the VMM's files. Idempotent: each is changed only when
// it differs. Safe while the VM runs (apply does it for every instance).
// The tap's rules are in place before a VMM can use it: the ruleset is
// loaded before this returns, and the VMM starts after.
Status prepare_host_side(const LaunchRecord& r, const std::string& ruleset, Network& net);
// `clawfleet vm prepare` (ExecStartPre, so the VMM is not running):
// prepare_host_side, loading `ruleset` (the state root's file) only when
// the live ruleset lacks this guest's rules, and no stale API socket. Never while the VM runs: its
// live socket would go, and with it every request to the VMM (a graceful
// stop among them).
Status prepare_vm(const LaunchRecord& r, const std::string& ruleset, Network& net);

}  // namespace cf::host
