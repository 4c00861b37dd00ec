// clawfleet_bench: how long host::observe() takes for a fleet that is fully
// present on the host, against the recording fakes (tests/fakes/) and, as
// root, against a real systemd booted in systemd-nspawn
// (tests/integration/nspawn.h), the other ports staying fakes.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/fs.h"
#include "core/net.h"
#include "core/sha256.h"
#include "fakes/fake_file_reader.h"
#include "fakes/fake_host.h"
#include "fakes/fake_network.h"
#include "fakes/fake_state_store.h"
#include "fakes/fake_systemd.h"
#include "fakes/fake_vmm.h"
#include "host/network/network.h"
#include "host/observe.h"
#include "host/systemd/systemd.h"
#include "host/systemd/systemd_connect.h"
#include "integration/nspawn.h"
#include "model/instance_dir.h"

namespace {

using namespace cf;
namespace nspawn = cf::testing::nspawn;
using Clock = std::chrono::steady_clock;

const std::vector<std::string> kUnitPatterns = {"clawfleet-vm@*.service", "clawfleet-proxy@*.socket",
                                                "clawfleet-proxy@*.service"};
using host::kUnitDir;

// Set by SIGINT/SIGTERM/SIGHUP so that the program unwinds normally and the
// container's destructor unmounts its overlay (a killed process would not).
volatile std::sig_atomic_t g_interrupted = 0;

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "clawfleet_bench: %s\n", message.c_str());
  std::exit(1);
}

struct Stats {
  double median_ms = 0, min_ms = 0, p90_ms = 0;
  int runs = 0;
};

Stats summarize(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  const std::size_t p90 = (ms.size() * 9 + 9) / 10 - 1;  // nearest rank
  return {ms[ms.size() / 2], ms.front(), ms[p90], int(ms.size())};
}

// One untimed warm-up, then `runs` timed calls of `once`; `before` runs
// untimed ahead of each. Stops at the first error.
Result<Stats> time_runs(int runs, const std::function<void()>& before, const std::function<Status()>& once) {
  std::vector<double> ms;
  for (int i = 0; i <= runs; ++i) {
    if (g_interrupted) return Error{"interrupted"};
    before();
    const auto t0 = Clock::now();
    Status s = once();
    const auto t1 = Clock::now();
    if (!s) return s.error();
    if (i > 0) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  return summarize(std::move(ms));
}

void report(const std::string& what, int n, const Stats& s) {
  std::printf("%-26s N=%-5d median %8.3f ms   min %8.3f ms   p90 %8.3f ms   per instance %8.2f us   (%d runs)\n",
              what.c_str(), n, s.median_ms, s.min_ms, s.p90_ms, s.median_ms * 1000.0 / n, s.runs);
  std::fflush(stdout);
}

void report_failure(const std::string& what, int n, const std::string& message, int& failed) {
  std::printf("%-26s N=%-5d FAILED: %s\n", what.c_str(), n, message.c_str());
  std::fflush(stdout);
  ++failed;
}

std::string instance_name(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "b%04d", i);
  return buf;
}

std::string vm_dropin(const std::string& name) {
  return std::string(kUnitDir) + "/" + host::vm_unit(name) + ".d/stub.conf";
}
std::string listen_dropin(const std::string& name) {
  return std::string(kUnitDir) + "/" + host::proxy_socket_unit(name) + ".d/listen.conf";
}
std::string listen_conf(const std::string& name, std::uint16_t port) {
  return "# clawfleet: owned by instance " + name + "\n[Socket]\nListenStream=127.0.0.1:" + std::to_string(port) + "\n";
}

using nspawn::kVmStub;

// Everything clawfleet owns for instances b0001..b<n>, fully present, in
// the recording fakes.
struct FakeHost {
  model::Host host;
  testing::FakeSystemd systemd;
  testing::FakeNetwork network;
  testing::FakeStateStore state;
  testing::FakeVmm vmm;
  testing::FakeFileReader files;
  testing::ObservePorts others;
  std::vector<model::Allocation> allocations;

