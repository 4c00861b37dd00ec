// `clawfleet plan` and `clawfleet apply`, the built binary, run inside a
// real systemd booted in nspawn (its own network namespace: bridge, taps and
// nftables are the container's). The VMM is a stand-in script: instead of a
// guest it serves /health and /ready on the guest's address, so the proxy,
// the health gate, the units and the network are all real; booting real
// guests is the guest issue's end-to-end test.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "integration/nspawn.h"
#include "integration/stand_in_guest.h"

namespace cf {
namespace {

namespace fs = std::filesystem;
namespace nspawn = cf::testing::nspawn;

// The instance units (not the agent's).
const char* const kInstanceUnits[] = {"clawfleet-vm@.service", "clawfleet-proxy@.socket", "clawfleet-proxy@.service"};

std::string manifest(const std::vector<std::string>& names, const std::string& state = "running") {
  std::string m =
      "apiVersion: clawfleet.io/v1\nkind: Host\nspec:\n  bridge: cfbr0\n  subnet: 10.77.0.0/24\n"
      "  vmm: {kind: qemu, binary: /usr/local/bin/qemu-system-stand-in}\n";
  for (const auto& n : names)
    m += "---\napiVersion: clawfleet.io/v1\nkind: Instance\nmetadata: {name: " + n +
         "}\nspec: {model: ollama/qwen3, state: " + state + "}\n";
  return m;
}

// `names` (alpha) on `image`, of a Host with two: default and v2 (under the image root).
std::string manifest_on(const std::string& image, const std::vector<std::string>& names = {"alpha"}) {
  std::string m = manifest(names);
  for (std::size_t at = m.find("state: running}"); at != std::string::npos; at = m.find("state: running}", at))
    m.replace(at, 15, "state: running, image: " + image + "}");
  m.replace(m.find("  vmm:"), 0,
            "  images:\n    default: {kernel: /var/lib/clawfleet/images/default/vmlinux, rootfs: "
            "/var/lib/clawfleet/images/default/rootfs.ext4}\n    v2: {kernel: /var/lib/clawfleet/images/v2/vmlinux, "
            "rootfs: /var/lib/clawfleet/images/v2/rootfs.ext4}\n");
  return m;
}

class RealApply : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = nspawn::unavailable()) GTEST_SKIP() << "real systemd in nspawn unavailable: " << *why;
    auto c = nspawn::Container::boot();
    ASSERT_TRUE(c) << c.error().message;
    c_ = std::move(c.value());
    auto s = c_->install(CLAWFLEET_BINARY, "/usr/local/bin/clawfleet");
    ASSERT_TRUE(s) << s.error().message;
    const std::string etc = c_->root() + "/etc/systemd/system/";
    for (const char* unit : kInstanceUnits) fs::copy_file(fs::path(CLAWFLEET_SOURCE_DIR) / "units" / unit, etc + unit);
    auto guest = cf::testing::install_stand_in_guest(*c_);
    ASSERT_TRUE(guest) << guest.error().message;
    fs::create_directories(c_->root() + "/etc/clawfleet");
    ASSERT_EQ(sh("systemctl daemon-reload"), 0) << out_;
  }

  void write_manifest(const std::vector<std::string>& names, const std::string& state = "running") {
    std::ofstream(c_->root() + "/etc/clawfleet/fleet.yaml") << manifest(names, state);
  }
  int sh(const std::string& command) { return c_->exec(command + " 2>&1", &out_); }
  int clawfleet(const std::string& args) { return sh("clawfleet " + args); }

  // What clawfleet would leak: taps without an inventory entry, instance
  // units or drop-ins or state dirs of instances not in `names`.
  std::string leaks(const std::vector<std::string>& names) {
    std::string listing;
    c_->exec(
        "ip -o link show type tun; ls /etc/systemd/system | grep '^clawfleet-[a-z-]*@[^.]'; "
        "ls /var/lib/clawfleet/instances; ls -a /var/lib/clawfleet /var/lib/clawfleet/instances/* | grep cf-tmp; "
        "systemctl list-units --all --plain --no-legend 'clawfleet-*@*'",
        &listing);
    std::istringstream lines(listing);
    std::string found;
    for (std::string line; std::getline(lines, line);) {
      bool known = false;
      for (const auto& n : names) known = known || line.find(n) != std::string::npos;
      if (line.find("cf-tmp") != std::string::npos || (!known && !line.empty())) found += line + "\n";
    }
    return found;
  }

  std::unique_ptr<nspawn::Container> c_;
  std::string out_;
};

TEST_F(RealApply, ApplyConvergesThenPlanIsEmpty) {
  write_manifest({"alpha", "beta"});
  EXPECT_EQ(clawfleet("plan"), 2) << out_;
  EXPECT_NE(out_.find("Plan: 2 to create"), std::string::npos) << out_;
  ASSERT_EQ(clawfleet("apply --health-timeout 60"), 2) << out_;
  EXPECT_NE(out_.find("Converged"), std::string::npos) << out_;
  EXPECT_EQ(clawfleet("plan"), 0) << out_;
  EXPECT_NE(out_.find("No changes."), std::string::npos) << out_;
  EXPECT_EQ(clawfleet("apply"), 0) << out_;
  EXPECT_EQ(clawfleet("status"), 0) << out_;
  EXPECT_NE(out_.find("2 instances: 2 ready"), std::string::npos) << out_;
  // Each gateway's /readyz, asked through its proxy with its token.
  sh("clawfleet status alpha | grep '^Channels:' | tr -s ' '");
  EXPECT_EQ(nspawn::detail::trim(out_), "Channels: ready");

  // Through the real proxy, on loopback, to the stand-in guest.
  EXPECT_EQ(
      sh("exec bash -c 'exec 3<>/dev/tcp/127.0.0.1/18900 && printf \"GET /health HTTP/1.0\\r\\n\\r\\n\" >&3 && timeout 5 cat <&3'"),
      0)
      << out_;
  EXPECT_NE(out_.find("200 OK"), std::string::npos) << out_;
  EXPECT_EQ(sh("systemctl is-active clawfleet-vm@alpha.service clawfleet-proxy@beta.socket"), 0) << out_;
  EXPECT_EQ(sh("systemctl is-enabled clawfleet-vm@alpha.service"), 0) << out_;
  EXPECT_EQ(leaks({"alpha", "beta"}), "");

  // Drift by hand: the listener moved, a tap deleted. One apply repairs both,
  // and the socket listens where the drop-in says again.
  ASSERT_EQ(sh("sed -i s/18900/18950/ /etc/systemd/system/clawfleet-proxy@alpha.socket.d/listen.conf && "
               "systemctl daemon-reload && systemctl restart clawfleet-proxy@alpha.socket && "
               "ip link del $(ip -o link show type tun | awk -F': ' '{print $2; exit}')"),
            0)
      << out_;
  EXPECT_EQ(clawfleet("plan"), 2) << out_;
  EXPECT_NE(out_.find("was edited by hand"), std::string::npos) << out_;
  EXPECT_NE(out_.find("is missing"), std::string::npos) << out_;
  EXPECT_EQ(clawfleet("apply --health-timeout 60"), 2) << out_;
  EXPECT_EQ(clawfleet("plan"), 0) << out_;
  EXPECT_EQ(
      sh("exec bash -c 'exec 3<>/dev/tcp/127.0.0.1/18900 && printf \"GET /health HTTP/1.0\\r\\n\\r\\n\" >&3 && timeout 5 cat <&3'"),
      0)
      << out_;
  EXPECT_NE(out_.find("200 OK"), std::string::npos) << out_;
}

