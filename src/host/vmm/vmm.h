// A VMM behind one small interface: Firecracker (production default) and
// QEMU microvm (in Debian; what the end-to-end tests boot).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/net.h"
#include "core/result.h"
#include "host/vmm/jail.h"
#include "model/desired.h"
#include "model/observed.h"

namespace cf::host {

// The drives' ids, as both VMMs name them: the root disk, the NoCloud seed
// and the data disk, in this order (/dev/vda, /dev/vdb, /dev/vdc).
inline constexpr const char* kRootDrive = "rootfs";
inline constexpr const char* kSeedDrive = "seed";
inline constexpr const char* kDataDrive = "data";

// Everything needed to run one instance's VM; paths are absolute.
struct VmSpec {
  std::string name;
  std::string binary;       // the VMM executable
  model::Image image;       // kernel and optional initrd (rootfs: see rootfs_path)
  std::string rootfs_path;  // the instance's own disk
  std::string seed_path;    // cloud-init NoCloud seed (read-only drive)
  std::string data_path;    // the data disk, the third drive; "" when the instance has none
  int vcpus = 1;
  std::uint32_t memory_mib = 128;
  bool smt = false;
  std::string tap;
  Mac mac;
  std::string api_socket;     // Firecracker API socket or QEMU QMP socket
  std::string log_path;       // Firecracker's logger ("" for QEMU; the console is stdio)
  std::string metrics_path;   // Firecracker metrics ("" for QEMU)
  std::string config_path;    // Firecracker --config-file ("" for QEMU)
  std::string kernel_args;    // extra kernel command line
  bool kvm = true;            // QEMU: -accel kvm, else tcg
  std::uint32_t tsc_khz = 0;  // QEMU under TCG: tsc_early_khz (0 = omit)
  // Firecracker under its jailer: the jailer's path, the jail (the paths
  // above stay the host's; the config names them as the jail does), and
  // the user it runs Firecracker as.
  std::string jailer;
  std::optional<Jail> jail;
  std::uint32_t uid = 0;
};

using model::VmState;

class Vmm {
 public:
  virtual ~Vmm() = default;
  // The files to write before start (Firecracker: the config JSON at
  // spec.config_path), as path -> content.
  virtual Result<std::vector<std::pair<std::string, std::string>>> files(const VmSpec& spec) const = 0;
  // The command line that runs the VM in the foreground (the unit's ExecStart).
  virtual std::vector<std::string> argv(const VmSpec& spec) const = 0;
  // Asks the running VMM over its socket; Absent when no socket answers.
  virtual Result<VmState> state(const std::string& api_socket, std::chrono::milliseconds timeout) = 0;
  // Graceful shutdown request (Firecracker SendCtrlAltDel, QEMU system_powerdown).
  virtual Status request_shutdown(const std::string& api_socket, std::chrono::milliseconds timeout) = 0;
  // Ends the VMM at once, whatever the guest does (QEMU quit): true when
  // asked, false when this VMM has no such request (Firecracker, which a
  // SIGTERM ends).
  virtual Result<bool> quit(const std::string& api_socket, std::chrono::milliseconds timeout) = 0;
  // Tells a running VM that a disk file (the drive `drive`, kRootDrive or
  // kDataDrive, at `path` as the VMM names it: VmmView) grew to `bytes`, so
  // the guest sees the new capacity (Firecracker PATCH /drives/<drive>,
  // QEMU block_resize); the guest then grows its filesystem.
  virtual Status notify_disk_grown(const std::string& api_socket, const std::string& drive, const std::string& path,
                                   std::uint64_t bytes, std::chrono::milliseconds timeout) = 0;
};

std::unique_ptr<Vmm> make_vmm(model::VmmKind kind);

}  // namespace cf::host
