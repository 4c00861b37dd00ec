// The planner's input, completed with what only the host can tell or the
// host module render: the guests' resolvers (plan::choose_dns), the hash of
// clawfleet's nftables table and of each instance's drop-ins.
#pragma once

#include <map>
#include <string>

#include "core/result.h"
#include "model/desired.h"
#include "model/observed.h"
#include "plan/plan.h"

namespace cf::apply {

// `complete`: the whole manifest set loaded without errors. `digests`: the
// caller reads the secrets (manifest::read_secret) and passes their digests
// only; `ca_digests` likewise for the Host's CA certificates. Drop-in
// hashes are computed for instances that already have an allocation (new
// ones get everything written anyway). An error when the fleet has
// instances and no resolver can be chosen for them.
// clawfleet's nftables ruleset for a host with these instances on it
// (every one with an allocation, name -> allocation), each guest limited
// to the bandwidth its manifest gives, if any.
std::string ruleset_for(const model::Fleet& fleet, const std::map<std::string, model::Allocation>& on_host);

Result<plan::Desired> desired_for(const model::Fleet& fleet, bool complete,
                                  std::map<model::SecretRef, std::string> digests,
                                  std::map<std::string, std::string> ca_digests, const model::Observed& observed);

}  // namespace cf::apply
