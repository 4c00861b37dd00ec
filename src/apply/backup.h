// `clawfleet backup` and `restore` of one instance (docs/apply.md#backup-
// and-restore), under the one-writer lock the caller holds.
//
// A backup is the instance's data disk (what its gateway wrote: sessions,
// memory, pairings), its gateway token and its record (instance.json:
// allocation, applied generation, image), in one archive
// (host/backup/archive.h). Never the seed or anything else that holds a
// provider key or a bot token. The data disk is consistent when the guest
// is stopped; while it runs, it is a reflink snapshot, crash-consistent
// (as after a power cut: there is no guest agent to freeze it), and where
// the state root cannot reflink a running instance is refused.
//
// A restore recreates a destroyed instance's data: the instance must be in
// a manifest and absent from this host (or replaced, when told); the
// archive is read and checked into a directory beside the instances, and
// only a whole, checked one is renamed into place (its data disk and
// token; the record is the archive's account, not installed: apply writes
// a new one). The next apply (or the agent) creates the instance on them,
// or starts the replaced one again.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "core/result.h"
#include "host/backup/archive.h"
#include "host/ports.h"
#include "model/desired.h"

namespace cf::apply {

// The file name of a running instance's data disk snapshot while its
// backup is written (removed after; a leftover is removed by the next).
inline constexpr const char* kSnapshotFile = "data.img.backup";

struct BackupRequest {
  std::string name;
  std::string out;         // the archive to write
  std::string created_at;  // RFC 3339, from the caller's clock
  std::string version;     // clawfleet's, recorded in the archive
};

struct BackupReport {
  bool snapshot = false;         // the guest ran: a crash-consistent snapshot; else it was stopped
  std::uint64_t disk_bytes = 0;  // the data disk's size
};

Result<BackupReport> backup_instance(const model::Host& host, const host::Ports& ports, host::Backups& backups,
                                     const BackupRequest& req);

struct RestoreRequest {
  std::string name;
  std::string archive;
  // An instance on the host is refused unless `replace`: then its VM is
  // stopped and its data disk and token replaced by the archive's (what it
  // had is lost; a protected one needs `allow_destroy` too). apply (or
  // the agent) starts it again.
  bool replace = false;
  bool allow_destroy = false;
  std::chrono::milliseconds stop_deadline{std::chrono::seconds(180)};
};

struct RestoreReport {
  std::string from;         // the instance the backup was taken of
  std::string created_at;   // when
  std::string consistency;  // "stopped" or "crash-consistent"
  std::uint64_t disk_bytes = 0, data_bytes = 0;
  bool replaced = false;  // an instance on the host had its data replaced
};

// The most bytes a restore may write: what the state root's filesystem
// has free, less this reserve.
inline constexpr std::uint64_t kRestoreFreeReserve = 256ull << 20;

Result<RestoreReport> restore_instance(const model::Fleet& fleet, const host::Ports& ports, host::Backups& backups,
                                       const RestoreRequest& req);

}  // namespace cf::apply
