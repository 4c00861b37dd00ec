// SdBusSystemd and unit_files_in against a real systemd 252 booted in
// systemd-nspawn (tests/integration/nspawn.h), over the container's own
// system bus. Skips unless root with systemd-nspawn and debootstrap, or
// when CLAWFLEET_SKIP_NSPAWN=1.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "host/network/network.h"
#include "host/systemd/dropins.h"
#include "host/systemd/systemd.h"
#include "host/systemd/systemd_connect.h"
#include "host/vmm/launch.h"
#include "host/vmm/vmm.h"
#include "integration/nspawn.h"
#include "integration/shipped_units.h"
#include "model/instance_dir.h"

namespace cf::host {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;
namespace nspawn = cf::testing::nspawn;

using cf::testing::kShippedUnits;

using nspawn::kVmStub;

std::string shipped(const std::string& unit) {
  std::ifstream in(fs::path(CLAWFLEET_SOURCE_DIR) / "units" / unit);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Instance t1 as dropins_for() sees it: 256 MiB of guest memory.
model::Instance t1(std::optional<int> cpu_quota = std::nullopt, std::optional<int> io_weight = std::nullopt) {
  model::Instance i;
  i.name = "t1";
  i.resources.vcpus = 1;
  i.resources.memory_mib = 256;
  i.resources.cpu_quota_percent = cpu_quota;
  i.resources.io_weight = io_weight;
  return i;
}

const UnitStatus* find(const std::vector<UnitStatus>& units, const std::string& name) {
  auto it = std::find_if(units.begin(), units.end(), [&](const UnitStatus& u) { return u.name == name; });
  return it == units.end() ? nullptr : &*it;
}

class RealSystemd : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = nspawn::unavailable()) GTEST_SKIP() << "real systemd in nspawn unavailable: " << *why;
    auto c = nspawn::Container::boot();
    ASSERT_TRUE(c) << c.error().message;
    container_ = std::move(c.value());
    std::cout << "[ nspawn   ] container " << container_->machine() << " booted in " << container_->boot_time().count()
              << " ms\n";
    RecordProperty("boot_ms", int(container_->boot_time().count()));
    auto sd = connect_systemd(container_->bus_address());
    ASSERT_TRUE(sd) << sd.error().message;
    systemd_ = std::move(sd.value());
    files_ = unit_files_in(container_->root() + "/etc/systemd/system");
  }

  std::vector<UnitStatus> list(const std::vector<std::string>& patterns) {
    auto units = systemd_->list_units(patterns);
    EXPECT_TRUE(units) << units.error().message;
    return units ? units.value() : std::vector<UnitStatus>{};
  }

  // Declared first, destroyed last: the bus connection goes before the
  // container it talks to.
  std::unique_ptr<nspawn::Container> container_;
  std::unique_ptr<Systemd> systemd_;
  std::unique_ptr<UnitFiles> files_;
};

