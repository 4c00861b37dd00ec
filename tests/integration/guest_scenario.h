// The fixture of the scenario tests that boot real guests (QEMU microvm
// under TCG) on a disposable host (guest_host.h): the built clawfleet in a
// real systemd in nspawn. Each scenario is one test whose boots every later
// assertion of its kind shares (booting guests takes minutes here), timed
// phase by phase; the phases are printed at the end whether the test passed
// or not, and on a failure so are each guest's console (kept even for a
// destroyed guest) and the journal of clawfleet's units.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "integration/guest_host.h"
#include "integration/internet.h"
#include "integration/phases.h"

namespace cf::testing {

struct GuestSpec {
  std::string name;
  std::string model = "anthropic/claude-sonnet-4-6";
  std::string state = "running";
  bool telegram = false;    // a Telegram bot, allowFrom [1001]
  std::string skills = "";  // a YAML list; "": the default list
  std::string anthropic_key = "/etc/clawfleet/secrets/anthropic";
  std::string openai_key = "/etc/clawfleet/secrets/openai";  // "": none
  bool chat_completions = false;
  bool browser = true;              // spec.browser
  std::string image = "default";    // or a copy: "v2" (kSecondImage), "broken" (kBrokenImage)
  std::string previous_names = "";  // metadata.previousNames, a YAML list; "": none
};

// A second image under the state root: the first one's files copied, its
// rootfs marked by a file (/etc/clawfleet-test-image saying "v2"), made by
// GuestScenario::second_image.
inline constexpr const char* kSecondImage = "/var/lib/clawfleet/images/v2";
inline constexpr const char* kBrokenImage = "/var/lib/clawfleet/images/broken";

// The Host: egress deny, or (with the simulated internet, internet.h) its
// resolver and CA and the egress mode given.
struct GuestNetwork {
  std::string egress = "deny";
  bool simulated_internet = false;
};

inline constexpr const char* kTestCaPath = "/etc/clawfleet/test-ca.pem";
// Each guest's memory: the real gateway (Node, Chromium for the browser)
// with room to spare.
inline constexpr std::uint32_t kGuestMemoryMiB = 2560;

inline std::string guest_fleet(const std::vector<GuestSpec>& guests, const GuestNetwork& net = {}) {
  std::string m =
      "apiVersion: clawfleet.io/v1\nkind: Host\nspec:\n  bridge: cfbr0\n  subnet: 10.78.0.0/24\n  egress: " +
      net.egress + "\n" +
      (net.simulated_internet ? std::string("  dns: [") + kInternetDns + "]\n  caCertificates: [" + kTestCaPath + "]\n"
                              : std::string()) +
      "  vmm: {kind: qemu, binary: /usr/bin/qemu-system-x86_64}\n"
      "  images:\n    default:\n      kernel: /var/lib/clawfleet/images/default/vmlinux\n"
      "      initrd: /var/lib/clawfleet/images/default/initrd.img\n"
      "      rootfs: /var/lib/clawfleet/images/default/rootfs.ext4\n";
  // Another image is a copy under the image root (GuestScenario::derived_image).
  std::set<std::string> others;
  for (const auto& g : guests)
    if (g.image != "default") others.insert(g.image);
  for (const auto& name : others) {
    const std::string dir = "/var/lib/clawfleet/images/" + name;
    m += "    " + name + ":\n      kernel: " + dir + "/vmlinux\n      initrd: " + dir +
         "/initrd.img\n      rootfs: " + dir + "/rootfs.ext4\n";
  }
  for (const auto& g : guests)
    m += "---\napiVersion: clawfleet.io/v1\nkind: Instance\nmetadata: {name: " + g.name +
         (g.previous_names.empty() ? "" : ", previousNames: " + g.previous_names) + "}\nspec:\n  model: " + g.model +
         "\n  state: " + g.state + "\n  image: " + g.image + "\n  providerKeys: {anthropic: {file: " + g.anthropic_key +
         "}" + (g.openai_key.empty() ? "" : ", openai: {file: " + g.openai_key + "}") +
         "}\n"
         "  resources: {vcpus: 1, memoryMiB: " +
         std::to_string(kGuestMemoryMiB) + ", disk: 6GiB}\n" + (g.chat_completions ? "  chatCompletions: true\n" : "") +
         (g.browser ? "" : "  browser: false\n") + (g.skills.empty() ? "" : "  skills: " + g.skills + "\n") +
         (g.telegram ? "  telegram: {botToken: {file: /etc/clawfleet/secrets/telegram}, allowFrom: [1001]}\n" : "");
  return m;
}

class GuestScenario : public ::testing::Test {
 protected:
  // The image (built the first time) and the host, as phases.
  void boot(Gateway gateway) {
    if (auto why = guest_host_unavailable()) GTEST_SKIP() << *why;
    gateway_ = gateway;
    std::cerr << "[ guests ] the guests run " << describe(gateway_) << "\n";
    phases_.begin("guest image");
    auto image = guest_image(CLAWFLEET_SOURCE_DIR, gateway_);
    ASSERT_TRUE(image) << image.error().message;
    image_ = image.value();
    phases_.begin("disposable host booted");
    auto c = boot_guest_host(CLAWFLEET_SOURCE_DIR, CLAWFLEET_BINARY, image.value());
    ASSERT_TRUE(c) << c.error().message;
    c_ = std::move(c.value());
    phases_.end();
  }