// The VM unit's limits from the manifest, in a real systemd: a changed CPU
// quota and IO weight are one repair that the running VM gets without a
// restart (the same MainPID), and the next plan is empty.
TEST_F(RealApply, LimitsChangeOnTheRunningVm) {
  auto with = [](const std::string& resources) {
    std::string m = manifest({"alpha"});
    m.replace(m.find("state: running}"), 15, "state: running, resources: " + resources + "}");
    return m;
  };
  const std::string show =
      "systemctl show -p MemoryMax -p CPUQuotaPerSecUSec -p IOWeight clawfleet-vm@alpha.service | sort";
  std::ofstream(c_->root() + "/etc/clawfleet/fleet.yaml") << with("{cpuQuota: 50%}");
  ASSERT_EQ(clawfleet("apply --health-timeout 60"), 2) << out_;
  sh(show);
  // 2048 MiB of guest, 256 for the VMM, 1024 for QEMU's translation buffer.
  EXPECT_EQ(out_, "CPUQuotaPerSecUSec=500ms\nIOWeight=[not set]\nMemoryMax=3489660928\n");
  std::string pid;
  c_->exec("systemctl show -P MainPID clawfleet-vm@alpha.service", &pid);

  std::ofstream(c_->root() + "/etc/clawfleet/fleet.yaml") << with("{cpuQuota: 150%, ioWeight: 300}");
  EXPECT_EQ(clawfleet("plan"), 2) << out_;
  EXPECT_NE(out_.find("Plan: 0 to create, 1 to repair, 0 to destroy."), std::string::npos) << out_;
  EXPECT_NE(out_.find("CPU quota and IO weight changed, which systemd applies without a restart"), std::string::npos)
      << out_;
  ASSERT_EQ(clawfleet("apply --health-timeout 60"), 2) << out_;
  sh(show);
  EXPECT_EQ(out_, "CPUQuotaPerSecUSec=1.500000s\nIOWeight=300\nMemoryMax=3489660928\n");
  sh("systemctl show -P MainPID clawfleet-vm@alpha.service");
  EXPECT_EQ(out_, pid);
  EXPECT_EQ(clawfleet("plan"), 0) << out_;
}

// A larger disk for a running guest: the file grows and the guest is told,
// without a restart; the guest still runs the seed it booted with (a new
// generation, read at its next boot), and the gate takes that. (It once
// waited for the new generation until its deadline.)
TEST_F(RealApply, ADiskGrowsUnderARunningGuest) {
  write_manifest({"alpha"});
  ASSERT_EQ(clawfleet("apply --health-timeout 60"), 2) << out_;
  std::string pid;
  c_->exec("systemctl show -P MainPID clawfleet-vm@alpha.service", &pid);
  std::string m = manifest({"alpha"});
  m.replace(m.find("state: running}"), 15, "state: running, resources: {disk: 11GiB}}");
  std::ofstream(c_->root() + "/etc/clawfleet/fleet.yaml") << m;
  EXPECT_EQ(clawfleet("plan"), 2) << out_;
  EXPECT_NE(out_.find("Plan: 0 to create, 1 to resize, 0 to destroy."), std::string::npos) << out_;
  ASSERT_EQ(clawfleet("apply --health-timeout 60"), 2) << out_;
  sh("stat -c %s /var/lib/clawfleet/instances/alpha/rootfs.ext4");
  EXPECT_EQ(out_, "11811160064\n");
  sh("systemctl show -P MainPID clawfleet-vm@alpha.service");
  EXPECT_EQ(out_, pid);
  EXPECT_EQ(clawfleet("plan"), 0) << out_;
}

