// The backup archive of one instance (docs/apply.md#backup-and-restore),
// and the file work around it. The format, "clawfleet-backup 1": one zstd
// frame (with its content checksum) holding
//
//   clawfleet-backup 1\n
//   {about: what the caller says of the backup, one JSON line}\n
//   {"file":"token","size":N}\n                       then N bytes
//   {"file":"data.img","size":S,"extents":K,"dataBytes":D}\n
//                                                     then K times: offset and length
//                                                     (8 bytes each, little-endian)
//                                                     and that many bytes
//   {"sha256":"<hex of every byte before this line>"}\n
//
// A sparse file is stored as its data extents only: its holes stay holes.
// Reading trusts nothing in the archive: the caller names the files it
// may hold and their largest sizes, and anything else, a size above its
// limit, extents out of order or a checksum that fails, refuses the whole
// archive. Real adapter: libzstd; fake: tests/fakes/fake_backups.h.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"

namespace cf::host {

inline constexpr const char* kArchiveMagic = "clawfleet-backup 1";
// The longest header line (the about line included).
inline constexpr std::size_t kMaxArchiveLine = 64 * 1024;

struct ArchiveFile {
  std::string name;     // its name in the archive: a plain name, no '/'
  std::string path;     // where it is read from
  bool sparse = false;  // stored as its data extents (a disk image)
};

// What an archive may hold: file name -> the most bytes it may have (for a
// sparse file, its apparent size); `max_data_bytes` bounds the bytes all
// files take on disk together (the free space the caller allows).
struct ArchiveLimits {
  std::map<std::string, std::uint64_t> files;
  std::uint64_t max_data_bytes = 0;
};

struct ArchiveContents {
  std::string about;                           // the about line, as written
  std::map<std::string, std::uint64_t> files;  // name -> size (apparent)
  std::uint64_t data_bytes = 0;                // what they take on disk (their data)
  // The content of each file of at most kMaxArchiveLine bytes (a token, a
  // record), for the caller to check.
  std::map<std::string, std::string> texts;
};

class Backups {
 public:
  virtual ~Backups() = default;
  // dest (which must not exist) becomes a reflink of path, sharing its
  // blocks: a crash-consistent copy of a disk in use, made at once. An
  // error saying so where the filesystem cannot reflink.
  virtual Status snapshot(const std::string& path, const std::string& dest) = 0;
  // Writes the archive of `files` to `out`, mode 0600, atomically (a
  // temporary file beside it, renamed over it when complete). `about` is
  // one line of JSON.
  virtual Status write_archive(const std::string& out, const std::string& about,
                               const std::vector<ArchiveFile>& files) = 0;
  // Reads and checks the archive at `archive` (a regular file), writing
  // its files into the directory `into`, made 0700 (it must not exist).
  // On any error `into` may hold part of them: the caller discards it.
  virtual Result<ArchiveContents> read_archive(const std::string& archive, const std::string& into,
                                               const ArchiveLimits& limits) = 0;
  // The bytes an unprivileged write may still take on the filesystem of `dir`.
  virtual Result<std::uint64_t> free_bytes(const std::string& dir) = 0;
  // Renames the directory `from` to `to`, which must not exist.
  virtual Status install(const std::string& from, const std::string& to) = 0;
  // Renames the file `from` over the file `to` (same filesystem).
  virtual Status replace(const std::string& from, const std::string& to) = 0;
  // Removes a file, or a directory and the files directly in it (links
  // are removed, never followed); absent is success.
  virtual Status discard(const std::string& path) = 0;
};

std::unique_ptr<Backups> real_backups();

}  // namespace cf::host
