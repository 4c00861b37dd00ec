// Connecting to a systemd at an explicit D-Bus address, e.g. the system bus
// of a container ("unix:path=/run/.../system_bus_socket"), instead of the
// host's system bus. Used by the nspawn integration tests; production code
// calls connect_systemd() (host/systemd/systemd.h).
#pragma once

#include <memory>
#include <string>

#include "core/result.h"
#include "host/systemd/systemd.h"

namespace cf::host {

Result<std::unique_ptr<Systemd>> connect_systemd(const std::string& address);

}  // namespace cf::host
