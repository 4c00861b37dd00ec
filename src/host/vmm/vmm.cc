#include "host/vmm/vmm.h"

#include "host/vmm/vmm_backends.h"

namespace cf::host {

const char* to_string(VmState s) {
  switch (s) {
    case VmState::Absent: return "absent";
    case VmState::NotStarted: return "not-started";
    case VmState::Running: return "running";
    case VmState::Paused: return "paused";
    case VmState::Unknown: return "unknown";
  }
  return "unknown";
}

std::unique_ptr<Vmm> make_vmm(model::VmmKind kind) {
  switch (kind) {
    case model::VmmKind::Firecracker: return make_firecracker_vmm();
    case model::VmmKind::Qemu: return make_qemu_vmm();
  }
  return make_firecracker_vmm();
}

}  // namespace cf::host