  void TearDown() override {
    if (c_ && HasFailure()) {
      // Guests destroyed during the test left their console in /var/tmp (keep_console).
      sh("for f in /var/lib/clawfleet/instances/*/vm/console.log /var/tmp/cf-console-*.log; do [ -e \"$f\" ] || continue; "
         "echo \"== $f\"; tail -n 60 \"$f\"; done; echo '== journal of clawfleet units'; "
         "journalctl --no-pager -o short-monotonic -u 'clawfleet-*' | grep -v 'systemd-socket-proxyd' | tail -n 120; "
         "echo '== failed units'; systemctl list-units --failed --plain --no-legend");
      std::cerr << out_;
      if (internet_)
        std::cerr << "== the simulated internet's last calls\n"
                  << nspawn::detail::tail(nspawn::detail::read_all(internet_->dir() + "/requests.jsonl"), 40) << "\n";
    }
    std::cerr << phases_.report(std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
                                (HasFailure() ? " FAILED" : " passed") + " (" + describe(gateway_) + ")");
  }

  // The simulated internet (internet.h) as the host's uplink, its CA at
  // kTestCaPath for caCertificates; after boot().
  void connect_internet(const std::string& standin_options) {
    phases_.begin("simulated internet up");
    auto net = SimulatedInternet::up(standin_options);
    ASSERT_TRUE(net) << net.error().message;
    internet_ = std::move(net.value());
    auto attached = internet_->attach(c_->leader());
    ASSERT_TRUE(attached) << attached.error().message;
    std::ofstream(c_->root() + kTestCaPath) << internet_->ca_pem();
    phases_.end();
  }

