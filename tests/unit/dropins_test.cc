#include "host/systemd/dropins.h"

#include <gtest/gtest.h>

#include <set>

#include "manifest/defaults.h"

namespace cf::host {
namespace {

model::Allocation alloc() {
  return {parse_ipv4("172.29.0.7").value(), parse_mac("06:fc:ac:1d:00:07").value(), 18905, "cf0123456789abc"};
}

model::Instance bot() {
  model::Instance i;
  i.name = "bot";
  i.resources.vcpus = 2;
  i.resources.memory_mib = 2048;
  return i;
}

TEST(Dropins, DefaultStateRootNeedsTheListenerAndTheLimits) {
  auto d = dropins_for(manifest::default_host(), bot(), alloc());
  ASSERT_TRUE(d) << d.error().message;
  ASSERT_EQ(d.value().size(), 2u);
  EXPECT_EQ(d.value()[0], (Dropin{"clawfleet-proxy@bot.socket", "listen",
                                  "# clawfleet: owned by instance bot\n[Socket]\nListenStream=127.0.0.1:18905\n"}));
  EXPECT_EQ(d.value()[0].path(), "/etc/systemd/system/clawfleet-proxy@bot.socket.d/listen.conf");
  // The guest's 2048 MiB and the VMM's 256 (Firecracker, the default).
  EXPECT_EQ(d.value()[1], (Dropin{"clawfleet-vm@bot.service", "manifest-limits",
                                  "# clawfleet: owned by instance bot\n[Service]\nMemoryMax=2304M\n", true}));
}

TEST(Dropins, LimitsTheManifestSetsAreTheVmUnits) {
  model::Instance i = bot();
  i.resources.memory_mib = 4096;
  i.resources.cpu_quota_percent = 150;
  i.resources.io_weight = 50;
  model::Host h = manifest::default_host();
  h.vmm.kind = model::VmmKind::Qemu;  // and QEMU's TCG translation buffer, 1024
  auto d = dropins_for(h, i, alloc());
  ASSERT_TRUE(d) << d.error().message;
  ASSERT_EQ(d.value().size(), 2u);
  EXPECT_EQ(d.value()[1], (Dropin{"clawfleet-vm@bot.service", "manifest-limits",
                                  "# clawfleet: owned by instance bot\n[Service]\n"
                                  "MemoryMax=5376M\nCPUQuota=150%\nIOWeight=50\n",
                                  true}));
  EXPECT_EQ(d.value()[1].path(), "/etc/systemd/system/clawfleet-vm@bot.service.d/manifest-limits.conf");
}

TEST(Dropins, OtherStateRootIsPassedToBothUnits) {
  model::Host h = manifest::default_host();
  h.state_root = "/srv/claw-fleet";
  auto d = dropins_for(h, bot(), alloc());
  ASSERT_TRUE(d) << d.error().message;
  ASSERT_EQ(d.value().size(), 4u);
  EXPECT_EQ(d.value()[2], (Dropin{"clawfleet-vm@bot.service", "state-root",
                                  "# clawfleet: owned by instance bot\n[Service]\n"
                                  "Environment=CLAWFLEET_STATE_ROOT=/srv/claw-fleet\n"
                                  "ReadWritePaths=/srv/claw-fleet\n"}));
  EXPECT_EQ(d.value()[3], (Dropin{"clawfleet-proxy@bot.service", "state-root",
                                  "# clawfleet: owned by instance bot\n[Service]\nEnvironmentFile=\n"
                                  "EnvironmentFile=/srv/claw-fleet/instances/bot/proxy.env\n"}));
}

// The jailer variant of the VM unit (docs/host.md#the-jailer): what the
// jailer needs to build its chroot, on top of the template's hardening.
TEST(Dropins, TheJailerVariantGivesTheJailerWhatItNeeds) {
  model::Host h = manifest::default_host();
  h.vmm.jailer = "/usr/bin/jailer";
  auto d = dropins_for(h, bot(), alloc());
  ASSERT_TRUE(d) << d.error().message;
  ASSERT_EQ(d.value().size(), 3u);
  EXPECT_EQ(d.value()[2], (Dropin{"clawfleet-vm@bot.service", "jailer",
                                  "# clawfleet: owned by instance bot\n[Service]\n"
                                  "CapabilityBoundingSet=CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_MKNOD CAP_SYS_ADMIN "
                                  "CAP_SYS_CHROOT CAP_SYS_RESOURCE\n"
                                  "RestrictNamespaces=mnt\n"
                                  "SystemCallFilter=@mount\n"
                                  "DeviceAllow=/dev/kvm rwm\n"
                                  "DeviceAllow=/dev/net/tun rwm\n"
                                  "DeviceAllow=/dev/userfaultfd rwm\n"}));
  EXPECT_EQ(d.value()[2].path(), "/etc/systemd/system/clawfleet-vm@bot.service.d/jailer.conf");
  // Only Firecracker has a jailer.
  h.vmm.kind = model::VmmKind::Qemu;
  EXPECT_EQ(dropins_for(h, bot(), alloc()).value().size(), 2u);
}

// What a destroy removes is every drop-in any instance may have.
TEST(Dropins, EveryDropinListsWhatAnyHostRenders) {
  model::Host h = manifest::default_host();
  h.state_root = "/srv/claw-fleet";
  h.vmm.jailer = "/usr/bin/jailer";
  model::Instance i = bot();
  i.resources.cpu_quota_percent = 10;
  auto d = dropins_for(h, i, alloc());
  ASSERT_TRUE(d) << d.error().message;
  std::set<std::pair<std::string, std::string>> rendered;
  for (const auto& x : d.value()) rendered.insert({x.unit, x.name});
  const auto every = every_dropin("bot");
  EXPECT_EQ(rendered, (std::set<std::pair<std::string, std::string>>(every.begin(), every.end())));
}

TEST(Dropins, StateRootThatAUnitWouldInterpretIsRefused) {
  model::Host h = manifest::default_host();
  for (const char* root : {"/srv/my fleet", "/srv/100%", "/srv/a\nExecStartPre=/bin/evil", "/srv/\"q\""}) {
    h.state_root = root;
    auto d = dropins_for(h, bot(), alloc());
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
