// Backups (host/backup/archive.h) that record every call as a line and
// fail the calls a test names; read_archive hands out `contents`.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "host/backup/archive.h"

namespace cf::testing {

class FakeBackups : public host::Backups {
 public:
  Status snapshot(const std::string& path, const std::string& dest) override {
    return record("snapshot " + path + " " + dest);
  }
  Status write_archive(const std::string& out, const std::string& about,
                       const std::vector<host::ArchiveFile>& files) override {
    std::string call = "write_archive " + out;
    for (const auto& f : files) call += " " + f.name + "=" + f.path + (f.sparse ? " (sparse)" : "");
    abouts.push_back(about);
    return record(call);
  }
  Result<host::ArchiveContents> read_archive(const std::string& archive, const std::string& into,
                                             const host::ArchiveLimits& limits) override {
    if (auto s = record("read_archive " + archive + " " + into); !s) return s.error();
    last_limits = limits;
    return contents;
  }
  Result<std::uint64_t> free_bytes(const std::string& dir) override {
    if (auto s = record("free_bytes " + dir); !s) return s.error();
    return free;
  }
  Status install(const std::string& from, const std::string& to) override {
    return record("install " + from + " " + to);
  }
  Status replace(const std::string& from, const std::string& to) override {
    return record("replace " + from + " " + to);
  }
  Status discard(const std::string& path) override { return record("discard " + path); }

  std::vector<std::string> calls;
  std::map<std::string, std::string> failures;  // call -> message
  std::vector<std::string> abouts;              // what write_archive was given
  host::ArchiveContents contents;               // what read_archive gives
  host::ArchiveLimits last_limits;              // what read_archive was given
  std::uint64_t free = 1ull << 40;

 private:
  Status record(const std::string& call) {
    calls.push_back(call);
    if (auto it = failures.find(call); it != failures.end()) return Error{it->second};
    return {};
  }
};

}  // namespace cf::testing