TEST_F(RealSystemd, VmUnitLifecycle) {
  for (const char* unit : kShippedUnits) ASSERT_TRUE(files_->write(unit, shipped(unit)));
  ASSERT_TRUE(files_->write_dropin("clawfleet-vm@t1.service", "stub", kVmStub));
  ASSERT_TRUE(systemd_->daemon_reload());

  auto started = systemd_->start("clawfleet-vm@t1.service", milliseconds(10000));
  ASSERT_TRUE(started) << started.error().message;
  EXPECT_EQ(started.value(), JobResult::Done);

  auto units = list({"clawfleet-vm@*"});
  const UnitStatus* t1 = find(units, "clawfleet-vm@t1.service");
  ASSERT_NE(t1, nullptr);
  EXPECT_EQ(*t1, (UnitStatus{"clawfleet-vm@t1.service",
                             "loaded",
                             "active",
                             "running",
                             "disabled",
                             "/etc/systemd/system/clawfleet-vm@.service",
                             {"/etc/systemd/system/clawfleet-vm@t1.service.d/stub.conf"}}));
  // The template is known from its unit file only.
  const UnitStatus* tmpl = find(units, "clawfleet-vm@.service");
  ASSERT_NE(tmpl, nullptr);
  EXPECT_EQ(*tmpl, (UnitStatus{"clawfleet-vm@.service",
                               "",
                               "inactive",
                               "dead",
                               "disabled",
                               "/etc/systemd/system/clawfleet-vm@.service",
                               {}}));
  std::string ps;
  container_->exec("systemctl show -P MainPID clawfleet-vm@t1.service", &ps);
  EXPECT_NE(nspawn::detail::trim(ps), "0");

  // Drop-ins come and go with a reload, also while the unit runs.
  ASSERT_TRUE(files_->write_dropin("clawfleet-vm@t1.service", "zz-extra", "[Unit]\nDescription=extra\n"));
  ASSERT_TRUE(systemd_->daemon_reload());
  units = list({"clawfleet-vm@t1.service"});
  ASSERT_EQ(units.size(), 1u);
  EXPECT_EQ(units[0].dropin_paths,
            (std::vector<std::string>{"/etc/systemd/system/clawfleet-vm@t1.service.d/stub.conf",
                                      "/etc/systemd/system/clawfleet-vm@t1.service.d/zz-extra.conf"}));
  ASSERT_TRUE(files_->remove_dropin("clawfleet-vm@t1.service", "zz-extra"));
  ASSERT_TRUE(systemd_->daemon_reload());
  units = list({"clawfleet-vm@t1.service"});
  ASSERT_EQ(units.size(), 1u);
  EXPECT_EQ(units[0].dropin_paths, std::vector<std::string>{"/etc/systemd/system/clawfleet-vm@t1.service.d/stub.conf"});
  EXPECT_EQ(units[0].active_state, "active");

  auto stopped = systemd_->stop("clawfleet-vm@t1.service", milliseconds(10000));
  ASSERT_TRUE(stopped) << stopped.error().message;
  EXPECT_EQ(stopped.value(), JobResult::Done);
  // systemd unloads (garbage-collects) a stopped instance nothing refers
  // to, so it is either gone from the list or inactive.
  units = list({"clawfleet-vm@t1.service"});
  ASSERT_LE(units.size(), 1u);
  if (!units.empty()) {
    EXPECT_EQ(units[0].active_state, "inactive");
    EXPECT_EQ(units[0].sub_state, "dead");
  }

  // enable/disable change symlinks; the unit file state follows after a
  // reload, which also loads the enabled instance (multi-user.target wants it).
  ASSERT_TRUE(systemd_->enable({"clawfleet-vm@t1.service"}));
  EXPECT_TRUE(
      fs::is_symlink(container_->root() + "/etc/systemd/system/multi-user.target.wants/clawfleet-vm@t1.service"));
  ASSERT_TRUE(systemd_->daemon_reload());
  units = list({"clawfleet-vm@*"});
  t1 = find(units, "clawfleet-vm@t1.service");
  ASSERT_NE(t1, nullptr);
  EXPECT_EQ(t1->unit_file_state, "enabled");
  EXPECT_EQ(t1->active_state, "inactive");
  EXPECT_EQ(find(units, "clawfleet-vm@.service")->unit_file_state, "indirect");

  ASSERT_TRUE(systemd_->disable({"clawfleet-vm@t1.service"}));
  EXPECT_FALSE(fs::exists(container_->root() + "/etc/systemd/system/multi-user.target.wants/clawfleet-vm@t1.service"));
  ASSERT_TRUE(systemd_->daemon_reload());
  units = list({"clawfleet-vm@*"});
  if (const UnitStatus* u = find(units, "clawfleet-vm@t1.service")) {
    EXPECT_EQ(u->unit_file_state, "disabled");
  }
  EXPECT_EQ(find(units, "clawfleet-vm@.service")->unit_file_state, "disabled");
}

// Every shipped unit loads in a real systemd: enabled instances are loaded
// by the reload (as dependencies of their targets), and the proxy service
// as the socket's trigger.
TEST_F(RealSystemd, ShippedUnitsLoad) {
  for (const char* unit : kShippedUnits) ASSERT_TRUE(files_->write(unit, shipped(unit)));
  model::Host host;
  host.state_root = kDefaultStateRoot;
  auto dropins = dropins_for(host, t1(), {parse_ipv4("172.29.0.2").value(), {}, 18900, "cf0"});
  ASSERT_TRUE(dropins) << dropins.error().message;
  for (const auto& d : dropins.value()) ASSERT_TRUE(files_->write_dropin(d.unit, d.name, d.content));
  ASSERT_TRUE(systemd_->enable({"clawfleet.service", "clawfleet-vm@t1.service", "clawfleet-proxy@t1.socket"}));
  ASSERT_TRUE(systemd_->daemon_reload());

  auto units = list({"clawfleet*"});
  for (const char* name :
       {"clawfleet.service", "clawfleet-vm@t1.service", "clawfleet-proxy@t1.socket", "clawfleet-proxy@t1.service"}) {
    const UnitStatus* u = find(units, name);
    ASSERT_NE(u, nullptr) << name;
    EXPECT_EQ(u->load_state, "loaded") << name;
    EXPECT_EQ(u->active_state, "inactive") << name;
  }
  EXPECT_EQ(find(units, "clawfleet.service")->unit_file_state, "enabled");
  EXPECT_EQ(find(units, "clawfleet-proxy@t1.socket")->dropin_paths,
            std::vector<std::string>{"/etc/systemd/system/clawfleet-proxy@t1.socket.d/listen.conf"});
  // Templates appear from their files, once each.
  for (const char* name : kShippedUnits) EXPECT_NE(find(units, name), nullptr) << name;
  // The container's own systemd-analyze finds nothing to complain about
  // either (with a stand-in for the clawfleet binary, which it checks).
  std::string out;
  EXPECT_EQ(container_->exec("install -m 0755 /dev/null /usr/local/bin/clawfleet && "
                             "systemd-analyze verify clawfleet-proxy@t1.service clawfleet.service",
                             &out),
            0);
  EXPECT_EQ(out, "");
}

