// The host network clawfleet owns: one bridge, one tap per instance, a
// permanent neighbour entry per guest, the nftables ruleset (tables `inet
// clawfleet` and `bridge clawfleet`), ip_forward. Real adapter: netlink (rtnetlink dumps and
// requests, /dev/net/tun for persistent taps) and libnftables. Fake:
// tests/fakes/fake_network.h.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/net.h"
#include "core/result.h"
#include "model/desired.h"
#include "model/observed.h"

namespace cf::host {

struct Link {
  std::string name;
  int ifindex = 0;
  std::string kind;                   // "bridge", "tun", "veth", "" (IFLA_INFO_KIND)
  std::optional<std::string> master;  // bridge name when enslaved
  bool up = false;                    // IFF_UP
  bool isolated = false;              // bridge port flag (IFLA_BRPORT_ISOLATED)
  std::string alias;                  // IFLA_IFALIAS; clawfleet marks taps "clawfleet:<instance>"
  std::vector<Cidr> ipv4;             // addresses, with the address itself in `network`
  bool operator==(const Link&) const = default;
};

class Network {
 public:
  virtual ~Network() = default;
  // Every link with its bridge port flags and IPv4 addresses: one link dump
  // and one address dump, however many taps exist.
  virtual Result<std::vector<Link>> links() = 0;
  // Creates the bridge if missing, sets its address (gateway/prefix), up.
  virtual Status ensure_bridge(const std::string& name, Ipv4 gateway, int prefix) = 0;
  // A persistent tap that `owner` (the VMM's uid) may open, attached to
  // bridge, port isolated, alias set, up. Idempotent: fixes an existing
  // tap of that name, but not the owner of one a VMM holds open (the tun
  // driver refuses; it is set again before the next VMM starts).
  virtual Status ensure_tap(const std::string& name, const std::string& bridge, const std::string& alias,
                            std::uint32_t owner) = 0;
  // Absent is success.
  virtual Status delete_link(const std::string& name) = 0;
  // The host's entry for a guest: `ip` is at `mac` on the bridge, for
  // good (NUD_PERMANENT), so nothing a guest answers to ARP changes where
  // the host sends a guest's traffic. Idempotent (create or replace).
  virtual Status ensure_neighbour(const std::string& bridge, Ipv4 ip, const Mac& mac) = 0;
  // Absent (entry or bridge) is success.
  virtual Status delete_neighbour(const std::string& bridge, Ipv4 ip) = 0;
  // `nft list table inet clawfleet` then `… bridge clawfleet`, tersely
  // (without the elements the kernel adds to dynamic sets) and without
  // counters; nullopt when neither table exists.
  virtual Result<std::optional<std::string>> read_ruleset() = 0;
  // Replaces both tables in one transaction (delete + add in one batch).
  virtual Status replace_ruleset(const std::string& ruleset) = 0;
  virtual Status delete_ruleset() = 0;
  virtual Result<bool> ip_forward() = 0;
  virtual Status set_ip_forward(bool on) = 0;
};

inline constexpr const char* kTableName = "clawfleet";
inline constexpr const char* kTapAliasPrefix = "clawfleet:";

// clawfleet's nftables ruleset for this host and these guests (every
// instance with an allocation on the host, in any order), two tables:
// - `inet clawfleet`: a cap on each guest's tracked connections;
//   masquerade for the subnet, forward accept of established and (egress
//   allow) new outbound traffic, drop bridge to bridge, drop guest traffic
//   to 169.254.169.254; guests reach the host itself only with ping, and
//   with DNS when one of the Host's resolvers (host.dns, the effective
//   list) is its bridge address.
// - `bridge clawfleet`: each guest's tap passes only frames from its MAC,
//   IPv4 from its address and ARP that says so; any other clawfleet tap
//   (named cf*) passes nothing.
// `bandwidth`: tap -> bits per second a guest may send, and receive
// (spec.resources.bandwidth); a guest not in it is not limited.
std::string render_ruleset(const model::Host& host, std::vector<model::Allocation> guests,
                           const std::map<std::string, std::uint64_t>& bandwidth = {});

// "cf" + a short hash of the instance name, within IFNAMSIZ-1 (15 bytes);
// on a collision with `taken` the hash is salted until it is free.
std::string tap_name(const std::string& instance, const std::set<std::string>& taken);

// Whether `ruleset` is a `table inet clawfleet { … }` block, optionally
// followed by one `table bridge clawfleet { … }` block: every line at the
// top level (not indented) opens or closes one, so a ruleset can never
// reach another table (`flush ruleset`, `add rule ip filter …`).
// replace_ruleset refuses anything else.
bool only_our_tables(const std::string& ruleset);

// `nft list` text with each map's elements in sorted order: an anonymous
// map (the bridge table's per-tap vmap) is a hash in the kernel, listed
// in whatever order it holds its elements, which is not configuration.
// render_ruleset writes them sorted; read_ruleset returns this.
std::string sorted_maps(const std::string& listing);

std::unique_ptr<Network> real_network();

}  // namespace cf::host
