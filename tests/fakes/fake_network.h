// In-memory host::Network that records every call (ninja's
// VirtualFileSystem) and validates like the real adapter
// (src/host/network/network_real.cc): same preconditions, same error texts.
//
//   FakeNetwork net;
//   net.add_link(eth0);  // any host::Link
//   net.ensure_bridge("clawbr0", gw, 24);
//   net.calls == {"ensure_bridge clawbr0 10.100.0.1/24"}
//
// Taps get kind "tun", bridges kind "bridge"; ifindexes are handed out in
// order. fail() makes one exact call fail.
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/net.h"
#include "core/text.h"
#include "host/network/network.h"

namespace cf::testing {

class FakeNetwork : public host::Network {
 public:
  // Adds or replaces a link as links() reports it (a foreign link, or a
  // tap or bridge in some broken state); ifindex 0 gets the next free one.
  void add_link(host::Link link) {
    if (link.ifindex == 0)
      link.ifindex = next_index_++;
    else
      next_index_ = std::max(next_index_, link.ifindex + 1);
    std::string name = link.name;
    links_[name] = std::move(link);
  }
  const host::Link* link(const std::string& name) const {
    auto it = links_.find(name);
    return it == links_.end() ? nullptr : &it->second;
  }
  // The ruleset as the kernel would hold it; nullopt when absent.
  std::optional<std::string> table;
  // Permanent neighbour entries: "bridge ip" -> MAC.
  std::map<std::string, Mac> neighbours;
  bool forward = false;

  // The call whose recorded text is exactly `call` fails with message
  // (every time, until cleared with an empty message).
  void fail(const std::string& call, std::string message) {
    if (message.empty())
      failures_.erase(call);
    else
      failures_[call] = std::move(message);
  }

  // Every call, in order: "links", "ensure_bridge clawbr0 10.100.0.1/24",
  // "ensure_tap cf0123456789abc clawbr0 clawfleet:bot owner 1879048194", "delete_link X",
  // "ensure_neighbour clawbr0 10.100.0.2 06:fc:0a:64:00:02",
  // "delete_neighbour clawbr0 10.100.0.2", "read_ruleset",
  // "replace_ruleset", "delete_ruleset", "ip_forward", "set_ip_forward 1".
  std::vector<std::string> calls;

  Result<std::vector<host::Link>> links() override {
    if (auto e = record("links")) return *e;
    std::vector<host::Link> out;
    for (const auto& [_, l] : links_) out.push_back(l);
    std::sort(out.begin(), out.end(), [](const host::Link& a, const host::Link& b) { return a.ifindex < b.ifindex; });
    return out;
  }

  Status ensure_bridge(const std::string& name, Ipv4 gateway, int prefix) override {
    if (auto e = record("ensure_bridge " + name + " " + to_string(gateway) + "/" + std::to_string(prefix))) return *e;
    const std::string what = "bridge " + name;
    if (!is_ifname(name)) return Error{"cannot create " + what + ": " + ifname_rule()};
    if (prefix < 0 || prefix > 32)
      return Error{"cannot add address to " + what + ": prefix " + std::to_string(prefix) + " is not between 0 and 32"};
    auto it = links_.find(name);
    if (it == links_.end()) {
      add_link(make(name, "bridge"));
      it = links_.find(name);
    }
    host::Link& br = it->second;
    if (br.kind != "bridge")
      return Error{"cannot use " + name + " as bridge: it is a " + (br.kind.empty() ? "device" : br.kind) +
                   " link, not a bridge"};
    Cidr addr{gateway, prefix};
    if (std::find(br.ipv4.begin(), br.ipv4.end(), addr) == br.ipv4.end()) br.ipv4.push_back(addr);
    br.up = true;
    return {};
  }