// The proxy pair with all its hardening forwards for real: the socket
// listens on the drop-in's port, the service (systemd-socket-proxyd as a
// dynamic user) connects to the address from the environment file. The
// "guest" is a one-line TCP server in the container.
TEST_F(RealSystemd, ProxyForwardsToTheGuest) {
  for (const char* unit : kShippedUnits) ASSERT_TRUE(files_->write(unit, shipped(unit)));
  ASSERT_TRUE(files_->write_dropin("clawfleet-vm@t1.service", "stub", kVmStub));
  // The drop-ins and environment file exactly as clawfleet renders them,
  // with a state root other than the default; the "guest" is on loopback.
  model::Host host;
  host.state_root = "/srv/cf";
  const model::Allocation alloc{parse_ipv4("127.0.0.1").value(), {}, 18900, "cf0"};
  auto dropins = dropins_for(host, t1(), alloc);
  ASSERT_TRUE(dropins) << dropins.error().message;
  for (const auto& d : dropins.value()) ASSERT_TRUE(files_->write_dropin(d.unit, d.name, d.content));
  ASSERT_TRUE(files_->write("cf-guest.service",
                            "[Service]\nExecStart=/usr/bin/systemd-socket-activate -l 127.0.0.1:18789 -a --inetd "
                            "/bin/echo hello-from-guest\n"));
  const std::string env_dir = container_->root() + paths_for(host.state_root, "t1").dir;
  fs::create_directories(env_dir);
  std::ofstream(env_dir + "/proxy.env") << render_proxy_env(alloc);
  ASSERT_TRUE(systemd_->daemon_reload());

  for (const char* unit : {"cf-guest.service", "clawfleet-vm@t1.service", "clawfleet-proxy@t1.socket"}) {
    auto r = systemd_->start(unit, milliseconds(10000));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value(), JobResult::Done) << unit;
  }
  std::string out;
  EXPECT_EQ(container_->exec("exec bash -c \"exec 3<>/dev/tcp/127.0.0.1/18900 && timeout 5 cat <&3\"", &out), 0) << out;
  EXPECT_EQ(out, "hello-from-guest\n");
  auto units = list({"clawfleet-proxy@*"});
  const UnitStatus* service = find(units, "clawfleet-proxy@t1.service");
  ASSERT_NE(service, nullptr);
  EXPECT_EQ(service->active_state, "active");
  EXPECT_EQ(service->sub_state, "running");

  // BindsTo: stopping the VM takes the proxy down with it.
  ASSERT_TRUE(systemd_->stop("clawfleet-vm@t1.service", milliseconds(10000)));
  units = list({"clawfleet-proxy@*"});
  for (const auto& u : units) EXPECT_NE(u.active_state, "active") << u.name;
}

// A stop whose ExecStop fails leaves the unit "failed" though the stop job
// is done; reset_failed clears it (and the unit is collected), and is
// success for a unit systemd never loaded.
TEST_F(RealSystemd, ResetFailedClearsAFailedUnit) {
  ASSERT_TRUE(files_->write("cf-stopfails.service", "[Service]\nExecStart=/bin/sleep infinity\nExecStop=/bin/false\n"));
  ASSERT_TRUE(systemd_->daemon_reload());
  ASSERT_EQ(systemd_->start("cf-stopfails.service", milliseconds(10000)).value(), JobResult::Done);
  auto stopped = systemd_->stop("cf-stopfails.service", milliseconds(10000));
  ASSERT_TRUE(stopped) << stopped.error().message;
  EXPECT_EQ(stopped.value(), JobResult::Done);
  auto units = list({"cf-stopfails.service"});
  ASSERT_NE(find(units, "cf-stopfails.service"), nullptr);
  EXPECT_EQ(find(units, "cf-stopfails.service")->active_state, "failed");

  auto reset = systemd_->reset_failed("cf-stopfails.service");
  ASSERT_TRUE(reset) << reset.error().message;
  units = list({"cf-stopfails.service"});
  const UnitStatus* after = find(units, "cf-stopfails.service");
  EXPECT_TRUE(!after || after->active_state == "inactive") << after->active_state;
  auto unknown = systemd_->reset_failed("cf-never-loaded@x.service");
  EXPECT_TRUE(unknown) << unknown.error().message;
  // StopUnit finds only loaded units: one that is not (a rerun after a
  // kill that had removed its drop-ins) is stopped already.
  auto never = systemd_->stop("cf-never-loaded@x.service", milliseconds(10000));
  ASSERT_TRUE(never) << never.error().message;
  EXPECT_EQ(never.value(), JobResult::Done);
}

