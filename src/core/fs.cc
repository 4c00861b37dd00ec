#include "core/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/sys.h"

namespace cf {
namespace {

// The whole of a regular file; nullopt when it does not exist and
// `missing_ok`. Opened non-blocking so that a FIFO put where a file belongs
// is refused instead of waited on for ever.
Result<std::optional<std::string>> read_whole(const std::string& path, std::size_t max_bytes, bool missing_ok) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) {
    if (missing_ok && errno == ENOENT) return std::optional<std::string>{};
    return sys_error("cannot open", path, errno);
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return sys_error("cannot stat", path, errno);
  if (!S_ISREG(st.st_mode)) return Error{path + ": not a regular file"};
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("cannot read", path, errno);
    }
    if (n == 0) break;
    if (out.size() + std::size_t(n) > max_bytes)
      return Error{path + ": file is larger than the limit of " + std::to_string(max_bytes) + " bytes"};
    out.append(buf, std::size_t(n));
  }
  return std::optional<std::string>{std::move(out)};
}

// DirEntry::type of a stat mode ("" for a regular file).
std::string file_type(mode_t mode) {
  if (S_ISREG(mode)) return "";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a regular file";
}

}  // namespace

Result<std::vector<DirEntry>> RealFileReader::list_dir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return sys_error("cannot open directory", dir, errno);
  std::vector<DirEntry> out;
  errno = 0;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    DirEntry entry;
    entry.name = std::move(name);
    struct stat st;
    entry.symlink = ::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
    // stat, not lstat: a symlinked manifest (common with GitOps checkouts) counts.
    if (::fstatat(::dirfd(d), e->d_name, &st, 0) != 0)
      entry.type = errno == ENOENT && entry.symlink
                       ? "a dangling symlink"
                       : std::string("a file that cannot be examined (") + std::strerror(errno) + ")";
    else
      entry.type = file_type(st.st_mode);
    entry.regular = entry.type.empty();
    out.push_back(std::move(entry));
    errno = 0;
  }
  int err = errno;
  ::closedir(d);
  if (err) return sys_error("cannot list directory", dir, err);
  return out;
}

Result<std::string> RealFileReader::read_file(const std::string& path, std::size_t max_bytes) {
  auto r = read_whole(path, max_bytes, false);
  if (!r) return r.error();
  return std::move(*r.value());
}

Result<std::string> RealFileReader::canonical(const std::string& path) {
  char* resolved = ::realpath(path.c_str(), nullptr);
  if (!resolved) return sys_error("cannot resolve", path, errno);
  std::string out = resolved;
  std::free(resolved);
  return out;
}

Result<FileStatus> RealFileReader::status(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return sys_error("cannot stat", path, errno);
  return FileStatus{st.st_uid, st.st_mode, static_cast<std::uint64_t>(st.st_size),
                    static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

std::string without_path(std::string message, const std::string& path) {
  if (message.starts_with(path + ": ")) message.erase(0, path.size() + 2);
  return message;
}

Result<std::optional<std::string>> read_file_if_exists(const std::string& path, std::size_t max_bytes) {
  return read_whole(path, max_bytes, true);
}

}  // namespace cf
