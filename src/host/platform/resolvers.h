// The host's own DNS resolvers, the guests' default (Host spec.dns unset):
// systemd-resolved's upstream list when it runs, else /etc/resolv.conf.
// Loopback resolvers (resolved's 127.0.0.53 stub, a local dnsmasq on
// 127.0.0.1) are dropped: inside a guest they would be the guest itself.
#pragma once

#include <string>
#include <vector>

#include "core/net.h"
#include "host/platform/platform.h"
#include "model/desired.h"
#include "model/observed.h"

namespace cf::host {

// resolved writes the servers it really asks here; /etc/resolv.conf on such
// a host names only its stub.
inline constexpr const char* kResolvedUpstreamFile = "/run/systemd/resolve/resolv.conf";
inline constexpr const char* kResolvConfFile = "/etc/resolv.conf";

// The IPv4 `nameserver` lines of a resolv.conf, in order, without
// loopback, unspecified or repeated addresses, at most
// model::kMaxDnsServers. IPv6 and malformed lines are skipped (the guests
// are IPv4 only). `skipped` (when given) gets the loopback ones dropped.
std::vector<Ipv4> parse_resolv_conf(const std::string& text, std::vector<Ipv4>* skipped = nullptr);

// The first of kResolvedUpstreamFile and kResolvConfFile that names a
// usable resolver: `current` and `source` of ObservedDns, or `problem`
// saying what each file held. `recorded` is left alone (the inventory's).
model::ObservedDns host_resolvers(Platform& platform);

}  // namespace cf::host
