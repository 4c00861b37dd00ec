// observe(): one read-only pass over everything clawfleet owns on the host.
// Its cost in round trips is fixed however many instances exist: one unit
// listing (ListUnitsByPatterns + ListUnitFilesByPatterns, then every loaded
// unit's properties pipelined as one batch), one link and one address dump,
// one table read; plus per-instance file reads and one VMM socket probe per
// instance (a missing socket answers at once).
#pragma once

#include <chrono>
#include <map>
#include <set>
#include <string>

#include "core/result.h"
#include "host/ports.h"
#include "model/desired.h"
#include "model/observed.h"
#include "model/units.h"

namespace cf::host {

// The unit names (model/units.h), as host code calls them.
using model::proxy_service_unit;
using model::proxy_socket_unit;
using model::vm_unit;
// The VMM API/QMP socket of an instance, under the state root (in its jail
// under Firecracker's jailer: vmm_view).
std::string vmm_socket(const model::Host& host, const std::string& name);

Result<model::Observed> observe(const model::Host& host, const Ports& ports);

// Deep readiness (Health::readiness) of every instance in `observed` whose
// VM unit is active and whose proxy has an address and a token: one `/readyz` each,
// each bounded by `timeout`. The others are absent. Not part of observe():
// the planner never needs it, and only `status` and the agent pay for it.
std::map<std::string, model::Readiness> observe_readiness(const model::Observed& observed, const Ports& ports,
                                                          std::chrono::milliseconds timeout);

// Liveness (Health::alive: one `/healthz` each, bounded by `timeout`, as
// many at a time as readiness) of the instances in `names` whose VM unit is
// active in `observed` and whose proxy has an address; the others are
// absent. Which instances are worth asking (their health gate passed) is
// the agent's to say.
std::map<std::string, Status> observe_liveness(const model::Observed& observed, const Ports& ports,
                                               std::chrono::milliseconds timeout, const std::set<std::string>& names);

}  // namespace cf::host
