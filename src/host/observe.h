// observe(): one read-only pass over everything clawfleet owns on the host.
// Its cost in round trips is fixed however many instances exist: one unit
// listing (ListUnitsByPatterns + ListUnitFilesByPatterns, then every loaded
// unit's properties pipelined as one batch), one link and one address dump,
// one table read; plus per-instance file reads and one VMM socket probe per
// instance (a missing socket answers at once).
#pragma once

#include "core/fs.h"
#include "core/result.h"
#include "host/network.h"
#include "host/state.h"
#include "host/systemd.h"
#include "host/vmm.h"
#include "model/desired.h"
#include "model/observed.h"

namespace cf::host {

struct Ports {
  Systemd& systemd;
  Network& network;
  StateStore& state;
  Vmm& vmm;
  FileReader& files;  // reads unit files and drop-ins for their content hashes
  // Where clawfleet writes drop-ins: read directly, so those of instances
  // whose units systemd has not loaded (stopped, disabled) are seen too.
  std::string unit_dir = "/etc/systemd/system";
};

// Unit names clawfleet uses for an instance.
std::string vm_unit(const std::string& name);            // clawfleet-vm@NAME.service
std::string proxy_socket_unit(const std::string& name);  // clawfleet-proxy@NAME.socket
std::string proxy_service_unit(const std::string& name); // clawfleet-proxy@NAME.service
// The VMM API/QMP socket of an instance, under the state root.
std::string vmm_socket(const std::string& state_root, const std::string& name);

Result<model::Observed> observe(const model::Host& host, Ports ports);

}  // namespace cf::host
