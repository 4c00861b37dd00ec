// The one decision of how VMs run (plan.h, Accelerator).
#include "plan/plan.h"

namespace cf::plan {

Accelerator accelerator_for(const model::Vmm& vmm, const model::ObservedPlatform& platform) {
  if (vmm.kind == model::VmmKind::Firecracker) {
    if (platform.kvm_device) return {true, "firecracker always uses KVM"};
    return {true, "firecracker always uses KVM, and /dev/kvm cannot be opened: its VMs will not start"};
  }
  if (vmm.accel == model::Accel::Tcg) return {false, "qemu emulates, as spec.vmm.accel says"};
  if (vmm.accel == model::Accel::Kvm) {
    if (platform.kvm_device) return {true, "qemu uses KVM, as spec.vmm.accel says"};
    return {true, "qemu uses KVM, as spec.vmm.accel says, and /dev/kvm cannot be opened: its VMs will not start"};
  }
  if (!platform.kvm_device) return {false, "qemu emulates: /dev/kvm cannot be opened"};
  if (!platform.kvm_probe)
    return {false,
            "qemu emulates until a boot probe shows that /dev/kvm can run a guest (that it opens is not enough; "
            "apply and the agent run one)"};
  if (!platform.kvm_probe->runs)
    return {false, "qemu emulates: a boot probe under /dev/kvm at " + platform.kvm_probe->time +
                       " did not run a guest (" + platform.kvm_probe->detail + ")"};
  return {true, "qemu uses KVM: a boot probe at " + platform.kvm_probe->time + " ran a guest under /dev/kvm (" +
                    platform.kvm_probe->detail + ")"};
}

}  // namespace cf::plan
