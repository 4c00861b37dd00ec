// Allocation of an instance's guest address, MAC, host port and tap name:
// deterministic (lowest free), made once and recorded in the instance's
// state, so it is stable across runs; a manifest pin overrides it.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>

#include "core/fs.h"
#include "core/net.h"
#include "core/result.h"
#include "model/desired.h"
#include "model/observed.h"

namespace cf::host {

using model::Allocation;

// What other instances already hold.
struct Taken {
  std::set<Ipv4> ips;
  std::set<std::uint16_t> ports;
  std::set<Mac> macs;
  std::set<std::string> taps;

  void add(const Allocation& a) { ips.insert(a.ip), ports.insert(a.host_port), macs.insert(a.mac), taps.insert(a.tap); }
};

// MAC for a guest address: 06:fc (locally administered, unicast) + the
// four address bytes, unique for any subnet.
Mac mac_for(Ipv4 ip);

// Allocates for `name`. listening(port) says whether some process on the
// host already listens there (such ports are skipped, pinned ones refused).
Result<Allocation> allocate(const std::string& name, const model::Host& host, const model::NetworkPins& pins,
                            const Taken& taken, const std::function<bool(std::uint16_t)>& listening);

// TCP ports in LISTEN state on this host (any address), from /proc/net/tcp
// and tcp6 (the latter may be absent).
Result<std::set<std::uint16_t>> listening_tcp_ports(FileReader& files, const std::string& proc_net = "/proc/net");

}  // namespace cf::host
