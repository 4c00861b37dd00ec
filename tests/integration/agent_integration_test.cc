// clawfleet.service, the built binary, under a real systemd booted in
// nspawn (its own network namespace), with the stand-in VMM and guest of
// apply_integration_test.cc: Type=notify reaches "active" only after the
// first reconcile (held back here by a lock the test holds), a manifest
// dropped into the directory is applied, drift by hand is repaired within
// one resync, a broken manifest destroys nothing and shows in `clawfleet
// status`, SIGTERM stops cleanly, and a stalled loop (SIGSTOP) is
// restarted by the watchdog. The unit's hardening is the shipped one.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "integration/nspawn.h"
#include "integration/shipped_units.h"
#include "integration/stand_in_guest.h"

namespace cf {
namespace {

namespace fs = std::filesystem;
namespace nspawn = cf::testing::nspawn;
using namespace std::chrono;

using cf::testing::kShippedUnits;

// A short resync and watchdog, so that the test sees them happen.
constexpr const char* kDropIn =
    "[Service]\n"
    "ExecStart=\n"
    "ExecStart=/usr/local/bin/clawfleet agent --resync 3s --debounce 200 --health-timeout 60 "
    "--metrics-textfile /var/lib/prometheus/node-exporter/clawfleet.prom\n"
    "WatchdogSec=3s\n"
    // A sanitized build's LeakSanitizer needs ptrace, which the unit's
    // hardening forbids ("LeakSanitizer has encountered a fatal error" and
    // exit 1 at stop); the unit tests check for leaks instead.
    "Environment=ASAN_OPTIONS=detect_leaks=0\n"
    "RestartSec=1s\n";

const char* const kHost =
    "apiVersion: clawfleet.io/v1\nkind: Host\nspec:\n  bridge: cfbr0\n  subnet: 10.77.0.0/24\n"
    "  vmm: {kind: qemu, binary: /usr/local/bin/qemu-system-stand-in}\n";

std::string instance(const std::string& name) {
  return "apiVersion: clawfleet.io/v1\nkind: Instance\nmetadata: {name: " + name + "}\nspec: {model: ollama/qwen3}\n";
}

class RealAgent : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = nspawn::unavailable()) GTEST_SKIP() << "real systemd in nspawn unavailable: " << *why;
    auto c = nspawn::Container::boot();
    ASSERT_TRUE(c) << c.error().message;
    c_ = std::move(c.value());
    auto s = c_->install(CLAWFLEET_BINARY, "/usr/local/bin/clawfleet");
    ASSERT_TRUE(s) << s.error().message;
    const std::string etc = c_->root() + "/etc/systemd/system/";
    for (const char* unit : kShippedUnits) fs::copy_file(fs::path(CLAWFLEET_SOURCE_DIR) / "units" / unit, etc + unit);
    fs::create_directories(etc + "clawfleet.service.d");
    std::ofstream(etc + "clawfleet.service.d/test.conf") << kDropIn;
    auto guest = cf::testing::install_stand_in_guest(*c_);
    ASSERT_TRUE(guest) << guest.error().message;
    fs::create_directories(c_->root() + "/etc/clawfleet");
    fs::create_directories(c_->root() + "/var/lib/prometheus/node-exporter");
    std::ofstream(c_->root() + "/etc/clawfleet/host.yaml") << kHost;
    ASSERT_EQ(sh("systemctl daemon-reload"), 0) << out_;
  }

  int sh(const std::string& command) { return c_->exec(command + " 2>&1", &out_); }
  std::string show(const std::string& property) {
    sh("systemctl show -p " + property + " --value clawfleet.service");
    return nspawn::detail::trim(out_);
  }
  // Polls `command` until it exits 0, for up to `within`.
  bool eventually(const std::string& command, milliseconds within = seconds(30)) {
    const auto end = steady_clock::now() + within;
    while (steady_clock::now() < end) {
      if (sh(command) == 0) return true;
      std::this_thread::sleep_for(milliseconds(100));
    }
    return sh(command) == 0;
  }
  bool status_text_has(const std::string& text, milliseconds within = seconds(30)) {
    return eventually("systemctl show -p StatusText --value clawfleet.service | grep -qF -- '" + text + "'", within);
  }
  std::string journal() {
    sh("journalctl -u clawfleet.service --no-pager -o cat");
    return out_;
  }

  std::unique_ptr<nspawn::Container> c_;
  std::string out_;
};