// Another image for a running guest with a data disk (made sparse at
// create, the third drive): the VM is stopped, its root disk replaced by a
// clone of the new image's, and booted again; the data disk keeps what was
// written to it, and the guest keeps its address and port.
TEST_F(RealApply, AReimageGivesAFreshRootAndKeepsTheDataDisk) {
  write_manifest({"alpha"});
  ASSERT_EQ(clawfleet("apply --health-timeout 60"), 2) << out_;
  const std::string dir = "/var/lib/clawfleet/instances/alpha";
  sh("stat -c '%s %a %b' " + dir + "/data.img; grep -c 'id=data,file=" + dir + "/data.img' " + dir + "/launch.json");
  EXPECT_EQ(out_, "8589934592 660 0\n1\n");
  std::string pid, port;
  c_->exec("systemctl show -P MainPID clawfleet-vm@alpha.service", &pid);
  c_->exec("sed -n 's/.*\"hostPort\": *\\([0-9]*\\).*/\\1/p' " + dir + "/instance.json", &port);
  ASSERT_EQ(sh("printf kept | dd of=" + dir +
               "/data.img conv=notrunc status=none && mkdir -p /var/lib/clawfleet/images/v2 && "
               "echo 'placeholder kernel v2' >/var/lib/clawfleet/images/v2/vmlinux && "
               "echo 'placeholder rootfs v2' >/var/lib/clawfleet/images/v2/rootfs.ext4"),
            0)
      << out_;
  std::ofstream(c_->root() + "/etc/clawfleet/fleet.yaml") << manifest_on("v2");
  // v2 recorded by the image recipe's record.py (docs/guest.md#image-identity).
  const std::string record =
      "python3 " CLAWFLEET_SOURCE_DIR "/examples/guest-image/record.py " + c_->root() + "/var/lib/clawfleet/images/v2 ";
  std::string recorded;
  ASSERT_EQ(nspawn::detail::run(record + "'placeholder v2' 2>&1", &recorded), 0) << recorded;
  EXPECT_EQ(clawfleet("plan"), 2) << out_;
  EXPECT_NE(out_.find("# alpha will be reimaged: base image changed (spec.image: default -> v2)"), std::string::npos)
      << out_;
  EXPECT_NE(out_.find("host.image.version: (none) -> \"placeholder v2\""), std::string::npos) << out_;
  ASSERT_EQ(clawfleet("apply --health-timeout 60"), 2) << out_;
  sh("head -c 21 " + dir + "/rootfs.ext4; echo; head -c 4 " + dir + "/data.img; echo; stat -c '%s %a' " + dir +
     "/rootfs.ext4 " + dir + "/data.img");
  EXPECT_EQ(out_, "placeholder rootfs v2\nkept\n10737418240 660\n8589934592 660\n");
  std::string after;
  c_->exec("systemctl show -P MainPID clawfleet-vm@alpha.service", &after);
  EXPECT_NE(after, pid);
  sh("sed -n 's/.*\"hostPort\": *\\([0-9]*\\).*/\\1/p' " + dir + "/instance.json");
  EXPECT_EQ(out_, port);
  EXPECT_EQ(clawfleet("plan"), 0) << out_;

  // The rootfs replaced at the same path: unknown until recorded (a
  // warning, no step), then another digest, a reimage onto it.
  ASSERT_EQ(sh("echo 'placeholder rootfs v3' >/var/lib/clawfleet/images/v2/rootfs.ext4"), 0) << out_;
  EXPECT_EQ(clawfleet("plan"), 0) << out_;
  EXPECT_NE(out_.find("Warning: image v2 is not identified by its content, only by its paths "
                      "(/var/lib/clawfleet/images/v2/rootfs.ext4 is not the file its record describes"),
            std::string::npos)
      << out_;
  ASSERT_EQ(nspawn::detail::run(record + "'placeholder v3' 2>&1", &recorded), 0) << recorded;
  EXPECT_EQ(clawfleet("plan"), 2) << out_;
  EXPECT_NE(out_.find("# alpha will be reimaged: image content changed (host.image.digest: sha256:"), std::string::npos)
      << out_;
  EXPECT_NE(out_.find("host.image.version: \"placeholder v2\" -> \"placeholder v3\""), std::string::npos) << out_;
  ASSERT_EQ(clawfleet("apply --health-timeout 60"), 2) << out_;
  sh("head -c 21 " + dir + "/rootfs.ext4; echo; head -c 4 " + dir + "/data.img; echo");
  EXPECT_EQ(out_, "placeholder rootfs v3\nkept\n");
  EXPECT_EQ(clawfleet("plan"), 0) << out_;

  // An image whose gateway never starts (the stand-in reads "broken
  // gateway" on its root disk): the gate gives up, the root and seed that
  // worked come back and pass the gate again; the plan still shows the
  // reimage (docs/apply.md#rollback).
  ASSERT_EQ(sh("cp /var/lib/clawfleet/images/v2/rootfs.ext4 /tmp/v3 && "
               "echo 'broken gateway v4' >/var/lib/clawfleet/images/v2/rootfs.ext4"),
            0)
      << out_;
  ASSERT_EQ(nspawn::detail::run(record + "'broken v4' 2>&1", &recorded), 0) << recorded;
  c_->exec("systemctl show -P MainPID clawfleet-vm@alpha.service", &pid);
  EXPECT_EQ(clawfleet("apply --health-timeout 60"), 4) << out_;
  EXPECT_NE(out_.find("alpha: reimage failed: instance alpha: rolled back: health gate on 127.0.0.1:" +
                      nspawn::detail::trim(port) + ": gave up after "),
            std::string::npos)
      << out_;
  EXPECT_NE(out_.find("the guest's gateway failed 3 times since the guest booted (last: exit-code exited 1): it does "
                      "not start (the previous root and configuration passed the health gate again)"),
            std::string::npos)
      << out_;
  sh("head -c 21 " + dir + "/rootfs.ext4; echo; head -c 4 " + dir + "/data.img; echo; ls " + dir +
     " | grep previous; systemctl is-active clawfleet-vm@alpha.service");
  EXPECT_EQ(out_, "placeholder rootfs v3\nkept\nactive\n");
  c_->exec("systemctl show -P MainPID clawfleet-vm@alpha.service", &after);
  EXPECT_NE(after, pid);
  EXPECT_EQ(clawfleet("plan"), 2) << out_;
  EXPECT_NE(out_.find("# alpha will be reimaged: image content changed"), std::string::npos) << out_;
  // The working image back: nothing to do.
  ASSERT_EQ(sh("cp -p /tmp/v3 /var/lib/clawfleet/images/v2/rootfs.ext4"), 0) << out_;
  ASSERT_EQ(nspawn::detail::run(record + "'placeholder v3' 2>&1", &recorded), 0) << recorded;
  EXPECT_EQ(clawfleet("plan"), 0) << out_;
  EXPECT_EQ(leaks({"alpha"}), "");
}

