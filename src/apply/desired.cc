#include "apply/desired.h"

#include "core/sha256.h"
#include "host/network/network.h"
#include "host/systemd/dropins.h"

namespace cf::apply {

std::string ruleset_for(const model::Fleet& fleet, const std::map<std::string, model::Allocation>& on_host) {
  std::vector<model::Allocation> guests;
  std::map<std::string, std::uint64_t> bandwidth;
  for (const auto& [name, a] : on_host) {
    guests.push_back(a);
    if (const model::Instance* i = fleet.find(name); i && i->resources.bandwidth_bps)
      bandwidth[a.tap] = *i->resources.bandwidth_bps;
  }
  return host::render_ruleset(fleet.host, std::move(guests), bandwidth);
}

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
  // Each image's identity by content, which instances record at apply.
  for (auto& [name, image] : d.fleet.host.images)
    if (auto it = observed.images.find(name); it != observed.images.end()) {
      image.digest = it->second.digest;
      image.version = it->second.version;
    }
  // The ruleset holds every instance with an allocation on the host (one
  // not in the manifests, refused a destroy, still runs).
  std::map<std::string, model::Allocation> on_host;
  for (const auto& [name, i] : observed.instances)
    if (i.allocation) on_host.emplace(name, *i.allocation);
  d.table_hash = "sha256:" + sha256_hex(ruleset_for(d.fleet, on_host));
  for (const auto& instance : fleet.instances) {
    auto it = observed.instances.find(instance.name);
    if (it == observed.instances.end() || !it->second.allocation) continue;
    auto dropins = host::dropins_for(d.fleet.host, instance, *it->second.allocation);
    // An unusable state root fails the apply step that writes them, with
    // its message; here it only means there is nothing to compare.
    if (!dropins) continue;
    auto& hashes = d.dropin_hashes[instance.name];
    for (const auto& dropin : dropins.value()) hashes[dropin.path()] = "sha256:" + sha256_hex(dropin.content);
  }
  return d;
}

}  // namespace cf::apply