TEST_F(RealSystemd, JobResultsErrorsAndDeadlines) {
  ASSERT_TRUE(files_->write("cf-fails.service", "[Service]\nType=oneshot\nExecStart=/bin/false\n"));
  ASSERT_TRUE(
      files_->write("cf-slow.service", "[Service]\nExecStartPre=/bin/sleep 30\nExecStart=/bin/sleep infinity\n"));
  ASSERT_TRUE(systemd_->daemon_reload());

  auto missing = systemd_->start("cf-missing.service", milliseconds(5000));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "cannot start cf-missing.service: Unit cf-missing.service not found.");

  auto failed = systemd_->start("cf-fails.service", milliseconds(5000));
  ASSERT_TRUE(failed) << failed.error().message;
  EXPECT_EQ(failed.value(), JobResult::Failed);

  auto slow = systemd_->start("cf-slow.service", milliseconds(300));
  ASSERT_FALSE(slow);
  EXPECT_EQ(slow.error().message, "cannot start cf-slow.service: the job did not finish within 300 ms");
  // A stop job replaces the pending start job.
  auto stopped = systemd_->stop("cf-slow.service", milliseconds(10000));
  ASSERT_TRUE(stopped) << stopped.error().message;
  EXPECT_EQ(stopped.value(), JobResult::Done);

  auto restarted = systemd_->restart("cf-slow.service", milliseconds(300));
  ASSERT_FALSE(restarted);
  EXPECT_EQ(restarted.error().message, "cannot restart cf-slow.service: the job did not finish within 300 ms");

  auto no_install = systemd_->enable({"cf-fails.service"});
  ASSERT_FALSE(no_install);
  EXPECT_EQ(no_install.error().message, "cannot enable cf-fails.service: no [Install] section to enable");
  auto no_file = systemd_->enable({"cf-nothing.service"});
  ASSERT_FALSE(no_file);
  EXPECT_EQ(no_file.error().message, "cannot enable cf-nothing.service: Unit file cf-nothing.service does not exist.");
}

