#include "host/vmm/launch.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "fakes/fake_network.h"
#include "fakes/fake_vmm.h"
#include "manifest/loader.h"
#include "model/instance_dir.h"

namespace cf::host {
namespace {

model::Fleet fleet() {
  auto r = manifest::load({{"m.yaml", R"(apiVersion: clawfleet.io/v1
kind: Host
spec:
  bridge: cfbr0
  subnet: 10.80.0.0/24
  stateRoot: /srv/cf
  images: {default: {kernel: /srv/cf/images/vmlinux, rootfs: /srv/cf/images/rootfs.ext4, initrd: /srv/cf/images/initrd.img}}
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
  EXPECT_EQ(p.vm_dir, "/srv/cf/instances/bot/vm");
  EXPECT_EQ(p.api_socket, "/srv/cf/instances/bot/vm/vmm.sock");
  EXPECT_EQ(p.console.log, "/srv/cf/instances/bot/vm/console.log");
  EXPECT_EQ(p.console.socket, "/srv/cf/instances/bot/vm/console.sock");
  EXPECT_EQ(p.launch, "/srv/cf/instances/bot/launch.json");
  EXPECT_EQ(p.data, "/srv/cf/instances/bot/data.img");
}

TEST(Launch, VmSpecFromDesiredAndAllocation) {
  auto f = fleet();
  VmSpec s = vm_spec(f.host, f.instances.at(0), alloc(), false, 2400000, true);
  EXPECT_EQ(s.name, "bot");
  EXPECT_EQ(s.binary, "/usr/local/bin/firecracker");
  EXPECT_EQ(s.image.kernel, "/srv/cf/images/vmlinux");
  EXPECT_EQ(s.image.initrd, "/srv/cf/images/initrd.img");
  EXPECT_EQ(s.rootfs_path, "/srv/cf/instances/bot/rootfs.ext4");
  EXPECT_EQ(s.seed_path, "/srv/cf/instances/bot/seed.img");
  EXPECT_EQ(s.data_path, "/srv/cf/instances/bot/data.img");
  EXPECT_EQ(s.vcpus, 4);
  EXPECT_EQ(s.memory_mib, 4096u);
  EXPECT_EQ(s.tap, "cf0123456789abc");
  EXPECT_EQ(to_string(s.mac), "06:fc:0a:50:00:02");
  EXPECT_EQ(s.config_path, "/srv/cf/instances/bot/vmm-config.json");
  EXPECT_EQ(s.metrics_path, "/srv/cf/instances/bot/vm/metrics.json");
  EXPECT_EQ(s.tsc_khz, 2400000u);
  EXPECT_EQ(vm_spec(f.host, f.instances.at(0), alloc(), true, 2400000, true).tsc_khz, 0u);
  // An instance created before data disks has none.
  EXPECT_EQ(vm_spec(f.host, f.instances.at(0), alloc(), true, 2400000, false).data_path, "");
}

TEST(Launch, JsonRoundTrip) {
  LaunchRecord r{"bot",
                 "cfbr0",
                 parse_cidr("10.80.0.1/24").value(),
                 "cf0123456789abc",
                 alloc().ip,
                 alloc().mac,
                 model::VmmKind::Qemu,
                 model::kVmmUidBase + 2,
                 "/srv/cf/instances/bot/vm/vmm.sock",
                 {"/usr/bin/qemu-system-x86_64", "-M", "microvm"},
                 {{"/srv/cf/instances/bot/vmm-config.json", "{}\n"}},
                 true};
  auto back = launch_from_json(to_json(r));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back.value(), r);
  // A record from before VMMs had users of their own runs its VMM as root;
  // no record names a user outside clawfleet's range (root's prepare
  // chowns to it).
  std::string old = to_json(r);
  old.replace(old.find(",\n  \"vmmUser\": 1879048194"), std::string(",\n  \"vmmUser\": 1879048194").size(), "");
  auto older = launch_from_json(old);
  ASSERT_TRUE(older.ok()) << older.error().message << "\n" << old;
  EXPECT_EQ(older.value().uid, 0u);
  r.uid = 1000;
  EXPECT_EQ(launch_from_json(to_json(r)).error().message, "vmmUser: 1000 is outside clawfleet's range");
}

TEST(Launch, MalformedRecordsAreRefused) {
  EXPECT_EQ(launch_from_json("{\"format\": 2}").error().message, "unknown format (want \"format\": 1)");
  LaunchRecord r{"bot",
                 "cfbr0",
                 parse_cidr("10.80.0.1/24").value(),
                 "cf0",
                 alloc().ip,
                 alloc().mac,
                 model::VmmKind::Firecracker,
                 0,
                 "/s/vmm.sock",
                 {"relative/firecracker"},
                 {},
                 false};
  EXPECT_EQ(launch_from_json(to_json(r)).error().message, "name, bridge, tap, argv[0] or apiSocket is malformed");
  r.argv = {"/usr/local/bin/firecracker"};
  r.files = {{"../etc/passwd", "x"}};
  EXPECT_EQ(launch_from_json(to_json(r)).error().message, "files: \"../etc/passwd\" is not an absolute path");
  EXPECT_FALSE(launch_from_json("not json").ok());
}

TEST(Launch, RecordCarriesTheGuestsAddressesAndForwarding) {
  auto f = fleet();
  testing::FakeVmm vmm;
  auto r = make_launch_record(f.host, f.instances.at(0), alloc(), vmm, true, 0, true);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r.value().ip, alloc().ip);
  EXPECT_EQ(r.value().mac, alloc().mac);
  EXPECT_TRUE(r.value().ip_forward);
  EXPECT_EQ(r.value().uid, 1879048194u);  // model::vmm_uid: 0x70000000 + the address's low 16 bits
  EXPECT_EQ(to_string(r.value().bridge_address), "10.80.0.1/24");
  f.host.egress = model::Egress::Deny;
  r = make_launch_record(f.host, f.instances.at(0), alloc(), vmm, true, 0, true);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r.value().ip_forward);
}

class Prepare : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("cf-prepare-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    auto f = fleet();
    record_ = LaunchRecord{"bot",
                           "cfbr0",
                           parse_cidr("10.80.0.1/24").value(),
                           "cf0123456789abc",
                           alloc().ip,
                           alloc().mac,
                           model::VmmKind::Qemu,
                           model::kVmmUidBase + 2,
                           (dir_ / "vmm.sock").string(),
                           {"/usr/bin/qemu-system-x86_64"},
                           {{(dir_ / "vmm-config.json").string(), "{}\n"}},
                           true};
    ruleset_ = render_ruleset(f.host, {alloc()});
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  LaunchRecord record_;
  std::string ruleset_;
  testing::FakeNetwork net_;
};

TEST_F(Prepare, BringsUpEverythingTheVmNeeds) {
  std::ofstream(dir_ / "vmm.sock") << "stale";
  ASSERT_TRUE(prepare_vm(record_, ruleset_, net_));
  EXPECT_EQ(net_.calls, (std::vector<std::string>{"read_ruleset", "ensure_bridge cfbr0 10.80.0.1/24",
                                                  "ensure_tap cf0123456789abc cfbr0 clawfleet:bot owner 1879048194",
                                                  "ensure_neighbour cfbr0 10.80.0.2 06:fc:0a:50:00:02", "read_ruleset",
                                                  "replace_ruleset", "ip_forward", "set_ip_forward 1"}));
  EXPECT_EQ(net_.table, ruleset_);
  EXPECT_EQ(net_.neighbours, (std::map<std::string, Mac>{{"cfbr0 10.80.0.2", alloc().mac}}));
  EXPECT_TRUE(net_.forward);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "vmm.sock"));
  struct stat st;
  ASSERT_EQ(::stat((dir_ / "vmm-config.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
}

// What apply does for a VM that may be running: its API socket stays.
TEST_F(Prepare, TheHostSideLeavesTheApiSocket) {
  std::ofstream(dir_ / "vmm.sock") << "a running VMM's";
  ASSERT_TRUE(prepare_host_side(record_, ruleset_, net_));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "vmm.sock"));
  EXPECT_EQ(net_.table, ruleset_);
}

TEST_F(Prepare, SecondRunChangesNothingOnTheHost) {
  ASSERT_TRUE(prepare_vm(record_, ruleset_, net_));
  net_.calls.clear();
  ASSERT_TRUE(prepare_vm(record_, ruleset_, net_));
  // ensure_* are idempotent in themselves; the ruleset and sysctl are not rewritten.
  EXPECT_EQ(net_.calls, (std::vector<std::string>{"read_ruleset", "ensure_bridge cfbr0 10.80.0.1/24",
                                                  "ensure_tap cf0123456789abc cfbr0 clawfleet:bot owner 1879048194",
                                                  "ensure_neighbour cfbr0 10.80.0.2 06:fc:0a:50:00:02", "read_ruleset",
                                                  "ip_forward"}));
}

// The VM unit's prepare reads the state root's file, which apply may have
// rewritten for another guest since: a live ruleset that holds this guest
// stays (apply's to change), one that lacks it is replaced from the file.
TEST_F(Prepare, AVmsPrepareNeverTakesAnotherGuestsRulesAway) {
  const model::Allocation other{parse_ipv4("10.80.0.3").value(), parse_mac("06:fc:0a:50:00:03").value(), 18901,
                                "cf0000000000001"};
  const std::string newer = render_ruleset(fleet().host, {alloc(), other});
  net_.table = newer;
  ASSERT_TRUE(prepare_vm(record_, ruleset_, net_));
  EXPECT_EQ(net_.table, newer);
  net_.table = render_ruleset(fleet().host, {other});  // this guest's rules deleted by hand
  ASSERT_TRUE(prepare_vm(record_, ruleset_, net_));
  EXPECT_EQ(net_.table, ruleset_);
  // apply's own call knows the current ruleset: any difference is replaced.
  net_.table = newer;
  ASSERT_TRUE(prepare_host_side(record_, ruleset_, net_));
  EXPECT_EQ(net_.table, ruleset_);
}

TEST_F(Prepare, EgressDenyLeavesForwardingAlone) {
  record_.ip_forward = false;
  ASSERT_TRUE(prepare_vm(record_, ruleset_, net_));
  EXPECT_FALSE(net_.forward);
  EXPECT_EQ(std::count(net_.calls.begin(), net_.calls.end(), "ip_forward"), 0);
}

TEST_F(Prepare, StopsAtTheFirstFailureWithItsError) {
  net_.fail("replace_ruleset", "cannot replace nftables tables: Operation not permitted");
  auto s = prepare_vm(record_, ruleset_, net_);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "cannot replace nftables tables: Operation not permitted");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "vmm-config.json"));
}

}  // namespace
}  // namespace cf::host
