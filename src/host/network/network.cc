// The pure half of the network port: the nftables ruleset clawfleet owns
// and tap names. The netlink/libnftables adapter is network_real.cc.
#include "host/network/network.h"

#include <algorithm>
#include <string>
#include <vector>

#include "core/sha256.h"

namespace cf::host {

// How our table coexists with the host's other firewall tables.
//
// nftables runs every base chain registered at a hook (ours, iptables-nft's
// `ip filter FORWARD`, firewalld's, Docker's, iptables-legacy's), in order
// of priority. A verdict is final only when it is `drop`: a packet dropped
// by ANY base chain at a hook is gone, while `accept` only ends the walk of
// the chain that said it, and the next base chain at the same hook still
// sees the packet. So nothing in this table can override another table's
// drop: on a host whose FORWARD policy is DROP (Docker sets it; so do many
// hardening guides) our `accept` rules do not let guest traffic out, and
// raising or lowering our priority changes only who looks first, never the
// outcome.
//
// What clawfleet therefore does:
// - Its chains use policy accept, so the table never changes the host's
//   policy for traffic that is not clawfleet's, and its `accept` rules only
//   end evaluation of our own chain early (their order is what matters).
// - Every restriction it needs (isolation, metadata endpoint, no inbound
//   connections to guests, egress deny, guest → host) is a `drop`, which
//   holds whatever the other tables say.
// - It does not touch other tables. On a host with a FORWARD DROP policy the
//   operator must allow the bridge there, e.g. for Docker
//   `iptables -I DOCKER-USER -i <bridge> ! -o <bridge> -j ACCEPT` and
//   `iptables -I DOCKER-USER -o <bridge> -m conntrack --ctstate
//   ESTABLISHED,RELATED -j ACCEPT`. This is a documented limit: egress of a
//   clawfleet guest works only if no other table drops it.
//
// NAT: masquerade runs in our own nat chain at priority srcnat; the first
// nat chain that binds a connection wins, the others are not consulted for
// it, so another table's SNAT of the same subnet would take precedence.
//
// The text below is byte for byte what `nft list table inet clawfleet`
// prints back (tabs, blank lines between chains, priority names), so the
// observed table can be compared with the rendered one by hash.
namespace {

// What `internet` never lets guests reach (besides 169.254.169.254, dropped
// in every mode): "this" network, RFC 1918, CGNAT, loopback, link-local,
// multicast and the reserved 240/4 with the broadcast address. The RFC 5737
// documentation ranges are not here: they stand in for the internet in tests.
constexpr const char* kNotInternet[] = {"0.0.0.0/8",      "10.0.0.0/8",     "100.64.0.0/10",
                                        "127.0.0.0/8",    "169.254.0.0/16", "172.16.0.0/12",
                                        "192.168.0.0/16", "224.0.0.0/4",    "240.0.0.0/4"};

// A destination as nft prints it: a /32 is the bare address.
std::string dest(const Cidr& c) { return c.prefix == 32 ? to_string(c.network) : to_string(c); }

// The networks `internet` drops: the fixed ones, then each of the host's
// own that none of them holds (a public LAN of the host, say).
std::vector<Cidr> not_internet(const model::Host& host) {
  std::vector<Cidr> out;
  for (const char* c : kNotInternet) out.push_back(parse_cidr(c).value());
  for (const Cidr& n : host.host_networks) {
    const Cidr net{Ipv4{n.network.value & n.mask()}, n.prefix};
    const bool held = std::any_of(out.begin(), out.end(),
                                  [&](const Cidr& o) { return o.prefix <= net.prefix && o.contains(net.network); });
    if (!held) out.push_back(net);
  }
  return out;
}

}  // namespace

std::string render_table(const model::Host& host) {
  const std::string br = "\"" + host.bridge + "\"";
  const std::string subnet = to_string(Cidr{Ipv4{host.subnet.network.value & host.subnet.mask()}, host.subnet.prefix});
  const std::string gw = to_string(host.gateway);
  const model::Egress mode = host.egress;
  const auto to_host = [&](const model::EgressException& e) { return e.to == Cidr{host.gateway, 32}; };
  const bool proxy_on_host = mode == model::Egress::Proxy && host.proxy && host.proxy->address == host.gateway;

  std::string t = "table inet clawfleet {\n";
  if (model::forwards(host)) {
    // Guests leave with the host's address on whatever interface routes
    // them, never when the packet goes back out of the bridge.
    t += "\tchain postrouting {\n";
    t += "\t\ttype nat hook postrouting priority srcnat; policy accept;\n";
    t += "\t\tip saddr " + subnet + " oifname != " + br + " masquerade\n";
    t += "\t}\n\n";
  }
  t += "\tchain forward {\n";
  t += "\t\ttype filter hook forward priority filter; policy accept;\n";
  // Guest to guest through the host (routed, or bridged with br_netfilter)
  // is never allowed; port isolation stops it at layer 2.
  t += "\t\tiifname " + br + " oifname " + br + " drop\n";
  // Into the bridge: only replies to what the guests started; nobody on
  // other networks opens connections to guests (the proxy runs on the host,
  // so its traffic is OUTPUT, not FORWARD).
  t += "\t\toifname " + br + " ct state established,related accept\n";
  t += "\t\toifname " + br + " drop\n";
  // Out of the bridge: never the cloud metadata endpoint, only IPv4 from
  // the subnet (no spoofed sources, no unmasqueraded IPv6).
  t += "\t\tiifname " + br + " ip daddr 169.254.169.254 drop\n";
  t += "\t\tiifname " + br + " ip saddr != " + subnet + " drop\n";
  t += "\t\tiifname " + br + " meta nfproto != ipv4 drop\n";
  // The exceptions, in every mode and before what the mode drops (one may
  // be a LAN address); each accepts a connection and all its packets.
  // Those at the host's own bridge address are the input chain's.
  for (const auto& e : host.allow_to) {
    if (to_host(e)) continue;
    const std::string to = "\t\tiifname " + br + " ip daddr " + dest(e.to);
    if (!e.port) {
      t += to + " accept\n";
      continue;
    }
    for (const char* proto : {"tcp", "udp"}) t += to + " " + proto + " dport " + std::to_string(*e.port) + " accept\n";
  }
  // internet: DNS to the guests' resolvers, which are often on the LAN
  // (a home router, a cloud's resolver) and dropped below otherwise.
  if (mode == model::Egress::Internet)
    for (Ipv4 r : host.dns) {
      if (r == host.gateway) continue;
      for (const char* proto : {"udp", "tcp"})
        t += "\t\tiifname " + br + " ip daddr " + to_string(r) + " " + proto + " dport 53 accept\n";
    }
  if (mode == model::Egress::Proxy && host.proxy && !proxy_on_host)
    t += "\t\tiifname " + br + " ip daddr " + to_string(host.proxy->address) + " tcp dport " +
         std::to_string(host.proxy->port) + " accept\n";
  // internet: nothing private, local or of the host's own networks (the
  // host's own addresses are INPUT, dropped below).
  if (mode == model::Egress::Internet)
    for (const Cidr& c : not_internet(host)) t += "\t\tiifname " + br + " ip daddr " + dest(c) + " drop\n";
  // New connections and everything after them (a rule for `ct state new`
  // alone would drop the guest's own ACKs that follow).
  if (mode == model::Egress::Internet || mode == model::Egress::Allow)
    t += "\t\tiifname " + br + " oifname != " + br + " accept\n";
  t += "\t\tiifname " + br + " drop\n";
  t += "\t}\n\n";
  // Guests reach the host only with replies: the host connects to them
  // (proxy, provisioning), addresses are static (no DHCP), ARP is not IP
  // and so not filtered here. Ping of the gateway is the one exception, so
  // a guest can tell its link works; and what runs on the bridge address
  // for them: a resolver, the egress proxy, an exception naming it.
  t += "\tchain input {\n";
  t += "\t\ttype filter hook input priority filter; policy accept;\n";
  t += "\t\tiifname " + br + " ct state established,related accept\n";
  const std::string to_gw = "\t\tiifname " + br + " ip daddr " + gw;
  t += to_gw + " icmp type echo-request accept\n";
  // A resolver on the host's own bridge address (a dnsmasq or resolved stub
  // bound there) must answer the guests: DNS to that address, nothing else.
  // Under deny nothing leaves, DNS included; under proxy only the proxy.
  if ((mode == model::Egress::Internet || mode == model::Egress::Allow) &&
      std::find(host.dns.begin(), host.dns.end(), host.gateway) != host.dns.end()) {
    t += to_gw + " udp dport 53 accept\n";
    t += to_gw + " tcp dport 53 accept\n";
  }
  if (proxy_on_host) t += to_gw + " tcp dport " + std::to_string(host.proxy->port) + " accept\n";
  for (const auto& e : host.allow_to) {
    if (!to_host(e)) continue;
    if (!e.port) {
      t += to_gw + " accept\n";
      continue;
    }
    for (const char* proto : {"tcp", "udp"})
      t += to_gw + " " + proto + " dport " + std::to_string(*e.port) + " accept\n";
  }
  t += "\t\tiifname " + br + " drop\n";
  t += "\t}\n";
  t += "}\n";
  return t;
}

// 13 hex digits (52 bits) of SHA-256 fill IFNAMSIZ-1 = 15 bytes with "cf".
// The salt is only used when the unsalted name is taken, so a name's tap
// stays the same as long as nothing else claimed it first; callers record
// the allocated name and do not ask again.
std::string tap_name(const std::string& instance, const std::set<std::string>& taken) {
  for (unsigned salt = 0;; ++salt) {
    std::string input = salt == 0 ? instance : instance + "\n" + std::to_string(salt);
    std::string name = "cf" + sha256_hex(input).substr(0, 13);
    if (!taken.contains(name)) return name;
  }
}

bool only_our_table(const std::string& ruleset) {
  bool opened = false, seen = false;
  std::size_t start = 0;
  while (start < ruleset.size()) {
    std::size_t end = ruleset.find('\n', start);
    if (end == std::string::npos) end = ruleset.size();
    std::string line = ruleset.substr(start, end - start);
    start = end + 1;
    if (line.empty() || line[0] == '\t' || line[0] == ' ') continue;
    if (!opened && line == "table inet clawfleet {")
      opened = seen = true;
    else if (opened && line == "}")
      opened = false;
    else
      return false;
  }
  return seen && !opened;
}

}  // namespace cf::host