// The shipped VM unit with the real `clawfleet vm prepare|run|stop` helper
// (the built binary, copied into the container) and a launch record whose
// VMM is a stub process: what brings a VM back after a host reboot without
// the agent. The container has a network namespace of its own.
TEST_F(RealSystemd, VmHelperPreparesRunsAndStops) {
  auto installed = container_->install(CLAWFLEET_BINARY, "/usr/local/bin/clawfleet");
  ASSERT_TRUE(installed) << installed.error().message;
  for (const char* unit : kShippedUnits) ASSERT_TRUE(files_->write(unit, shipped(unit)));

  model::Host host;
  host.bridge = "cfbr0";
  host.subnet = parse_cidr("10.77.0.0/24").value();
  host.gateway = parse_ipv4("10.77.0.1").value();
  host.state_root = model::kDefaultStateRoot;
  const std::string tap = tap_name("t1", {});
  const std::string dir = "/var/lib/clawfleet/instances/t1";
  const model::Allocation alloc{parse_ipv4("10.77.0.2").value(), parse_mac("06:fc:0a:4d:00:02").value(), 18900, tap};
  LaunchRecord record{"t1",
                      host.bridge,
                      Cidr{host.gateway, 24},
                      tap,
                      alloc.ip,
                      alloc.mac,
                      model::VmmKind::Qemu,
                      model::vmm_uid(alloc),
                      dir + "/vm/vmm.sock",
                      {"/bin/sleep", "infinity"},
                      {{dir + "/vmm-config.json", "{}\n"}},
                      true};
  const std::string ruleset = render_ruleset(host, {alloc});
  // As an older clawfleet left it: everything root's, 0700 and 0600.
  fs::create_directories(container_->root() + dir + "/vm");
  for (const std::string& d :
       {std::string("/var/lib/clawfleet"), std::string("/var/lib/clawfleet/instances"), dir, dir + "/vm"})
    fs::permissions(container_->root() + d, fs::perms(0700));
  std::ofstream(container_->root() + dir + "/launch.json") << to_json(record);
  std::ofstream(container_->root() + dir + "/token") << "secret\n";
  std::ofstream(container_->root() + "/var/lib/clawfleet/ruleset.nft") << ruleset;
  std::ofstream(container_->root() + dir + "/vm/vmm.sock") << "left by a VMM that died";
  std::ofstream(container_->root() + dir + "/vm/console.log") << "an older console\n";
  std::string out;
  // Its drop-ins as apply writes them.
  auto dropins = dropins_for(host, t1(), alloc);
  ASSERT_TRUE(dropins) << dropins.error().message;
  for (const auto& d : dropins.value()) ASSERT_TRUE(files_->write_dropin(d.unit, d.name, d.content));
  ASSERT_TRUE(systemd_->daemon_reload());

  auto started = systemd_->start("clawfleet-vm@t1.service", milliseconds(10000));
  ASSERT_TRUE(started) << started.error().message;
  if (started.value() != JobResult::Done)
    container_->exec("journalctl -u clawfleet-vm@t1.service -o cat --no-pager", &out);
  ASSERT_EQ(started.value(), JobResult::Done) << out;
  // `vm run` execs the VMM in the unit's main process; the start job is done
  // at fork already (Type=simple), so wait for the exec.
  for (int i = 0; i < 100; ++i) {
    container_->exec("cat /proc/$(systemctl show -P MainPID clawfleet-vm@t1.service)/comm", &out);
    if (out == "sleep\n") break;
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_EQ(out, "sleep\n");
  container_->exec("ip -d link show " + tap, &out);
  EXPECT_NE(out.find("master cfbr0"), std::string::npos) << out;
  EXPECT_NE(out.find("isolated on"), std::string::npos) << out;
  EXPECT_NE(out.find("alias clawfleet:t1"), std::string::npos) << out;
  EXPECT_NE(out.find(",UP"), std::string::npos) << out;
  container_->exec("ip -4 -o addr show cfbr0", &out);
  EXPECT_NE(out.find("inet 10.77.0.1/24"), std::string::npos) << out;
  container_->exec("nft -t list table inet clawfleet && nft -t list table bridge clawfleet", &out);
  EXPECT_EQ(out, ruleset);
  container_->exec("ip neigh show 10.77.0.2 dev cfbr0", &out);
  EXPECT_EQ(out, "10.77.0.2 lladdr 06:fc:0a:4d:00:02 PERMANENT \n");
  container_->exec("cat /proc/sys/net/ipv4/ip_forward", &out);
  EXPECT_EQ(out, "1\n");
  container_->exec("test -e " + dir + "/vm/vmm.sock || echo no-socket", &out);
  EXPECT_EQ(out, "no-socket\n");
  // The stub VMM runs as the instance's own user, with what it needs and no
  // more: its tap, its directory to pass, its files to read, vm/ its own.
  container_->exec(
      "grep -E '^(Uid|Gid|Groups|CapPrm|CapEff):' /proc/$(systemctl show -P MainPID "
      "clawfleet-vm@t1.service)/status | tr -s '\t ' ' '",
      &out);
  EXPECT_EQ(out,
            "Uid: 1879048194 1879048194 1879048194 1879048194\nGid: 1879048194 1879048194 1879048194 1879048194\n"
            "Groups: \nCapPrm: 0000000000000000\nCapEff: 0000000000000000\n");
  container_->exec(
      "cd /var/lib/clawfleet && stat -c '%n %a %u %g' . instances instances/t1 instances/t1/launch.json "
      "instances/t1/token instances/t1/vmm-config.json instances/t1/vm instances/t1/vm/console.log",
      &out);
  EXPECT_EQ(out,
            ". 711 0 0\n"
            "instances 711 0 0\n"
            "instances/t1 710 0 1879048194\n"
            "instances/t1/launch.json 640 0 1879048194\n"
            "instances/t1/token 600 0 1879048194\n"
            "instances/t1/vmm-config.json 640 0 1879048194\n"
            "instances/t1/vm 700 1879048194 1879048194\n"
            "instances/t1/vm/console.log 644 1879048194 1879048194\n");
  container_->exec("cat /sys/class/net/" + tap + "/owner", &out);
  EXPECT_EQ(out, "1879048194\n");

  // The limits drop-in: the running unit has them (256 MiB of guest and
  // Firecracker's 256), and a changed one applies at daemon-reload to the
  // running unit, its VMM untouched.
  const std::string limits =
      "systemctl show -p MemoryMax -p CPUQuotaPerSecUSec -p IOWeight -p TasksMax clawfleet-vm@t1.service | sort";
  container_->exec(limits, &out);
  EXPECT_EQ(out, "CPUQuotaPerSecUSec=infinity\nIOWeight=[not set]\nMemoryMax=536870912\nTasksMax=256\n");
  std::string pid;
  container_->exec("systemctl show -P MainPID clawfleet-vm@t1.service", &pid);
  auto changed = dropins_for(host, t1(50, 200), alloc);
  ASSERT_TRUE(changed) << changed.error().message;
  for (const auto& d : changed.value()) {
    if (d.name == "manifest-limits") {
      ASSERT_TRUE(files_->write_dropin(d.unit, d.name, d.content));
    }
  }
  ASSERT_TRUE(systemd_->daemon_reload());
  container_->exec(limits, &out);
  EXPECT_EQ(out, "CPUQuotaPerSecUSec=500ms\nIOWeight=200\nMemoryMax=536870912\nTasksMax=256\n");
  container_->exec("systemctl show -P MainPID clawfleet-vm@t1.service", &out);
  EXPECT_EQ(out, pid);
  // Whether the kernel enforces them depends on the controllers this
  // host's cgroup setup gives the container: checked where it does.
  container_->exec(
      "cg=$(systemctl show -P ControlGroup clawfleet-vm@t1.service); cd /sys/fs/cgroup; "
      "for f in .$cg/cpu.max .$cg/memory.max cpu$cg/cpu.cfs_quota_us memory$cg/memory.limit_in_bytes "
      "unified$cg/cpu.max unified$cg/memory.max; do [ -r $f ] && echo \"${f##*/} $(cat $f)\"; done; true",
      &out);
  std::cout << "[ limits   ] enforced in this container's cgroups: " << (out.empty() ? "none\n" : "\n" + out);
  for (const auto& [file, want] : std::map<std::string, std::string>{{"cpu.max", "50000 100000"},
                                                                     {"memory.max", "536870912"},
                                                                     {"cpu.cfs_quota_us", "50000"},
                                                                     {"memory.limit_in_bytes", "536870912"}})
    if (auto at = out.find(file + " "); at != std::string::npos) {
      EXPECT_EQ(out.substr(at + file.size() + 1, want.size()), want) << file;
    }

  // Drift made by hand is undone by the next start, without the agent.
  ASSERT_EQ(
      container_->exec("ip link del " + tap +
                           " && nft delete table inet clawfleet && nft delete table bridge clawfleet && (ip neigh "
                           "del 10.77.0.2 dev cfbr0 || true)",
                       &out),
      0)
      << out;
  auto restarted = systemd_->restart("clawfleet-vm@t1.service", milliseconds(10000));
  ASSERT_TRUE(restarted) << restarted.error().message;
  EXPECT_EQ(restarted.value(), JobResult::Done);
  container_->exec("ip -d link show " + tap, &out);
  EXPECT_NE(out.find("isolated on"), std::string::npos) << out;
  container_->exec("nft -t list table inet clawfleet && nft -t list table bridge clawfleet", &out);
  EXPECT_EQ(out, ruleset);
  container_->exec("ip neigh show 10.77.0.2 dev cfbr0", &out);
  EXPECT_EQ(out, "10.77.0.2 lladdr 06:fc:0a:4d:00:02 PERMANENT \n");

  // No VMM socket answers, so `vm stop` returns at once and systemd ends the stub.
  auto t0 = std::chrono::steady_clock::now();
  auto stopped = systemd_->stop("clawfleet-vm@t1.service", milliseconds(10000));
  ASSERT_TRUE(stopped) << stopped.error().message;
  EXPECT_EQ(stopped.value(), JobResult::Done);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  auto units = list({"clawfleet-vm@t1.service"});
  if (!units.empty()) {
    EXPECT_EQ(units[0].active_state, "inactive");
  }

  // Without a launch record the start fails, and says why in the journal.
  auto failed = systemd_->start("clawfleet-vm@t2.service", milliseconds(10000));
  ASSERT_TRUE(failed) << failed.error().message;
  EXPECT_EQ(failed.value(), JobResult::Failed);
  container_->exec("journalctl -u clawfleet-vm@t2.service -o cat --no-pager", &out);
  EXPECT_NE(out.find("clawfleet vm prepare: cannot open /var/lib/clawfleet/instances/t2/launch.json: No such file or "
                     "directory (has `clawfleet apply` created instance t2?)"),
            std::string::npos)
      << out;
}

// The VM unit's jailer variant (docs/host.md#the-jailer), the real
// `clawfleet vm prepare|run|stop` with the launch record and drop-ins
// apply writes for a Host with a jailer. The jailer and Firecracker are
// not installable here: their stand-ins (tests/integration/stand_in/) make
// the jailer's system calls in its order and open what Firecracker opens,
// so what the unit must allow and what clawfleet must lay out is real.
TEST_F(RealSystemd, JailedFirecrackerRunsAsItsUserInItsJail) {
  auto installed = container_->install(CLAWFLEET_BINARY, "/usr/local/bin/clawfleet");
  ASSERT_TRUE(installed) << installed.error().message;
  for (const char* unit : kShippedUnits) ASSERT_TRUE(files_->write(unit, shipped(unit)));
  for (auto [from, to] : {std::pair{STAND_IN_JAILER, "/usr/local/bin/jailer"},
                          std::pair{STAND_IN_FIRECRACKER, "/usr/local/bin/firecracker"}}) {
    fs::copy_file(from, container_->root() + to, fs::copy_options::overwrite_existing);
    fs::permissions(container_->root() + to, fs::perms(0755));
  }

  model::Host host;
  host.bridge = "cfbr0";
  host.subnet = parse_cidr("10.77.0.0/24").value();
  host.gateway = parse_ipv4("10.77.0.1").value();
  host.state_root = model::kDefaultStateRoot;
  host.vmm.binary = "/usr/local/bin/firecracker";
  host.vmm.jailer = "/usr/local/bin/jailer";
  const std::string images = "/var/lib/clawfleet/images/default";
  host.images["default"] = {images + "/vmlinux", images + "/rootfs.ext4", std::nullopt, "", ""};
  const std::string tap = tap_name("t1", {});
  const std::string dir = "/var/lib/clawfleet/instances/t1";
  const model::Allocation alloc{parse_ipv4("10.77.0.2").value(), parse_mac("06:fc:0a:4d:00:02").value(), 18900, tap};
  model::Instance inst = t1();
  inst.image = "default";
  auto vmm = make_vmm(model::VmmKind::Firecracker);
  auto record = make_launch_record(host, inst, alloc, *vmm, true, 0, true);
  ASSERT_TRUE(record) << record.error().message;
  const Jail jail = *record.value().jail;
  fs::create_directories(container_->root() + images);
  std::ofstream(container_->root() + images + "/vmlinux") << "placeholder kernel\n";
  fs::create_directories(container_->root() + dir);
  std::ofstream(container_->root() + dir + "/rootfs.ext4") << "placeholder root disk\n";
  std::ofstream(container_->root() + dir + "/seed.img") << "placeholder seed\n";
  std::ofstream(container_->root() + dir + "/data.img") << "placeholder data disk\n";
  std::ofstream(container_->root() + dir + "/launch.json") << to_json(record.value());
  std::ofstream(container_->root() + "/var/lib/clawfleet/ruleset.nft") << render_ruleset(host, {alloc});
  auto dropins = dropins_for(host, inst, alloc);
  ASSERT_TRUE(dropins) << dropins.error().message;
  for (const auto& d : dropins.value()) ASSERT_TRUE(files_->write_dropin(d.unit, d.name, d.content));
  ASSERT_TRUE(systemd_->daemon_reload());

  std::string out, pid;
  const std::string unit = "clawfleet-vm@t1.service";
  const std::string vmm_log = container_->root() + jail.root + "/vmm.log";
  // Started, until Firecracker serves its API from inside the jail, as the
  // host sees its socket.
  auto start = [&](const char* what) {
    auto started = systemd_->start(unit, milliseconds(10000));
    ASSERT_TRUE(started) << started.error().message;
    auto state = vmm->state(container_->root() + record.value().api_socket, milliseconds(500));
    for (int i = 0; i < 200 && !(state && state.value() == VmState::Running); ++i) {
      std::this_thread::sleep_for(milliseconds(50));
      state = vmm->state(container_->root() + record.value().api_socket, milliseconds(500));
    }
    container_->exec("journalctl -u " + unit + " -o cat --no-pager", &out);
    ASSERT_EQ(started.value(), JobResult::Done) << what << "\n" << out;
    ASSERT_TRUE(state && state.value() == VmState::Running) << what << "\n" << out;
  };
  start("the first start");
  container_->exec("systemctl show -P MainPID " + unit, &pid);
  pid.pop_back();
  container_->exec("cat /proc/" + pid + "/comm", &out);
  EXPECT_EQ(out, "firecracker\n");
  container_->exec("grep -E '^(Uid|Gid|Groups|CapPrm|CapEff):' /proc/" + pid + "/status | tr -s '\t ' ' '", &out);
  EXPECT_EQ(out,
            "Uid: 1879048194 1879048194 1879048194 1879048194\nGid: 1879048194 1879048194 1879048194 1879048194\n"
            "Groups: \nCapPrm: 0000000000000000\nCapEff: 0000000000000000\n");
  // What it saw: the jail as its root, what clawfleet linked in and what
  // the jailer made.
  std::ifstream log(vmm_log);
  EXPECT_EQ(
      std::string(std::istreambuf_iterator<char>(log), {}),
      "stand-in firecracker t1: uid 1879048194 gid 1879048194, / holds data.img dev firecracker firecracker.pid kernel "
      "metrics.json rootfs.ext4 run seed.img vmm-config.json vmm.log\n");
  container_->exec("cd " + jail.base +
                       " && stat -c '%n %a %u %g' . firecracker firecracker/t1 firecracker/t1/root "
                       "firecracker/t1/root/dev/kvm firecracker/t1/root/dev/net/tun firecracker/t1/root/vmm.sock",
                   &out);
  EXPECT_EQ(out,
            ". 710 0 1879048194\nfirecracker 710 0 1879048194\nfirecracker/t1 710 0 1879048194\n"
            "firecracker/t1/root 700 1879048194 1879048194\nfirecracker/t1/root/dev/kvm 600 1879048194 1879048194\n"
            "firecracker/t1/root/dev/net/tun 600 1879048194 1879048194\n"
            "firecracker/t1/root/vmm.sock 700 1879048194 1879048194\n");
  container_->exec("cat " + dir + "/vm/console.log", &out);
  EXPECT_EQ(out, "stand-in firecracker console of t1\n");

  // `vm stop` (the VMM's user) reaches the socket through the jail: the
  // guest powers off.
  auto t0 = std::chrono::steady_clock::now();
  auto stopped = systemd_->stop(unit, milliseconds(10000));
  ASSERT_TRUE(stopped) << stopped.error().message;
  EXPECT_EQ(stopped.value(), JobResult::Done);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  container_->exec("journalctl -u " + unit + " -o cat --no-pager | grep 'vm stop'", &out);
  EXPECT_NE(out.find("clawfleet vm stop t1: powered off after"), std::string::npos) << out;

  // Again: the jailer refuses a jail with its last device nodes and pid
  // file, so the next start works only because prepare emptied it; the
  // VMM's log is kept.
  start("the second start");
  std::ifstream again(vmm_log);
  const std::string both = std::string(std::istreambuf_iterator<char>(again), {});
  EXPECT_EQ(std::count(both.begin(), both.end(), '\n'), 2) << both;
  ASSERT_EQ(systemd_->stop(unit, milliseconds(10000)).value(), JobResult::Done);
}

// More loaded units than dbus-daemon allows pending replies on one
// connection (128): list_units must not send all its GetAll calls at once.
TEST_F(RealSystemd, ListsMoreUnitsThanPendingRepliesAllowed) {
  ASSERT_TRUE(
      files_->write("cf-many@.service", "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n"));
  std::vector<std::string> many;
  for (int i = 0; i < 200; ++i) many.push_back("cf-many@" + std::to_string(i) + ".service");
  ASSERT_TRUE(systemd_->enable(many));
  ASSERT_TRUE(systemd_->daemon_reload());
  auto units = list({"cf-many@*"});
  // The 200 instances, loaded and enabled, and the template from its file.
  ASSERT_EQ(units.size(), 201u);
  for (const auto& u : units) {
    if (u.name == "cf-many@.service") continue;
    EXPECT_EQ(u.load_state, "loaded") << u.name;
    EXPECT_EQ(u.unit_file_state, "enabled") << u.name;
    EXPECT_EQ(u.fragment_path, "/etc/systemd/system/cf-many@.service") << u.name;
  }
}

// A connection that idles longer than the bus daemon's auth_timeout
// (dbus-daemon: 30 s) before its first call still works: connect_systemd
// completes the handshake (an executor worker clones a disk for longer than
// that before it first asks systemd).
TEST_F(RealSystemd, AConnectionIdleBeyondTheAuthTimeoutStillAnswers) {
  auto sd = connect_systemd(container_->bus_address());
  ASSERT_TRUE(sd) << sd.error().message;
  std::this_thread::sleep_for(std::chrono::seconds(32));
  auto units = sd.value()->list_units({"clawfleet*"});
  EXPECT_TRUE(units) << units.error().message;
}

TEST(RealSystemdConnect, ErrorsNameTheAddress) {
  auto sd = connect_systemd(std::string("unix:path=/nonexistent/cf/system_bus_socket"));
  ASSERT_FALSE(sd);
  EXPECT_EQ(sd.error().message,
            "cannot connect to the bus at unix:path=/nonexistent/cf/system_bus_socket: No such file or directory");
}

}  // namespace
}  // namespace cf::host
