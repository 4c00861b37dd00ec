// A whole host made of the recording fakes, wired so that what apply writes
// is what observe() reads back: drop-ins written through `unit_files` are
// files of `files` under /etc/systemd/system, the shipped templates are
// known to `systemd`, every systemd connection the executor opens is the one
// FakeSystemd behind a mutex (the fakes are not thread-safe).
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "fakes/fake_file_reader.h"
#include "fakes/fake_guest_disks.h"
#include "fakes/fake_health.h"
#include "fakes/fake_network.h"
#include "fakes/fake_platform.h"
#include "fakes/fake_state_store.h"
#include "fakes/fake_systemd.h"
#include "fakes/fake_vmm.h"
#include "host/observe.h"

namespace cf::testing {

using host::kUnitDir;

class FakeUnitFiles : public host::UnitFiles {
 public:
  explicit FakeUnitFiles(FakeFileReader& files) : files_(files) {}
  Result<std::optional<std::string>> read(const std::string& unit) override { return get(path(unit)); }
  Status write(const std::string& unit, const std::string& content) override { return put(path(unit), content); }
  Status remove(const std::string& unit) override { return del(path(unit)); }
  Result<std::optional<std::string>> read_dropin(const std::string& unit, const std::string& name) override {
    return get(path(unit, name));
  }
  Status write_dropin(const std::string& unit, const std::string& name, const std::string& content) override {
    return put(path(unit, name), content);
  }
  Status remove_dropin(const std::string& unit, const std::string& name) override { return del(path(unit, name)); }

  std::vector<std::string> calls;
  std::map<std::string, std::string> failures;  // call -> message

 private:
  static std::string path(const std::string& unit) { return std::string(kUnitDir) + "/" + unit; }
  static std::string path(const std::string& unit, const std::string& name) {
    return std::string(kUnitDir) + "/" + unit + ".d/" + name + ".conf";
  }
  std::optional<Error> record(const std::string& call) {
    calls.push_back(call);
    if (auto it = failures.find(call); it != failures.end()) return Error{it->second};
    return std::nullopt;
  }
  Result<std::optional<std::string>> get(const std::string& p) {
    if (!files_.has(p)) return std::optional<std::string>{};
    return std::optional<std::string>{files_.read_file(p, 1 << 20).value()};
  }
  Status put(const std::string& p, const std::string& content) {
    if (auto e = record("write " + p)) return *e;
    files_.file(p, content);
    return {};
  }
  Status del(const std::string& p) {
    if (auto e = record("remove " + p)) return *e;
    files_.remove(p);
    return {};
  }
  FakeFileReader& files_;
};

// Forwards to one FakeSystemd under a mutex shared by every connection.
class LockedSystemd : public host::Systemd {
  template <class F>
  auto with(F f) {
    std::lock_guard<std::mutex> lock(mu_);
    return f();
  }

 public:
  LockedSystemd(FakeSystemd& sd, std::mutex& mu) : sd_(sd), mu_(mu) {}
  Result<std::vector<host::UnitStatus>> list_units(const std::vector<std::string>& p) override {
    return with([&] { return sd_.list_units(p); });
  }
  Status daemon_reload() override {
    return with([&] { return sd_.daemon_reload(); });
  }
  Result<host::JobResult> start(const std::string& u, std::chrono::milliseconds d) override {
    return with([&] { return sd_.start(u, d); });
  }
  Result<host::JobResult> stop(const std::string& u, std::chrono::milliseconds d) override {
    return with([&] { return sd_.stop(u, d); });
  }
  Result<host::JobResult> restart(const std::string& u, std::chrono::milliseconds d) override {
    return with([&] { return sd_.restart(u, d); });
  }
  Status enable(const std::vector<std::string>& u) override {
    return with([&] { return sd_.enable(u); });
  }
  Status disable(const std::vector<std::string>& u) override {
    return with([&] { return sd_.disable(u); });
  }
  Status reset_failed(const std::string& u) override {
    return with([&] { return sd_.reset_failed(u); });
  }

