// The pure half of the network port: the nftables ruleset clawfleet owns
// and tap names. The netlink/libnftables adapter is network_real.cc.
#include "host/network/network.h"

#include <algorithm>
#include <string>
#include <vector>

#include "core/sha256.h"
#include "core/text.h"

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
// The text below is byte for byte what `nft -t list table inet clawfleet`
// and `… bridge clawfleet` print back (tabs, blank lines between chains, priority names), so the
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

// The bridge table: what each guest may put on the bridge. Port isolation
// keeps guests apart at layer 2, but the host itself listens to every
// port: without this a guest could answer ARP for a neighbour's address
// (and get the host's connections to it, the gateway token with them),
// send from another address or MAC, or send IPv6 (router advertisements
// included). Its tap passes frames from its MAC only, ARP only when it
// names that MAC and the guest's address (Ethernet and IPv4 sizes, so no
// other reading of the packet is possible), IPv4 only from its address
// and never as a DHCP server; nothing else. A clawfleet tap the table
// does not know (all are named cf + 13 hex digits) passes nothing. The
// rules sit at the bridge's prerouting hook, before the host or the
// bridge acts on a frame.
// A byte rate as nft prints it: the largest of bytes, kbytes and mbytes
// (1024 apart) that holds it whole.
std::string rate_text(std::uint64_t bytes) {
  const char* units[] = {"bytes", "kbytes", "mbytes"};
  int unit = 0;
  while (unit < 2 && bytes % 1024 == 0) bytes /= 1024, ++unit;
  return std::to_string(bytes) + " " + units[unit] + "/second";
}

std::string render_guard(std::vector<model::Allocation> guests, const std::map<std::string, std::uint64_t>& bandwidth) {
  std::sort(guests.begin(), guests.end(), [](const auto& a, const auto& b) { return a.tap < b.tap; });
  std::string t = "table bridge clawfleet {\n";
  t += "\tchain prerouting {\n";
  t += "\t\ttype filter hook prerouting priority filter; policy accept;\n";
  if (!guests.empty()) {
    // A map, so a frame costs one lookup however many guests there are.
    t += "\t\tiifname vmap { ";
    for (std::size_t i = 0; i < guests.size(); ++i)
      t += (i ? ", \"" : "\"") + guests[i].tap + "\" : jump guest-" + guests[i].tap;
    t += " }\n";
  }
  t += "\t\tiifname \"cf*\" drop\n";
  t += "\t}\n";
  for (const auto& g : guests) {
    const std::string mac = to_string(g.mac), ip = to_string(g.ip);
    t += "\n\tchain guest-" + g.tap + " {\n";
    t += "\t\tether saddr != " + mac + " drop\n";
    // What it sends past its rate is dropped (a policer: TCP slows down
    // to it; one second's worth may come at once).
    if (auto b = bandwidth.find(g.tap); b != bandwidth.end())
      t += "\t\tlimit rate over " + rate_text(b->second / 8) + " drop\n";
    t += "\t\tarp htype 1 arp ptype ip arp hlen 6 arp plen 4 arp saddr ether " + mac + " arp saddr ip " + ip +
         " accept\n";
    t += "\t\tip saddr " + ip + " udp sport 67 drop\n";
    t += "\t\tip saddr " + ip + " accept\n";
    t += "\t\tdrop\n";
    t += "\t}\n";
  }
  // And what it receives, as the frames leave the bridge for its tap.
  bool limited = false;
  for (const auto& g : guests)
    if (auto b = bandwidth.find(g.tap); b != bandwidth.end()) {
      if (!limited) {
        t += "\n\tchain postrouting {\n";
        t += "\t\ttype filter hook postrouting priority filter; policy accept;\n";
        limited = true;
      }
      t += "\t\toifname \"" + g.tap + "\" limit rate over " + rate_text(b->second / 8) + " drop\n";
    }
  if (limited) t += "\t}\n";
  t += "}\n";
  return t;
}

}  // namespace

std::string render_ruleset(const model::Host& host, std::vector<model::Allocation> guests,
                           const std::map<std::string, std::uint64_t>& bandwidth) {
  const std::string br = "\"" + host.bridge + "\"";
  const std::string subnet = to_string(Cidr{Ipv4{host.subnet.network.value & host.subnet.mask()}, host.subnet.prefix});
  const std::string gw = to_string(host.gateway);
  const model::Egress mode = host.egress;
  const auto to_host = [&](const model::EgressException& e) { return e.to == Cidr{host.gateway, 32}; };
  const bool proxy_on_host = mode == model::Egress::Proxy && host.proxy && host.proxy->address == host.gateway;

  std::string t = "table inet clawfleet {\n";
  // One guest cannot fill the host's connection-tracking table (which
  // would stop every other guest's, and the host's own, new connections):
  // a connection over its cap is dropped before it is confirmed. The key
  // is the source address, which the bridge table holds to the guest's own.
  t += "\tset guest_connections {\n";
  t += "\t\ttype ipv4_addr\n";
  t += "\t\tsize 65535\n";
  t += "\t\tflags dynamic\n";
  t += "\t}\n\n";
  t += "\tchain prerouting {\n";
  t += "\t\ttype filter hook prerouting priority filter; policy accept;\n";
  t += "\t\tiifname " + br + " ct state new add @guest_connections { ip saddr ct count over " +
       std::to_string(model::max_connections(host)) + " } drop\n";
  t += "\t}\n\n";
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
  return t + render_guard(std::move(guests), bandwidth);
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

std::string sorted_maps(const std::string& listing) {
  std::string out;
  std::size_t start = 0;
  while (start < listing.size()) {
    std::size_t end = listing.find('\n', start);
    if (end == std::string::npos) end = listing.size();
    std::string line = listing.substr(start, end - start);
    const std::size_t open = line.find(" vmap { ");
    if (open != std::string::npos && line.size() > open + 10 && line.compare(line.size() - 2, 2, " }") == 0) {
      const std::size_t from = open + 8;
      std::vector<std::string> elements;
      const std::string body = line.substr(from, line.size() - 2 - from);
      for (std::size_t at = 0;;) {
        const std::size_t comma = body.find(", ", at);
        elements.push_back(body.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
        if (comma == std::string::npos) break;
        at = comma + 2;
      }
      std::sort(elements.begin(), elements.end());
      line = line.substr(0, from) + join(elements, ", ") + " }";
    }
    out += line;
    if (end < listing.size()) out += '\n';
    start = end + 1;
  }
  return out;
}

bool only_our_tables(const std::string& ruleset) {
  bool opened = false;
  int tables = 0;
  std::size_t start = 0;
  while (start < ruleset.size()) {
    std::size_t end = ruleset.find('\n', start);
    if (end == std::string::npos) end = ruleset.size();
    std::string line = ruleset.substr(start, end - start);
    start = end + 1;
    if (line.empty() || line[0] == '\t' || line[0] == ' ') continue;
    if (!opened && tables == 0 && line == "table inet clawfleet {")
      opened = true;
    else if (!opened && tables == 1 && line == "table bridge clawfleet {")
      opened = true;
    else if (opened && line == "}") {
      opened = false;
      ++tables;
    } else {
      return false;
    }
  }
  return tables > 0 && !opened;
}

}  // namespace cf::host
