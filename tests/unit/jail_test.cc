// Firecracker under its jailer: the jail's layout, the jailer's command line
// (golden, against the interface of the jailer's docs/jailer.md at the
// commit of shared/reference/firecracker), the config as the jailed VMM
// sees it (tests/golden/firecracker/jailed.json, which the contract test
// holds to Firecracker's API spec), the launch record, and the jail laid
// out on a real filesystem.
#include "host/vmm/jail.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fakes/fake_vmm.h"
#include "host/vmm/launch.h"
#include "host/vmm/vmm_backends.h"
#include "manifest/loader.h"

namespace cf::host {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

model::Fleet jailed_fleet() {
  const std::string state_root = "/srv/cf";
  auto r = manifest::load(
      {{"m.yaml",
        "apiVersion: clawfleet.io/v1\nkind: Host\nspec:\n  bridge: cfbr0\n"
        "  subnet: 10.80.0.0/24\n  stateRoot: " +
            state_root +
            "\n  vmm: {kind: firecracker, binary: /usr/local/bin/firecracker-v1.12, "
            "jailer: /usr/local/bin/jailer}\n"
            "  images: {default: {kernel: " +
            state_root + "/images/vmlinux, rootfs: " + state_root + "/images/rootfs.ext4, initrd: " + state_root +
            "/images/initrd.img}}\n---\napiVersion: clawfleet.io/v1\nkind: Instance\n"
            "metadata: {name: bot}\nspec:\n  model: ollama/qwen3\n"
            "  resources: {vcpus: 2, memoryMiB: 2048}\n"}});
  EXPECT_FALSE(r.diagnostics.has_errors());
  return r.fleet;
}

model::Allocation jailed_alloc() {
  return {parse_ipv4("10.80.0.2").value(), parse_mac("06:fc:0a:50:00:02").value(), 18900, "cf0123456789abc"};
}

TEST(Jail, LayoutIsTheJailersOwn) {
  auto f = jailed_fleet();
  EXPECT_EQ(jail_root(f.host, "bot"), "/srv/cf/instances/bot/jail/firecracker-v1.12/bot/root");
  Jail j = jail_for(f.host, f.instances.at(0), true);
  EXPECT_EQ(j.base, "/srv/cf/instances/bot/jail");
  EXPECT_EQ(j.root, "/srv/cf/instances/bot/jail/firecracker-v1.12/bot/root");
  EXPECT_EQ(j.links, (std::vector<std::pair<std::string, std::string>>{
                         {"/srv/cf/images/vmlinux", "/kernel"},
                         {"/srv/cf/images/initrd.img", "/initrd"},
                         {"/srv/cf/instances/bot/rootfs.ext4", "/rootfs.ext4"},
                         {"/srv/cf/instances/bot/seed.img", "/seed.img"},
                         {"/srv/cf/instances/bot/data.img", "/data.img"},
                         {"/srv/cf/instances/bot/vmm-config.json", "/vmm-config.json"},
                     }));
  // An instance created before data disks has none to link.
  EXPECT_EQ(jail_for(f.host, f.instances.at(0), false).links.size(), j.links.size() - 1);
  EXPECT_EQ(j.inside("/srv/cf/instances/bot/rootfs.ext4"), "/rootfs.ext4");
  EXPECT_EQ(j.inside(j.root + "/vmm.sock"), "/vmm.sock");
  EXPECT_EQ(j.inside("/elsewhere"), "/elsewhere");
  const VmmView view = vmm_view(f.host, "bot");
  EXPECT_EQ(view.api_socket, j.root + "/vmm.sock");
  EXPECT_EQ(view.rootfs, "/rootfs.ext4");
  EXPECT_EQ(view.data, "/data.img");
  // Without a jailer, and for QEMU, the host's own paths.
  f.host.vmm.jailer.clear();
  EXPECT_EQ(jail_root(f.host, "bot"), "");
  EXPECT_EQ(vmm_view(f.host, "bot").api_socket, "/srv/cf/instances/bot/vm/vmm.sock");
  EXPECT_EQ(vmm_view(f.host, "bot").rootfs, "/srv/cf/instances/bot/rootfs.ext4");
  EXPECT_EQ(vmm_view(f.host, "bot").data, "/srv/cf/instances/bot/data.img");
}

// The jailer's interface: --id, --exec-file, --uid, --gid,
// --chroot-base-dir, --cgroup-version, then "--" and Firecracker's own
// arguments (the jailer passes --id itself).
TEST(Jail, JailerCommandLineIsGolden) {
  auto f = jailed_fleet();
  VmSpec s = vm_spec(f.host, f.instances.at(0), jailed_alloc(), true, 0, true);
  EXPECT_EQ(make_firecracker_vmm()->argv(s),
            (std::vector<std::string>{"/usr/local/bin/jailer", "--id", "bot", "--exec-file",
                                      "/usr/local/bin/firecracker-v1.12", "--uid", "1879048194", "--gid", "1879048194",
                                      "--chroot-base-dir", "/srv/cf/instances/bot/jail", "--cgroup-version", "1", "--",
                                      "--api-sock", "/vmm.sock", "--config-file", "/vmm-config.json"}));
}

TEST(Jail, ConfigNamesTheJailsPathsAndMatchesGolden) {
  auto f = jailed_fleet();
  VmSpec s = vm_spec(f.host, f.instances.at(0), jailed_alloc(), true, 0, true);
  auto files = make_firecracker_vmm()->files(s);
  ASSERT_TRUE(files) << files.error().message;
  ASSERT_EQ(files.value().size(), 1u);
  // Written where the unjailed VMM's is (root's), and linked into the jail.
  EXPECT_EQ(files.value()[0].first, "/srv/cf/instances/bot/vmm-config.json");
  std::ifstream in(std::string(CLAWFLEET_SOURCE_DIR) + "/tests/golden/firecracker/jailed.json");
  std::stringstream golden;
  golden << in.rdbuf();
  EXPECT_EQ(json::parse(files.value()[0].second), json::parse(golden.str())) << files.value()[0].second;
}

TEST(Jail, LaunchRecordCarriesTheJail) {
  auto f = jailed_fleet();
  testing::FakeVmm vmm;
  auto r = make_launch_record(f.host, f.instances.at(0), jailed_alloc(), vmm, true, 0, true);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_TRUE(r.value().jail);
  EXPECT_EQ(*r.value().jail, jail_for(f.host, f.instances.at(0), true));
  EXPECT_EQ(r.value().api_socket, "/srv/cf/instances/bot/jail/firecracker-v1.12/bot/root/vmm.sock");
  auto back = launch_from_json(to_json(r.value()));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back.value(), r.value());

