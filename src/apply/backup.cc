#include "apply/backup.h"

#include <nlohmann/json.hpp>

#include "core/text.h"
#include "host/vmm/launch.h"
#include "model/instance_dir.h"
#include "model/units.h"

namespace cf::apply {
namespace {

// The most a record or a token in an archive may hold.
constexpr std::uint64_t kMaxArchivedRecordBytes = 1 << 20;
constexpr std::uint64_t kMaxArchivedTokenBytes = 4096;
constexpr std::size_t kTokenHexDigits = 64;

bool is_token(std::string t) {
  if (!t.empty() && t.back() == '\n') t.pop_back();
  if (t.size() != kTokenHexDigits) return false;
  for (char c : t)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

// Whether the instance's VM unit runs (or is on its way up or down): then
// its data disk is in use.
Result<bool> vm_running(host::Systemd& systemd, const std::string& name) {
  auto units = systemd.list_units({model::vm_unit(name)});
  if (!units) return units.error();
  for (const auto& u : units.value())
    if (u.name == model::vm_unit(name) && u.active_state != "inactive" && u.active_state != "failed") return true;
  return false;
}

std::string string_of(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : "";
}

}  // namespace

Result<BackupReport> backup_instance(const model::Host& host, const host::Ports& ports, host::Backups& backups,
                                     const BackupRequest& req) {
  if (!is_dns_label(req.name)) return Error{"an instance name is a DNS label (lower-case letters, digits, -)"};
  const host::InstancePaths paths = host::paths_for(host.state_root, req.name);
  auto rec = ports.state.read_instance(req.name);
  if (!rec) return rec.error();
  if (!rec.value()) return Error{req.name + " is not on this host (no " + paths.dir + "/" + model::kRecordFile + ")"};
  auto disk = ports.disks.size(paths.data);
  if (!disk) return disk.error();
  if (!disk.value())
    return Error{req.name +
                 " has no data disk: it was created before data disks and keeps its state on its root "
                 "disk (docs/guest.md#the-data-disk), which a backup does not hold"};
  auto token = ports.state.read_token(req.name);
  if (!token) return token.error();
  if (!token.value()) return Error{req.name + " has no gateway token yet: its create never got that far"};
  auto running = vm_running(ports.systemd, req.name);
  if (!running) return running.error();

  BackupReport report{running.value(), *disk.value()};
  std::string data = paths.data;
  const std::string snapshot = paths.dir + "/" + kSnapshotFile;
  // A snapshot left by a backup that was killed goes first.
  if (auto s = backups.discard(snapshot); !s) return s.error();
  if (report.snapshot) {
    if (auto s = backups.snapshot(paths.data, snapshot); !s)
      return Error{req.name +
                   " is running, and its data disk cannot be snapshotted while it runs: " + s.error().message +
                   "; stop it first (spec.state: stopped, then clawfleet apply) and back it up "
                   "stopped"};
    data = snapshot;
  }
  nlohmann::json about{{"instance", req.name},
                       {"createdAt", req.created_at},
                       {"consistency", report.snapshot ? "crash-consistent" : "stopped"},
                       {"clawfleet", req.version},
                       {"dataDiskBytes", report.disk_bytes}};
  if (rec.value()->applied_generation) about["generation"] = *rec.value()->applied_generation;
  for (const char* field : {"spec.image", "host.image.version", "host.image.digest"})
    if (auto it = rec.value()->applied.find(field); it != rec.value()->applied.end()) about[field] = it->second;
  auto written = backups.write_archive(req.out, about.dump(),
                                       {{model::kRecordFile, paths.dir + "/" + model::kRecordFile, false},
                                        {model::kTokenFile, paths.dir + "/" + model::kTokenFile, false},
                                        {model::kDataDiskFile, data, true}});
  if (report.snapshot)
    if (auto s = backups.discard(snapshot); !s && written) return s.error();
  if (!written) return written.error();
  return report;
}

Result<RestoreReport> restore_instance(const model::Fleet& fleet, const host::Ports& ports, host::Backups& backups,
                                       const RestoreRequest& req) {
  const model::Instance* inst = fleet.find(req.name);
  if (!inst)
    return Error{req.name +
                 " is in no manifest: a restore brings back an instance's data, and its manifest says what "
                 "the instance is"};
  if (inst->resources.data_disk_bytes == 0)
    return Error{req.name + "'s manifest gives it no data disk (spec.resources.dataDisk), and a backup is one"};
  const host::InstancePaths paths = host::paths_for(fleet.host.state_root, req.name);
  const std::string exists = req.name + " exists on this host";
  const std::string how =
      ": a restore recreates a destroyed instance, or replaces this one's data with --replace "
      "(what it has now is lost)";
  auto rec = ports.state.read_instance(req.name);
  if (!rec) return rec.error();
  auto inv = ports.state.read_inventory();
  if (!inv) return inv.error();
  auto dir = ports.state.inspect(req.name);
  if (!dir) return dir.error();
  const bool on_host = rec.value().has_value();
  if (!req.replace || !on_host) {
    if (on_host) return Error{exists + how};
    if (inv.value().instances.count(req.name))
      return Error{exists + " (in " + fleet.host.state_root + "/inventory.json, without its directory)" +
                   ": a restore recreates a destroyed instance; apply first, to finish or undo what is there"};
    if (dir.value().exists)
      return Error{exists + " (" + paths.dir + " is there, without its record)" +
                   ": a restore recreates a destroyed instance; apply first, to finish or undo what is there"};
  }
  if (on_host) {
    auto entry = inv.value().instances.find(req.name);
    const bool protect =
        inst->protect || rec.value()->protect || (entry != inv.value().instances.end() && entry->second.protect);
    if (protect && !req.allow_destroy)
      return Error{req.name + " is protected, and --replace loses its data disk: rerun with --allow-destroy"};
  }

  auto free = backups.free_bytes(fleet.host.state_root);
  if (!free) return free.error();
  host::ArchiveLimits limits;
  limits.files = {{model::kRecordFile, kMaxArchivedRecordBytes},
                  {model::kTokenFile, kMaxArchivedTokenBytes},
                  {model::kDataDiskFile, inst->resources.data_disk_bytes}};
  limits.max_data_bytes = free.value() > kRestoreFreeReserve ? free.value() - kRestoreFreeReserve : 0;
  // Read beside the instances, never where the instance will be: only a
  // whole, checked archive is renamed into place. A directory left by a
  // restore that was killed goes first.
  const std::string staging = fleet.host.state_root + "/instances/.restore-" + req.name;
  if (auto s = backups.discard(staging); !s) return s.error();
  auto read = backups.read_archive(req.archive, staging, limits);
  const auto fail = [&](Error e) -> Result<RestoreReport> {
    if (auto s = backups.discard(staging); !s) e.message += " (and " + s.error().message + ")";
    return e;
  };
  if (!read) return fail(read.error());
  const host::ArchiveContents& got = read.value();
  const std::string not_restorable = req.archive + " is not a backup clawfleet can restore: ";
  if (!got.files.count(model::kDataDiskFile)) return fail(Error{not_restorable + "it holds no data disk"});
  auto token = got.texts.find(model::kTokenFile);
  if (token == got.texts.end() || !is_token(token->second))
    return fail(Error{not_restorable + "it holds no gateway token (64 hex digits)"});
  const auto about = nlohmann::json::parse(got.about, nullptr, false);
  RestoreReport report{string_of(about, "instance"), string_of(about, "createdAt"), string_of(about, "consistency"),
                       got.files.at(model::kDataDiskFile), got.data_bytes};
  // The record is the archive's account of the instance, not installed:
  // apply writes the instance's own when it creates it.
  if (auto s = backups.discard(staging + "/" + model::kRecordFile); !s) return fail(s.error());
  if (!on_host) {
    if (auto s = backups.install(staging, paths.dir); !s) return fail(s.error());
    return report;
  }
  // Replaced: the guest powers off first, so nothing writes the disk
  // being replaced; then the data disk, then the token (a run stopped in
  // between leaves the new data disk with the old token, which a rerun of
  // this restore mends).
  const std::string vm = model::vm_unit(req.name);
  auto stopped = ports.systemd.stop(vm, req.stop_deadline);
  if (!stopped) return fail(stopped.error());
  if (stopped.value() != host::JobResult::Done)
    return fail(Error{"cannot stop " + vm + ": its stop job ended " + host::to_string(stopped.value())});
  for (const char* file : {model::kDataDiskFile, model::kTokenFile})
    if (auto s = backups.replace(staging + "/" + file, paths.dir + "/" + file); !s) return fail(s.error());
  if (auto s = backups.discard(staging); !s) return s.error();
  report.replaced = true;
  return report;
}

}  // namespace cf::apply
