// In-memory host::Systemd that records every call (ninja's
// VirtualFileSystem), and a temp directory with unit_files_in() over it.
//
// FakeSystemd: tests declare units with set_unit(); jobs complete at once
// with job_result; fail() makes one exact call fail. Error texts follow
// real systemd's ("Unit X not found.").
#pragma once

#include <fnmatch.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "host/systemd/systemd.h"

namespace cf::testing {

class FakeSystemd : public host::Systemd {
 public:
  // Adds or replaces a unit as list_units reports it. A template
  // ("clawfleet-vm@.service") makes its instances startable.
  void set_unit(host::UnitStatus unit) {
    std::string name = unit.name;
    units_[name] = std::move(unit);
  }
  const host::UnitStatus* unit(const std::string& name) const {
    auto it = units_.find(name);
    return it == units_.end() ? nullptr : &it->second;
  }
  // The call whose recorded text is exactly `call` fails with message
  // (every time, until cleared with an empty message).
  void fail(const std::string& call, std::string message) {
    if (message.empty())
      failures_.erase(call);
    else
      failures_[call] = std::move(message);
  }

  // The result of every job from now on.
  host::JobResult job_result = host::JobResult::Done;
  // Units whose stop job ends "done" but leaves them "failed", as real
  // systemd does when ExecStop fails or the VMM is SIGKILLed after
  // TimeoutStopSec.
  std::set<std::string> stop_leaves_failed;
  // Units that a start or restart job leaves in this active and sub state
  // (a VM that exits at once: "failed"/"failed", "activating"/"auto-restart").
  std::map<std::string, std::pair<std::string, std::string>> start_leaves;
  // Every call, in order: "list_units clawfleet-*", "daemon_reload",
  // "start clawfleet-vm@bot.service 5000ms", "enable a.service b.service".
  std::vector<std::string> calls;

  Result<std::vector<host::UnitStatus>> list_units(const std::vector<std::string>& patterns) override {
    if (auto e = record("list_units", patterns)) return *e;
    std::vector<host::UnitStatus> out;
    for (const auto& [name, u] : units_)
      for (const auto& p : patterns)
        if (::fnmatch(p.c_str(), name.c_str(), 0) == 0) {
          out.push_back(u);
          break;
        }
    return out;
  }

  Status daemon_reload() override {
    if (auto e = record("daemon_reload", {})) return *e;
    return {};
  }

  Result<host::JobResult> start(const std::string& unit, std::chrono::milliseconds deadline) override {
    return job("start", unit, deadline, "active", "running");
  }
  Result<host::JobResult> stop(const std::string& unit, std::chrono::milliseconds deadline) override {
    auto r = job("stop", unit, deadline, "inactive", "dead");
    if (r && r.value() == host::JobResult::Done && stop_leaves_failed.count(unit)) {
      host::UnitStatus* u = find(unit);
      u->active_state = "failed";
      u->sub_state = "failed";
    }
    return r;
  }
  Result<host::JobResult> restart(const std::string& unit, std::chrono::milliseconds deadline) override {
    return job("restart", unit, deadline, "active", "running");
  }

  Status enable(const std::vector<std::string>& units) override { return set_file_state("enable", units, "enabled"); }
  Status disable(const std::vector<std::string>& units) override {
    return set_file_state("disable", units, "disabled");
  }
  // Like systemd: failed becomes inactive; a unit that is not loaded is fine.
  Status reset_failed(const std::string& unit) override {
    if (auto e = record("reset_failed", {unit})) return *e;
    if (auto it = units_.find(unit); it != units_.end() && it->second.active_state == "failed") {
      it->second.active_state = "inactive";
      it->second.sub_state = "dead";
    }
    return {};
  }

 private:
  std::optional<Error> record(const std::string& verb, const std::vector<std::string>& args) {
    std::string call = verb;
    for (const auto& a : args) call += " " + a;
    calls.push_back(call);
    if (auto it = failures_.find(call); it != failures_.end()) return Error{it->second};
    return std::nullopt;
  }

  // The unit, instantiated from its template when only that exists.
  host::UnitStatus* find(const std::string& name) {
    if (auto it = units_.find(name); it != units_.end()) return &it->second;
    auto at = name.find('@');
    auto dot = name.rfind('.');
    if (at == std::string::npos || dot == std::string::npos || dot <= at + 1) return nullptr;
    auto tmpl = units_.find(name.substr(0, at + 1) + name.substr(dot));
    if (tmpl == units_.end()) return nullptr;
    host::UnitStatus u = tmpl->second;
    u.name = name;
    u.load_state = "loaded";
    u.active_state = "inactive";
    u.sub_state = "dead";
    u.unit_file_state = "disabled";
    u.dropin_paths.clear();
    return &(units_[name] = std::move(u));
  }

  Result<host::JobResult> job(const std::string& verb, const std::string& unit, std::chrono::milliseconds deadline,
                              const char* active, const char* sub) {
    if (auto e = record(verb, {unit, std::to_string(deadline.count()) + "ms"})) return *e;
    host::UnitStatus* u = find(unit);
    if (!u) return Error{"cannot " + verb + " " + unit + ": Unit " + unit + " not found."};
    if (job_result == host::JobResult::Done) {
      u->active_state = active;
      u->sub_state = sub;
      if (auto left = start_leaves.find(unit); left != start_leaves.end() && verb != "stop")
        std::tie(u->active_state, u->sub_state) = left->second;
    } else if (job_result == host::JobResult::Failed) {
      u->active_state = "failed";
      u->sub_state = "failed";
    }
    return job_result;
  }

  Status set_file_state(const std::string& verb, const std::vector<std::string>& units, const char* state) {
    std::string list;
    for (const auto& u : units) list += (list.empty() ? "" : ", ") + u;
    if (auto e = record(verb, units)) return *e;
    for (const auto& name : units)
      if (!find(name)) return Error{"cannot " + verb + " " + list + ": Unit file " + name + " does not exist."};
    for (const auto& name : units) find(name)->unit_file_state = state;
    return {};
  }

  std::map<std::string, host::UnitStatus> units_;
  std::map<std::string, std::string> failures_;
};

// A fresh directory under /tmp with unit_files_in() over it, removed with
// everything in it when the object goes.
class TempUnitDir {
 public:
  TempUnitDir() {
    char tmpl[] = "/tmp/cf-units-XXXXXX";
    if (::mkdtemp(tmpl)) dir = tmpl;
    files = host::unit_files_in(dir);
  }
  ~TempUnitDir() {
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }
  TempUnitDir(const TempUnitDir&) = delete;
  TempUnitDir& operator=(const TempUnitDir&) = delete;

  std::string dir;  // "" when mkdtemp failed
  std::unique_ptr<host::UnitFiles> files;
};

}  // namespace cf::testing
