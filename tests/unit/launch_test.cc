#include "host/launch.h"

#include <gtest/gtest.h>

#include "manifest/loader.h"

namespace cf::host {
namespace {

model::Fleet fleet() {
  auto r = manifest::load({{"m.yaml", R"(apiVersion: clawfleet.io/v1
kind: Host
spec:
  bridge: cfbr0
  subnet: 10.80.0.0/24
  stateRoot: /srv/cf
  images: {default: {kernel: /img/vmlinux, rootfs: /img/rootfs.ext4, initrd: /img/initrd.img}}
---
apiVersion: clawfleet.io/v1
kind: Instance
metadata: {name: bot}
spec:
  model: ollama/qwen3
  resources: {vcpus: 4, memoryMiB: 4096}
)"}});
  EXPECT_FALSE(r.diagnostics.has_errors());
  return r.fleet;
}

model::Allocation alloc() {
  return {parse_ipv4("10.80.0.2").value(), parse_mac("06:fc:0a:50:00:02").value(), 18900, "cf0123456789abc"};
}

TEST(Launch, PathsLiveInTheInstanceDirectory) {
  auto p = paths_for("/srv/cf", "bot");
  EXPECT_EQ(p.dir, "/srv/cf/instances/bot");
  EXPECT_EQ(p.api_socket, "/srv/cf/instances/bot/vmm.sock");
  EXPECT_EQ(p.launch, "/srv/cf/instances/bot/launch.json");
}

TEST(Launch, VmSpecFromDesiredAndAllocation) {
  auto f = fleet();
  VmSpec s = vm_spec(f.host, f.instances.at(0), alloc(), false, 2400000);
  EXPECT_EQ(s.name, "bot");
  EXPECT_EQ(s.binary, "/usr/local/bin/firecracker");
  EXPECT_EQ(s.image.kernel, "/img/vmlinux");
  EXPECT_EQ(s.image.initrd, "/img/initrd.img");
  EXPECT_EQ(s.rootfs_path, "/srv/cf/instances/bot/rootfs.ext4");
  EXPECT_EQ(s.seed_path, "/srv/cf/instances/bot/seed.img");
  EXPECT_EQ(s.vcpus, 4);
  EXPECT_EQ(s.memory_mib, 4096u);
  EXPECT_EQ(s.tap, "cf0123456789abc");
  EXPECT_EQ(to_string(s.mac), "06:fc:0a:50:00:02");
  EXPECT_EQ(s.config_path, "/srv/cf/instances/bot/vmm-config.json");
  EXPECT_EQ(s.metrics_path, "/srv/cf/instances/bot/metrics.json");
  EXPECT_EQ(s.tsc_khz, 2400000u);
  EXPECT_EQ(vm_spec(f.host, f.instances.at(0), alloc(), true, 2400000).tsc_khz, 0u);
}

TEST(Launch, JsonRoundTrip) {
  LaunchRecord r{"bot", "cfbr0", parse_cidr("10.80.0.1/24").value(), "cf0123456789abc", model::VmmKind::Qemu,
                 "/srv/cf/instances/bot/vmm.sock", {"/usr/bin/qemu-system-x86_64", "-M", "microvm"},
                 {{"/srv/cf/instances/bot/vmm-config.json", "{}\n"}}};
  auto back = launch_from_json(to_json(r));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back.value(), r);
}

TEST(Launch, MalformedRecordsAreRefused) {
  EXPECT_EQ(launch_from_json("{\"format\": 2}").error().message, "unknown format (want \"format\": 1)");
  LaunchRecord r{"bot", "cfbr0", parse_cidr("10.80.0.1/24").value(), "cf0", model::VmmKind::Firecracker,
                 "/s/vmm.sock", {"relative/firecracker"}, {}};
  EXPECT_EQ(launch_from_json(to_json(r)).error().message, "name, bridge, tap, argv[0] or apiSocket is malformed");
  r.argv = {"/usr/local/bin/firecracker"};
  r.files = {{"../etc/passwd", "x"}};
  EXPECT_EQ(launch_from_json(to_json(r)).error().message, "files: \"../etc/passwd\" is not an absolute path");
  EXPECT_FALSE(launch_from_json("not json").ok());
}

}  // namespace
}  // namespace cf::host
