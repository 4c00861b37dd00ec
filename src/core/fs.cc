#include "core/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
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

}  // namespace

Result<std::vector<DirEntry>> RealFileReader::list_dir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return sys_error("cannot open directory", dir, errno);
  std::vector<DirEntry> out;
  errno = 0;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    struct stat st;
    // stat, not lstat: a symlinked manifest (common with GitOps checkouts) counts.
    bool regular = ::fstatat(::dirfd(d), e->d_name, &st, 0) == 0 && S_ISREG(st.st_mode);
    out.push_back({std::move(name), regular});
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

Result<std::optional<std::string>> read_file_if_exists(const std::string& path, std::size_t max_bytes) {
  return read_whole(path, max_bytes, true);
}

}  // namespace cf