TEST_F(RealAgent, ReadyAfterTheFirstReconcileThenFollowsTheManifests) {
  std::ofstream(c_->root() + "/etc/clawfleet/alpha.yaml") << instance("alpha");
  // An apply holds the lock: the agent's first reconcile waits for it, and
  // until it is done the service is not ready.
  ASSERT_EQ(sh("mkdir -p /run/clawfleet && systemd-run --unit cf-lock-holder flock /run/clawfleet/lock sleep 4"), 0)
      << out_;
  ASSERT_EQ(sh("systemctl start --no-block clawfleet.service"), 0) << out_;
  std::this_thread::sleep_for(milliseconds(1500));
  EXPECT_EQ(show("ActiveState"), "activating");
  EXPECT_EQ(sh("systemctl is-active clawfleet-vm@alpha.service"), 3) << out_;
  ASSERT_TRUE(eventually("systemctl is-active -q clawfleet.service", seconds(60))) << journal();
  EXPECT_EQ(sh("systemctl is-active cf-lock-holder.service"), 3) << "ready before the lock was free";
  EXPECT_EQ(sh("systemctl is-active clawfleet-vm@alpha.service"), 0) << out_ << journal();
  EXPECT_TRUE(status_text_has("1 instance, 1 ready")) << show("StatusText");
  // The state root as systemd made it for the agent (StateDirectoryMode=)
  // lets each VMM pass; the status file is root's alone.
  EXPECT_EQ(sh("stat -c %a /var/lib/clawfleet /var/lib/clawfleet/agent-status.json"), 0);
  EXPECT_EQ(out_, "711\n600\n");
  EXPECT_EQ(sh("grep -c 'clawfleet_instances{condition=\"Ready\"} 1' /var/lib/prometheus/node-exporter/clawfleet.prom"),
            0)
      << out_;
  // Step events carry structured fields in the journal.
  EXPECT_EQ(sh("journalctl --no-pager -o cat INSTANCE=alpha ACTION=create | grep -c 'alpha: create done'"), 0) << out_;

  // A manifest dropped into the directory (an editor's temp file first).
  ASSERT_EQ(sh("printf junk > /etc/clawfleet/.beta.yaml.swp && printf '%s' '" + instance("beta") +
               "' > /etc/clawfleet/beta.yaml.tmp && mv /etc/clawfleet/beta.yaml.tmp /etc/clawfleet/beta.yaml"),
            0)
      << out_;
  EXPECT_TRUE(eventually("systemctl is-active -q clawfleet-vm@beta.service", seconds(30))) << journal();
  EXPECT_TRUE(status_text_has("2 instances, 2 ready")) << show("StatusText");

  // Drift by hand: a unit stopped, a tap deleted; repaired within a resync (3 s).
  ASSERT_EQ(sh("systemctl stop clawfleet-vm@alpha.service && "
               "ip link del $(ip -o link show type tun | awk -F': ' '{print $2; exit}') && "
               "test $(ip -o link show type tun | wc -l) = 1"),
            0)
      << out_;
  const auto drift = steady_clock::now();
  EXPECT_TRUE(eventually(
      "systemctl is-active -q clawfleet-vm@alpha.service && test $(ip -o link show type tun | wc -l) = 2", seconds(30)))
      << journal();
  std::cout << "[ agent    ] drift repaired in " << duration_cast<milliseconds>(steady_clock::now() - drift).count()
            << " ms (resync 3 s)\n";

  // A broken commit that also drops beta: nothing destroyed, the error
  // visible in STATUS= and in `clawfleet status`, held until fixed.
  ASSERT_EQ(sh("rm /etc/clawfleet/beta.yaml && printf 'kind: [\\n' > /etc/clawfleet/zz.yaml"), 0) << out_;
  EXPECT_TRUE(
      status_text_has("manifests broken (keeping the last good set): /etc/clawfleet/zz.yaml:2:1: error: "
                      "invalid YAML"))
      << show("StatusText");
  std::this_thread::sleep_for(seconds(4));  // a resync later
  EXPECT_EQ(sh("systemctl is-active clawfleet-vm@beta.service clawfleet-vm@alpha.service"), 0) << out_ << journal();
  sh("clawfleet status");
  EXPECT_NE(out_.find("agent: manifests broken since "), std::string::npos) << out_;
  EXPECT_NE(out_.find("/etc/clawfleet/zz.yaml:2:1: error: invalid YAML: end of sequence flow not found "
                      "(enforcing the last good set)"),
            std::string::npos)
      << out_;
  sh("clawfleet status --json");
  EXPECT_NE(out_.find("\"enforcing_last_good\": true"), std::string::npos) << out_;

  // Fixed: beta goes now (absent from the repaired set), the error clears.
  ASSERT_EQ(sh("rm /etc/clawfleet/zz.yaml"), 0);
  EXPECT_TRUE(status_text_has("1 instance, 1 ready")) << show("StatusText");
  EXPECT_EQ(sh("systemctl is-active clawfleet-vm@beta.service"), 3) << out_;
  EXPECT_EQ(sh("clawfleet status"), 0) << out_;
  EXPECT_EQ(out_.find("manifests broken"), std::string::npos) << out_;

  // A manual apply while the agent runs is safe: they share the lock.
  int rc = sh("clawfleet apply --lock-timeout 30000");
  EXPECT_TRUE(rc == 0 || rc == 2) << rc << "\n" << out_;

  // SIGTERM: a clean stop.
  ASSERT_EQ(sh("systemctl stop clawfleet.service"), 0) << out_;
  EXPECT_EQ(show("Result"), "success");
  EXPECT_EQ(show("ExecMainStatus"), "0") << nspawn::detail::tail(journal(), 30);
  EXPECT_NE(journal().find("SIGTERM: stopping"), std::string::npos);
  EXPECT_EQ(sh("systemctl is-active clawfleet-vm@alpha.service"), 0) << "stopping the agent stops no instance";
}

TEST_F(RealAgent, AStalledLoopIsRestartedByTheWatchdog) {
  std::ofstream(c_->root() + "/etc/clawfleet/alpha.yaml") << instance("alpha");
  ASSERT_EQ(sh("systemctl start clawfleet.service"), 0) << out_ << journal();
  ASSERT_EQ(show("ActiveState"), "active");
  const std::string pid = show("MainPID");
  ASSERT_EQ(sh("kill -STOP " + pid), 0) << out_;
  const auto t0 = steady_clock::now();
  EXPECT_TRUE(
      eventually("test \"$(systemctl show -p NRestarts --value clawfleet.service)\" -ge 1 && "
                 "systemctl is-active -q clawfleet.service",
                 seconds(30)))
      << journal();
  std::cout << "[ agent    ] stalled loop restarted in "
            << duration_cast<milliseconds>(steady_clock::now() - t0).count() << " ms (WatchdogSec=3s)\n";
  EXPECT_NE(show("MainPID"), pid);
  sh("journalctl -u clawfleet.service --no-pager");
  EXPECT_NE(out_.find("Watchdog timeout"), std::string::npos) << out_;
}

}  // namespace
}  // namespace cf