  // A hand-edited jail is refused: outside the instance, or a link that
  // would leave the root or take a name the jailer makes or the VMM keeps.
  for (auto [base, root, to] :
       {std::tuple{"/srv/cf/instances/other/jail", "", "/kernel"},
        std::tuple{"/srv/cf/instances/bot/jail", "/etc", "/kernel"},
        std::tuple{"/srv/cf/instances/bot/jail", "", "/../kernel"},
        std::tuple{"/srv/cf/instances/bot/jail", "", "/dev"}, std::tuple{"/srv/cf/instances/bot/jail", "", "/vmm.log"},
        std::tuple{"/srv/cf/instances/bot/jail", "", "kernel"}}) {
    LaunchRecord bad = r.value();
    bad.jail->base = base;
    if (*root) bad.jail->root = root;
    bad.jail->links[0].second = to;
    auto refused = launch_from_json(to_json(bad));
    ASSERT_FALSE(refused) << base << " " << root << " " << to;
    EXPECT_EQ(refused.error().message.substr(0, 6), "jail: ") << refused.error().message;
  }
  LaunchRecord as_root = r.value();
  as_root.uid = 0;
  EXPECT_EQ(launch_from_json(to_json(as_root)).error().message,
            "jail: only Firecracker runs jailed, as a user of its own");
}