  explicit FakeHost(int n) {
    host.bridge = "clawbr0";
    host.subnet = parse_cidr("10.100.0.0/16").value();
    host.gateway = parse_ipv4("10.100.0.1").value();
    host.port_first = 20000;
    host.port_last = 29999;
    host.state_root = "/var/lib/clawfleet";

    if (!network.ensure_bridge(host.bridge, host.gateway, 16)) die("fake network: cannot create the bridge");
    network.forward = true;

    std::set<std::string> taps;
    for (int i = 1; i <= n; ++i) {
      const std::string name = instance_name(i);
      model::Allocation a;
      a.ip = Ipv4{host.gateway.value + std::uint32_t(i)};
      const std::uint32_t ip = a.ip.value;  // the allocator's MAC: 06:fc + the address
      a.mac =
          Mac{{0x06, 0xfc, std::uint8_t(ip >> 24), std::uint8_t(ip >> 16), std::uint8_t(ip >> 8), std::uint8_t(ip)}};
      a.host_port = std::uint16_t(host.port_first + i - 1);
      a.tap = host::tap_name(name, taps);
      taps.insert(a.tap);
      allocations.push_back(a);

      state.inventory.instances[name] = {a.tap, false};
      state.records[name] = {name, a, "sha256:" + sha256_hex(name), "1", false, {}};
      state.dirs[name] = {
          true, 0700, 0, {{"instance.json", 0600}, {"token", 0600}, {"launch.json", 0600}, {"vmm.log", 0600}}};

      const std::string vm_tmpl = std::string(kUnitDir) + "/clawfleet-vm@.service";
      systemd.set_unit({host::vm_unit(name), "loaded", "active", "running", "enabled", vm_tmpl, {vm_dropin(name)}});
      systemd.set_unit({host::proxy_socket_unit(name),
                        "loaded",
                        "active",
                        "listening",
                        "enabled",
                        std::string(kUnitDir) + "/clawfleet-proxy@.socket",
                        {listen_dropin(name)}});
      systemd.set_unit({host::proxy_service_unit(name),
                        "loaded",
                        "inactive",
                        "dead",
                        "static",
                        std::string(kUnitDir) + "/clawfleet-proxy@.service",
                        {}});
      files.file(vm_dropin(name), kVmStub);
      files.file(listen_dropin(name), listen_conf(name, a.host_port));

      if (!network.ensure_tap(a.tap, host.bridge, host::kTapAliasPrefix + name, model::vmm_uid(a)))
        die("fake network: cannot create tap " + a.tap);
      vmm.set_state(host::vmm_socket(host, name), host::VmState::Running);
    }
    network.table = host::render_ruleset(host, allocations);
  }

  host::Ports ports() { return others.with(systemd, network, state, vmm, files); }

  // The fakes record every call; cleared between runs so that the log's
  // growth is not part of what is measured.
  void clear_calls() {
    systemd.calls.clear();
    network.calls.clear();
    state.calls.clear();
    vmm.calls.clear();
    files.calls.clear();
  }
};

// Why `o` is not n fully present instances (each in the inventory, with its
// allocation, state dir, tap and three loaded units whose drop-ins were
// all read), or nullopt when it is.
std::optional<std::string> incomplete(const model::Observed& o, int n) {
  if (int(o.instances.size()) != n)
    return "observed " + std::to_string(o.instances.size()) + " instances, expected " + std::to_string(n);
  if (!o.bridge.present || !o.table_hash) return "the bridge or the nftables table is missing";
  for (const auto& [name, i] : o.instances) {
    if (!i.in_inventory || !i.allocation || !i.dir.exists || !i.tap.present)
      return name + ": inventory entry, allocation, state dir or tap missing";
    if (i.units.size() != 3) return name + ": " + std::to_string(i.units.size()) + " units, expected 3";
    std::size_t dropins = 0;
    for (const auto& [unit, u] : i.units) {
      if (u.load_state != "loaded") return unit + ": load state \"" + u.load_state + "\", expected \"loaded\"";
      for (const auto& [path, hash] : u.dropin_hashes)
        if (hash.empty()) return path + ": drop-in listed but not read";
      dropins += u.dropin_hashes.size();
    }
    if (dropins < 2) return name + ": " + std::to_string(dropins) + " drop-ins, expected the VM's and the socket's";
  }
  return std::nullopt;
}

