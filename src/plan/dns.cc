#include "plan/dns.h"

#include "core/text.h"

namespace cf::plan {
namespace {

std::string list(const std::vector<Ipv4>& xs) {
  std::vector<std::string> out;
  for (Ipv4 a : xs) out.push_back(to_string(a));
  return join(out, ", ");
}

}  // namespace

Result<DnsChoice> choose_dns(const model::Host& host, const model::ObservedDns& seen) {
  if (!host.dns.empty()) return DnsChoice{host.dns, DnsFrom::Manifest, ""};
  if (!seen.recorded.empty()) {
    DnsChoice c{seen.recorded, DnsFrom::Recorded, ""};
    // Shown, never followed: following the host would reprovision every
    // instance whenever its DHCP lease changes.
    if (seen.current != seen.recorded)
      c.warning =
          "the host's resolvers are now " +
          (seen.current.empty() ? "unknown (" + seen.problem + ")" : list(seen.current) + " (" + seen.source + ")") +
          "; the guests keep " + list(seen.recorded) + ", recorded in " + host.state_root +
          "/inventory.json when the Host was first applied; set the Host's spec.dns to change them";
    return c;
  }
  if (!seen.current.empty()) return DnsChoice{seen.current, DnsFrom::Host, ""};
  return Error{"no DNS resolver for the guests: the Host's spec.dns is unset and the host has none to offer (" +
               seen.problem +
               "); set it in the Host manifest, e.g. `spec: {dns: [192.0.2.53]}` with your resolver's address"};
}

}  // namespace cf::plan
