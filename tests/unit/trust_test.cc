// What a manifest may name on the host (manifest/trust.h): each rule with
// the exact text `validate` prints, on values a manifest committer who is
// not root would try.
#include "manifest/trust.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "fakes/fake_file_reader.h"
#include "fakes/no_environment.h"
#include "manifest/loader.h"
#include "manifest/secrets.h"

namespace cf::manifest {
namespace {

using model::VmmKind;

TEST(Trust, IsWithin) {
  EXPECT_TRUE(is_within("/etc", "/etc"));
  EXPECT_TRUE(is_within("/etc/x", "/etc"));
  EXPECT_FALSE(is_within("/etcetera", "/etc"));
  EXPECT_FALSE(is_within("/et", "/etc"));
  EXPECT_TRUE(is_within("/anything", "/"));
}

TEST(Trust, VmmBinary) {
  EXPECT_EQ(vmm_binary_rule(VmmKind::Qemu, "/usr/bin/qemu-system-x86_64"), std::nullopt);
  EXPECT_EQ(vmm_binary_rule(VmmKind::Firecracker, "/usr/local/bin/firecracker"), std::nullopt);
  EXPECT_EQ(vmm_binary_rule(VmmKind::Firecracker, "/opt/firecracker/firecracker-v1.12.0-x86_64"), std::nullopt);
  EXPECT_EQ(vmm_binary_rule(VmmKind::Qemu, "/usr/libexec/qemu-system-x86_64"), std::nullopt);
  EXPECT_EQ(vmm_binary_rule(VmmKind::Qemu, "/bin/sh"),
            "the VMM must lie directly in one of /usr/bin, /usr/local/bin, /usr/libexec, /opt/firecracker (only root "
            "installs there), got /bin/sh");
  // Not below them either: a subdirectory may be anyone's.
  EXPECT_EQ(vmm_binary_rule(VmmKind::Qemu, "/usr/local/bin/x/qemu-system-x86_64"),
            "the VMM must lie directly in one of /usr/bin, /usr/local/bin, /usr/libexec, /opt/firecracker (only root "
            "installs there), got /usr/local/bin/x/qemu-system-x86_64");
  EXPECT_EQ(vmm_binary_rule(VmmKind::Qemu, "/usr/bin/sh"),
            "a qemu VMM's file name starts with \"qemu-system-\", got /usr/bin/sh");
  EXPECT_EQ(vmm_binary_rule(VmmKind::Firecracker, "/usr/bin/qemu-system-x86_64"),
            "a firecracker VMM's file name starts with \"firecracker\", got /usr/bin/qemu-system-x86_64");
}

TEST(Trust, Jailer) {
  EXPECT_EQ(jailer_rule("/usr/local/bin/jailer"), std::nullopt);
  EXPECT_EQ(jailer_rule("/opt/firecracker/jailer-v1.12.0-x86_64"), std::nullopt);
  EXPECT_EQ(jailer_rule("/srv/jailer"),
            "the jailer must lie directly in one of /usr/bin, /usr/local/bin, /usr/libexec, /opt/firecracker (only "
            "root installs there), got /srv/jailer");
  EXPECT_EQ(jailer_rule("/usr/bin/firecracker"),
            "the jailer's file name starts with \"jailer\", got /usr/bin/firecracker");
}

// Root runs the jailer: root's rule, no VMM access rule. It names the
// chroot after the VMM's real file, which clawfleet lays out beforehand.
TEST(Trust, JailerOnTheHost) {
  testing::FakeFileReader fs;
  fs.file("/usr/local/bin/jailer", "");
  fs.mode("/usr/local/bin/jailer", 0, 0775);
  fs.file("/opt/firecracker/firecracker-v1.12", "");
  fs.mode("/opt/firecracker/firecracker-v1.12", 0, 0755);
  fs.link("/usr/local/bin/firecracker", "/opt/firecracker/firecracker-v1.12");
  model::Host host;
  host.state_root = "/var/lib/clawfleet";
  host.vmm.binary = "/usr/local/bin/firecracker";
  host.vmm.jailer = "/usr/local/bin/jailer";
  Diagnostics d;
  check_host_files(
      host,
      {{"/usr/local/bin/firecracker", Location{"h.yaml", 5, 13}}, {"/usr/local/bin/jailer", Location{"h.yaml", 6, 13}}},
      Location{"h.yaml", 1, 1}, fs, d);
  std::vector<std::string> got;
  for (const auto& x : d.all()) got.push_back(format(x));
  EXPECT_EQ(got, (std::vector<std::string>{
                     "h.yaml:6:13: error: spec.vmm.jailer: /usr/local/bin/jailer is writable by group or others "
                     "(mode 0775); only root may control what clawfleet runs or boots",
                     "h.yaml:5:13: error: spec.vmm.binary: /usr/local/bin/firecracker is a link to "
                     "/opt/firecracker/firecracker-v1.12, and the jailer names its chroot after the file it copies: "
                     "name the file itself"}));
  fs.mode("/usr/local/bin/jailer", 0, 0700);  // root's alone is enough: root runs it
  host.vmm.binary = "/opt/firecracker/firecracker-v1.12";
  Diagnostics fine;
  check_host_files(host, {}, Location{"h.yaml", 1, 1}, fs, fine);
  EXPECT_TRUE(fine.all().empty()) << format(fine.all().at(0));
}

TEST(Trust, StateRoot) {
  for (const char* fine : {"/var/lib/clawfleet", "/srv/clawfleet", "/srv/cf", "/var/lib/clawfleet-2", "/data/vms"})
    EXPECT_EQ(state_root_rule(fine), std::nullopt) << fine;
  EXPECT_EQ(state_root_rule("/"),
            "/ is a shared system directory; the state root must be a directory of clawfleet's own below it, such "
            "as /var/lib/clawfleet");
  EXPECT_EQ(state_root_rule("/var/lib"),
            "/var/lib is a shared system directory; the state root must be a directory of clawfleet's own below it, "
            "such as /var/lib/clawfleet");
  EXPECT_EQ(state_root_rule("/tmp"),
            "/tmp lies in the system directory /tmp; the state root must be a directory of clawfleet's own, such as "
            "/var/lib/clawfleet");
  for (const char* bad : {"/tmp/cf", "/var/tmp", "/home/alice/vms", "/etc/clawfleet", "/usr/local/clawfleet",
                          "/root/cf", "/run/clawfleet", "/var/lib/systemd/cf", "/proc/self"})
    EXPECT_NE(state_root_rule(bad), std::nullopt) << bad;
}

TEST(Trust, Images) {
  EXPECT_EQ(image_rule("/var/lib/clawfleet", "/var/lib/clawfleet/images/default/vmlinux"), std::nullopt);
  EXPECT_EQ(image_rule("/var/lib/clawfleet", "/var/lib/clawfleet/instances/beta/rootfs.ext4"),
            "/var/lib/clawfleet/instances/beta/rootfs.ext4 is outside the image root /var/lib/clawfleet/images/ "
            "(images lie under the state root's images directory; install them there)");
  EXPECT_NE(image_rule("/var/lib/clawfleet", "/etc/shadow"), std::nullopt);
  EXPECT_NE(image_rule("/var/lib/clawfleet", "/var/lib/clawfleet/images"), std::nullopt);
  EXPECT_NE(image_rule("/var/lib/clawfleet", "/var/lib/clawfleet/images2/k"), std::nullopt);
}

TEST(Trust, Secrets) {
  EXPECT_EQ(secret_root_rule("/etc/clawfleet/secrets"), std::nullopt);
  EXPECT_EQ(secret_root_rule("/run/clawfleet/secrets"), std::nullopt);
  EXPECT_EQ(secret_root_rule("/var/lib/clawfleet/instances"),
            "/var/lib/clawfleet/instances is not below /etc/clawfleet, /run/clawfleet (secret roots hold only what "
            "root gives clawfleet)");
  const std::vector<std::string> roots{"/etc/clawfleet/secrets", "/run/clawfleet/vault"};
  EXPECT_EQ(secret_file_rule(roots, "/etc/clawfleet/secrets/a.key"), std::nullopt);
  EXPECT_EQ(secret_file_rule(roots, "/run/clawfleet/vault/team/b"), std::nullopt);
  EXPECT_EQ(secret_file_rule(roots, "/root/.git-credentials"),
            "lies outside the secret roots (/etc/clawfleet/secrets, /run/clawfleet/vault; the Host's "
            "spec.secretRoots)");
  EXPECT_NE(secret_file_rule(roots, "/etc/clawfleet/secrets"), std::nullopt);
  EXPECT_NE(secret_file_rule(roots, "/etc/clawfleet/secretsX"), std::nullopt);
}

// The rules as `validate` reports them, at the value that breaks them.
TEST(Trust, Validate) {
  const auto diags = [](const std::vector<SourceFile>& files) {
    auto r = load(files);
    std::vector<std::string> out;
    for (const auto& d : r.diagnostics.all()) out.push_back(format(d));
    return out;
  };
  const std::string host = "apiVersion: clawfleet.io/v1\nkind: Host\nspec:\n";
  EXPECT_EQ(diags({{"h.yaml", host + "  vmm: {kind: qemu, binary: /bin/sh}\n"}}),
            (std::vector<std::string>{
                "h.yaml:4:29: error: spec.vmm.binary: the VMM must lie directly in one of /usr/bin, "
                "/usr/local/bin, /usr/libexec, /opt/firecracker (only root installs there), got /bin/sh"}));
  EXPECT_EQ(diags({{"h.yaml", host + "  stateRoot: /tmp\n"}}),
            (std::vector<std::string>{"h.yaml:4:14: error: spec.stateRoot: /tmp lies in the system directory "
                                      "/tmp; the state root must be a directory of clawfleet's own, such as "
                                      "/var/lib/clawfleet"}));
  EXPECT_EQ(diags({{"h.yaml", host + "  images:\n    other: {kernel: /var/lib/clawfleet/images/k, rootfs: "
                                     "/var/lib/clawfleet/instances/beta/rootfs.ext4}\n"}}),
            (std::vector<std::string>{
                "h.yaml:5:58: error: spec.images.other.rootfs: /var/lib/clawfleet/instances/beta/rootfs.ext4 is "
                "outside the image root /var/lib/clawfleet/images/ (images lie under the state root's images "
                "directory; install them there)"}));
  EXPECT_EQ(diags({{"h.yaml", host + "  secretRoots: [/etc/clawfleet/secrets, /var/lib/clawfleet]\n"}}),
            (std::vector<std::string>{"h.yaml:4:41: error: spec.secretRoots[1]: /var/lib/clawfleet is not below "
                                      "/etc/clawfleet, /run/clawfleet (secret roots hold only what root gives "
                                      "clawfleet)"}));
  // A reference outside the roots, in an Instance and in Defaults; the
  // Host may add a root (also in another file).
  const std::string instance =
      "apiVersion: clawfleet.io/v1\nkind: Instance\nmetadata: {name: bot}\nspec:\n"
      "  model: anthropic/claude-sonnet-4-5\n  providerKeys:\n    anthropic: {file: /root/.anthropic}\n";
  const std::string defaults =
      "apiVersion: clawfleet.io/v1\nkind: Defaults\nspec:\n  providerKeys:\n    openai: {file: /home/a/key}\n";
  EXPECT_EQ(diags({{"d.yaml", defaults}, {"i.yaml", instance}}),
            (std::vector<std::string>{
                "d.yaml:5:13: error: spec.providerKeys.openai: secret file /home/a/key lies outside the secret "
                "roots (/etc/clawfleet/secrets; the Host's spec.secretRoots)",
                "i.yaml:7:16: error: spec.providerKeys.anthropic: secret file /root/.anthropic lies outside the "
                "secret roots (/etc/clawfleet/secrets; the Host's spec.secretRoots)"}));
  const std::string bot =
      "apiVersion: clawfleet.io/v1\nkind: Instance\nmetadata: {name: bot}\nspec:\n"
      "  model: anthropic/claude-sonnet-4-5\n  providerKeys:\n    anthropic: {file: /run/clawfleet/keys/a}\n"
      "  telegram: {botToken: {file: /etc/clawfleet/secrets/t}, allowFrom: [1]}\n";
  EXPECT_EQ(diags({{"i.yaml", bot}}),
            (std::vector<std::string>{
                "i.yaml:7:16: error: spec.providerKeys.anthropic: secret file /run/clawfleet/keys/a lies outside "
                "the secret roots (/etc/clawfleet/secrets; the Host's spec.secretRoots)"}));
  EXPECT_EQ(
      diags({{"h.yaml", host + "  secretRoots: [/etc/clawfleet/secrets, /run/clawfleet/keys]\n"}, {"i.yaml", bot}}),
      std::vector<std::string>{});
}

// On the host: files clawfleet runs, boots or hands to a guest are root's
// alone, and so is every directory above them; a secret is not readable
// by others. Checked before reading: a file that fails is never quoted.
TEST(Trust, HostFiles) {
  testing::FakeFileReader fs;
  fs.file("/etc/clawfleet/secrets/ok", "SECRET-OK\n");
  fs.mode("/etc/clawfleet/secrets/ok", 0, 0600);
  EXPECT_EQ(host_file_rule(fs, "/etc/clawfleet/secrets/ok", true), std::nullopt);
  EXPECT_EQ(host_file_rule(fs, "/etc/clawfleet/secrets/missing", true), std::nullopt);
  fs.file("/etc/clawfleet/secrets/open", "SECRET-OPEN\n");
  fs.mode("/etc/clawfleet/secrets/open", 0, 0644);
  EXPECT_EQ(host_file_rule(fs, "/etc/clawfleet/secrets/open", true),
            "/etc/clawfleet/secrets/open is readable by others (mode 0644; chmod o-r it)");
  EXPECT_EQ(host_file_rule(fs, "/etc/clawfleet/secrets/open", false), std::nullopt);  // not a secret
  fs.file("/etc/clawfleet/secrets/theirs", "x");
  fs.mode("/etc/clawfleet/secrets/theirs", 1000, 0600);
  EXPECT_EQ(host_file_rule(fs, "/etc/clawfleet/secrets/theirs", true),
            "/etc/clawfleet/secrets/theirs is owned by uid 1000, not root");
  fs.file("/usr/local/bin/firecracker", "");
  fs.mode("/usr/local/bin/firecracker", 0, 0775);
  EXPECT_EQ(host_file_rule(fs, "/usr/local/bin/firecracker", false),
            "/usr/local/bin/firecracker is writable by group or others (mode 0775)");
  fs.other("/etc/clawfleet/secrets/fifo", "a FIFO");
  EXPECT_EQ(host_file_rule(fs, "/etc/clawfleet/secrets/fifo", true),
            "/etc/clawfleet/secrets/fifo is not a regular file");
  // A directory on the way, as written or where a symlink leads.
  fs.file("/srv/cf/images/default/rootfs.ext4", "");
  fs.mode("/srv/cf", 0, 01777);
  EXPECT_EQ(host_file_rule(fs, "/srv/cf/images/default/rootfs.ext4", false),
            "directory /srv/cf is writable by group or others (mode 1777)");
  fs.file("/home/a/key", "SECRET-A\n");
  fs.mode("/home/a/key", 0, 0600);
  fs.mode("/home/a", 1000, 0700);
  fs.link("/etc/clawfleet/secrets/link", "/home/a/key");
  EXPECT_EQ(host_file_rule(fs, "/etc/clawfleet/secrets/link", true),
            "directory /home/a is owned by uid 1000, not root");

  // As plan and apply report them: never the content.
  testing::NoEnvironment env;
  auto open = read_secret({model::SecretSource::File, "/etc/clawfleet/secrets/open"}, fs, env);
  ASSERT_FALSE(open);
  EXPECT_EQ(open.error().message,
            "secret file /etc/clawfleet/secrets/open is readable by others (mode 0644; chmod o-r it)");
  auto link = read_secret({model::SecretSource::File, "/etc/clawfleet/secrets/link"}, fs, env);
  ASSERT_FALSE(link);
  EXPECT_EQ(link.error().message,
            "secret file /etc/clawfleet/secrets/link: directory /home/a is owned by uid 1000, not root");
  EXPECT_EQ(std::count(fs.calls.begin(), fs.calls.end(), "read_file /etc/clawfleet/secrets/open"), 0);

  fs.dir("/var/lib/clawfleet");
  EXPECT_EQ(host_state_root_rule(fs, "/var/lib/clawfleet"), std::nullopt);
  EXPECT_EQ(host_state_root_rule(fs, "/srv/none"), std::nullopt);  // made 0700 by clawfleet
  fs.dir("/data/shared/cf");
  fs.mode("/data/shared", 1000, 0755);
  EXPECT_EQ(host_state_root_rule(fs, "/data/shared/cf"), "directory /data/shared is owned by uid 1000, not root");
  fs.mode("/data/shared/cf", 0, 0777);
  fs.mode("/data/shared", 0, 0755);
  EXPECT_EQ(host_state_root_rule(fs, "/data/shared/cf"),
            "directory /data/shared/cf is writable by group or others (mode 0777)");

  model::Host host;
  host.state_root = "/data/shared/cf";
  host.vmm.binary = "/usr/local/bin/firecracker";
  host.images["default"] = {"/srv/cf/images/default/vmlinux", "/srv/cf/images/default/rootfs.ext4", std::nullopt, "",
                            ""};
  Diagnostics d;
  check_host_files(host, {{"/usr/local/bin/firecracker", Location{"h.yaml", 5, 13}}}, Location{"h.yaml", 1, 1}, fs, d);
  std::vector<std::string> got;
  for (const auto& x : d.all()) got.push_back(format(x));
  EXPECT_EQ(got, (std::vector<std::string>{
                     "h.yaml:1:1: error: spec.stateRoot: directory /data/shared/cf is writable by group or others "
                     "(mode 0777); only root may control where clawfleet keeps instances and images",
                     "h.yaml:5:13: error: spec.vmm.binary: /usr/local/bin/firecracker is writable by group or others "
                     "(mode 0775); only root may control what clawfleet runs or boots",
                     "h.yaml:1:1: error: spec.images.default.rootfs: directory /srv/cf is writable by group or others "
                     "(mode 1777); only root may control what clawfleet runs or boots"}));
}

// The VMM opens its binary, kernel and initrd as a user of its own: each
// is others' to run or read, through directories others may pass (the
// state root's mode is clawfleet's own).
TEST(Trust, FilesTheVmmOpensAreOpenToOthers) {
  testing::FakeFileReader fs;
  const std::string kernel = "/var/lib/clawfleet/images/default/vmlinux";
  fs.file(kernel, "");
  fs.mode(kernel, 0, 0644);
  fs.file("/usr/bin/qemu-system-x86_64", "");
  fs.mode("/usr/bin/qemu-system-x86_64", 0, 0755);
  fs.mode("/var/lib/clawfleet", 0, 0700);  // as an older clawfleet left it
  EXPECT_EQ(host_vmm_file_rule(fs, kernel, false, "/var/lib/clawfleet"), std::nullopt);
  EXPECT_EQ(host_vmm_file_rule(fs, "/usr/bin/qemu-system-x86_64", true, "/var/lib/clawfleet"), std::nullopt);
  EXPECT_EQ(host_vmm_file_rule(fs, "/var/lib/clawfleet/images/none", false, "/var/lib/clawfleet"), std::nullopt);
  EXPECT_EQ(host_vmm_file_rule(fs, kernel, false, "/srv/cf"),
            "directory /var/lib/clawfleet cannot be passed by others (mode 0700), and the VMM opens " + kernel +
                " as a user of its own: chmod o+x it");
  fs.mode("/var/lib/clawfleet/images", 0, 0750);
  EXPECT_EQ(host_vmm_file_rule(fs, kernel, false, "/var/lib/clawfleet"),
            "directory /var/lib/clawfleet/images cannot be passed by others (mode 0750), and the VMM opens " + kernel +
                " as a user of its own: chmod o+x it");
  fs.mode("/var/lib/clawfleet/images", 0, 0711);
  fs.mode(kernel, 0, 0600);
  EXPECT_EQ(host_vmm_file_rule(fs, kernel, false, "/var/lib/clawfleet"),
            kernel + " is not readable by others (mode 0600), and the VMM reads it as a user of its own: chmod o+r it");
  fs.mode("/usr/bin/qemu-system-x86_64", 0, 0750);
  EXPECT_EQ(host_vmm_file_rule(fs, "/usr/bin/qemu-system-x86_64", true, "/var/lib/clawfleet"),
            "/usr/bin/qemu-system-x86_64 is not executable by others (mode 0750), and the VMM runs it as a user of "
            "its own: chmod o+x it");

  // As plan reports them, at the Host's field; a root filesystem is
  // clawfleet's to copy, not the VMM's to read.
  model::Host host;
  host.state_root = "/var/lib/clawfleet";
  host.vmm.binary = "/usr/bin/qemu-system-x86_64";
  const std::string rootfs = "/var/lib/clawfleet/images/default/rootfs.ext4";
  fs.file(rootfs, "");
  host.images["default"] = {kernel, rootfs, std::nullopt, "", ""};
  Diagnostics d;
  check_host_files(host, {{kernel, Location{"h.yaml", 7, 15}}}, Location{"h.yaml", 1, 1}, fs, d);
  std::vector<std::string> got;
  for (const auto& x : d.all()) got.push_back(format(x));
  EXPECT_EQ(got, (std::vector<std::string>{
                     "h.yaml:1:1: error: spec.vmm.binary: /usr/bin/qemu-system-x86_64 is not executable by others "
                     "(mode 0750), and the VMM runs it as a user of its own: chmod o+x it",
                     "h.yaml:7:15: error: spec.images.default.kernel: " + kernel +
                         " is not readable by others (mode 0600), and the VMM reads it as a user of its own: chmod "
                         "o+r it"}));
}

}  // namespace
}  // namespace cf::manifest
