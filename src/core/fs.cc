#include "core/fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cf {
namespace {

Error errno_error(const std::string& what, const std::string& path, int err) {
  return Error{what + " " + path + ": " + std::strerror(err)};
}

}  // namespace

Result<std::vector<DirEntry>> RealFileReader::list_dir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return errno_error("cannot open directory", dir, errno);
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
  if (err) return errno_error("cannot list directory", dir, err);
  return out;
}

Result<std::string> RealFileReader::read_file(const std::string& path, std::size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return errno_error("cannot open", path, errno);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return errno_error("cannot read", path, err);
    }
    if (n == 0) break;
    if (out.size() + std::size_t(n) > max_bytes) {
      ::close(fd);
      return Error{path + ": file is larger than the limit of " + std::to_string(max_bytes) + " bytes"};
    }
    out.append(buf, std::size_t(n));
  }
  ::close(fd);
  return out;
}

}  // namespace cf
