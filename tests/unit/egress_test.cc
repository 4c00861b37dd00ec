// Egress modes (Host spec.egress): the manifest's two spellings and their
// errors, the nftables table of each mode with its exceptions (exact text,
// what `nft list table` prints), the proxy variables in the gateway's env,
// and what a change costs.
#include <gtest/gtest.h>

#include "fakes/addresses.h"
#include "fakes/fleets.h"
#include "host/guest/seed.h"
#include "host/network/network.h"
#include "manifest/loader.h"
#include "plan/plan.h"

namespace cf {
namespace {

using cf::testing::ip;

manifest::LoadResult host_doc(const std::string& spec) {
  return manifest::load({{"h.yaml", "apiVersion: clawfleet.io/v1\nkind: Host\nspec:\n" + spec}});
}

std::vector<std::string> errors(const std::string& spec) {
  std::vector<std::string> out;
  const manifest::LoadResult r = host_doc(spec);
  for (const auto& d : r.diagnostics.all()) out.push_back(format(d));
  return out;
}

// --- the manifest ------------------------------------------------------------

TEST(EgressManifest, DefaultIsInternetAndTheOldSpellingsStay) {
  EXPECT_EQ(host_doc("  bridge: cfbr0\n").fleet.host.egress, model::Egress::Internet);
  EXPECT_EQ(host_doc("  egress: allow\n").fleet.host.egress, model::Egress::Allow);
  EXPECT_EQ(host_doc("  egress: deny\n").fleet.host.egress, model::Egress::Deny);
  EXPECT_EQ(host_doc("  egress: internet\n").fleet.host.egress, model::Egress::Internet);
  EXPECT_EQ(host_doc("  egress: {allowTo: [10.0.0.5]}\n").fleet.host.egress, model::Egress::Internet);
}

TEST(EgressManifest, MappingWithProxyAndExceptions) {
  auto r = host_doc(
      "  egress:\n    proxy: {url: \"http://10.20.0.9:3128/\"}\n"
      "    allowTo: [10.20.0.5:8443, 192.168.7.0/24, 172.29.0.1]\n");
  ASSERT_FALSE(r.diagnostics.has_errors()) << format(r.diagnostics.all()[0]);
  const model::Host& h = r.fleet.host;
  EXPECT_EQ(h.egress, model::Egress::Proxy);
  ASSERT_TRUE(h.proxy);
  EXPECT_EQ(*h.proxy, (model::EgressProxy{"http://10.20.0.9:3128/", ip("10.20.0.9"), 3128}));
  ASSERT_EQ(h.allow_to.size(), 3u);
  EXPECT_EQ(model::to_string(h.allow_to[0]), "10.20.0.5:8443");
  EXPECT_EQ(model::to_string(h.allow_to[1]), "192.168.7.0/24");
  EXPECT_EQ(model::to_string(h.allow_to[2]), "172.29.0.1");
  EXPECT_NE(model::canonical_json(h).find(
                R"("egress":{"allowTo":["10.20.0.5:8443","192.168.7.0/24","172.29.0.1"],"mode":"proxy",)"
                R"("proxy":{"url":"http://10.20.0.9:3128/"}})"),
            std::string::npos)
      << model::canonical_json(h);
}

TEST(EgressManifest, ErrorsSayWhatIsAllowed) {
  EXPECT_EQ(errors("  egress: proxy\n"),
            std::vector<std::string>{"h.yaml:4:11: error: spec.egress: mode proxy needs the proxy's address: write "
                                     "egress: {proxy: {url: http://ADDRESS:PORT}}"});
  EXPECT_EQ(errors("  egress: {mode: proxy}\n"),
            std::vector<std::string>{"h.yaml:4:11: error: spec.egress.proxy: required field is missing (mode proxy "
                                     "needs proxy: {url: http://ADDRESS:PORT})"});
  EXPECT_EQ(
      errors("  egress: {mode: internet, proxy: {url: \"http://10.0.0.1:3128\"}}\n"),
      std::vector<std::string>{"h.yaml:4:28: error: spec.egress.proxy: only with mode proxy; this egress is internet"});
  EXPECT_EQ(errors("  egress: {proxy: {url: \"http://proxy.lan:3128\"}}\n"),
            std::vector<std::string>{"h.yaml:4:25: error: spec.egress.proxy.url: must be http://ADDRESS:PORT with an "
                                     "IPv4 address and a port 1-65535, got \"http://proxy.lan:3128\""});
  EXPECT_EQ(errors("  egress: {proxy: {url: \"http://u:secret@10.0.0.1:3128\"}}\n"),
            std::vector<std::string>{"h.yaml:4:25: error: spec.egress.proxy.url: credentials in the proxy URL are not "
                                     "supported (the value is not shown)"});
  EXPECT_EQ(errors("  egress: {allowTo: [10.0.0.1/8, 127.0.0.1:80, 169.254.0.0/16, 10.0.0.0/8, 10.0.0.0/8]}\n"),
            (std::vector<std::string>{
                "h.yaml:4:22: error: spec.egress.allowTo[0]: must be a network (10.0.0.0/8, host bits zero), an "
                "address or ADDRESS:PORT, got \"10.0.0.1/8\"",
                "h.yaml:4:34: error: spec.egress.allowTo[1]: 127.0.0.1:80 would reach the guest itself or everything; "
                "name the destination",
                "h.yaml:4:48: error: spec.egress.allowTo[2]: 169.254.0.0/16 holds the metadata address "
                "169.254.169.254, which guests never reach",
                "h.yaml:4:76: error: spec.egress.allowTo[4]: 10.0.0.0/8 is listed twice"}));
  EXPECT_EQ(errors("  subnet: 10.80.0.0/24\n  egress: {proxy: {url: \"http://10.80.0.9:3128\"}}\n"),
            std::vector<std::string>{"h.yaml:5:25: error: spec.egress.proxy.url: 10.80.0.9 is inside the subnet "
                                     "10.80.0.0/24 and not its gateway 10.80.0.1: guests cannot reach each other"});
}

// --- the table -----------------------------------------------------------------

model::Host host(model::Egress mode) {
  model::Host h;
  h.bridge = "clawbr0";
  h.subnet = parse_cidr("10.100.0.0/24").value();
  h.gateway = ip("10.100.0.1");
  h.egress = mode;
  return h;
}

// The forward chain from the metadata rule to its end.
std::string egress_rules(const std::string& t) {
  const auto from = t.find("\t\tiifname \"clawbr0\" ip saddr");
  return t.substr(from, t.find("\t}", from) - from);
}

const std::string kCommon =
    "\t\tiifname \"clawbr0\" ip saddr != 10.100.0.0/24 drop\n"
    "\t\tiifname \"clawbr0\" meta nfproto != ipv4 drop\n";

TEST(EgressTable, InternetDropsPrivateLocalAndTheHostsNetworksButLetsDnsThrough) {
  model::Host h = host(model::Egress::Internet);
  h.dns = {ip("192.168.1.1"), ip("10.100.0.1")};
  h.allow_to = {{parse_cidr("192.168.7.0/24").value(), {}}, {Cidr{ip("10.20.0.5"), 32}, 8443}};
  // One network of the host's is public, one inside 192.168/16 already.
  h.host_networks = {parse_cidr("192.0.2.0/24").value(), parse_cidr("192.168.1.0/24").value()};
  const std::string t = host::render_ruleset(h, {});
  EXPECT_EQ(egress_rules(t), kCommon +
                                 "\t\tiifname \"clawbr0\" ip daddr 192.168.7.0/24 accept\n"
                                 "\t\tiifname \"clawbr0\" ip daddr 10.20.0.5 tcp dport 8443 accept\n"
                                 "\t\tiifname \"clawbr0\" ip daddr 10.20.0.5 udp dport 8443 accept\n"
                                 "\t\tiifname \"clawbr0\" ip daddr 192.168.1.1 udp dport 53 accept\n"
                                 "\t\tiifname \"clawbr0\" ip daddr 192.168.1.1 tcp dport 53 accept\n"
                                 "\t\tiifname \"clawbr0\" ip daddr 0.0.0.0/8 drop\n"
                                 "\t\tiifname \"clawbr0\" ip daddr 10.0.0.0/8 drop\n"
                                 "\t\tiifname \"clawbr0\" ip daddr 100.64.0.0/10 drop\n"
                                 "\t\tiifname \"clawbr0\" ip daddr 127.0.0.0/8 drop\n"
                                 "\t\tiifname \"clawbr0\" ip daddr 169.254.0.0/16 drop\n"
                                 "\t\tiifname \"clawbr0\" ip daddr 172.16.0.0/12 drop\n"
                                 "\t\tiifname \"clawbr0\" ip daddr 192.168.0.0/16 drop\n"
                                 "\t\tiifname \"clawbr0\" ip daddr 224.0.0.0/4 drop\n"
                                 "\t\tiifname \"clawbr0\" ip daddr 240.0.0.0/4 drop\n"
                                 "\t\tiifname \"clawbr0\" ip daddr 192.0.2.0/24 drop\n"
                                 "\t\tiifname \"clawbr0\" oifname != \"clawbr0\" accept\n"
                                 "\t\tiifname \"clawbr0\" drop\n");
  EXPECT_NE(t.find("masquerade"), std::string::npos);
  EXPECT_NE(t.find("ip daddr 10.100.0.1 udp dport 53 accept"), std::string::npos) << t;
  // The documentation ranges stand in for the internet in tests.
  for (const char* doc : {"198.51.100.", "203.0.113."}) EXPECT_EQ(t.find(doc), std::string::npos) << doc;
}

TEST(EgressTable, ProxyReachesOnlyTheProxy) {
  model::Host h = host(model::Egress::Proxy);
  h.dns = {ip("10.100.0.1")};
  h.proxy = model::EgressProxy{"http://10.20.0.9:3128", ip("10.20.0.9"), 3128};
  const std::string t = host::render_ruleset(h, {});
  EXPECT_EQ(egress_rules(t), kCommon +
                                 "\t\tiifname \"clawbr0\" ip daddr 10.20.0.9 tcp dport 3128 accept\n"
                                 "\t\tiifname \"clawbr0\" drop\n");
  EXPECT_EQ(t.find("dport 53"), std::string::npos) << "proxy mode: no DNS\n" << t;
  // A proxy on the host's bridge address is an input rule.
  h.proxy = model::EgressProxy{"http://10.100.0.1:3128", ip("10.100.0.1"), 3128};
  const std::string on_host = host::render_ruleset(h, {});
  EXPECT_EQ(egress_rules(on_host), kCommon + "\t\tiifname \"clawbr0\" drop\n");
  EXPECT_NE(
      on_host.find("\t\tiifname \"clawbr0\" ip daddr 10.100.0.1 tcp dport 3128 accept\n\t\tiifname \"clawbr0\" drop\n"),
      std::string::npos)
      << on_host;
}

TEST(EgressTable, DenyKeepsOnlyItsExceptionsAndForwardsOnlyForThem) {
  model::Host h = host(model::Egress::Deny);
  EXPECT_FALSE(model::forwards(h));
  EXPECT_EQ(host::render_ruleset(h, {}).find("postrouting"), std::string::npos);
  h.allow_to = {{Cidr{ip("10.20.0.5"), 32}, 443}, {Cidr{ip("10.100.0.1"), 32}, 11434}};
  EXPECT_TRUE(model::forwards(h));
  const std::string t = host::render_ruleset(h, {});
  EXPECT_NE(t.find("masquerade"), std::string::npos);
  EXPECT_EQ(egress_rules(t), kCommon +
                                 "\t\tiifname \"clawbr0\" ip daddr 10.20.0.5 tcp dport 443 accept\n"
                                 "\t\tiifname \"clawbr0\" ip daddr 10.20.0.5 udp dport 443 accept\n"
                                 "\t\tiifname \"clawbr0\" drop\n");
  // The exception at the gateway address opens that port of the host.
  EXPECT_NE(t.find("\t\tiifname \"clawbr0\" ip daddr 10.100.0.1 tcp dport 11434 accept\n"
                   "\t\tiifname \"clawbr0\" ip daddr 10.100.0.1 udp dport 11434 accept\n"
                   "\t\tiifname \"clawbr0\" drop\n"),
            std::string::npos)
      << t;
}

// --- the guest and the plan ---------------------------------------------------------

TEST(EgressSeed, ProxyModeNamesTheProxyInTheGatewayEnv) {
  model::Host h = host(model::Egress::Proxy);
  h.proxy = model::EgressProxy{"http://10.20.0.9:3128", ip("10.20.0.9"), 3128};
  model::Instance inst;
  inst.name = "bot";
  host::SeedInput in{&h, &inst, {}, "tok", {{"anthropic", "k"}}, std::nullopt, "sha256:feed", ""};
  EXPECT_EQ(host::render_gateway_env(in),
            "ANTHROPIC_API_KEY=k\nHTTPS_PROXY=http://10.20.0.9:3128\nHTTP_PROXY=http://10.20.0.9:3128\n"
            "https_proxy=http://10.20.0.9:3128\nhttp_proxy=http://10.20.0.9:3128\n"
            "NO_PROXY=localhost,127.0.0.1,::1\nno_proxy=localhost,127.0.0.1,::1\n");
  h.egress = model::Egress::Internet;
  EXPECT_EQ(host::render_gateway_env(in), "ANTHROPIC_API_KEY=k\n");
}

TEST(EgressPlan, OnlyTheProxyUrlReachesTheGuest) {
  model::Fleet f = testing::fleet_of(testing::instance_yaml("bot"));
  auto fields = plan::flatten(f.instances[0], f.host, {}, {});
  EXPECT_EQ(fields.count("host.egress.proxy.url"), 0u);
  f.host.egress = model::Egress::Proxy;
  f.host.proxy = model::EgressProxy{"http://10.20.0.9:3128", ip("10.20.0.9"), 3128};
  fields = plan::flatten(f.instances[0], f.host, {}, {});
  EXPECT_EQ(fields.at("host.egress.proxy.url"), "http://10.20.0.9:3128");
  EXPECT_EQ(plan::cost_of("host.egress.proxy.url"), plan::Action::Reprovision);
  EXPECT_EQ(plan::cost_of("host.egress"), std::nullopt);
}

}  // namespace
}  // namespace cf