void bench_fakes() {
  for (int n : {10, 100, 1000}) {
    FakeHost fake(n);
    model::Observed last;
    auto observe_once = [&]() -> Status {
      auto o = host::observe(fake.host, fake.ports());
      if (!o) return o.error();
      last = std::move(o.value());
      return {};
    };
    // One probe run decides the repetitions, so that 1000 stays quick.
    fake.clear_calls();
    const auto t0 = Clock::now();
    if (auto s = observe_once(); !s) die("observe (fakes) N=" + std::to_string(n) + ": " + s.error().message);
    const int runs = Clock::now() - t0 > std::chrono::milliseconds(20) ? 21 : 51;
    if (auto why = incomplete(last, n)) die("observe (fakes) N=" + std::to_string(n) + ": " + *why);

    auto stats = time_runs(
        runs, [&] { fake.clear_calls(); }, observe_once);
    if (!stats) die("observe (fakes) N=" + std::to_string(n) + ": " + stats.error().message);
    if (auto why = incomplete(last, n)) die("observe (fakes) N=" + std::to_string(n) + ": " + *why);
    report("observe (fakes)", n, stats.value());
  }
}

std::string read_shipped(const std::string& unit) {
  std::ifstream in(std::string(CLAWFLEET_SOURCE_DIR) + "/units/" + unit);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Reads the paths systemd reports (inside the container) under the
// container's root, from the host.
class RootedFileReader : public FileReader {
 public:
  explicit RootedFileReader(std::string root) : root_(std::move(root)) {}
  Result<std::vector<DirEntry>> list_dir(const std::string& dir) override { return real_.list_dir(root_ + dir); }
  Result<std::string> read_file(const std::string& path, std::size_t max_bytes) override {
    return real_.read_file(root_ + path, max_bytes);
  }
  Result<std::string> canonical(const std::string& path) override {
    auto real = real_.canonical(root_ + path);
    if (!real) return real;
    if (!real.value().starts_with(root_ + "/")) return Error{path + ": resolves outside " + root_};
    return real.value().substr(root_.size());
  }
  Result<FileStatus> status(const std::string& path) override { return real_.status(root_ + path); }

 private:
  std::string root_;
  RealFileReader real_;
};

// Declared in this order so that the bus connection goes before the
// container it talks to.
struct RealHost {
  std::unique_ptr<nspawn::Container> container;
  std::unique_ptr<host::Systemd> systemd;
  std::unique_ptr<host::UnitFiles> unit_files;
};

// Adds instances [from, n) of `fake` as unit files in the container:
// templates once, a stub drop-in per VM unit, a listen drop-in per socket,
// both enabled so that the reload loads them (and the socket its service).
Status install_units(RealHost& real, const FakeHost& fake, int from, int n) {
  if (from == 0)
    for (const char* unit : {"clawfleet-vm@.service", "clawfleet-proxy@.socket", "clawfleet-proxy@.service"})
      if (auto s = real.unit_files->write(unit, read_shipped(unit)); !s) return s;
  std::vector<std::string> enable;
  for (int i = from; i < n; ++i) {
    const std::string name = instance_name(i + 1);
    if (auto s = real.unit_files->write_dropin(host::vm_unit(name), "stub", kVmStub); !s) return s;
    const auto port = fake.allocations[std::size_t(i)].host_port;
    if (auto s = real.unit_files->write_dropin(host::proxy_socket_unit(name), "listen", listen_conf(name, port)); !s)
      return s;
    enable.push_back(host::vm_unit(name));
    enable.push_back(host::proxy_socket_unit(name));
  }
  if (auto s = real.systemd->enable(enable); !s) return s;
  return real.systemd->daemon_reload();
}

// Setup errors end the real-systemd part; a failed measurement is a row of
// the table and counts in `failed`.
Status bench_real_systemd(RealHost& real, int& failed) {
  constexpr int kRuns = 21;
  constexpr int kStarted = 10;
  // Fakes for the other ports, built before the container holds a mount
  // that only a normal unwind removes.
  std::vector<std::unique_ptr<FakeHost>> fakes;
  for (int n : {10, 100}) fakes.push_back(std::make_unique<FakeHost>(n));

  auto booted = nspawn::Container::boot();
  if (!booted) return Error{"cannot boot the container: " + booted.error().message};
  real.container = std::move(booted.value());
  std::printf("real systemd: container %s booted in %lld ms\n", real.container->machine().c_str(),
              static_cast<long long>(real.container->boot_time().count()));
  auto sd = host::connect_systemd(real.container->bus_address());
  if (!sd) return sd.error();
  real.systemd = std::move(sd.value());
  real.unit_files = host::unit_files_in(real.container->root() + kUnitDir);
  RootedFileReader reader(real.container->root());

  int installed = 0;
  for (auto& fake : fakes) {
    if (g_interrupted) return Error{"interrupted"};
    const int n = int(fake->allocations.size());
    if (auto s = install_units(real, *fake, installed, n); !s) return s;
    if (installed == 0)
      for (int i = 1; i <= kStarted; ++i) {
        auto r = real.systemd->start(host::vm_unit(instance_name(i)), std::chrono::seconds(10));
        if (!r) return r.error();
        if (r.value() != host::JobResult::Done)
          return Error{"starting " + host::vm_unit(instance_name(i)) + ": job " + host::to_string(r.value())};
      }
    installed = n;

    std::printf("real systemd: N=%d: VM units and proxy sockets enabled and reloaded, %d VM units started\n", n,
                kStarted);

    host::Ports ports = fake->others.with(*real.systemd, fake->network, fake->state, fake->vmm, reader);
    model::Observed last;
    auto observed = time_runs(
        kRuns, [&] { fake->clear_calls(); },
        [&]() -> Status {
          auto o = host::observe(fake->host, ports);
          if (!o) return o.error();
          last = std::move(o.value());
          return {};
        });
    if (observed)
      if (auto why = incomplete(last, n)) observed = Error{*why};
    if (observed) {
      int running = 0;
      for (const auto& [name, i] : last.instances)
        if (auto u = i.units.find(host::vm_unit(name)); u != i.units.end() && u->second.active_state == "active")
          ++running;
      if (running != kStarted)
        observed = Error{std::to_string(running) + " VM units active, expected " + std::to_string(kStarted)};
    }
    if (observed)
      report("observe (real systemd)", n, observed.value());
    else
      report_failure("observe (real systemd)", n, observed.error().message, failed);

    std::size_t listed = 0;
    auto list = time_runs(
        kRuns, [] {},
        [&]() -> Status {
          auto units = real.systemd->list_units(kUnitPatterns);
          if (!units) return units.error();
          listed = units.value().size();
          return {};
        });
    if (list && listed < std::size_t(3 * n))
      list = Error{"listed " + std::to_string(listed) + " units, expected at least " + std::to_string(3 * n)};
    if (list)
      report("list_units (real systemd)", n, list.value());
    else
      report_failure("list_units (real systemd)", n, list.error().message, failed);
  }
  return {};
}

void on_signal(int) { g_interrupted = 1; }

}  // namespace

int main() {
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);

  bench_fakes();

  if (auto why = nspawn::unavailable()) {
    std::printf("real systemd: skipped (%s)\n", why->c_str());
    return 0;
  }
  Status s;
  int failed = 0;
  {
    RealHost real;
    s = bench_real_systemd(real, failed);
    if (real.container) std::printf("real systemd: powering the container off\n");
  }
  if (!s) {
    std::fprintf(stderr, "clawfleet_bench: real systemd: %s\n", s.error().message.c_str());
    return g_interrupted ? 130 : 1;
  }
  return failed ? 1 : 0;
}
