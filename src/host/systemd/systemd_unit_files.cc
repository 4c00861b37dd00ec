// unit_files_in(dir): host::UnitFiles on a directory of unit files
// (/etc/systemd/system, or a container's). Writes go through
// host/state/files.h (temp + fsync + rename), mode 0644; drop-ins live in
// <dir>/<unit>.d/<name>.conf, and removing the last one removes the
// directory. Names are validated first, so nothing outside dir is touched.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "core/fs.h"
#include "host/state/files.h"
#include "host/systemd/systemd.h"

namespace cf::host {
namespace {

constexpr mode_t kFileMode = 0644;
constexpr mode_t kDirMode = 0755;
// systemd's UNIT_NAME_MAX is 256 including the terminating NUL.
constexpr std::size_t kUnitNameMax = 255;
constexpr std::size_t kDropinNameMax = 200;
// Unit files are small; anything larger is not one of ours.
constexpr std::size_t kMaxFileBytes = 1 << 20;

constexpr std::array<std::string_view, 10> kSuffixes = {".service", ".socket",    ".timer", ".target", ".path",
                                                        ".mount",   ".automount", ".swap",  ".slice",  ".scope"};

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

Status check_unit_name(const std::string& unit) {
  const std::string bad = "invalid unit name \"" + unit + "\": ";
  if (unit.empty()) return Error{bad + "must not be empty"};
  if (unit.size() > kUnitNameMax) return Error{bad + "must be at most 255 characters"};
  if (unit.find('/') != std::string::npos) return Error{bad + "must not contain '/'"};
  if (unit.find("..") != std::string::npos) return Error{bad + "must not contain '..'"};
  for (char c : unit)
    if (!is_alnum(c) && !std::strchr(":-_.\\@", c))
      return Error{bad + "only letters, digits and \":-_.\\@\" are allowed"};
  for (std::string_view suffix : kSuffixes) {
    if (!ends_with(unit, suffix)) continue;
    const std::string_view prefix = std::string_view(unit).substr(0, unit.size() - suffix.size());
    if (prefix.empty() || prefix.front() == '@' || prefix.front() == '.')
      return Error{bad + "must start with a letter, digit, ':', '-', '_' or '\\'"};
    return {};
  }
  return Error{bad +
               "must end in .service, .socket, .timer, .target, .path, .mount, .automount, .swap, .slice or .scope"};
}

Status check_dropin_name(const std::string& unit, const std::string& name) {
  if (auto s = check_unit_name(unit); !s) return s;
  const std::string bad = "invalid drop-in name \"" + name + "\" for " + unit + ": ";
  if (name.empty()) return Error{bad + "must not be empty"};
  if (name.size() > kDropinNameMax) return Error{bad + "must be at most 200 characters"};
  if (name.find('/') != std::string::npos) return Error{bad + "must not contain '/'"};
  if (name.find("..") != std::string::npos) return Error{bad + "must not contain '..'"};
  if (name.front() == '.') return Error{bad + "must not start with '.'"};
  for (char c : name)
    if (!is_alnum(c) && !std::strchr("-_.@", c)) return Error{bad + "only letters, digits and \"-_.@\" are allowed"};
  return {};
}

// The whole file, or nullopt when it does not exist.
Result<std::optional<std::string>> read_optional(const std::string& path) {
  return read_file_if_exists(path, kMaxFileBytes);
}

class DirUnitFiles : public UnitFiles {
 public:
  explicit DirUnitFiles(std::string dir) : dir_(std::move(dir)) {}

  Result<std::optional<std::string>> read(const std::string& unit) override {
    if (auto s = check_unit_name(unit); !s) return s.error();
    return read_optional(unit_path(unit));
  }

  Status write(const std::string& unit, const std::string& content) override {
    if (auto s = check_unit_name(unit); !s) return s;
    return write_file_atomic(unit_path(unit), content, kFileMode);
  }

  Status remove(const std::string& unit) override {
    if (auto s = check_unit_name(unit); !s) return s;
    return remove_file(unit_path(unit));
  }

  Result<std::optional<std::string>> read_dropin(const std::string& unit, const std::string& name) override {
    if (auto s = check_dropin_name(unit, name); !s) return s.error();
    return read_optional(dropin_path(unit, name));
  }

  Status write_dropin(const std::string& unit, const std::string& name, const std::string& content) override {
    if (auto s = check_dropin_name(unit, name); !s) return s;
    if (auto s = ensure_own_dir(dropin_dir(unit), kDirMode); !s) return s;
    return write_file_atomic(dropin_path(unit, name), content, kFileMode);
  }

  Status remove_dropin(const std::string& unit, const std::string& name) override {
    if (auto s = check_dropin_name(unit, name); !s) return s;
    const std::string dir = dropin_dir(unit);
    struct stat st;
    if (::lstat(dir.c_str(), &st) != 0) {
      if (errno == ENOENT) return {};
      return Error{"cannot stat " + dir + ": " + std::strerror(errno)};
    }
    if (auto s = remove_file(dropin_path(unit, name)); !s) return s;
    // A writer killed mid-write (one writer at a time: the lock) left its
    // temp file here; it must not keep the directory alive.
    if (auto s = remove_stale_temp_files(dir); !s) return s;
    // The last drop-in takes its directory with it; a directory that still
    // holds anything (ours or not) stays.
    if (::rmdir(dir.c_str()) != 0 && errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT)
      return Error{"cannot remove directory " + dir + ": " + std::strerror(errno)};
    return {};
  }

 private:
  std::string unit_path(const std::string& unit) const { return dir_ + "/" + unit; }
  std::string dropin_dir(const std::string& unit) const { return dir_ + "/" + unit + ".d"; }
  std::string dropin_path(const std::string& unit, const std::string& name) const {
    return dropin_dir(unit) + "/" + name + ".conf";
  }

  std::string dir_;
};

}  // namespace

std::unique_ptr<UnitFiles> unit_files_in(const std::string& dir) {
  // A trailing slash would only double the separator in every path.
  std::string d = dir;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  return std::make_unique<DirUnitFiles>(std::move(d));
}

}  // namespace cf::host
