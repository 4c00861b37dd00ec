// observe(): one read-only pass over everything clawfleet owns on the host.
// Its cost in round trips is fixed however many instances exist: one unit
// listing (ListUnitsByPatterns + ListUnitFilesByPatterns, then every loaded
// unit's properties pipelined as one batch), one link and one address dump,
// one table read; plus per-instance file reads and one VMM socket probe per
// instance (a missing socket answers at once).
#pragma once

#include "core/result.h"
#include "host/ports.h"
#include "model/desired.h"
#include "model/observed.h"

namespace cf::host {

// Unit names clawfleet uses for an instance.
std::string vm_unit(const std::string& name);            // clawfleet-vm@NAME.service
std::string proxy_socket_unit(const std::string& name);  // clawfleet-proxy@NAME.socket
std::string proxy_service_unit(const std::string& name); // clawfleet-proxy@NAME.service
// The VMM API/QMP socket of an instance, under the state root.
std::string vmm_socket(const std::string& state_root, const std::string& name);

Result<model::Observed> observe(const model::Host& host, const Ports& ports);

}  // namespace cf::host