// The console keeper (host/vmm/console.h) under the shipped VM unit: a
// guest that floods its console (3.9 MB of numbered lines here) leaves two
// files of at most 1 MiB, which hold the newest bytes to the last one;
// another guest's console is attached through its socket from outside,
// and a line typed there reaches the guest and comes back in its log.
TEST_F(RealApply, AGuestsConsoleIsCappedAndAttachable) {
  ASSERT_TRUE(cf::testing::set_stand_in_behaviour(*c_, "alpha", "powers-off"));
  std::ofstream(c_->root() + "/etc/stand-in-vmm/alpha.console") << "floods 300000\n";
  write_manifest({"alpha", "beta"});
  ASSERT_EQ(clawfleet("apply --health-timeout 60"), 2) << out_;
  const std::string dir = c_->root() + "/var/lib/clawfleet/instances/";
  const auto slurp = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  std::string stream = "stand-in console of alpha\n";
  for (int i = 1; i <= 300000; ++i) stream += "flood " + std::to_string(i) + "\n";
  const auto t0 = std::chrono::steady_clock::now();
  std::string kept;
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60)) {
    kept = slurp(dir + "alpha/vm/console.log.1") + slurp(dir + "alpha/vm/console.log");
    if (kept.size() >= 13 && kept.compare(kept.size() - 13, 13, "flood 300000\n") == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const std::size_t cap = 1 << 20;
  ASSERT_EQ(kept.size(), cap + stream.size() % cap) << "of " << stream.size() << " bytes written";
  EXPECT_TRUE(kept == stream.substr(stream.size() - kept.size())) << "the newest bytes, in order";
  EXPECT_EQ(fs::file_size(dir + "alpha/vm/console.log.1"), cap);
  std::cerr << "[ console ] alpha wrote " << stream.size() << " bytes; kept " << cap << " + "
            << fs::file_size(dir + "alpha/vm/console.log") << "\n";
  // The VMM's user's alone (model/instance_dir.h): beta is the second guest, 10.77.0.3.
  sh("stat -c '%a %u %F' /var/lib/clawfleet/instances/beta/vm/console.log "
     "/var/lib/clawfleet/instances/beta/vm/console.sock");
  EXPECT_EQ(out_, "600 1879048195 regular file\n600 1879048195 socket\n");

  // Attached from outside the container, through the socket's path.
  const std::string socket = dir + "beta/vm/console.sock";
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  ASSERT_LT(socket.size(), sizeof(addr.sun_path)) << socket;
  std::strncpy(addr.sun_path, socket.c_str(), sizeof(addr.sun_path) - 1);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0) << std::strerror(errno);
  const std::string typed = "hello from the operator\n";
  ASSERT_EQ(::write(fd, typed.data(), typed.size()), static_cast<ssize_t>(typed.size()));
  std::string seen;
  const std::string echo = "stand-in got: hello from the operator\n";
  while (seen.find(echo) == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) != 1) break;
    char buf[256];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    seen.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  EXPECT_EQ(seen, echo);
  EXPECT_EQ(slurp(dir + "beta/vm/console.log"), "stand-in console of beta\n" + echo);
  sh("journalctl --no-pager -o cat -u 'clawfleet-vm@*' | grep -c 'console:'");
  EXPECT_EQ(nspawn::detail::trim(out_), "0") << "the keepers noted something";

  // A destroy takes the keeper with the VM.
  write_manifest({"beta"});
  ASSERT_EQ(clawfleet("apply"), 2) << out_;
  EXPECT_EQ(leaks({"beta"}), "");
  sh("for p in /proc/[0-9]*; do tr '\\0' ' ' <$p/cmdline 2>/dev/null; echo; done | grep '^/usr/local/bin/clawfleet vm run '");
  EXPECT_EQ(out_, "/usr/local/bin/clawfleet vm run beta \n");
}

