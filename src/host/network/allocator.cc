#include "host/network/allocator.h"

#include <charconv>
#include <sstream>

#include "host/network/network.h"

namespace cf::host {
namespace {

// /proc/net/tcp can be long on a busy host (≈150 bytes a socket).
constexpr std::size_t kMaxProcNetBytes = 64u << 20;
constexpr const char* kTcpListen = "0A";

std::string ip_error(const std::string& name, Ipv4 ip, const std::string& why) {
  return "instance " + name + ": guest address " + to_string(ip) + " " + why;
}

Result<Ipv4> pick_ip(const std::string& name, const model::Host& host, const std::optional<Ipv4>& pin,
                     const Taken& taken) {
  const Cidr& net = host.subnet;
  auto usable = [&](Ipv4 a) {
    return net.contains(a) && a != net.network && a != net.broadcast() && a != host.gateway;
  };
  if (pin) {
    if (!usable(*pin))
      return Error{ip_error(name, *pin,
                            "is not a usable host address of " + to_string(net) + " (network, broadcast and gateway " +
                                to_string(host.gateway) + " are reserved)")};
    if (taken.ips.contains(*pin)) return Error{ip_error(name, *pin, "is already held by another instance")};
    return *pin;
  }
  // Lowest free: the subnet is at most a /16, so a linear walk is cheap.
  for (std::uint64_t i = 1; i + 1 < net.size(); ++i) {
    Ipv4 a{net.network.value + std::uint32_t(i)};
    if (usable(a) && !taken.ips.contains(a)) return a;
  }
  return Error{"instance " + name + ": no free guest address in " + to_string(net) + " (" +
               std::to_string(taken.ips.size()) + " held by instances)"};
}

Result<Mac> pick_mac(const std::string& name, Ipv4 ip, const std::optional<Mac>& pin, const Taken& taken) {
  if (pin) {
    if (pin->multicast()) return Error{"instance " + name + ": MAC " + to_string(*pin) + " is a multicast address"};
    if (taken.macs.contains(*pin))
      return Error{"instance " + name + ": MAC " + to_string(*pin) + " is already held by another instance"};
    return *pin;
  }
  // mac_for() is unique per address; only a pinned MAC elsewhere can clash,
  // and then the next locally administered prefix is tried.
  Mac m = mac_for(ip);
  for (std::uint8_t second = 0xfc; second != 0; ++second) {
    m.bytes[1] = second;
    if (!taken.macs.contains(m)) return m;
  }
  return Error{"instance " + name + ": no free MAC for " + to_string(ip)};
}

Result<std::uint16_t> pick_port(const std::string& name, const model::Host& host,
                                const std::optional<std::uint16_t>& pin, const Taken& taken,
                                const std::function<bool(std::uint16_t)>& listening) {
  if (pin) {
    std::string p = std::to_string(*pin);
    if (taken.ports.contains(*pin))
      return Error{"instance " + name + ": host port " + p + " is already held by another instance"};
    if (listening(*pin))
      return Error{"instance " + name + ": host port " + p + " is pinned but a process on this host listens on it"};
    return *pin;
  }
  std::size_t busy = 0;
  for (std::uint32_t port = host.port_first; port <= host.port_last; ++port) {
    auto p = std::uint16_t(port);
    if (taken.ports.contains(p)) continue;
    if (listening(p)) {
      ++busy;
      continue;
    }
    return p;
  }
  return Error{"instance " + name + ": no free host port in " + std::to_string(host.port_first) + "-" +
               std::to_string(host.port_last) + " (" + std::to_string(taken.ports.size()) + " held by instances, " +
               std::to_string(busy) + " in use by other processes)"};
}

// Ports of sockets in LISTEN state in one /proc/net/tcp{,6} table:
//   sl local_address rem_address st ...
//   0: 0100007F:4A9C 00000000:0000 0A ...
Status parse_tcp_table(const std::string& path, const std::string& text, std::set<std::uint16_t>& out) {
  std::istringstream lines(text);
  std::string line;
  std::getline(lines, line);  // header
  for (int n = 2; std::getline(lines, line); ++n) {
    std::istringstream fields(line);
    std::string sl, local, remote, st;
    if (!(fields >> sl >> local >> remote >> st)) continue;
    if (st != kTcpListen) continue;
    auto colon = local.rfind(':');
    unsigned port = 0;
    auto hex = std::string_view(local).substr(colon == std::string::npos ? local.size() : colon + 1);
    auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), port, 16);
    if (colon == std::string::npos || ec != std::errc() || end != hex.data() + hex.size() || port > 0xffff)
      return Error{path + ":" + std::to_string(n) + ": malformed local address \"" + local + "\""};
    out.insert(std::uint16_t(port));
  }
  return {};
}

}  // namespace

Mac mac_for(Ipv4 ip) {
  return Mac{{0x06, 0xfc, std::uint8_t(ip.value >> 24), std::uint8_t(ip.value >> 16), std::uint8_t(ip.value >> 8),
              std::uint8_t(ip.value)}};
}

Result<Allocation> allocate(const std::string& name, const model::Host& host, const model::NetworkPins& pins,
                            const Taken& taken, const std::function<bool(std::uint16_t)>& listening) {
  auto ip = pick_ip(name, host, pins.ip, taken);
  if (!ip) return ip.error();
  auto mac = pick_mac(name, ip.value(), pins.mac, taken);
  if (!mac) return mac.error();
  auto port = pick_port(name, host, pins.host_port, taken, listening);
  if (!port) return port.error();
  return Allocation{ip.value(), mac.value(), port.value(), tap_name(name, taken.taps)};
}

Result<std::set<std::uint16_t>> listening_tcp_ports(FileReader& files, const std::string& proc_net) {
  std::set<std::uint16_t> out;
  for (const char* table : {"tcp", "tcp6"}) {
    std::string path = proc_net + "/" + table;
    auto text = files.read_file(path, kMaxProcNetBytes);
    if (!text) {
      // A kernel without IPv6 has no tcp6 table; without tcp nothing is known.
      if (std::string(table) == "tcp6") continue;
      return text.error();
    }
    if (auto s = parse_tcp_table(path, text.value(), out); !s) return s.error();
  }
  return out;
}

}  // namespace cf::host
