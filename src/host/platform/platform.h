// What the machine offers its VMs: whether /dev/kvm opens, and the TSC
// frequency QEMU needs under TCG (shared/notes/real-microvms.md), and the
// host's resolver files (the guests' default DNS). Read by observe(); what
// clawfleet makes of them is plan::accelerator_for's and plan::choose_dns's.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/result.h"

namespace cf::host {

class Platform {
 public:
  virtual ~Platform() = default;
  // access("/dev/kvm", R_OK | W_OK): a device that opens. On a PVM host
  // it opens and still cannot boot an ordinary guest.
  virtual bool kvm_device() = 0;
  // "cpu MHz" of /proc/cpuinfo in kHz; 0 when it cannot be read.
  virtual std::uint32_t tsc_khz() = 0;
  // The text of one of the host's resolver files (resolvers.h names them):
  // nullopt when absent; an error when it is not a regular file (a FIFO is
  // refused, never waited on) or larger than kMaxResolverFileBytes.
  virtual Result<std::optional<std::string>> resolver_file(const std::string& path) = 0;
};

// resolv.conf is a few lines; anything this large is not one.
inline constexpr std::size_t kMaxResolverFileBytes = 64 * 1024;

std::unique_ptr<Platform> real_platform();

}  // namespace cf::host
