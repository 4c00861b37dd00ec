// What the machine offers its VMs: whether /dev/kvm opens, and the TSC
// frequency QEMU needs under TCG (shared/notes/real-microvms.md). Read by
// observe(); what clawfleet makes of it is plan::accelerator_for's.
#pragma once

#include <cstdint>
#include <memory>

namespace cf::host {

class Platform {
 public:
  virtual ~Platform() = default;
  // access("/dev/kvm", R_OK | W_OK): a device that opens. On a PVM host
  // it opens and still cannot boot an ordinary guest.
  virtual bool kvm_device() = 0;
  // "cpu MHz" of /proc/cpuinfo in kHz; 0 when it cannot be read.
  virtual std::uint32_t tsc_khz() = 0;
};

std::unique_ptr<Platform> real_platform();

}  // namespace cf::host
