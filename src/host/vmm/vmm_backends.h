// The two Vmm implementations behind make_vmm(); tests construct them
// directly.
#pragma once

#include <memory>

#include "host/vmm/vmm.h"

namespace cf::host {

// Firecracker in config-file mode, its API on spec.api_socket (libcurl).
std::unique_ptr<Vmm> make_firecracker_vmm();
// QEMU's microvm machine, QMP on spec.api_socket.
std::unique_ptr<Vmm> make_qemu_vmm();

}  // namespace cf::host
