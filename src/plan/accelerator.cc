// The one decision of how VMs run (plan.h, Accelerator).
#include "plan/plan.h"

namespace cf::plan {

Accelerator accelerator_for(model::VmmKind vmm, const model::ObservedPlatform& platform) {
  if (vmm == model::VmmKind::Firecracker) {
    if (platform.kvm_device) return {true, "firecracker always uses KVM"};
    return {true, "firecracker always uses KVM, and /dev/kvm cannot be opened: its VMs will not start"};
  }
  if (!platform.kvm_device) return {false, "qemu emulates: /dev/kvm cannot be opened"};
  return {false, "qemu emulates until a boot probe shows that /dev/kvm can run a guest (that it opens is not enough)"};
}

}  // namespace cf::plan
