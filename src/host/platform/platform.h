// What the machine offers its VMs: whether /dev/kvm opens, whether it can
// actually run a guest (a boot probe, recorded for the current boot of the
// host), the TSC frequency QEMU needs under TCG
// (shared/notes/real-microvms.md), and the host's resolver files (the
// guests' default DNS). Read by observe(); what clawfleet makes of them is
// plan::accelerator_for's and plan::choose_dns's; the probe is run by apply
// and the agent (apply::probe_accelerator), never by plan or status.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/result.h"
#include "model/observed.h"

namespace cf::host {

class Platform {
 public:
  virtual ~Platform() = default;
  // access("/dev/kvm", R_OK | W_OK): a device that opens. On a PVM host
  // it opens and still cannot boot an ordinary guest.
  virtual bool kvm_device() = 0;
  // "cpu MHz" of /proc/cpuinfo in kHz; 0 when it cannot be read.
  virtual std::uint32_t tsc_khz() = 0;
  // The probe recorded since the host last booted; nullopt when none.
  virtual std::optional<model::KvmProbe> recorded_kvm_probe() = 0;
  // Boots `kernel` with `qemu` under /dev/kvm (boot_probe) and records the
  // result for this boot of the host.
  virtual model::KvmProbe probe_kvm(const std::string& qemu, const std::string& kernel,
                                    std::chrono::milliseconds deadline) = 0;
  // The text of one of the host's resolver files (resolvers.h names them):
  // nullopt when absent; an error when it is not a regular file (a FIFO is
  // refused, never waited on) or larger than kMaxResolverFileBytes.
  virtual Result<std::optional<std::string>> resolver_file(const std::string& path) = 0;
};

// resolv.conf is a few lines; anything this large is not one.
inline constexpr std::size_t kMaxResolverFileBytes = 64 * 1024;

// `record`: where the probe's result is kept (a tmpfs: it must not outlive
// the boot it describes, and its boot id is checked as well).
inline constexpr const char* kKvmProbeRecord = "/run/clawfleet/kvm-probe.json";
std::unique_ptr<Platform> real_platform(std::string record = kKvmProbeRecord);

// One tiny guest: the kernel alone, no disk and no initrd, so that it
// panics when it finds no root file system — its own panic message on the
// serial console proves that the guest CPU ran (a device that merely opens
// proves nothing). `accel` is "kvm" (the probe) or "tcg" (to test the
// probe where KVM cannot run; a kernel under TCG needs `tsc_khz`, or it
// stalls calibrating its clock). Killed at `deadline`.
model::KvmProbe boot_probe(const std::string& qemu, const std::string& kernel, const std::string& accel,
                           std::uint32_t tsc_khz, std::chrono::milliseconds deadline);

}  // namespace cf::host