// On a real filesystem, as `vm prepare` runs it (root, before the VMM
// starts): the jailer's leftovers go, the VMM's log stays, the links are
// the instance's own files.
TEST(Jail, PrepareLaysTheJailOut) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (chown to the VMM's user)";
  const fs::path state = fs::temp_directory_path() / ("cf-jail-" + std::to_string(::getpid()));
  const std::string root_dir = state.string();
  auto f = jailed_fleet();  // then moved to a scratch directory
  f.host.state_root = root_dir;
  f.host.images["default"] = {root_dir + "/images/vmlinux", root_dir + "/images/rootfs.ext4",
                              root_dir + "/images/initrd.img", "", ""};
  const Jail j = jail_for(f.host, f.instances.at(0), true);
  const InstancePaths p = paths_for(root_dir, "bot");
  fs::create_directories(root_dir + "/images");
  fs::create_directories(p.dir);
  for (const auto& [from, _] : j.links) std::ofstream(from) << "contents of " << from << "\n";
  // What a jailer and its VMM left: device nodes, its copy of the VMM, a
  // pid file, a stale socket and old_root, a log worth keeping, a link
  // planted to lead root's hand outside.
  fs::create_directories(j.root + "/dev/net");
  fs::create_directories(j.root + "/old_root");
  ASSERT_EQ(::mknod((j.root + "/dev/kvm").c_str(), S_IFCHR | 0600, makedev(10, 232)), 0);
  std::ofstream(j.root + "/firecracker-v1.12") << "copy";
  std::ofstream(j.root + "/firecracker-v1.12.pid") << "42";
  std::ofstream(j.root + "/vmm.log") << "last run's warnings\n";
  fs::create_symlink("/etc", j.root + "/run");
  fs::create_directories(j.base + "/firecracker-old/bot/root");
  ASSERT_EQ(::chown(j.root.c_str(), 1879048194, 1879048194), 0);

  auto s = prepare_jail(j, 1879048194);
  ASSERT_TRUE(s) << s.error().message;
  std::vector<std::string> entries;
  for (const auto& e : fs::directory_iterator(j.root)) entries.push_back(e.path().filename());
  std::sort(entries.begin(), entries.end());
  EXPECT_EQ(entries, (std::vector<std::string>{"data.img", "initrd", "kernel", "rootfs.ext4", "seed.img",
                                               "vmm-config.json", "vmm.log"}));
  EXPECT_TRUE(fs::exists("/etc/passwd"));  // the planted link was removed, not followed
  EXPECT_FALSE(fs::exists(j.base + "/firecracker-old"));
  std::ifstream log(j.root + "/vmm.log");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(log), {}), "last run's warnings\n");
  for (const auto& [from, to] : j.links) {
    struct stat a, b;
    ASSERT_EQ(::stat(from.c_str(), &a), 0);
    ASSERT_EQ(::stat((j.root + to).c_str(), &b), 0);
    EXPECT_EQ(a.st_ino, b.st_ino) << to << " is not " << from;
  }
  auto mode = [](const std::string& d) {
    struct stat st;
    ::lstat(d.c_str(), &st);
    return std::to_string(st.st_uid) + ":" + std::to_string(st.st_gid) + " " + std::to_string((st.st_mode >> 6) & 7) +
           std::to_string((st.st_mode >> 3) & 7) + std::to_string(st.st_mode & 7);
  };
  EXPECT_EQ(mode(j.base), "0:1879048194 710");
  EXPECT_EQ(mode(j.base + "/firecracker-v1.12"), "0:1879048194 710");
  EXPECT_EQ(mode(j.base + "/firecracker-v1.12/bot"), "0:1879048194 710");
  EXPECT_EQ(mode(j.root), "0:0 700");
  // Again: the same jail, nothing left over.
  ASSERT_TRUE(prepare_jail(j, 1879048194));
  fs::remove_all(state);
}

}  // namespace
}  // namespace cf::host
