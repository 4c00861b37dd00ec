#include "host/network/network.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "core/sha256.h"
#include "core/text.h"
#include "fakes/fake_network.h"

namespace cf::host {
namespace {

using cf::testing::FakeNetwork;

model::Host host(model::Egress egress) {
  model::Host h;
  h.bridge = "clawbr0";
  h.subnet = parse_cidr("10.100.0.0/24").value();
  h.gateway = parse_ipv4("10.100.0.1").value();
  h.egress = egress;
  return h;
}

// --- render_ruleset: golden text, exactly what `nft list table` prints -------

TEST(RenderTable, EgressAllow) {
  EXPECT_EQ(render_ruleset(host(model::Egress::Allow), {}),
            "table inet clawfleet {\n"
            "\tset guest_connections {\n"
            "\t\ttype ipv4_addr\n"
            "\t\tsize 65535\n"
            "\t\tflags dynamic\n"
            "\t}\n"
            "\n"
            "\tchain prerouting {\n"
            "\t\ttype filter hook prerouting priority filter; policy accept;\n"
            "\t\tiifname \"clawbr0\" ct state new add @guest_connections { ip saddr ct count over 4096 } drop\n"
            "\t}\n"
            "\n"
            "\tchain postrouting {\n"
            "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
            "\t\tip saddr 10.100.0.0/24 oifname != \"clawbr0\" masquerade\n"
            "\t}\n"
            "\n"
            "\tchain forward {\n"
            "\t\ttype filter hook forward priority filter; policy accept;\n"
            "\t\tiifname \"clawbr0\" oifname \"clawbr0\" drop\n"
            "\t\toifname \"clawbr0\" ct state established,related accept\n"
            "\t\toifname \"clawbr0\" drop\n"
            "\t\tiifname \"clawbr0\" ip daddr 169.254.169.254 drop\n"
            "\t\tiifname \"clawbr0\" ip saddr != 10.100.0.0/24 drop\n"
            "\t\tiifname \"clawbr0\" meta nfproto != ipv4 drop\n"
            "\t\tiifname \"clawbr0\" oifname != \"clawbr0\" accept\n"
            "\t\tiifname \"clawbr0\" drop\n"
            "\t}\n"
            "\n"
            "\tchain input {\n"
            "\t\ttype filter hook input priority filter; policy accept;\n"
            "\t\tiifname \"clawbr0\" ct state established,related accept\n"
            "\t\tiifname \"clawbr0\" ip daddr 10.100.0.1 icmp type echo-request accept\n"
            "\t\tiifname \"clawbr0\" drop\n"
            "\t}\n"
            "}\n"
            "table bridge clawfleet {\n"
            "\tchain prerouting {\n"
            "\t\ttype filter hook prerouting priority filter; policy accept;\n"
            "\t\tiifname \"cf*\" drop\n"
            "\t}\n"
            "}\n");
}

TEST(RenderTable, EgressDenyHasNoNatAndDropsEverythingFromTheBridge) {
  EXPECT_EQ(render_ruleset(host(model::Egress::Deny), {}),
            "table inet clawfleet {\n"
            "\tset guest_connections {\n"
            "\t\ttype ipv4_addr\n"
            "\t\tsize 65535\n"
            "\t\tflags dynamic\n"
            "\t}\n"
            "\n"
            "\tchain prerouting {\n"
            "\t\ttype filter hook prerouting priority filter; policy accept;\n"
            "\t\tiifname \"clawbr0\" ct state new add @guest_connections { ip saddr ct count over 4096 } drop\n"
            "\t}\n"
            "\n"
            "\tchain forward {\n"
            "\t\ttype filter hook forward priority filter; policy accept;\n"
            "\t\tiifname \"clawbr0\" oifname \"clawbr0\" drop\n"
            "\t\toifname \"clawbr0\" ct state established,related accept\n"
            "\t\toifname \"clawbr0\" drop\n"
            "\t\tiifname \"clawbr0\" ip daddr 169.254.169.254 drop\n"
            "\t\tiifname \"clawbr0\" ip saddr != 10.100.0.0/24 drop\n"
            "\t\tiifname \"clawbr0\" meta nfproto != ipv4 drop\n"
            "\t\tiifname \"clawbr0\" drop\n"
            "\t}\n"
            "\n"
            "\tchain input {\n"
            "\t\ttype filter hook input priority filter; policy accept;\n"
            "\t\tiifname \"clawbr0\" ct state established,related accept\n"
            "\t\tiifname \"clawbr0\" ip daddr 10.100.0.1 icmp type echo-request accept\n"
            "\t\tiifname \"clawbr0\" drop\n"
            "\t}\n"
            "}\n"
            "table bridge clawfleet {\n"
            "\tchain prerouting {\n"
            "\t\ttype filter hook prerouting priority filter; policy accept;\n"
            "\t\tiifname \"cf*\" drop\n"
            "\t}\n"
            "}\n");
}

// Each guest's tap passes only its own MAC, its own address in ARP and
// IPv4, never a DHCP server's reply, and nothing else (IPv6, VLAN tags,
// other ethertypes); a clawfleet tap the table does not know passes
// nothing. Guests are in tap order whatever order they come in.
TEST(RenderTable, EachGuestsTapPassesOnlyItsOwnAddresses) {
  const model::Allocation a{parse_ipv4("10.100.0.2").value(), parse_mac("06:fc:0a:64:00:02").value(), 18900,
                            "cf1111111111111"};
  const model::Allocation b{parse_ipv4("10.100.0.3").value(), parse_mac("06:fc:0a:64:00:03").value(), 18901,
                            "cf0000000000000"};
  const std::string t = render_ruleset(host(model::Egress::Allow), {a, b});
  EXPECT_EQ(t.substr(t.find("table bridge")),
            "table bridge clawfleet {\n"
            "\tchain prerouting {\n"
            "\t\ttype filter hook prerouting priority filter; policy accept;\n"
            "\t\tiifname vmap { \"cf0000000000000\" : jump guest-cf0000000000000, \"cf1111111111111\" : jump "
            "guest-cf1111111111111 }\n"
            "\t\tiifname \"cf*\" drop\n"
            "\t}\n"
            "\n"
            "\tchain guest-cf0000000000000 {\n"
            "\t\tether saddr != 06:fc:0a:64:00:03 drop\n"
            "\t\tarp htype 1 arp ptype ip arp hlen 6 arp plen 4 arp saddr ether 06:fc:0a:64:00:03 arp saddr ip "
            "10.100.0.3 accept\n"
            "\t\tip saddr 10.100.0.3 udp sport 67 drop\n"
            "\t\tip saddr 10.100.0.3 accept\n"
            "\t\tdrop\n"
            "\t}\n"
            "\n"
            "\tchain guest-cf1111111111111 {\n"
            "\t\tether saddr != 06:fc:0a:64:00:02 drop\n"
            "\t\tarp htype 1 arp ptype ip arp hlen 6 arp plen 4 arp saddr ether 06:fc:0a:64:00:02 arp saddr ip "
            "10.100.0.2 accept\n"
            "\t\tip saddr 10.100.0.2 udp sport 67 drop\n"
            "\t\tip saddr 10.100.0.2 accept\n"
            "\t\tdrop\n"
            "\t}\n"
            "}\n");
  EXPECT_EQ(render_ruleset(host(model::Egress::Allow), {b, a}), t);
  EXPECT_TRUE(only_our_tables(t));
}

// The kernel lists an anonymous map in its own hash order.
TEST(RenderTable, ListedMapsAreSortedAsRendered) {
  EXPECT_EQ(sorted_maps("table bridge clawfleet {\n\t\tiifname vmap { \"cfb\" : jump guest-cfb, \"cfa\" : jump "
                        "guest-cfa, \"cfc\" : jump guest-cfc }\n\t\tiifname \"cf*\" drop\n}\n"),
            "table bridge clawfleet {\n\t\tiifname vmap { \"cfa\" : jump guest-cfa, \"cfb\" : jump guest-cfb, \"cfc\" "
            ": jump guest-cfc }\n\t\tiifname \"cf*\" drop\n}\n");
  const model::Allocation a{parse_ipv4("10.100.0.2").value(), parse_mac("06:fc:0a:64:00:02").value(), 18900,
                            "cf1111111111111"};
  const model::Allocation b{parse_ipv4("10.100.0.3").value(), parse_mac("06:fc:0a:64:00:03").value(), 18901,
                            "cf0000000000000"};
  const std::string t = render_ruleset(host(model::Egress::Allow), {a, b});
  EXPECT_EQ(sorted_maps(t), t);
}

// What a limited guest sends past its rate is dropped in its own chain,
// what it receives as frames leave for its tap; rates in nft's own units.
TEST(RenderTable, BandwidthLimitsBothDirections) {
  const model::Allocation a{parse_ipv4("10.100.0.2").value(), parse_mac("06:fc:0a:64:00:02").value(), 18900,
                            "cf1111111111111"};
  const model::Allocation b{parse_ipv4("10.100.0.3").value(), parse_mac("06:fc:0a:64:00:03").value(), 18901,
                            "cf0000000000000"};
  const std::string t =
      render_ruleset(host(model::Egress::Allow), {a, b}, {{a.tap, 50'000'000}, {b.tap, std::uint64_t{64} << 20}});
  EXPECT_NE(t.find("\tchain guest-cf1111111111111 {\n"
                   "\t\tether saddr != 06:fc:0a:64:00:02 drop\n"
                   "\t\tlimit rate over 6250000 bytes/second drop\n"
                   "\t\tarp htype"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("\t\tether saddr != 06:fc:0a:64:00:03 drop\n\t\tlimit rate over 8 mbytes/second drop\n"),
            std::string::npos)
      << t;
  EXPECT_EQ(t.substr(t.find("\tchain postrouting {\n\t\ttype filter")),
            "\tchain postrouting {\n"
            "\t\ttype filter hook postrouting priority filter; policy accept;\n"
            "\t\toifname \"cf0000000000000\" limit rate over 8 mbytes/second drop\n"
            "\t\toifname \"cf1111111111111\" limit rate over 6250000 bytes/second drop\n"
            "\t}\n"
            "}\n");
  // Without a limit, no such rule and no postrouting chain.
  EXPECT_EQ(render_ruleset(host(model::Egress::Allow), {a, b}).find("limit rate"), std::string::npos);
}

TEST(RenderTable, TheConnectionCapIsTheHosts) {
  auto h = host(model::Egress::Deny);
  h.max_connections = 64;
  EXPECT_NE(render_ruleset(h, {}).find("add @guest_connections { ip saddr ct count over 64 } drop\n"),
            std::string::npos);
}

TEST(RenderTable, OnlyOurTwoTablesInTheirOrder) {
  const std::string inet = "table inet clawfleet {\n\tchain x {\n\t}\n}\n";
  const std::string bridge = "table bridge clawfleet {\n}\n";
  EXPECT_TRUE(only_our_tables(inet));
  EXPECT_TRUE(only_our_tables(inet + bridge));
  EXPECT_FALSE(only_our_tables(""));
  EXPECT_FALSE(only_our_tables(bridge));
  EXPECT_FALSE(only_our_tables(bridge + inet));
  EXPECT_FALSE(only_our_tables(inet + inet));
  EXPECT_FALSE(only_our_tables(inet + bridge + bridge));
  EXPECT_FALSE(only_our_tables(inet + "table bridge filter {\n}\n"));
  EXPECT_FALSE(only_our_tables(inet + "flush ruleset\n"));
  EXPECT_FALSE(only_our_tables("table inet clawfleet {\n"));
}

TEST(RenderTable, SubnetIsWrittenWithoutHostBits) {
  auto h = host(model::Egress::Allow);
  h.subnet = parse_cidr("10.100.7.9/16").value();
  std::string t = render_ruleset(h, {});
  EXPECT_NE(t.find("ip saddr 10.100.0.0/16 oifname"), std::string::npos) << t;
  EXPECT_EQ(t.find("10.100.7.9"), std::string::npos) << t;
}

TEST(RenderTable, NeverChangesAnyChainPolicy) {
  for (auto e : {model::Egress::Allow, model::Egress::Deny}) {
    std::string t = render_ruleset(host(e), {});
    EXPECT_EQ(t.find("policy drop"), std::string::npos) << t;
  }
}

// --- tap_name -------------------------------------------------------------

TEST(TapName, IsCfAndThirteenHexDigitsOfTheNamesHash) {
  std::string n = tap_name("bot", {});
  EXPECT_EQ(n, "cf" + sha256_hex("bot").substr(0, 13));
  EXPECT_EQ(n.size(), 15u);  // IFNAMSIZ - 1
  EXPECT_TRUE(is_ifname(n));
}

TEST(TapName, IsDeterministicAndDiffersBetweenNames) {
  EXPECT_EQ(tap_name("bot", {}), tap_name("bot", {}));
  EXPECT_NE(tap_name("bot", {}), tap_name("bot2", {}));
  // Longest instance name: still 15 bytes.
  EXPECT_EQ(tap_name(std::string(63, 'a'), {}).size(), 15u);
}

TEST(TapName, ATakenNameIsSaltedDeterministically) {
  std::string first = tap_name("bot", {});
  std::string second = tap_name("bot", {first});
  EXPECT_NE(second, first);
  EXPECT_EQ(second, "cf" + sha256_hex("bot\n1").substr(0, 13));
  EXPECT_EQ(second, tap_name("bot", {first}));
  std::string third = tap_name("bot", {first, second});
  EXPECT_NE(third, first);
  EXPECT_NE(third, second);
  EXPECT_EQ(third.size(), 15u);
  // Taken names that are not this name's candidates change nothing.
  EXPECT_EQ(tap_name("bot", {"cf0000000000000", tap_name("other", {})}), first);
}

TEST(TapName, NoCollisionsAmongManyNames) {
  std::set<std::string> taken;
  for (int i = 0; i < 2000; ++i) {
    std::string n = tap_name("bot-" + std::to_string(i), taken);
    EXPECT_FALSE(taken.contains(n));
    EXPECT_LE(n.size(), 15u);
    taken.insert(n);
  }
  EXPECT_EQ(taken.size(), 2000u);
}

Link link(const std::string& name, int ifindex, const std::string& kind, bool up = false) {
  Link l;
  l.name = name;
  l.ifindex = ifindex;
  l.kind = kind;
  l.up = up;
  return l;
}

// --- FakeNetwork ----------------------------------------------------------

TEST(FakeNetwork, BridgeAndTapLikeTheRealOne) {
  FakeNetwork net;
  net.add_link(link("lo", 1, "", true));
  ASSERT_TRUE(net.ensure_bridge("clawbr0", parse_ipv4("10.100.0.1").value(), 24));
  ASSERT_TRUE(net.ensure_bridge("clawbr0", parse_ipv4("10.100.0.1").value(), 24));
  ASSERT_TRUE(net.ensure_tap("cf0123456789abc", "clawbr0", "clawfleet:bot", 7));
  ASSERT_TRUE(net.ensure_tap("cf0123456789abc", "clawbr0", "clawfleet:bot", 7));
  auto links = net.links();
  ASSERT_TRUE(links);
  ASSERT_EQ(links->size(), 3u);
  Link br = link("clawbr0", 2, "bridge", true);
  br.ipv4 = {parse_cidr("10.100.0.1/24").value()};
  EXPECT_EQ(links.value()[1], br);
  Link tap = link("cf0123456789abc", 3, "tun", true);
  tap.master = "clawbr0";
  tap.isolated = true;
  tap.alias = "clawfleet:bot";
  EXPECT_EQ(links.value()[2], tap);
  EXPECT_EQ(net.calls,
            (std::vector<std::string>{"ensure_bridge clawbr0 10.100.0.1/24", "ensure_bridge clawbr0 10.100.0.1/24",
                                      "ensure_tap cf0123456789abc clawbr0 clawfleet:bot owner 7",
                                      "ensure_tap cf0123456789abc clawbr0 clawfleet:bot owner 7", "links"}));
}

TEST(FakeNetwork, ErrorsHaveTheRealAdaptersShape) {
  FakeNetwork net;
  net.add_link(link("eth0", 0, ""));
  EXPECT_EQ(net.ensure_tap("cf0123456789abc", "clawbr0", "clawfleet:bot", 7).error().message,
            "cannot attach tap cf0123456789abc to bridge clawbr0: no such bridge");
  EXPECT_EQ(net.ensure_tap("cf0123456789abc", "eth0", "clawfleet:bot", 7).error().message,
            "cannot attach tap cf0123456789abc to bridge eth0: eth0 is not a bridge");
  EXPECT_EQ(net.link("cf0123456789abc"), nullptr);  // nothing left behind
  EXPECT_EQ(net.ensure_bridge("eth0", parse_ipv4("10.100.0.1").value(), 24).error().message,
            "cannot use eth0 as bridge: it is a device link, not a bridge");
  EXPECT_EQ(net.ensure_tap("cf-much-too-long-name", "eth0", "clawfleet:bot", 7).error().message,
            "cannot create tap cf-much-too-long-name: not a valid interface name (1-15 bytes of [A-Za-z0-9_.-])");
  ASSERT_TRUE(net.ensure_bridge("clawbr0", parse_ipv4("10.100.0.1").value(), 24));
  EXPECT_EQ(net.ensure_tap("eth0", "clawbr0", "clawfleet:bot", 7).error().message,
            "cannot create tap eth0: a device link of that name exists and is not a tap");
  net.fail("ensure_tap cfab12cd34 clawbr0 clawfleet:x owner 7",
           "cannot create tap cfab12cd34: Operation not permitted");
  EXPECT_EQ(net.ensure_tap("cfab12cd34", "clawbr0", "clawfleet:x", 7).error().message,
            "cannot create tap cfab12cd34: Operation not permitted");
}

TEST(FakeNetwork, ExistingTapIsFixedNotRecreated) {
  FakeNetwork net;
  ASSERT_TRUE(net.ensure_bridge("clawbr0", parse_ipv4("10.100.0.1").value(), 24));
  Link old = link("cf0123456789abc", 7, "tun");
  old.master = "other";
  net.add_link(old);
  ASSERT_TRUE(net.ensure_tap("cf0123456789abc", "clawbr0", "clawfleet:bot", 7));
  const Link* t = net.link("cf0123456789abc");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->ifindex, 7);
  EXPECT_EQ(t->master, "clawbr0");
  EXPECT_TRUE(t->isolated);
  EXPECT_TRUE(t->up);
  EXPECT_EQ(t->alias, "clawfleet:bot");
}

TEST(FakeNetwork, DeleteLinkTableAndForward) {
  FakeNetwork net;
  ASSERT_TRUE(net.ensure_bridge("clawbr0", parse_ipv4("10.100.0.1").value(), 24));
  ASSERT_TRUE(net.ensure_tap("cf0123456789abc", "clawbr0", "clawfleet:bot", 7));
  EXPECT_TRUE(net.delete_link("cf0123456789abc"));
  EXPECT_TRUE(net.delete_link("cf0123456789abc"));  // absent is success
  EXPECT_EQ(net.link("cf0123456789abc"), nullptr);

  EXPECT_EQ(net.read_ruleset().value(), std::nullopt);
  std::string t = render_ruleset(host(model::Egress::Allow), {});
  ASSERT_TRUE(net.replace_ruleset(t));
  EXPECT_EQ(net.read_ruleset().value(), t);
  EXPECT_EQ(net.replace_ruleset("flush ruleset\n").error().message,
            "cannot replace nftables tables inet clawfleet and bridge clawfleet: the ruleset must be a \"table inet "
            "clawfleet {\" block and at most a \"table bridge clawfleet {\" block");
  EXPECT_EQ(net.replace_ruleset(t + "table ip filter {\n}\n").error().message, net.replace_ruleset("").error().message);
  EXPECT_EQ(net.read_ruleset().value(), t);
  EXPECT_TRUE(net.delete_ruleset());
  EXPECT_TRUE(net.delete_ruleset());
  EXPECT_EQ(net.read_ruleset().value(), std::nullopt);

  EXPECT_FALSE(net.ip_forward().value());
  EXPECT_TRUE(net.set_ip_forward(true));
  EXPECT_TRUE(net.ip_forward().value());
  EXPECT_EQ(net.calls.back(), "ip_forward");
  EXPECT_EQ(net.calls[net.calls.size() - 2], "set_ip_forward 1");
}

}  // namespace
}  // namespace cf::host
