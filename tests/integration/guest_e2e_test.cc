// End to end with real guests: the built clawfleet inside a real systemd in
// nspawn (its own network namespace, /dev/net/tun) applies two instances on
// QEMU microvm under TCG, booting the guest image of examples/guest-image
// (built once and cached by its recipe's hash). Each guest's gateway must
// answer /health through its proxy on 127.0.0.1 and report the applied
// generation; then a model change reprovisions one, removing the other
// destroys it, and a last plan is empty.
//
// Slow (minutes: the guests run emulated), so it runs once in `make test`,
// not again under the sanitizers. The guests run the real OpenClaw gateway;
// CLAWFLEET_E2E_GATEWAY=contract (`make e2e-contract`) runs the image's
// contract gateway instead, a stand-in that answers the guest contract in
// a minute rather than five (docs/guest.md).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "integration/guest_host.h"

namespace cf {
namespace {

namespace fs = std::filesystem;
namespace nspawn = cf::testing::nspawn;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::string manifest(const std::string& alpha_model, bool with_beta) {
  std::string m =
      "apiVersion: clawfleet.io/v1\nkind: Host\nspec:\n  bridge: cfbr0\n  subnet: 10.78.0.0/24\n  egress: deny\n"
      "  vmm: {kind: qemu, binary: /usr/bin/qemu-system-x86_64}\n"
      "  images:\n    default:\n      kernel: /var/lib/clawfleet/images/default/vmlinux\n"
      "      initrd: /var/lib/clawfleet/images/default/initrd.img\n"
      "      rootfs: /var/lib/clawfleet/images/default/rootfs.ext4\n";
  auto instance = [](const std::string& name, const std::string& model) {
    return "---\napiVersion: clawfleet.io/v1\nkind: Instance\nmetadata: {name: " + name + "}\nspec:\n  model: " + model +
           "\n  providerKeys: {anthropic: {file: /etc/clawfleet/secrets/anthropic}}\n"
           "  resources: {vcpus: 1, memoryMiB: 2560, disk: 6GiB}\n";
  };
  m += instance("alpha", alpha_model);
  if (with_beta) m += instance("beta", "anthropic/claude-sonnet-4-6");
  return m;
}

class GuestEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = cf::testing::guest_host_unavailable()) GTEST_SKIP() << *why;
    const auto t0 = Clock::now();
    gateway_ = cf::testing::gateway_from_env("CLAWFLEET_E2E_GATEWAY", cf::testing::Gateway::OpenClaw);
    std::cerr << "[ e2e ] the guests run " << cf::testing::describe(gateway_) << "\n";
    auto image = cf::testing::guest_image(CLAWFLEET_SOURCE_DIR, gateway_);
    ASSERT_TRUE(image) << image.error().message;
    std::cerr << "[ e2e ] guest image " << image.value() << " ready after " << seconds_since(t0) << " s\n";
    auto c = cf::testing::boot_guest_host(CLAWFLEET_SOURCE_DIR, CLAWFLEET_BINARY, image.value());
    ASSERT_TRUE(c) << c.error().message;
    c_ = std::move(c.value());
  }

  void TearDown() override {
    // What the guests printed, for a failure's diagnosis.
    if (c_ && HasFailure()) {
      sh("for f in /var/lib/clawfleet/instances/*/vmm.log; do echo \"== $f\"; tail -n 40 \"$f\"; done");
      std::cerr << out_;
    }
  }

  void write_manifest(const std::string& alpha_model, bool with_beta) {
    std::ofstream(c_->root() + "/etc/clawfleet/fleet.yaml") << manifest(alpha_model, with_beta);
  }
  int sh(const std::string& command) { return c_->exec(command + " 2>&1", &out_); }
  int clawfleet(const std::string& args) { return sh("clawfleet " + args); }
  // A string or number field of the instance's instance.json.
  std::string field(const std::string& instance, const std::string& key) {
    sh("sed -n 's/.*\"" + key + "\": *\"*\\([^\",]*\\).*/\\1/p' /var/lib/clawfleet/instances/" + instance +
       "/instance.json | head -n 1");
    return nspawn::detail::trim(out_);
  }
  // GET through bash's /dev/tcp (the container has no curl).
  std::string get(const std::string& address, int port, const std::string& path) {
    sh("exec bash -c 'exec 3<>/dev/tcp/" + address + "/" + std::to_string(port) + " && printf \"GET " + path +
       " HTTP/1.0\\r\\n\\r\\n\" >&3 && timeout 10 cat <&3'");
    return out_;
  }

  std::unique_ptr<nspawn::Container> c_;
  std::string out_;
  cf::testing::Gateway gateway_ = cf::testing::Gateway::Contract;
};

