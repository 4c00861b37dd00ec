// What a VM unit may use of the host (its cgroup limits, host/systemd/
// dropins.h): the guest's memory and a fixed overhead for the VMM itself.
// docs/host.md#limits gives the figures these were chosen from.
#pragma once

#include <cstdint>

#include "model/desired.h"

namespace cf::model {

// The VMM's own memory beside the guest's: device emulation, its heap, the
// console keeper. Firecracker and QEMU under KVM need far less.
inline constexpr std::uint32_t kVmmOverheadMiB = 256;
// QEMU under TCG also keeps the code it translates, in a buffer of this
// size (its default on 64-bit hosts, passed explicitly: -accel
// tcg,tb-size=). Under the real gateway it is wholly resident within
// minutes. Counted for every QEMU VM, whatever its accelerator: one that
// started under TCG keeps running so when a later probe finds KVM usable,
// and a limit must never drop below what a running VMM holds.
inline constexpr std::uint32_t kTcgTranslationBufferMiB = 1024;

// MemoryMax= of an instance's VM unit, in MiB.
inline std::uint64_t vm_memory_max_mib(const Resources& r, VmmKind vmm) {
  return std::uint64_t{r.memory_mib} + kVmmOverheadMiB + (vmm == VmmKind::Qemu ? kTcgTranslationBufferMiB : 0);
}

}  // namespace cf::model