 private:
  FakeSystemd& sd_;
  std::mutex& mu_;
};

// A bundle of the given ports, without worker connections, listening
// ports or secrets (set them on the result where a test needs them).
inline host::Ports bundle(host::Systemd& systemd, host::UnitFiles& unit_files, host::Network& network,
                          host::StateStore& state, host::Vmm& vmm, host::Health& health, host::GuestDisks& disks,
                          host::Platform& platform, FileReader& files) {
  return host::Ports{systemd, {}, unit_files, network, state, vmm, health, disks, platform, files, {}, {}};
}

// The ports observe() reads, given as fakes or real adapters, and inert
// fakes for the rest of the bundle (observe does not touch them).
struct ObservePorts {
  host::Ports with(host::Systemd& systemd, host::Network& network, host::StateStore& state, host::Vmm& vmm,
                   FileReader& files) {
    return bundle(systemd, unit_files, network, state, vmm, health, disks, platform, files);
  }
  FakeFileReader unused_files;
  FakeUnitFiles unit_files{unused_files};
  FakeHealth health;
  FakeGuestDisks disks;
  FakePlatform platform;
};

class FakeHost {
 public:
  FakeHost() {
    for (const char* unit : {"clawfleet-vm@.service", "clawfleet-proxy@.socket", "clawfleet-proxy@.service"}) {
      const std::string fragment = std::string(kUnitDir) + "/" + unit;
      systemd.set_unit(host::UnitStatus{unit, "", "inactive", "dead", "disabled", fragment, {}});
      files.file(fragment, std::string("# shipped ") + unit + "\n");
    }
    // The disks live in the instance's directory and go with it.
    state.on_remove = [this](const std::string& name) { disks.forget_instance(name); };
    state.on_rename = [this](const std::string& from, const std::string& to) { disks.rename_instance(from, to); };
  }

  // The one bundle observe() and the executor use, as the real host's;
  // `other_health`, when given, stands in for the fake health gate.
  host::Ports ports(host::Health* other_health = nullptr) {
    host::Ports p = bundle(observer, unit_files, network, state, vmm, other_health ? *other_health : health, disks,
                           platform, files);
    p.connect_systemd = [this]() -> Result<std::unique_ptr<host::Systemd>> {
      if (!connect_error.empty()) return Error{connect_error};
      return std::unique_ptr<host::Systemd>(std::make_unique<LockedSystemd>(systemd, mu));
    };
    p.listening = [this](std::uint16_t port) { return listening.count(port) > 0; };
    p.read_secret = [this](const model::SecretRef& ref) -> Result<std::string> {
      if (missing_secrets.count(ref.name)) return Error{"secret " + ref.name + " is missing"};
      if (auto it = secrets.find(ref.name); it != secrets.end()) return it->second;
      return "value of " + ref.name;
    };
    return p;
  }
  Result<model::Observed> observe(const model::Host& h) { return host::observe(h, ports()); }

  // Everything clawfleet leaves on the host that names `name`: state,
  // inventory, drop-ins, tap, enabled or active units. Empty after a destroy.
  std::vector<std::string> leftovers(const std::string& name) {
    std::vector<std::string> out;
    if (state.records.count(name) || state.dirs.count(name)) out.push_back("state dir");
    if (state.inventory.instances.count(name)) out.push_back("inventory entry");
    for (const auto& f : files.under(std::string(kUnitDir) + "/clawfleet-"))
      if (f.find("@" + name + ".") != std::string::npos) out.push_back("drop-in " + f);
    auto links = network.links();
    for (const auto& l : links.value())
      if (l.alias == "clawfleet:" + name) out.push_back("tap " + l.name);
    for (const auto& unit : {host::vm_unit(name), host::proxy_socket_unit(name), host::proxy_service_unit(name)})
      if (const host::UnitStatus* u = systemd.unit(unit))
        if (u->active_state == "active" || u->active_state == "failed" || u->unit_file_state == "enabled")
          out.push_back("unit " + unit + " " + u->active_state);
    network.calls.clear();
    return out;
  }

  std::mutex mu;  // one systemd, however many connections
  FakeSystemd systemd;
  LockedSystemd observer{systemd, mu_observer_};
  FakeNetwork network;
  FakeStateStore state;
  FakeVmm vmm;
  FakeHealth health;
  FakeGuestDisks disks;
  FakePlatform platform;
  // Secret values by reference name ("value of <name>" unless set here);
  // reading one in missing_secrets fails.
  std::map<std::string, std::string> secrets;
  std::set<std::string> missing_secrets;
  FakeFileReader files;
  FakeUnitFiles unit_files{files};
  std::set<std::uint16_t> listening;
  std::string connect_error;

 private:
  std::mutex mu_observer_;
};

}  // namespace cf::testing
