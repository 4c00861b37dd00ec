#include "core/sys.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace cf {

Error sys_error(const std::string& what, const std::string& path, int err) {
  return Error{what + " " + path + ": " + std::strerror(err)};
}

std::string errno_text(int err) { return std::strerror(err); }

std::string dir_of(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

Status fsync_dir(const std::string& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return sys_error("cannot open directory", dir);
  if (::fsync(fd.get()) != 0) return sys_error("cannot sync directory", dir);
  return {};
}

Status write_all(int fd, const std::string& data, const std::string& path) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("cannot write", path);
    }
    done += std::size_t(n);
  }
  return {};
}

Result<std::vector<Extent>> data_extents(int fd, std::uint64_t size, const std::string& path) {
  std::vector<Extent> out;
  off_t pos = 0;
  while (static_cast<std::uint64_t>(pos) < size) {
    off_t data = ::lseek(fd, pos, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole is left
      return sys_error("cannot seek in", path);
    }
    if (static_cast<std::uint64_t>(data) >= size) break;
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) return sys_error("cannot seek in", path);
    const std::uint64_t end = std::min<std::uint64_t>(static_cast<std::uint64_t>(hole), size);
    out.push_back({static_cast<std::uint64_t>(data), end - static_cast<std::uint64_t>(data)});
    pos = static_cast<off_t>(end);
  }
  return out;
}

void Fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

}  // namespace cf
