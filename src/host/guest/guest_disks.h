// The instance's own guest disks: the root disk, a clone of the image's
// rootfs grown to the instance's disk size, the data disk (empty until the
// guest formats it) and the NoCloud seed. Real
// adapter: FICLONE (a reflink, where the filesystem has them) or a sparse
// copy, ftruncate, and genisoimage for the seed. Fake:
// tests/fakes/fake_guest_disks.h.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/result.h"
#include "host/guest/seed.h"

namespace cf::host {

class GuestDisks {
 public:
  virtual ~GuestDisks() = default;
  // The file's size in bytes; nullopt when it does not exist.
  virtual Result<std::optional<std::uint64_t>> size(const std::string& path) = 0;
  // dest becomes a copy of base (cp --reflink=auto semantics: a clone where
  // the filesystem can, else a sparse copy) grown to `bytes`, mode 0600.
  // Atomic: dest exists only complete. A base larger than `bytes` is an error.
  virtual Status clone(const std::string& base, const std::string& dest, std::uint64_t bytes) = 0;
  // dest becomes an empty (sparse) file of `bytes`, for the guest to
  // format (the data disk). Atomic like clone.
  virtual Status create_empty(const std::string& dest, std::uint64_t bytes) = 0;
  // Removes the file and what is recorded of it (a seed's digest); success
  // when it does not exist.
  virtual Status remove(const std::string& path) = 0;
  // `kept` becomes another name of the file at `path` (a hard link, in the
  // same directory, replacing `kept`), with what is recorded of it (a
  // seed's digest): how a root disk and a seed are kept for a rollback
  // while `path` gets a new one. Success when `path` does not exist.
  virtual Status keep(const std::string& path, const std::string& kept) = 0;
  // Renames `from` to `to` in the same directory, replacing `to`, with what
  // is recorded of it: how a kept file is brought back. Success when `from`
  // does not exist (then `to` is left as it is).
  virtual Status move(const std::string& from, const std::string& to) = 0;
  // Grows the file to `bytes`; never shrinks (an error instead).
  virtual Status grow(const std::string& path, std::uint64_t bytes) = 0;
  // The seed_digest() of the seed at path, as recorded when it was
  // written; nullopt when there is no seed (or no record of it).
  virtual Result<std::optional<std::string>> seed_digest_of(const std::string& path) = 0;
  // Writes an ISO 9660 image labelled "cidata" with the three files at path
  // (mode 0600: it holds secrets), atomically, and records its digest.
  virtual Status write_seed(const std::string& path, const SeedFiles& files) = 0;
};

// `genisoimage`: the tool that builds the seed (found in PATH when bare).
std::unique_ptr<GuestDisks> real_guest_disks(std::string genisoimage = "genisoimage");

}  // namespace cf::host