  Status ensure_tap(const std::string& name, const std::string& bridge, const std::string& alias,
                    std::uint32_t owner) override {
    if (auto e = record("ensure_tap " + name + " " + bridge + " " + alias + " owner " + std::to_string(owner)))
      return *e;
    const std::string what = "tap " + name;
    if (!is_ifname(name)) return Error{"cannot create " + what + ": " + ifname_rule()};
    if (alias.empty() || alias.size() >= 256) return Error{"cannot set alias of " + what + ": must be 1 to 255 bytes"};
    const std::string attach = "cannot attach " + what + " to bridge " + bridge;
    auto br = links_.find(bridge);
    if (br == links_.end()) return Error{attach + ": no such bridge"};
    if (br->second.kind != "bridge") return Error{attach + ": " + bridge + " is not a bridge"};
    auto it = links_.find(name);
    if (it == links_.end()) {
      add_link(make(name, "tun"));
      it = links_.find(name);
    }
    host::Link& t = it->second;
    if (t.kind != "tun")
      return Error{"cannot create " + what + ": a " + (t.kind.empty() ? "device" : t.kind) +
                   " link of that name exists and is not a tap"};
    if (t.master != bridge) t.isolated = false;  // a new port starts afresh
    t.master = bridge;
    t.alias = alias;
    t.isolated = true;
    t.up = true;
    return {};
  }

  Status delete_link(const std::string& name) override {
    if (auto e = record("delete_link " + name)) return *e;
    if (!is_ifname(name)) return Error{"cannot delete link " + name + ": " + ifname_rule()};
    auto it = links_.find(name);
    if (it == links_.end()) return {};
    // Ports of a deleted bridge are released, as the kernel does.
    if (it->second.kind == "bridge")
      for (auto& [_, l] : links_)
        if (l.master == name) {
          l.master.reset();
          l.isolated = false;
        }
    links_.erase(it);
    return {};
  }

  Status ensure_neighbour(const std::string& bridge, Ipv4 ip, const Mac& mac) override {
    if (auto e = record("ensure_neighbour " + bridge + " " + to_string(ip) + " " + to_string(mac))) return *e;
    const std::string context =
        "cannot set the neighbour entry of " + to_string(ip) + " at " + to_string(mac) + " on bridge " + bridge;
    if (!is_ifname(bridge)) return Error{context + ": " + ifname_rule()};
    if (!links_.count(bridge)) return Error{context + ": no such bridge"};
    neighbours[bridge + " " + to_string(ip)] = mac;
    return {};
  }

  Status delete_neighbour(const std::string& bridge, Ipv4 ip) override {
    if (auto e = record("delete_neighbour " + bridge + " " + to_string(ip))) return *e;
    if (!is_ifname(bridge))
      return Error{"cannot delete the neighbour entry of " + to_string(ip) + " on bridge " + bridge + ": " +
                   ifname_rule()};
    neighbours.erase(bridge + " " + to_string(ip));
    return {};
  }

  Result<std::optional<std::string>> read_ruleset() override {
    if (auto e = record("read_ruleset")) return *e;
    return table;
  }

  Status replace_ruleset(const std::string& ruleset) override {
    if (auto e = record("replace_ruleset")) return *e;
    // The real adapter's rule (host::only_our_tables); nft itself would
    // also check the syntax, which the fake does not.
    if (!host::only_our_tables(ruleset))
      return Error{
          "cannot replace nftables tables inet clawfleet and bridge clawfleet: the ruleset must be a \"table "
          "inet clawfleet {\" block and at most a \"table bridge clawfleet {\" block"};
    table = ruleset;
    return {};
  }

  Status delete_ruleset() override {
    if (auto e = record("delete_ruleset")) return *e;
    table.reset();
    return {};
  }

  Result<bool> ip_forward() override {
    if (auto e = record("ip_forward")) return *e;
    return forward;
  }

  Status set_ip_forward(bool on) override {
    if (auto e = record(std::string("set_ip_forward ") + (on ? "1" : "0"))) return *e;
    forward = on;
    return {};
  }

 private:
  static host::Link make(const std::string& name, const std::string& kind) {
    host::Link l;
    l.name = name;
    l.kind = kind;
    return l;
  }
  static std::string ifname_rule() { return "not a valid interface name (1-15 bytes of [A-Za-z0-9_.-])"; }

  std::optional<Error> record(std::string call) {
    calls.push_back(call);
    auto it = failures_.find(call);
    if (it != failures_.end()) return Error{it->second};
    return std::nullopt;
  }

  std::map<std::string, host::Link> links_;
  std::map<std::string, std::string> failures_;
  int next_index_ = 2;  // 1 is lo
};

}  // namespace cf::testing
