// End to end with real guests (guest_scenario.h): QEMU microvm under TCG
// booting the guest image of examples/guest-image, managed by the built
// clawfleet inside a real systemd in nspawn.
//
// GuestEndToEnd.CreateReprovisionDestroy is the one scenario with the real
// OpenClaw gateway: two boots (minutes each here) that every real-gateway
// assertion shares; add new ones as phases of it, not as tests that boot
// their own. Each gateway must answer /health through its proxy on
// 127.0.0.1 and report the applied generation; guests cannot reach each
// other; a Telegram bot that cannot connect fails no apply, and status
// shows what each gateway says of its channels; a model change reprovisions
// one; removing the other destroys it, leaving nothing. CLAWFLEET_E2E_GATEWAY=contract (`make e2e-contract`)
// runs it on the image's contract gateway instead, to iterate in minutes.
//
// ContractGuest.StopStartDestroy is the lifecycle on the contract gateway
// (a stand-in for OpenClaw that answers the guest contract, docs/guest.md):
// later VM scenarios whose subject is clawfleet, not OpenClaw, extend it.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdlib>

#include "host/platform/platform.h"
#include "integration/guest_scenario.h"

namespace cf {
namespace {

using cf::testing::Gateway;
using cf::testing::GuestScenario;
using cf::testing::GuestSpec;
namespace nspawn = cf::testing::nspawn;

class GuestEndToEnd : public GuestScenario {};

TEST_F(GuestEndToEnd, CreateReprovisionDestroy) {
  boot(cf::testing::gateway_from_env("CLAWFLEET_E2E_GATEWAY", Gateway::OpenClaw));
  if (IsSkipped() || HasFatalFailure()) return;
  // beta has a Telegram bot it cannot reach (egress: deny): the gate is
  // the gateway's startup, so beta is still created. alpha has the default
  // model, an openai/* one: it must start with no network (no Codex plugin
  // to install, docs/guest.md).
  GuestSpec beta{"beta"};
  beta.telegram = true;
  write_fleet({{"alpha", "openai/gpt-5.5"}, beta});
  ASSERT_EQ(clawfleet("plan"), 2) << out_;
  EXPECT_NE(out_.find("Plan: 2 to create"), std::string::npos) << out_;
  // The default skills are bundled and find their tools in the image (its
  // skills.json); one it does not bundle is named.
  EXPECT_EQ(out_.find(": skill "), std::string::npos) << out_;
  GuestSpec unbundled{"alpha", "openai/gpt-5.5"};
  unbundled.skills = "[github, session-logs]";
  write_fleet({unbundled, beta});
  clawfleet("plan");
  EXPECT_NE(out_.find("Warning: alpha: skill session-logs is not bundled with image default"), std::string::npos)
      << out_;
  write_fleet({{"alpha", "openai/gpt-5.5"}, beta});

  phases_.begin("create of 2 instances to healthy");
  ASSERT_EQ(clawfleet("apply --parallelism 2 --health-timeout 1800"), 2) << out_;
  phases_.end();
  std::cerr << out_;
  const int health_timeout = later_health_timeout_s(phases_.seconds("create of 2 instances to healthy"));
  ASSERT_EQ(clawfleet("plan"), 0) << out_;

  phases_.begin("health, generation and isolation checks");
  for (const char* name : {"alpha", "beta"}) {
    const std::string port = field(name, "hostPort");
    ASSERT_FALSE(port.empty());
    EXPECT_NE(get("127.0.0.1", std::stoi(port), "/health", "200 OK").find("200 OK"), std::string::npos)
        << name << ": " << out_;
    // The guest reports the generation that apply recorded.
    const std::string gen = field(name, "appliedGeneration");
    EXPECT_NE(get(field(name, "ip"), 18780, "/").find("\"generation\":\"" + gen + "\""), std::string::npos)
        << name << " " << gen << ": " << out_;
  }
  // Guests never reach each other: their bridge ports are isolated, and a
  // probe on another isolated port of the same bridge (as a third guest
  // would be) reaches neither guest's gateway, while the host does.
  ASSERT_EQ(sh("bridge -d link show | grep -A1 ' master cfbr0 ' | grep -c 'isolated on'"), 0) << out_;
  EXPECT_EQ(nspawn::detail::trim(out_), "2");
  ASSERT_EQ(
      sh("ip netns add probe && ip link add cfprobe type veth peer name eth0 netns probe && "
         "ip link set cfprobe master cfbr0 && bridge link set dev cfprobe isolated on && ip link set cfprobe up && "
         "ip -n probe addr add 10.78.0.250/24 dev eth0 && ip -n probe link set eth0 up && ip -n probe link set lo up"),
      0)
      << out_;
  for (const char* name : {"alpha", "beta"}) {
    const std::string ip = field(name, "ip");
    EXPECT_NE(sh("ip netns exec probe timeout 5 bash -c 'exec 3<>/dev/tcp/" + ip + "/18789'"), 0)
        << "the probe reached " << name << ": " << out_;
    EXPECT_EQ(sh("timeout 5 bash -c 'exec 3<>/dev/tcp/" + ip + "/18789'"), 0)
        << "the host cannot reach " << name << ": " << out_;
  }
  sh("ip link del cfprobe; ip netns del probe");

  // A new model is a new generation: one reprovision (a graceful stop and a
  // boot), and the gate waits until the guest reports it.
  const std::string before = field("alpha", "appliedGeneration");
  write_fleet({{"alpha", "anthropic/claude-opus-4-6"}, beta});
  ASSERT_EQ(clawfleet("plan"), 2) << out_;
  EXPECT_NE(out_.find("Plan: 0 to create, 1 to reprovision, 0 to destroy."), std::string::npos) << out_;
  phases_.begin("reprovision to healthy");
  ASSERT_EQ(clawfleet("apply --health-timeout " + std::to_string(health_timeout)), 2) << out_;
  phases_.end();
  const std::string after = field("alpha", "appliedGeneration");
  EXPECT_NE(after, before);
  EXPECT_NE(get(field("alpha", "ip"), 18780, "/").find("\"generation\":\"" + after + "\""), std::string::npos) << out_;

  // Each gateway's own /readyz, asked by status through its proxy with its
  // token: alpha (no channel) becomes ready once its startup settles; beta,
  // minutes after it started with a Telegram account that cannot reach
  // Telegram, is ready or names telegram, whichever this gateway says —
  // either way an answer, and beta itself ready (docs/guest.md#readiness).
  phases_.begin("channels readiness");
  std::string alpha_channels;
  for (int i = 0; i < 60 && (alpha_channels = status_row("alpha", "Channels")) != "ready"; ++i) sleep(2);
  EXPECT_EQ(alpha_channels, "ready");
  EXPECT_EQ(clawfleet("status"), 0) << out_;
  EXPECT_EQ(status_row("beta", "Health"), "ready");
  const std::string beta_channels = status_row("beta", "Channels");
  std::cerr << "[ channels ] beta (Telegram unreachable): " << beta_channels << "\n";
  EXPECT_TRUE(beta_channels == "ready" || beta_channels.rfind("failing: telegram", 0) == 0) << beta_channels;
  phases_.end();

  // Removing beta destroys it, leaving nothing of it behind: no unit in
  // any state, no tap, no directory.
  const std::string beta_tap = field("beta", "tap");
  keep_console("beta");
  write_fleet({{"alpha", "anthropic/claude-opus-4-6"}});
  ASSERT_EQ(clawfleet("plan"), 2) << out_;
  EXPECT_NE(out_.find("Plan: 0 to create, 1 to destroy."), std::string::npos) << out_;
  phases_.begin("destroy of beta");
  ASSERT_EQ(clawfleet("apply"), 2) << out_;
  phases_.end();
  EXPECT_EQ(remains_of("beta", beta_tap), "");
  sh("systemctl list-units --failed --plain --no-legend");
  EXPECT_EQ(nspawn::detail::trim(out_), "");
  // Both stops were graceful: the guests powered off when asked.
  sh("journalctl --no-pager -o cat -u clawfleet-vm@alpha.service -u clawfleet-vm@beta.service | grep 'clawfleet vm stop'");
  EXPECT_NE(out_.find("clawfleet vm stop alpha: powered off after"), std::string::npos) << out_;
  EXPECT_NE(out_.find("clawfleet vm stop beta: powered off after"), std::string::npos) << out_;
  std::cerr << out_;
  EXPECT_EQ(clawfleet("plan"), 0) << out_;
  EXPECT_NE(out_.find("No changes."), std::string::npos) << out_;
}

// The KVM boot probe (host::boot_probe) with the image's own kernel, on
// this machine directly (not in nspawn, where /dev/kvm cannot be opened):
// under TCG the kernel reaches its panic, which proves the probe can tell a
// guest that ran; under KVM it says what this machine's /dev/kvm did,
// within its deadline (a PVM device here: no guest runs).
TEST(KvmProbe, TellsAGuestThatRanFromOneThatDidNot) {
  if (::access("/usr/bin/qemu-system-x86_64", X_OK) != 0) GTEST_SKIP() << "qemu-system-x86 is not installed";
  auto image = cf::testing::guest_image(CLAWFLEET_SOURCE_DIR, Gateway::OpenClaw);
  ASSERT_TRUE(image) << image.error().message;
  const std::string kernel = image.value() + "/vmlinux";
  model::KvmProbe tcg = host::boot_probe("/usr/bin/qemu-system-x86_64", kernel, "tcg", host::real_platform()->tsc_khz(),
                                         std::chrono::seconds(120));
  std::cerr << "[ probe ] tcg: " << tcg.detail << "\n";
  EXPECT_TRUE(tcg.runs) << tcg.detail;
  EXPECT_EQ(tcg.detail.rfind("the guest kernel ran to its panic in ", 0), 0u) << tcg.detail;
  if (::access("/dev/kvm", R_OK | W_OK) != 0) GTEST_SKIP() << "/dev/kvm cannot be opened here";
  const auto t0 = std::chrono::steady_clock::now();
  model::KvmProbe kvm = host::boot_probe("/usr/bin/qemu-system-x86_64", kernel, "kvm", 0, std::chrono::seconds(20));
  std::cerr << "[ probe ] kvm: " << (kvm.runs ? "a guest ran: " : "no guest ran: ") << kvm.detail << "\n";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(25));
  EXPECT_FALSE(kvm.detail.empty());
}

class ContractGuest : public GuestScenario {};

// One guest stopped, started and destroyed by clawfleet through real QEMU:
// each stop is the guest powering off when asked (ACPI), never a failed
// unit; the destroy leaves nothing.
TEST_F(ContractGuest, StopStartDestroy) {
  boot(Gateway::Contract);
  if (IsSkipped() || HasFatalFailure()) return;
  write_fleet({{"solo"}});
  phases_.begin("create to healthy");
  ASSERT_EQ(clawfleet("apply --health-timeout 1200"), 2) << out_;
  phases_.end();
  const int health_timeout = later_health_timeout_s(phases_.seconds("create to healthy"));
  const std::string tap = field("solo", "tap");
  const std::string port = field("solo", "hostPort");

  write_fleet({{"solo", "anthropic/claude-sonnet-4-6", "stopped"}});
  phases_.begin("stop");
  ASSERT_EQ(clawfleet("apply"), 2) << out_;
  phases_.end();
  EXPECT_EQ(clawfleet("plan"), 0) << out_;
  sh("systemctl show -p ActiveState --value clawfleet-vm@solo.service; systemctl list-units --failed --plain --no-legend");
  EXPECT_EQ(nspawn::detail::trim(out_), "inactive");
  sh("journalctl --no-pager -o cat -u clawfleet-vm@solo.service | grep 'clawfleet vm stop'");
  EXPECT_NE(out_.find("clawfleet vm stop solo: powered off after"), std::string::npos) << out_;
  std::cerr << out_;

  write_fleet({{"solo"}});
  phases_.begin("start to healthy");
  ASSERT_EQ(clawfleet("apply --health-timeout " + std::to_string(health_timeout)), 2) << out_;
  phases_.end();
  EXPECT_NE(get("127.0.0.1", std::stoi(port), "/health", "200 OK").find("200 OK"), std::string::npos) << out_;

  // The empty set destroys nothing, so a stopped second instance (created,
  // never booted) stays while solo goes.
  keep_console("solo");
  write_fleet({{"spare", "anthropic/claude-sonnet-4-6", "stopped"}});
  phases_.begin("destroy (and a stopped create)");
  ASSERT_EQ(clawfleet("apply"), 2) << out_;
  phases_.end();
  EXPECT_EQ(remains_of("solo", tap), "");
  sh("systemctl list-units --failed --plain --no-legend");
  EXPECT_EQ(nspawn::detail::trim(out_), "");
  sh("journalctl --no-pager -o cat -u clawfleet-vm@solo.service | grep -c 'clawfleet vm stop solo: powered off after'");
  EXPECT_EQ(nspawn::detail::trim(out_), "2");
  EXPECT_EQ(clawfleet("plan"), 0) << out_;
}

}  // namespace
}  // namespace cf