TEST_F(GuestEndToEnd, CreateReprovisionDestroy) {
  write_manifest("anthropic/claude-sonnet-4-6", true);
  ASSERT_EQ(clawfleet("plan"), 2) << out_;
  EXPECT_NE(out_.find("Plan: 2 to create"), std::string::npos) << out_;

  auto t0 = Clock::now();
  ASSERT_EQ(clawfleet("apply --parallelism 2 --health-timeout 1500"), 2) << out_;
  std::cerr << "[ e2e ] create of 2 instances to healthy: " << seconds_since(t0) << " s\n" << out_;
  ASSERT_EQ(clawfleet("plan"), 0) << out_;

  for (const char* name : {"alpha", "beta"}) {
    const std::string port = field(name, "hostPort");
    ASSERT_FALSE(port.empty());
    EXPECT_NE(get("127.0.0.1", std::stoi(port), "/health").find("200 OK"), std::string::npos) << name << ": " << out_;
    // The guest reports the generation that apply recorded.
    const std::string gen = field(name, "appliedGeneration");
    EXPECT_NE(get(field(name, "ip"), 18790, "/").find("\"generation\":\"" + gen + "\""), std::string::npos)
        << name << " " << gen << ": " << out_;
  }

  // Guests never reach each other: their bridge ports are isolated, and a
  // probe on another isolated port of the same bridge (as a third guest
  // would be) reaches neither guest's gateway, while the host does.
  ASSERT_EQ(sh("bridge -d link show | grep -A1 ' master cfbr0 ' | grep -c 'isolated on'"), 0) << out_;
  EXPECT_EQ(nspawn::detail::trim(out_), "2");
  ASSERT_EQ(sh("ip netns add probe && ip link add cfprobe type veth peer name eth0 netns probe && "
               "ip link set cfprobe master cfbr0 && bridge link set dev cfprobe isolated on && ip link set cfprobe up && "
               "ip -n probe addr add 10.78.0.250/24 dev eth0 && ip -n probe link set eth0 up && ip -n probe link set lo up"),
            0)
      << out_;
  for (const char* name : {"alpha", "beta"}) {
    const std::string ip = field(name, "ip");
    EXPECT_NE(sh("ip netns exec probe timeout 5 bash -c 'exec 3<>/dev/tcp/" + ip + "/18789'"), 0)
        << "the probe reached " << name << ": " << out_;
    EXPECT_EQ(sh("timeout 5 bash -c 'exec 3<>/dev/tcp/" + ip + "/18789'"), 0) << "the host cannot reach " << name << ": " << out_;
  }
  sh("ip link del cfprobe; ip netns del probe");

  // A new model is a new generation: one reprovision, and the gate waits
  // until the guest reports it.
  const std::string before = field("alpha", "appliedGeneration");
  write_manifest("anthropic/claude-opus-4-6", true);
  ASSERT_EQ(clawfleet("plan"), 2) << out_;
  EXPECT_NE(out_.find("Plan: 0 to create, 1 to reprovision, 0 to destroy."), std::string::npos) << out_;
  t0 = Clock::now();
  ASSERT_EQ(clawfleet("apply --health-timeout 1500"), 2) << out_;
  std::cerr << "[ e2e ] reprovision to healthy: " << seconds_since(t0) << " s\n";
  const std::string after = field("alpha", "appliedGeneration");
  EXPECT_NE(after, before);
  EXPECT_NE(get(field("alpha", "ip"), 18790, "/").find("\"generation\":\"" + after + "\""), std::string::npos) << out_;

  // Removing beta destroys it, leaving nothing of it behind.
  const std::string beta_tap = field("beta", "tap");
  write_manifest("anthropic/claude-opus-4-6", false);
  ASSERT_EQ(clawfleet("plan"), 2) << out_;
  EXPECT_NE(out_.find("Plan: 0 to create, 1 to destroy."), std::string::npos) << out_;
  ASSERT_EQ(clawfleet("apply"), 2) << out_;
  EXPECT_NE(sh("ip link show " + beta_tap), 0) << out_;
  EXPECT_NE(sh("test -e /var/lib/clawfleet/instances/beta"), 0);
  sh("systemctl list-units --all --plain --no-legend 'clawfleet-*@beta*'; ls /etc/systemd/system | grep beta");
  EXPECT_EQ(nspawn::detail::trim(out_), "");
  EXPECT_EQ(clawfleet("plan"), 0) << out_;
  EXPECT_NE(out_.find("No changes."), std::string::npos) << out_;
}

}  // namespace
}  // namespace cf
