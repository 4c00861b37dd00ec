// systemd as clawfleet sees it: unit states in one call, unit files and
// drop-ins written atomically, jobs whose results are awaited with a
// deadline. Real adapter: SdBusSystemd (sd-bus, no systemctl subprocess).
// Fake: tests/fakes/fake_systemd.h.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace cf::host {

// Where clawfleet's units and drop-ins are (the administrator's unit directory).
inline constexpr const char* kUnitDir = "/etc/systemd/system";

struct UnitStatus {
  std::string name;             // "clawfleet-vm@bot.service"
  std::string load_state;       // loaded, not-found, masked, ...
  std::string active_state;     // active, inactive, failed, activating, ...
  std::string sub_state;        // running, dead, exited, ...
  std::string unit_file_state;  // enabled, disabled, static, "" when unknown
  std::string fragment_path;    // the unit file, "" when none
  std::vector<std::string> dropin_paths;
  bool operator==(const UnitStatus&) const = default;
};

// JobRemoved's result string, as an enum.
enum class JobResult { Done, Canceled, Timeout, Failed, Dependency, Skipped };
const char* to_string(JobResult r);

class Systemd {
 public:
  virtual ~Systemd() = default;
  // Units matching shell-style patterns ("clawfleet-*"), loaded or only
  // present as unit files, each with its unit-file state: a fixed number of
  // bus calls however many units match.
  virtual Result<std::vector<UnitStatus>> list_units(const std::vector<std::string>& patterns) = 0;
  virtual Status daemon_reload() = 0;
  // Queue a job (mode "replace") and wait for its JobRemoved up to deadline.
  virtual Result<JobResult> start(const std::string& unit, std::chrono::milliseconds deadline) = 0;
  virtual Result<JobResult> stop(const std::string& unit, std::chrono::milliseconds deadline) = 0;
  virtual Result<JobResult> restart(const std::string& unit, std::chrono::milliseconds deadline) = 0;
  virtual Status enable(const std::vector<std::string>& units) = 0;
  virtual Status disable(const std::vector<std::string>& units) = 0;
  // Clears a unit's "failed" state (ResetFailedUnit), so a unit that
  // clawfleet stopped or removed is not listed by `systemctl --failed`
  // however its process ended. A unit systemd has not loaded is success.
  virtual Status reset_failed(const std::string& unit) = 0;
};

// Unit files and drop-ins under one directory (/etc/systemd/system, or a
// container's). Writes are atomic (host/state/files.h), mode 0644.
class UnitFiles {
 public:
  virtual ~UnitFiles() = default;
  virtual Result<std::optional<std::string>> read(const std::string& unit) = 0;
  virtual Status write(const std::string& unit, const std::string& content) = 0;
  virtual Status remove(const std::string& unit) = 0;
  // <dir>/<unit>.d/<name>.conf
  virtual Result<std::optional<std::string>> read_dropin(const std::string& unit, const std::string& name) = 0;
  virtual Status write_dropin(const std::string& unit, const std::string& name, const std::string& content) = 0;
  virtual Status remove_dropin(const std::string& unit, const std::string& name) = 0;
};

// Connects to the system bus ($DBUS_SYSTEM_BUS_ADDRESS, as sd_bus_open_system).
Result<std::unique_ptr<Systemd>> connect_systemd();
std::unique_ptr<UnitFiles> unit_files_in(const std::string& dir);

}  // namespace cf::host
