// observe() over the recording fakes: what it reports for owned instances,
// leftovers and the host-level network, that it only reads, and that its
// cost in port calls does not grow with the fleet.
#include "host/observe.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/sha256.h"
#include "fakes/fake_file_reader.h"
#include "fakes/fake_host.h"
#include "fakes/fake_network.h"
#include "fakes/fake_state_store.h"
#include "fakes/fake_systemd.h"
#include "fakes/fake_vmm.h"

namespace cf::host {
namespace {

const std::string kTemplate = "/etc/systemd/system/clawfleet-vm@.service";

class Observe : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.bridge = "cfbr0";
    host_.subnet = parse_cidr("10.9.0.0/24").value();
    host_.gateway = parse_ipv4("10.9.0.1").value();
    host_.state_root = "/var/lib/clawfleet";
    files_.file(kTemplate, "[Service]\nExecStart=/usr/local/bin/clawfleet vm run %i\n");
  }

  // An instance fully present: inventory, record, dir, VM unit with a
  // drop-in, tap on the bridge, VM running.
  void add_instance(const std::string& name, int n) {
    Allocation a{Ipv4{host_.subnet.network.value + std::uint32_t(n + 2)}, Mac{}, std::uint16_t(18900 + n),
                 tap_name(name, {})};
    state_.inventory.instances[name] = InventoryEntry{a.tap, false};
    state_.records[name] = InstanceRecord{name, a, "sha256:d", std::string("g1"), false, {{"spec.model", "ollama/x"}}};
    state_.dirs[name] = DirInfo{true, 0700, 0, {{"instance.json", 0600}, {"token", 0600}}};
    std::string dropin = "/etc/systemd/system/" + vm_unit(name) + ".d/limits.conf";
    files_.file(dropin, "[Service]\nMemoryMax=1G\n");
    systemd_.set_unit(UnitStatus{vm_unit(name), "loaded", "active", "running", "enabled", kTemplate, {dropin}});
    Link tap;
    tap.name = a.tap, tap.kind = "tun", tap.master = host_.bridge, tap.up = true, tap.isolated = true;
    tap.alias = "clawfleet:" + name;
    net_.add_link(tap);
    vmm_.set_state(vmm_socket(host_, name), VmState::Running);
  }

  Result<model::Observed> run() { return observe(host_, others_.with(systemd_, net_, state_, vmm_, files_)); }

  model::Host host_;
  testing::FakeSystemd systemd_;
  testing::FakeNetwork net_;
  testing::FakeStateStore state_;
  testing::FakeVmm vmm_;
  testing::FakeFileReader files_;
  testing::ObservePorts others_;
};

TEST_F(Observe, AnOwnedInstanceInFull) {
  add_instance("bot", 0);
  state_.inventory.instances["bot"].protect = true;
  ASSERT_TRUE(net_.ensure_bridge("cfbr0", host_.gateway, 24));
  net_.table = "table inet clawfleet {\n}\n";
  net_.forward = true;

  auto o = run();
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_TRUE(o.value().bridge.present);
  EXPECT_TRUE(o.value().bridge.up);
  EXPECT_EQ(o.value().bridge.addresses, std::vector<Cidr>{parse_cidr("10.9.0.1/24").value()});
  EXPECT_EQ(o.value().table_hash, "sha256:" + sha256_hex("table inet clawfleet {\n}\n"));
  EXPECT_TRUE(o.value().ip_forward);
  ASSERT_EQ(o.value().instances.size(), 1u);

  const model::ObservedInstance& i = o.value().instances.at("bot");
  EXPECT_TRUE(i.in_inventory);
  EXPECT_TRUE(i.protect);
  ASSERT_TRUE(i.allocation);
  EXPECT_EQ(to_string(i.allocation->ip), "10.9.0.2");
  EXPECT_EQ(i.desired_hash, "sha256:d");
  EXPECT_EQ(i.applied_generation, "g1");
  EXPECT_EQ(i.applied, (std::map<std::string, std::string>{{"spec.model", "ollama/x"}}));
  EXPECT_EQ(i.dir, (model::ObservedDir{true, 0700, 0, {{"instance.json", 0600}, {"token", 0600}}}));
  EXPECT_EQ(i.tap, (model::ObservedTap{true, "cfbr0", true, true, "clawfleet:bot"}));
  EXPECT_EQ(i.vm_state, model::VmState::Running);
  const std::string dropin = "/etc/systemd/system/clawfleet-vm@bot.service.d/limits.conf";
  EXPECT_EQ(i.units.at("clawfleet-vm@bot.service"),
            (model::ObservedUnit{"loaded",
                                 "active",
                                 "running",
                                 "enabled",
                                 kTemplate,
                                 "sha256:" + sha256_hex("[Service]\nExecStart=/usr/local/bin/clawfleet vm run %i\n"),
                                 {{dropin, "sha256:" + sha256_hex("[Service]\nMemoryMax=1G\n")}}}));
}

