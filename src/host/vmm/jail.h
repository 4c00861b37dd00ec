// Firecracker's jailer (spec.vmm.jailer; docs/host.md#the-jailer). The
// jailer starts as root, makes <base>/<VMM file name>/<instance>/root the
// root of a mount namespace of its own, creates /dev/kvm and /dev/net/tun
// there, copies the VMM in and runs it as the instance's user. What the VMM
// opens must lie inside that root, so `clawfleet vm prepare` lays it out
// before every start: hard links to the kernel, initrd, root disk, seed and
// config (the same files the unjailed VMM opens, so a disk grown on the
// host is grown in the jail), under fixed names the config file uses.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/result.h"
#include "model/desired.h"

namespace cf::host {

struct Jail {
  std::string base;  // --chroot-base-dir: <instance dir>/jail
  std::string root;  // <base>/<VMM file name>/<instance>/root: the VMM's "/"
  // What the VMM opens, as (host path, path inside the jail): linked into
  // root before each start.
  std::vector<std::pair<std::string, std::string>> links;
  // `host_path` as the jailed VMM names it: a linked file's jail path, a
  // path below root relative to it (its socket, log); others unchanged.
  std::string inside(const std::string& host_path) const;
  bool operator==(const Jail&) const = default;
};

// Where the jailed VMM's API socket is, inside its jail.
inline constexpr const char* kJailApiSocket = "/vmm.sock";
// The instance's root disk, linked into its jail under this name.
inline constexpr const char* kJailRootfs = "/rootfs.ext4";
// Its data disk, likewise.
inline constexpr const char* kJailData = "/data.img";

// <state root>/instances/<instance>/jail/<VMM file name>/<instance>/root.
std::string jail_root(const std::string& state_root, const std::string& vmm_binary, const std::string& instance);
// The same for the Host's VMM; "" without a jailer.
std::string jail_root(const model::Host& host, const std::string& instance);
// The jail of `instance` (the Host must name a jailer), with its data disk
// linked in when it has one.
Jail jail_for(const model::Host& host, const model::Instance& instance, bool data_disk);

// The jail's layout, malformed when a record was edited by hand.
Status check_jail(const Jail& jail, const std::string& instance_dir);

// Before a start (the VMM is not running): the directories down to root,
// root's and passable by the VMM's group (`vm stop` reaches the socket
// through them); root emptied of what the last jailer made (its device
// nodes, its copy of the VMM, its pid file and socket: it refuses to start
// when any is there) but the VMM's log and metrics; the links made again.
// A kernel or initrd on another filesystem is copied instead.
Status prepare_jail(const Jail& jail, std::uint32_t vmm_uid);

}  // namespace cf::host
