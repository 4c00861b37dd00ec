// The pure half of the network port: the nftables ruleset clawfleet owns
// and tap names. The netlink/libnftables adapter is network_real.cc.
#include "host/network/network.h"

#include <algorithm>
#include <string>

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
std::string render_table(const model::Host& host) {
  const std::string br = "\"" + host.bridge + "\"";
  const std::string subnet = to_string(Cidr{Ipv4{host.subnet.network.value & host.subnet.mask()}, host.subnet.prefix});
  const bool allow = host.egress == model::Egress::Allow;

  std::string t = "table inet clawfleet {\n";
  if (allow) {
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
  // Egress allow: new connections and everything after them (a rule for
  // `ct state new` alone would drop the guest's own ACKs that follow).
  if (allow) t += "\t\tiifname " + br + " oifname != " + br + " accept\n";
  t += "\t\tiifname " + br + " drop\n";
  t += "\t}\n\n";
  // Guests reach the host only with replies: the host connects to them
  // (proxy, provisioning), addresses are static (no DHCP), ARP is not IP
  // and so not filtered here. Ping of the gateway is the one exception, so
  // a guest can tell its link works.
  t += "\tchain input {\n";
  t += "\t\ttype filter hook input priority filter; policy accept;\n";
  t += "\t\tiifname " + br + " ct state established,related accept\n";
  const std::string gw = to_string(host.gateway);
  t += "\t\tiifname " + br + " ip daddr " + gw + " icmp type echo-request accept\n";
  // A resolver on the host's own bridge address (a dnsmasq or resolved stub
  // bound there) must answer the guests: DNS to that address, nothing else.
  // Under egress deny nothing leaves, DNS included.
  if (host.egress != model::Egress::Deny &&
      std::find(host.dns.begin(), host.dns.end(), host.gateway) != host.dns.end()) {
    t += "\t\tiifname " + br + " ip daddr " + gw + " udp dport 53 accept\n";
    t += "\t\tiifname " + br + " ip daddr " + gw + " tcp dport 53 accept\n";
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
