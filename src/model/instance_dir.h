// Who may touch what in an instance's directory. The VMM runs as a user of
// its own (docs/security.md): uid and gid vmm_uid(), derived from the
// guest's address, which no two instances share. The directory and the
// files clawfleet writes there are root's and that group's (host/state/
// ownership.h sets the group before the VMM starts; not setgid: the agent
// runs with RestrictSUIDSGID=); the mode says whether the VMM may read a
// file (its launch record, seed, Firecracker config), write it (the root
// and data disks) or neither (token, record). What the VMM itself creates (sockets,
// console log) is in vm/, the VMM user's own.
#pragma once

#include <cstdint>
#include <string>

#include "model/observed.h"

namespace cf::model {

// 0x70000000: just above systemd's container range (524288-1879048191) and
// below its foreign range; nothing else on a Debian host allocates there.
inline constexpr std::uint32_t kVmmUidBase = 0x70000000;
// The guest subnet is at most a /16, so the address's low 16 bits are
// unique among the instances.
inline std::uint32_t vmm_uid(const Allocation& a) { return kVmmUidBase + (a.ip.value & 0xffffu); }

inline constexpr unsigned kInstanceDirMode = 0710;  // root's; the VMM's group may enter
inline constexpr unsigned kVmmDirMode = 0700;       // vm/: the VMM user's

// The instance's record (allocation, what was applied) and gateway token.
inline constexpr const char* kRecordFile = "instance.json";
inline constexpr const char* kTokenFile = "token";

// The data disk's file (docs/guest.md#the-data-disk).
inline constexpr const char* kDataDiskFile = "data.img";

// The root disk and seed that last passed a gate, kept while a new one is
// tried (docs/apply.md#rollback).
inline constexpr const char* kPreviousRootFile = "rootfs.previous.ext4";
inline constexpr const char* kPreviousSeedFile = "seed.previous.img";

// The mode of each file clawfleet keeps in an instance's directory.
inline unsigned instance_file_mode(const std::string& file) {
  if (file == "rootfs.ext4" || file == kDataDiskFile || file == kPreviousRootFile) return 0660;
  if (file == "seed.img" || file == kPreviousSeedFile || file == "launch.json" || file == "vmm-config.json")
    return 0640;
  return 0600;
}

}  // namespace cf::model
