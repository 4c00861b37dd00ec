#include "host/vmm/vmm.h"

#include "host/vmm/vmm_backends.h"

namespace cf::host {

std::unique_ptr<Vmm> make_vmm(model::VmmKind kind) {
  switch (kind) {
    case model::VmmKind::Firecracker: return make_firecracker_vmm();
    case model::VmmKind::Qemu: return make_qemu_vmm();
  }
  return make_firecracker_vmm();
}

}  // namespace cf::host
