#include "host/systemd/dropins.h"

#include <gtest/gtest.h>

#include "manifest/defaults.h"

namespace cf::host {
namespace {

model::Allocation alloc() {
  return {parse_ipv4("172.29.0.7").value(), parse_mac("06:fc:ac:1d:00:07").value(), 18905, "cf0123456789abc"};
}

TEST(Dropins, DefaultStateRootNeedsOnlyTheListener) {
  auto d = dropins_for(manifest::default_host(), "bot", alloc());
  ASSERT_TRUE(d) << d.error().message;
  ASSERT_EQ(d.value().size(), 1u);
  EXPECT_EQ(d.value()[0], (Dropin{"clawfleet-proxy@bot.socket", "listen",
                                  "# clawfleet: owned by instance bot\n[Socket]\nListenStream=127.0.0.1:18905\n"}));
  EXPECT_EQ(d.value()[0].path(), "/etc/systemd/system/clawfleet-proxy@bot.socket.d/listen.conf");
}

TEST(Dropins, OtherStateRootIsPassedToBothUnits) {
  model::Host h = manifest::default_host();
  h.state_root = "/srv/claw-fleet";
  auto d = dropins_for(h, "bot", alloc());
  ASSERT_TRUE(d) << d.error().message;
  ASSERT_EQ(d.value().size(), 3u);
  EXPECT_EQ(d.value()[1], (Dropin{"clawfleet-vm@bot.service", "state-root",
                                  "# clawfleet: owned by instance bot\n[Service]\n"
                                  "Environment=CLAWFLEET_STATE_ROOT=/srv/claw-fleet\n"
                                  "ReadWritePaths=/srv/claw-fleet\n"}));
  EXPECT_EQ(d.value()[2], (Dropin{"clawfleet-proxy@bot.service", "state-root",
                                  "# clawfleet: owned by instance bot\n[Service]\nEnvironmentFile=\n"
                                  "EnvironmentFile=/srv/claw-fleet/instances/bot/proxy.env\n"}));
}

TEST(Dropins, StateRootThatAUnitWouldInterpretIsRefused) {
  model::Host h = manifest::default_host();
  for (const char* root : {"/srv/my fleet", "/srv/100%", "/srv/a\nExecStartPre=/bin/evil", "/srv/\"q\""}) {
    h.state_root = root;
    auto d = dropins_for(h, "bot", alloc());
    ASSERT_FALSE(d) << root;
    EXPECT_EQ(d.error().message,
              std::string("state root \"") + root +
                  "\" cannot be written into a unit file: use only letters, digits, '/', '.', '_' and '-'");
  }
}

TEST(Dropins, ProxyEnvPointsAtTheGateway) {
  EXPECT_EQ(render_proxy_env(alloc()), "CLAWFLEET_GUEST=172.29.0.7:18789\n");
}

}  // namespace
}  // namespace cf::host