TEST_F(Observe, NothingOnAnEmptyHost) {
  others_.platform.kvm = false;
  others_.platform.khz = 2400000;
  auto o = run();
  ASSERT_TRUE(o) << o.error().message;
  model::Observed nothing;
  nothing.platform = {false, 2400000, std::nullopt};
  // The fake platform's resolved upstream list; nothing recorded yet.
  nothing.dns = {{}, {parse_ipv4("192.0.2.53").value()}, "/run/systemd/resolve/resolv.conf", ""};
  EXPECT_EQ(o.value(), nothing);
}

// Leftovers carry one of clawfleet's markers but no inventory entry; they
// are reported so the planner can see them, and never marked as owned.
TEST_F(Observe, LeftoversByEachMarker) {
  state_.records["dir-only"] = InstanceRecord{"dir-only", {}, "", std::nullopt, false, {}};
  systemd_.set_unit(UnitStatus{vm_unit("unit-only"), "loaded", "failed", "failed", "disabled", kTemplate, {}});
  Link tap;
  tap.name = "cfdeadbeef0000", tap.kind = "tun", tap.alias = "clawfleet:tap-only";
  net_.add_link(tap);
  // Not ours: no marker, a malformed marker, a unit of another program.
  Link foreign;
  foreign.name = "tap0", foreign.kind = "tun";
  net_.add_link(foreign);
  Link bad;
  bad.name = "cfbad", bad.kind = "tun", bad.alias = "clawfleet:Not_A_Name";
  net_.add_link(bad);
  systemd_.set_unit(UnitStatus{"clawfleet-vm@.service", "", "inactive", "dead", "disabled", kTemplate, {}});

  auto o = run();
  ASSERT_TRUE(o) << o.error().message;
  std::vector<std::string> names;
  for (const auto& [name, i] : o.value().instances) {
    names.push_back(name);
    EXPECT_FALSE(i.in_inventory) << name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"dir-only", "tap-only", "unit-only"}));
  EXPECT_EQ(o.value().instances.at("unit-only").units.at(vm_unit("unit-only")).active_state, "failed");
  EXPECT_TRUE(o.value().instances.at("tap-only").tap.present);
  EXPECT_EQ(o.value().instances.at("tap-only").tap.master, "");
  EXPECT_FALSE(o.value().bridge.present);
  EXPECT_EQ(o.value().table_hash, std::nullopt);
}

TEST_F(Observe, InventoryEntryWithNothingOnTheHost) {
  state_.inventory.instances["gone"] = InventoryEntry{"cf0000000000000", false};
  auto o = run();
  ASSERT_TRUE(o) << o.error().message;
  const auto& i = o.value().instances.at("gone");
  EXPECT_TRUE(i.in_inventory);
  EXPECT_FALSE(i.allocation);
  EXPECT_FALSE(i.dir.exists);
  EXPECT_FALSE(i.tap.present);
  EXPECT_TRUE(i.units.empty());
  EXPECT_EQ(i.vm_state, model::VmState::Absent);
}

TEST_F(Observe, ReadsOnlyAndAtAFixedCostPerPort) {
  for (int n = 0; n < 50; ++n) add_instance("b" + std::to_string(n), n);
  auto o = run();
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o.value().instances.size(), 50u);
  // One listing, one dump, one table read, one sysctl read, whatever the size.
  EXPECT_EQ(
      systemd_.calls,
      std::vector<std::string>{"list_units clawfleet-vm@*.service clawfleet-proxy@*.socket clawfleet-proxy@*.service"});
  EXPECT_EQ(net_.calls, (std::vector<std::string>{"links", "read_ruleset", "ip_forward"}));
  // State: the inventory and the directory list once, then reads per instance.
  for (const auto& c : state_.calls)
    EXPECT_TRUE(c == "read_inventory" || c == "instance_dirs" || c.rfind("read_instance ", 0) == 0 ||
                c.rfind("inspect ", 0) == 0)
        << c;
  // The shared template is read once, each drop-in once (though both
  // systemd and the drop-in directory name it); one listing of each
  // instance unit's drop-in directory.
  EXPECT_EQ(std::count(files_.calls.begin(), files_.calls.end(), "read_file " + kTemplate), 1);
  auto count = [&](const char* prefix) {
    return std::count_if(files_.calls.begin(), files_.calls.end(),
                         [&](const std::string& c) { return c.rfind(prefix, 0) == 0; });
  };
  EXPECT_EQ(count("read_file "), 51);
  EXPECT_EQ(count("list_dir "), 150);
  for (const auto& c : vmm_.calls) EXPECT_EQ(c.rfind("state ", 0), 0u) << c;
}