// A VMM that dies (a guest panic or reboot ends QEMU, or it crashes) is
// started again by its unit (Restart=always); the proxy's socket and
// service are bound to the VM unit and must come through that restart:
// the instance answers on its host port again, the next plan is empty.
TEST_F(RealApply, AVmmThatDiesComesBackWithItsProxy) {
  write_manifest({"alpha"});
  ASSERT_EQ(clawfleet("apply --health-timeout 60"), 2) << out_;
  const auto through_proxy = [&] {
    sh("exec bash -c 'exec 3<>/dev/tcp/127.0.0.1/18900 && printf \"GET /health HTTP/1.0\\r\\n\\r\\n\" >&3 && "
       "timeout 5 cat <&3'");
    return out_.find("200 OK") != std::string::npos;
  };
  ASSERT_TRUE(through_proxy()) << out_;
  ASSERT_EQ(sh("kill -KILL $(systemctl show -p MainPID --value clawfleet-vm@alpha.service)"), 0) << out_;
  // Restarted (RestartSec=2) and running again.
  bool back = false;
  for (int i = 0; i < 150 && !back; ++i) {
    sh("systemctl show -p NRestarts,ActiveState,SubState --value clawfleet-vm@alpha.service | tr '\n' ' '");
    back = out_ == "1 active running ";
    if (!back) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_TRUE(back) << out_;
  sh("systemctl is-active clawfleet-proxy@alpha.socket");
  EXPECT_EQ(nspawn::detail::trim(out_), "active");
  bool answers = false;
  for (int i = 0; i < 50 && !answers; ++i) {
    answers = through_proxy();
    if (!answers) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_TRUE(answers) << out_;
  EXPECT_EQ(clawfleet("plan"), 0) << out_;
}

// The shipped units promise that VMs come back after a host reboot
// without the agent: each running instance's VM unit is enabled, and its
// `vm prepare` brings back the bridge, its tap and neighbour entry, the
// ruleset (every guest's rules, from the state root's file) and
// ip_forward. The container reboots on the same root into a fresh network
// namespace, where all of those are gone; the running instance comes back
// ready, the stopped one stays stopped, and the next plan is empty.
TEST_F(RealApply, ARebootBringsRunningInstancesBackWithTheirRules) {
  std::ofstream(c_->root() + "/etc/clawfleet/fleet.yaml")
      << manifest({"alpha"}) + manifest({"beta"}, "stopped").substr(manifest({}).size());
  ASSERT_EQ(clawfleet("apply --health-timeout 60"), 2) << out_;
  ASSERT_EQ(clawfleet("plan"), 0) << out_;
  ASSERT_EQ(sh("nft -t list table bridge clawfleet | grep -c 'chain guest-'"), 0) << out_;
  EXPECT_EQ(out_, "2\n") << "both instances' rules, the stopped one's too";

  const auto t0 = std::chrono::steady_clock::now();
  auto rebooted = c_->reboot();
  ASSERT_TRUE(rebooted) << rebooted.error().message;
  std::cout << "[ reboot   ] the container was up again after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()
            << " ms\n";

  // The boot may report "running" before every wanted unit ran (a loaded
  // machine): wait for them, up to a minute.
  bool up = false;
  for (int i = 0; i < 300 && !up; ++i) {
    // (is-active of two units succeeds when either is active: one each.)
    up = sh("systemctl is-active clawfleet-vm@alpha.service") == 0 &&
         sh("systemctl is-active clawfleet-proxy@alpha.socket") == 0;
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (!up) sh("systemctl list-jobs; systemctl status clawfleet-vm@alpha.service; journalctl -b --no-pager | tail -40");
  ASSERT_TRUE(up) << out_;
  EXPECT_NE(sh("systemctl is-active clawfleet-vm@beta.service"), 0) << out_;
  EXPECT_EQ(nspawn::detail::trim(out_), "inactive");
  sh("ip neigh show 10.77.0.2 dev cfbr0");
  EXPECT_EQ(out_, "10.77.0.2 lladdr 06:fc:0a:4d:00:02 PERMANENT \n");
  EXPECT_EQ(sh("nft -t list table bridge clawfleet | grep -c 'chain guest-'"), 0) << out_;
  EXPECT_EQ(out_, "2\n");
  EXPECT_EQ(sh("cat /proc/sys/net/ipv4/ip_forward"), 0);
  EXPECT_EQ(out_, "1\n");
  EXPECT_EQ(clawfleet("status"), 0) << out_;
  EXPECT_NE(out_.find("alpha"), std::string::npos) << out_;
  EXPECT_EQ(clawfleet("plan"), 0) << out_;
  EXPECT_NE(out_.find("No changes."), std::string::npos) << out_;
  if (::testing::Test::HasFailure()) {
    sh("journalctl -b --no-pager -o short-monotonic -u 'clawfleet-*' | tail -60");
    ADD_FAILURE() << "the units' journal since the reboot:\n" << out_;
  }
}

TEST_F(RealApply, StaleSavedPlansAreRefusedAndDestroyLeavesNothing) {
  write_manifest({"alpha", "beta"});
  ASSERT_EQ(clawfleet("apply --health-timeout 60"), 2) << out_;

  // Saved, then the manifests change: refused.
  write_manifest({"alpha"});
  ASSERT_EQ(clawfleet("plan -o /root/p.json"), 2) << out_;
  EXPECT_EQ(sh("stat -c %a /root/p.json"), 0);
  EXPECT_EQ(out_, "600\n");
  write_manifest({"alpha", "beta"});
  EXPECT_EQ(clawfleet("apply /root/p.json"), 1) << out_;
  EXPECT_NE(
      out_.find("clawfleet apply: plan /root/p.json is stale: the manifests (or a secret they reference) changed"),
      std::string::npos)
      << out_;

  // Saved, then a unit is stopped by hand: refused.
  write_manifest({"alpha"});
  ASSERT_EQ(clawfleet("plan -o /root/p.json"), 2) << out_;
  ASSERT_EQ(sh("systemctl stop clawfleet-vm@alpha.service"), 0) << out_;
  EXPECT_EQ(clawfleet("apply /root/p.json"), 1) << out_;
  EXPECT_NE(out_.find("is stale: the host changed since the plan was made"), std::string::npos) << out_;

  // A current saved plan applies: alpha repaired, beta destroyed.
  ASSERT_EQ(clawfleet("plan -o /root/p.json"), 2) << out_;
  ASSERT_EQ(clawfleet("apply /root/p.json --health-timeout 60"), 2) << out_;
  EXPECT_EQ(clawfleet("plan"), 0) << out_;
  EXPECT_EQ(sh("systemctl is-active clawfleet-vm@alpha.service"), 0) << out_;
  EXPECT_EQ(leaks({"alpha"}), "");
}

TEST_F(RealApply, PruneGuardAndLock) {
  write_manifest({"alpha", "beta", "gamma"});
  ASSERT_EQ(clawfleet("apply --health-timeout 60"), 2) << out_;

  // An empty directory destroys nothing.
  ASSERT_EQ(sh("mkdir -p /etc/clawfleet-empty"), 0);
  EXPECT_EQ(clawfleet("apply --manifests /etc/clawfleet-empty"), 0) << out_;
  EXPECT_NE(out_.find("refusing"), std::string::npos) << out_;
  // A broken file destroys nothing.
  ASSERT_EQ(sh("printf 'kind: [\\n' > /etc/clawfleet/zz-broken.yaml"), 0);
  EXPECT_EQ(clawfleet("apply"), 1) << out_;
  ASSERT_EQ(sh("rm /etc/clawfleet/zz-broken.yaml"), 0);
  // Two removals with the default --max-destroy of 1: refused.
  write_manifest({"alpha"});
  EXPECT_EQ(clawfleet("apply"), 0) << out_;
  EXPECT_NE(out_.find("--max-destroy"), std::string::npos) << out_;
  EXPECT_EQ(sh("systemctl is-active clawfleet-vm@beta.service clawfleet-vm@gamma.service"), 0) << out_;

  // A second writer while the lock is held: refused at once, by default.
  ASSERT_EQ(
      sh("mkdir -p /run/clawfleet && systemd-run --unit cf-lock-holder flock /run/clawfleet/lock sleep 4 && sleep 0.5"),
      0)
      << out_;
  EXPECT_EQ(clawfleet("apply --max-destroy 2"), 1) << out_;
  EXPECT_NE(out_.find("another clawfleet holds /run/clawfleet/lock"), std::string::npos) << out_;
  // ... or waits for it with --lock-timeout.
  EXPECT_EQ(clawfleet("apply --max-destroy 2 --lock-timeout 10000"), 2) << out_;
  EXPECT_EQ(leaks({"alpha"}), "");
}

// Secrets are read for their digests only: no output, saved plan, state
// file, unit, journal record or log line holds one; the gateway tokens stay
// in their token files. A rotated key shows as a reprovision.
TEST_F(RealApply, NoSecretLeavesItsFile) {
  const std::string key = "sk-ant-CF-SECRET-KEY-8c1e5a";
  const std::string bot = "7777777:CF-SECRET-BOT-TOKEN-f00d";
  ASSERT_EQ(sh("mkdir -p /etc/clawfleet/secrets && printf '%s\\n' " + key +
               " > /etc/clawfleet/secrets/anthropic && "
               "printf '%s' " +
               bot + " > /etc/clawfleet/secrets/bot && chmod 600 /etc/clawfleet/secrets/*"),
            0)
      << out_;
  std::ofstream(c_->root() + "/etc/clawfleet/fleet.yaml")
      << manifest({}) +
             "---\napiVersion: clawfleet.io/v1\nkind: Instance\nmetadata: {name: talker}\nspec:\n"
             "  model: anthropic/claude-opus-4-6\n"
             "  providerKeys: {anthropic: {file: /etc/clawfleet/secrets/anthropic}}\n"
             "  telegram: {botToken: {file: /etc/clawfleet/secrets/bot}, allowFrom: [42]}\n";
  std::string outputs;
  for (const char* args : {"plan", "plan --json", "plan -o /root/p.json", "apply --health-timeout 60", "plan --json",
                           "status", "status --json", "status talker"}) {
    clawfleet(args);
    outputs += out_;
  }
  ASSERT_NE(outputs.find("Converged"), std::string::npos) << outputs;
  ASSERT_EQ(sh("cat /var/lib/clawfleet/instances/talker/token"), 0);
  const std::string token = nspawn::detail::trim(out_);
  ASSERT_EQ(token.size(), 64u);

  // Rotate the key: a reprovision, shown by digest.
  ASSERT_EQ(sh("echo sk-ant-CF-SECRET-KEY-rotated > /etc/clawfleet/secrets/anthropic"), 0);
  EXPECT_EQ(clawfleet("plan"), 2) << out_;
  EXPECT_NE(out_.find("reprovision"), std::string::npos) << out_;
  EXPECT_NE(out_.find("spec.providerKeys.anthropic"), std::string::npos) << out_;
  outputs += out_;

  // The guest's seed is where the values go (base64 in user-data, which
  // grep cannot see): private to root and the VMM's group (0640,
  // model/instance_dir.h), and holding exactly these.
  ASSERT_EQ(sh("stat -c %a /var/lib/clawfleet/instances/talker/seed.img && "
               "isoinfo -R -x /user-data -i /var/lib/clawfleet/instances/talker/seed.img | "
               "sed -n 's/^ *content: //p' | while read -r b; do echo \"$b\" | base64 -d; echo; done"),
            0)
      << out_;
  EXPECT_EQ(out_.rfind("640\n", 0), 0u) << out_;
  EXPECT_NE(out_.find("ANTHROPIC_API_KEY=" + key), std::string::npos) << out_;
  EXPECT_NE(out_.find("\"botToken\": \"" + bot + "\""), std::string::npos) << out_;
  EXPECT_NE(out_.find("\"token\": \"" + token + "\""), std::string::npos) << out_;

  for (const auto& secret : {key, bot, std::string("CF-SECRET-KEY-rotated"), token}) {
    EXPECT_EQ(outputs.find(secret), std::string::npos) << "an output shows " << secret;
    // Everywhere clawfleet writes, and the logs; the token only in its file.
    // Prints the files that hold it, then how many log lines do.
    sh("grep -rl -- '" + secret +
       "' /root/p.json /var/lib/clawfleet /etc/systemd/system /run/clawfleet "
       "| grep -v '^/var/lib/clawfleet/instances/talker/token$'; journalctl --no-pager -o cat | grep -c -- '" +
       secret + "'");
    EXPECT_EQ(out_, "0\n") << "found " << secret;
  }
}

// However a guest ends (it powers off slowly; it ignores the request and
// QEMU's quit ends it; it ignores quit too and systemd's SIGTERM ends it;
// or the VMM ignores even SIGTERM and systemd's SIGKILL ends it), a stop leaves its unit inactive and a destroy leaves
// nothing: no unit in any state, no tap, no directory; every step succeeds.
TEST_F(RealApply, GuestsThatDoNotPowerOffStopAndGoCleanly) {
  // The escalation's deadlines, shortened so that it takes seconds (the
  // shipped ones are checked against each other by VmStopDeadlines).
  ASSERT_EQ(sh("mkdir -p /etc/systemd/system/clawfleet-vm@.service.d && printf '[Service]\\nExecStop=\\n"
               "ExecStop=-/usr/local/bin/clawfleet vm stop %%i --timeout 2 --quit-timeout 2\\nTimeoutStopSec=6\\n' "
               "> /etc/systemd/system/clawfleet-vm@.service.d/zz-short-stop.conf && systemctl daemon-reload"),
            0)
      << out_;
  for (auto [name, how] : {std::pair{"slow", "powers-off 1"}, std::pair{"deaf", "ignores-powerdown"},
                           std::pair{"mute", "ignores-quit"}, std::pair{"hung", "hangs"}})
    ASSERT_TRUE(cf::testing::set_stand_in_behaviour(*c_, name, how));
  const std::vector<std::string> names = {"slow", "deaf", "mute", "hung"};
  write_manifest(names);
  ASSERT_EQ(clawfleet("apply --parallelism 4 --health-timeout 60"), 2) << out_;

  // Stopped: inactive, not failed, each having ended its own way.
  write_manifest(names, "stopped");
  ASSERT_EQ(clawfleet("apply --parallelism 4"), 2) << out_;
  EXPECT_NE(out_.find("Converged"), std::string::npos) << out_;
  ASSERT_EQ(sh("systemctl show -p ActiveState --value clawfleet-vm@slow.service clawfleet-vm@deaf.service "
               "clawfleet-vm@mute.service clawfleet-vm@hung.service | grep . | sort -u; "
               "systemctl list-units --failed --plain --no-legend"),
            0);
  EXPECT_EQ(out_, "inactive\n");
  EXPECT_EQ(clawfleet("plan"), 0) << out_;
  sh("journalctl --no-pager -o cat -u 'clawfleet-vm@*.service' | grep 'clawfleet vm stop'");
  EXPECT_NE(out_.find("clawfleet vm stop slow: powered off after"), std::string::npos) << out_;
  EXPECT_NE(out_.find("clawfleet vm stop deaf: the guest did not power off within 2 s"), std::string::npos) << out_;
  EXPECT_NE(out_.find("clawfleet vm stop deaf: quit after"), std::string::npos) << out_;
  EXPECT_NE(out_.find("clawfleet vm stop mute: the VMM did not quit within 2 s"), std::string::npos) << out_;
  EXPECT_NE(out_.find("clawfleet vm stop hung: the VMM did not quit within 2 s"), std::string::npos) << out_;
  EXPECT_NE(out_.find("clawfleet vm stop hung: the VM still runs after"), std::string::npos) << out_;

  // Started again, then the three that do not power off are destroyed:
  // nothing of them is left.
  write_manifest(names);
  ASSERT_EQ(clawfleet("apply --parallelism 4 --health-timeout 60"), 2) << out_;
  write_manifest({"slow"});
  ASSERT_EQ(clawfleet("apply --parallelism 3 --max-destroy 3"), 2) << out_;
  EXPECT_NE(out_.find("Converged"), std::string::npos) << out_;
  EXPECT_EQ(leaks({"slow"}), "");
  EXPECT_EQ(clawfleet("plan"), 0) << out_;
}

// kill -9 of apply at different moments; the next apply converges and
// nothing is leaked.
TEST_F(RealApply, KilledApplyConvergesOnTheNextRun) {
  for (int delay_ms : {150, 400, 800, 1500}) {
    SCOPED_TRACE("killed after " + std::to_string(delay_ms) + " ms");
    write_manifest({"alpha", "beta", "gamma"});
    sh("clawfleet apply --health-timeout 60 >/dev/null 2>&1 & pid=$!; sleep " + std::to_string(delay_ms / 1000.0) +
       "; kill -9 $pid; wait $pid");
    int rc = clawfleet("apply --health-timeout 60");
    EXPECT_TRUE(rc == 0 || rc == 2) << rc << "\n" << out_;
    if (rc != 0 && rc != 2) {
      sh("systemctl list-units --all --plain --no-legend 'clawfleet-*'; ip -4 -o addr show dev lo; ss -ltnp; "
         "ps -eo pid,ppid,args; journalctl -b --no-pager -o short-monotonic -u 'clawfleet-vm@*' -u 'clawfleet-proxy@*.socket' | "
         "grep -v 'Communication attempt\\|Child [0-9]* died\\|Connection from\\|Spawned\\|Execing' | tail -150");
      ADD_FAILURE() << "the units, addresses, listeners, processes and journal after the rerun:\n" << out_;
    }
    EXPECT_EQ(clawfleet("plan"), 0) << out_;
    EXPECT_EQ(leaks({"alpha", "beta", "gamma"}), "");
    // Tear down for the next round, the same way.
    write_manifest({"alpha"});
    ASSERT_EQ(clawfleet("apply --max-destroy 2"), 2) << out_;
    EXPECT_EQ(leaks({"alpha"}), "");
  }
}

// metadata.previousNames (docs/manifest.md#rename): alpha becomes omega
// with its token, port, address and data disk, as one rename step, and
// nothing of alpha is left: no unit, drop-in, directory or tap alias.
// Killed anywhere in the rename (kill -9 of apply), a rerun converges the
// same way.
TEST_F(RealApply, ARenameKeepsTheTokenPortAndDataAndSurvivesAKill) {
  const std::string renamed = manifest({}) +
                              "---\napiVersion: clawfleet.io/v1\nkind: Instance\nmetadata: {name: omega, "
                              "previousNames: [alpha]}\nspec: {model: ollama/qwen3, state: running}\n";
  const auto identity = [&](const std::string& name) {
    const std::string dir = "/var/lib/clawfleet/instances/" + name;
    sh("cat " + dir + "/token; grep -o '\"\\(ip\\|hostPort\\)\": *[^,}]*' " + dir + "/instance.json; head -c 4 " + dir +
       "/data.img; echo");
    return out_;
  };
  for (int delay_ms : {0, 200, 600, 1200, 2500}) {
    SCOPED_TRACE(delay_ms ? "killed after " + std::to_string(delay_ms) + " ms" : std::string("not killed"));
    write_manifest({"alpha"});
    ASSERT_EQ(clawfleet("apply --health-timeout 60"), 2) << out_;
    ASSERT_EQ(sh("printf kept | dd of=/var/lib/clawfleet/instances/alpha/data.img conv=notrunc status=none"), 0);
    const std::string before = identity("alpha");
    ASSERT_NE(before.find("kept"), std::string::npos) << before;
    std::ofstream(c_->root() + "/etc/clawfleet/fleet.yaml") << renamed;
    if (delay_ms == 0) {
      ASSERT_EQ(clawfleet("plan"), 2) << out_;
      EXPECT_NE(out_.find("# omega will be renamed: it was alpha (metadata.previousNames)\n  ~ omega\n      "
                          "metadata.name: \"alpha\" -> \"omega\"\n"),
                std::string::npos)
          << out_;
      EXPECT_NE(out_.find("Plan: 0 to create, 1 to rename, 0 to destroy."), std::string::npos) << out_;
    } else {
      sh("clawfleet apply --health-timeout 60 >/dev/null 2>&1 & pid=$!; sleep " + std::to_string(delay_ms / 1000.0) +
         "; kill -9 $pid; wait $pid");
    }
    const int rc = clawfleet("apply --health-timeout 60");
    EXPECT_TRUE(rc == 0 || rc == 2) << rc << "\n" << out_;
    EXPECT_EQ(identity("omega"), before);
    sh("systemctl is-active clawfleet-vm@omega.service clawfleet-proxy@omega.socket");
    EXPECT_EQ(out_, "active\nactive\n");
    EXPECT_EQ(clawfleet("plan"), 0) << out_;
    EXPECT_EQ(leaks({"omega"}), "");
    sh("ip -o link show type tun | grep -c 'alias clawfleet:omega'");
    EXPECT_EQ(out_, "1\n");
  }
  write_manifest({"alpha"});
  ASSERT_EQ(clawfleet("apply"), 2) << out_;
  EXPECT_EQ(leaks({"alpha"}), "");
}

// kill -9 of apply anywhere in a reimage that is rolled back (keeping the
// old root, cloning, the gate, the rollback's moves and restart), then a
// rerun: the instance runs its old root again, nothing kept is left over,
// and the reimage is still planned (docs/apply.md#rollback).
TEST_F(RealApply, AKilledRollbackConvergesOnTheNextRun) {
  write_manifest({"alpha"});
  ASSERT_EQ(clawfleet("apply --health-timeout 60"), 2) << out_;
  const std::string dir = "/var/lib/clawfleet/instances/alpha";
  ASSERT_EQ(sh("mkdir -p /var/lib/clawfleet/images/v2 && "
               "echo 'placeholder kernel v2' >/var/lib/clawfleet/images/v2/vmlinux && "
               "echo 'broken gateway v2' >/var/lib/clawfleet/images/v2/rootfs.ext4"),
            0)
      << out_;
  std::ofstream(c_->root() + "/etc/clawfleet/fleet.yaml") << manifest_on("v2");
  for (int delay_ms : {300, 900, 1800, 3000}) {
    SCOPED_TRACE("killed after " + std::to_string(delay_ms) + " ms");
    sh("clawfleet apply --health-timeout 60 >/dev/null 2>&1 & pid=$!; sleep " + std::to_string(delay_ms / 1000.0) +
       "; kill -9 $pid; wait $pid");
    EXPECT_EQ(clawfleet("apply --health-timeout 60"), 4) << out_;
    EXPECT_NE(out_.find("alpha: reimage failed: instance alpha: rolled back: "), std::string::npos) << out_;
    sh("head -c 18 " + dir + "/rootfs.ext4; echo; ls " + dir +
       " | grep previous; systemctl is-active clawfleet-vm@alpha.service");
    EXPECT_EQ(out_, "placeholder rootfs\nactive\n");
    EXPECT_EQ(clawfleet("plan"), 2) << out_;
  }
  write_manifest({"alpha"});
  EXPECT_EQ(clawfleet("plan"), 0) << out_;
  EXPECT_EQ(leaks({"alpha"}), "");
}

// A broken image for three running instances (docs/apply.md#rollouts):
// only the first is taken down, its gate gives up and it is rolled back;
// the rollout stops there, the other two keep running their VMs, untouched,
// and the plan still shows all three.
TEST_F(RealApply, ABrokenImageStopsTheRolloutAtItsFirstInstance) {
  const std::vector<std::string> names = {"alpha", "beta", "gamma"};
  std::ofstream(c_->root() + "/etc/clawfleet/fleet.yaml") << manifest_on("default", names);
  ASSERT_EQ(clawfleet("apply --health-timeout 60"), 2) << out_;
  const std::string pids_cmd =
      "systemctl show -P MainPID clawfleet-vm@alpha.service clawfleet-vm@beta.service clawfleet-vm@gamma.service";
  std::string before;
  c_->exec(pids_cmd, &before);
  ASSERT_EQ(sh("mkdir -p /var/lib/clawfleet/images/v2 && "
               "echo 'placeholder kernel v2' >/var/lib/clawfleet/images/v2/vmlinux && "
               "echo 'broken gateway v2' >/var/lib/clawfleet/images/v2/rootfs.ext4"),
            0)
      << out_;
  std::ofstream(c_->root() + "/etc/clawfleet/fleet.yaml") << manifest_on("v2", names);
  EXPECT_EQ(clawfleet("apply --parallelism 3 --health-timeout 60"), 4) << out_;
  EXPECT_NE(out_.find("alpha: reimage failed: instance alpha: rolled back: "), std::string::npos) << out_;
  for (const char* n : {"beta", "gamma"})
    EXPECT_NE(out_.find(std::string(n) +
                        ": reimage skipped: the rollout stopped at alpha, which failed (at most 1 down at once)"),
              std::string::npos)
        << out_;
  std::string after;
  c_->exec(pids_cmd, &after);
  auto lines = [](const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) out.push_back(line);
    return out;
  };
  std::vector<std::string> b = lines(before), a = lines(after);
  ASSERT_EQ(a.size(), 3u) << after;
  EXPECT_NE(a[0], b[0]);  // alpha went down and came back on its old root
  EXPECT_EQ(a[1], b[1]);  // beta and gamma were never stopped
  EXPECT_EQ(a[2], b[2]);
  sh("for n in alpha beta gamma; do head -c 18 /var/lib/clawfleet/instances/$n/rootfs.ext4; echo; done; "
     "systemctl is-active clawfleet-vm@alpha.service clawfleet-vm@beta.service clawfleet-vm@gamma.service");
  EXPECT_EQ(out_, "placeholder rootfs\nplaceholder rootfs\nplaceholder rootfs\nactive\nactive\nactive\n");
  EXPECT_EQ(clawfleet("plan"), 2) << out_;
  EXPECT_NE(out_.find("Plan: 0 to create, 3 to reimage, 0 to destroy."), std::string::npos) << out_;
  std::ofstream(c_->root() + "/etc/clawfleet/fleet.yaml") << manifest_on("default", names);
  EXPECT_EQ(clawfleet("plan"), 0) << out_;
  EXPECT_EQ(leaks(names), "");
}

}  // namespace
}  // namespace cf
