// System-call helpers every adapter shares: an error that names what
// failed and where, an owned file descriptor, and path parts.
#pragma once

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace cf {

// "<what> <path>: <strerror(err)>", e.g. "cannot open /etc/x: Permission denied".
Error sys_error(const std::string& what, const std::string& path, int err = errno);
std::string errno_text(int err = errno);

// The directory part of `path`: "." for a bare name, "/" for "/x".
std::string dir_of(const std::string& path);
// What follows the last '/' (all of `path` when it has none).
std::string base_of(const std::string& path);

// fsync of a directory, after a file in it was created, renamed or removed.
Status fsync_dir(const std::string& dir);
// write(2) until all of `data` is written (EINTR retried); the error names `path`.
Status write_all(int fd, const std::string& data, const std::string& path);

// The data extents of the first `size` bytes of the file open at `fd`, in
// order (SEEK_DATA/SEEK_HOLE): what a sparse copy reads; a file system
// without holes gives one extent. The error names `path`.
struct Extent {
  std::uint64_t offset = 0, length = 0;
  bool operator==(const Extent&) const = default;
};
Result<std::vector<Extent>> data_extents(int fd, std::uint64_t size, const std::string& path);

// Closes its descriptor when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_;
};

}  // namespace cf