TEST_F(Observe, DriftShowsInHashesAndStates) {
  add_instance("bot", 0);
  auto before = run();
  ASSERT_TRUE(before);
  // A hand edit of the drop-in, a stopped VM, a detached tap.
  files_.file("/etc/systemd/system/clawfleet-vm@bot.service.d/limits.conf", "[Service]\nMemoryMax=8G\n");
  vmm_.set_state(vmm_socket(host_, "bot"), VmState::Absent);
  Link tap = *net_.link(tap_name("bot", {}));
  tap.master.reset();
  net_.add_link(tap);
  auto after = run();
  ASSERT_TRUE(after);
  const auto& b = before.value().instances.at("bot");
  const auto& a = after.value().instances.at("bot");
  EXPECT_NE(a.units.at(vm_unit("bot")).dropin_hashes, b.units.at(vm_unit("bot")).dropin_hashes);
  EXPECT_EQ(a.units.at(vm_unit("bot")).fragment_hash, b.units.at(vm_unit("bot")).fragment_hash);
  EXPECT_EQ(a.vm_state, model::VmState::Absent);
  EXPECT_EQ(a.tap.master, "");
}

TEST_F(Observe, PortErrorsStopObservationWithTheirMessage) {
  add_instance("bot", 0);
  systemd_.fail("list_units clawfleet-vm@*.service clawfleet-proxy@*.socket clawfleet-proxy@*.service",
                "cannot list units: Connection refused");
  auto o = run();
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().message, "cannot list units: Connection refused");
  systemd_.fail("list_units clawfleet-vm@*.service clawfleet-proxy@*.socket clawfleet-proxy@*.service", "");
  net_.fail("links", "cannot dump links: Operation not permitted");
  o = run();
  ASSERT_FALSE(o);
  EXPECT_EQ(o.error().message, "cannot dump links: Operation not permitted");
}

// A VMM that does not answer is "unknown", not an error: one hung VM must
// not make the whole host unobservable.
// Drop-ins of units systemd has not loaded (a stopped, disabled instance)
// are read from the unit directory.
TEST_F(Observe, DropinsOfUnloadedUnitsAreReadFromDisk) {
  state_.inventory.instances["idle"] = InventoryEntry{"cf0000000000000", false};
  const std::string listen = "/etc/systemd/system/clawfleet-proxy@idle.socket.d/listen.conf";
  files_.file(listen, "[Socket]\nListenStream=127.0.0.1:18900\n");
  files_.file("/etc/systemd/system/clawfleet-proxy@idle.socket.d/notes.txt", "not a drop-in");
  auto o = run();
  ASSERT_TRUE(o) << o.error().message;
  const auto& units = o.value().instances.at("idle").units;
  ASSERT_EQ(units.size(), 1u);
  const auto& sock = units.at("clawfleet-proxy@idle.socket");
  EXPECT_EQ(sock.load_state, "");
  EXPECT_EQ(sock.dropin_hashes, (std::map<std::string, std::string>{
                                    {listen, "sha256:" + sha256_hex("[Socket]\nListenStream=127.0.0.1:18900\n")}}));
}

TEST_F(Observe, UnansweringVmmIsUnknown) {
  add_instance("bot", 0);
  vmm_.fail("state /var/lib/clawfleet/instances/bot/vm/vmm.sock 500ms", "no answer within 500 ms");
  auto o = run();
  ASSERT_TRUE(o) << o.error().message;
  EXPECT_EQ(o.value().instances.at("bot").vm_state, model::VmState::Unknown);
}

}  // namespace
}  // namespace cf::host

namespace cf::host {
namespace {

// Liveness asks only the named instances, and of those only the ones whose
// VM unit is active: one /healthz each, without the token.
TEST_F(Observe, LivenessAsksTheNamedRunningInstances) {
  add_instance("alpha", 0);
  add_instance("beta", 1);
  add_instance("gamma", 2);
  add_instance("idle", 3);
  systemd_.set_unit(UnitStatus{vm_unit("idle"), "loaded", "inactive", "dead", "enabled", kTemplate, {}});
  others_.health.dead[18901] = "/healthz: connection refused";
  auto o = run();
  ASSERT_TRUE(o) << o.error().message;
  auto live = observe_liveness(o.value(), others_.with(systemd_, net_, state_, vmm_, files_), std::chrono::seconds(5),
                               {"alpha", "beta", "idle", "unknown"});
  ASSERT_EQ(live.size(), 2u);
  EXPECT_TRUE(live.at("alpha"));
  ASSERT_FALSE(live.at("beta"));
  EXPECT_EQ(live.at("beta").error().message, "/healthz: connection refused");
  std::vector<std::string> calls = others_.health.calls;
  std::sort(calls.begin(), calls.end());
  EXPECT_EQ(calls, (std::vector<std::string>{"alive 18900 5000ms", "alive 18901 5000ms"}));
}

}  // namespace
}  // namespace cf::host