  void write_fleet(const std::vector<GuestSpec>& guests, const GuestNetwork& net = {}) {
    std::ofstream(c_->root() + "/etc/clawfleet/fleet.yaml") << guest_fleet(guests, net);
  }
  int sh(const std::string& command) { return c_->exec(command + " 2>&1", &out_); }
  int clawfleet(const std::string& args) { return sh("clawfleet " + args); }
  // The value of one row of `clawfleet status NAME`, spaces squeezed.
  std::string status_row(const std::string& instance, const std::string& label) {
    sh("clawfleet status " + instance + " | sed -n 's/^" + label + ": *//p' | tr -s ' '");
    return nspawn::detail::trim(out_);
  }
  // A string or number field of the instance's instance.json.
  std::string field(const std::string& instance, const std::string& key) {
    sh("sed -n 's/.*\"" + key + "\": *\"*\\([^\",]*\\).*/\\1/p' /var/lib/clawfleet/instances/" + instance +
       "/instance.json | head -n 1");
    return nspawn::detail::trim(out_);
  }
  // GET through bash's /dev/tcp (the container has no curl). Tried up to
  // three times, 20 s each, until the answer holds `expect`: a loaded
  // machine answers late (CI once saw a healthy gateway's /health through
  // its proxy take more than 10 s while the guests and a build shared 2 cores).
  std::string get(const std::string& address, int port, const std::string& path, const std::string& expect = "") {
    for (int attempt = 0; attempt < 3; ++attempt) {
      sh("exec bash -c 'exec 3<>/dev/tcp/" + address + "/" + std::to_string(port) + " && printf \"GET " + path +
         " HTTP/1.0\\r\\n\\r\\n\" >&3 && timeout 20 cat <&3'");
      if (expect.empty() || out_.find(expect) != std::string::npos) break;
    }
    return out_;
  }
  // The VMM's peak resident memory in KiB (its /proc status's VmHWM; 0 when
  // not found), and, printed, its current RSS and each writable and
  // executable mapping's size and RSS (TCG's translation buffer): what the
  // unit's MemoryMax= must hold, which this host's cgroups cannot enforce.
  long vmm_peak_kib(const std::string& instance) {
    sh("for p in $(grep -lz 'instances/" + instance +
       "/' /proc/[0-9]*/cmdline | cut -d/ -f3); do "
       "case $(cat /proc/$p/comm) in qemu-system*|firecracker*) ;; *) continue;; esac; "
       "grep -E '^(VmHWM|VmRSS):' /proc/$p/status; "
       "awk '$2 ~ /x/ && $2 ~ /w/ {m=1; next} /^[0-9a-f]+-[0-9a-f]+ /{m=0} m && /^(Size|Rss):/{print \"wx \" $0}' "
       "/proc/$p/smaps; done");
    std::cerr << "[ memory   ] " << instance << "'s VMM:\n" << out_;
    const auto at = out_.find("VmHWM:");
    return at == std::string::npos ? 0 : std::atol(out_.c_str() + at + 6);
  }
  // A hard link to the guest's console, so that it outlives the guest's
  // directory (a destroy removes it) for TearDown to show.
  void keep_console(const std::string& instance) {
    sh("ln -f /var/lib/clawfleet/instances/" + instance + "/vm/console.log /var/tmp/cf-console-" + instance + ".log");
  }
  // What is left of an instance: its units in any state, unit files and
  // drop-ins, its tap, its directory. "" when nothing.
  std::string remains_of(const std::string& instance, const std::string& tap) {
    sh("systemctl list-units --all --plain --no-legend 'clawfleet-*@" + instance +
       ".*'; ls /etc/systemd/system "
       "/etc/systemd/system/*.wants | grep '@" +
       instance + "\\.'; ip -o link show " + tap + " 2>/dev/null; ls -d /var/lib/clawfleet/instances/" + instance +
       " 2>/dev/null; true");
    return nspawn::detail::trim(out_);
  }
  // kSecondImage in the host's state root, from the image outside it (the
  // first is bind-mounted read-only): a sparse copy, marked with debugfs.
  void second_image() { derived_image("v2", ""); }
  // kBrokenImage: the same, with a gateway that fails at once (the
  // contract gateway's start is /bin/false).
  void broken_image() {
    derived_image("broken",
                  "debugfs -R 'cat /etc/systemd/system/clawfleet-contract-gateway.service' $d/rootfs.ext4 "
                  "2>/dev/null | sed 's|^ExecStart=.*|ExecStart=/bin/false|' >$d/unit\n"
                  "grep -q '^ExecStart=/bin/false' $d/unit\n"
                  "printf 'rm /etc/systemd/system/clawfleet-contract-gateway.service\\nwrite %s "
                  "/etc/systemd/system/clawfleet-contract-gateway.service\\n' $d/unit | debugfs -w -f - "
                  "$d/rootfs.ext4\nrm $d/unit");
  }
  // /var/lib/clawfleet/images/<name>: a copy of the first image, marked
  // <name> in /etc/clawfleet-test-image, edited by `edit` (sh, the
  // directory in $d) and recorded (docs/guest.md#image-identity).
  void derived_image(const std::string& name, const std::string& edit) {
    const std::string dir = c_->root() + "/var/lib/clawfleet/images/" + name;
    std::string out;
    ASSERT_EQ(
        nspawn::detail::run(
            "set -e; d=" + dir + "; mkdir -p $d; cp --sparse=always " + image_ + "/vmlinux " + image_ + "/initrd.img " +
                image_ + "/rootfs.ext4 $d/; echo " + name +
                " >$d/mark; debugfs -w -R \"write $d/mark /etc/clawfleet-test-image\" "
                "$d/rootfs.ext4; rm $d/mark\n" +
                edit + "\npython3 " CLAWFLEET_SOURCE_DIR "/examples/guest-image/record.py $d 'test image " + name + "'",
            &out),
        0)
        << out;
  }

  // A file of an ext4 disk image seen from the host (debugfs -c: read-only,
  // also while its guest runs); "" when it has none.
  std::string file_of_disk(const std::string& image, const std::string& path) {
    std::string out;
    nspawn::detail::run("{ debugfs -c -R 'cat " + path + "' " + c_->root() + image + " 2>/dev/null; }", &out);
    return out;
  }

  // A health timeout for a later (re)boot, from the create's measured one:
  // a slower machine makes the test slower, not red.
  static int later_health_timeout_s(double create_s) { return std::max(900, static_cast<int>(3 * create_s)); }

  // Declared first: destroyed after the host, whose uplink it is.
  std::unique_ptr<SimulatedInternet> internet_;
  std::unique_ptr<nspawn::Container> c_;
  std::string out_;
  Gateway gateway_ = Gateway::Contract;
  std::string image_;  // the image's directory on the host
  Phases phases_;
};

}  // namespace cf::testing
