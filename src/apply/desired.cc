#include "apply/desired.h"

#include "core/sha256.h"
#include "host/network/network.h"
#include "host/systemd/dropins.h"

namespace cf::apply {

Result<plan::Desired> desired_for(const model::Fleet& fleet, bool complete,
                                  std::map<model::SecretRef, std::string> digests,
                                  std::map<std::string, std::string> ca_digests, const model::Observed& observed) {
  plan::Desired d;
  d.fleet = fleet;
  d.complete = complete;
  d.secret_digests = std::move(digests);
  d.ca_digests = std::move(ca_digests);
  // Everything below (table, seeds, generations) sees the effective list.
  // Without instances nothing needs a resolver, so none is no error.
  if (auto dns = plan::choose_dns(fleet.host, observed.dns)) {
    d.dns = dns.value();
    d.fleet.host.dns = d.dns.servers;
  } else if (!fleet.instances.empty()) {
    return dns.error();
  }
  d.fleet.host.host_networks = observed.host_networks;  // what egress internet keeps guests out of
  // The ruleset holds every instance with an allocation on the host (one
  // not in the manifests, refused a destroy, still runs).
  std::vector<model::Allocation> guests;
  for (const auto& [_, i] : observed.instances)
    if (i.allocation) guests.push_back(*i.allocation);
  d.table_hash = "sha256:" + sha256_hex(host::render_ruleset(d.fleet.host, std::move(guests)));
  for (const auto& instance : fleet.instances) {
    auto it = observed.instances.find(instance.name);
    if (it == observed.instances.end() || !it->second.allocation) continue;
    auto dropins = host::dropins_for(d.fleet.host, instance.name, *it->second.allocation);
    // An unusable state root fails the apply step that writes them, with
    // its message; here it only means there is nothing to compare.
    if (!dropins) continue;
    auto& hashes = d.dropin_hashes[instance.name];
    for (const auto& dropin : dropins.value()) hashes[dropin.path()] = "sha256:" + sha256_hex(dropin.content);
  }
  return d;
}

}  // namespace cf::apply
