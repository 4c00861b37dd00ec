#include "host/state/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/sys.h"

namespace cf::host {
namespace {

constexpr const char* kTempMarker = ".cf-tmp.";

}  // namespace

std::string temp_path_for(const std::string& path) {
  return dir_of(path) + "/." + base_of(path) + kTempMarker + std::to_string(::getpid());
}

Status write_file_atomic(const std::string& path, const std::string& content, mode_t mode) {
  const std::string dir = dir_of(path);
  const std::string tmp = temp_path_for(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return sys_error("cannot create", tmp);
  auto fail = [&](const std::string& what) {
    Error e = sys_error(what, tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return e;
  };
  // O_CREAT honours the umask; the mode must be exact.
  if (::fchmod(fd, mode) != 0) return fail("cannot chmod");
  if (auto s = keep_group_of(fd, tmp, path); !s) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return s;
  }
  if (auto s = write_all(fd, content, tmp); !s) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return s;
  }
  if (::fsync(fd) != 0) return fail("cannot sync");
  if (::close(fd) != 0) {
    Error e = sys_error("cannot close", tmp);
    ::unlink(tmp.c_str());
    return e;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Error e = sys_error("cannot rename " + tmp + " to", path);
    ::unlink(tmp.c_str());
    return e;
  }
  return fsync_dir(dir);
}

Status keep_group_of(int fd, const std::string& tmp, const std::string& path) {
  struct stat old, now;
  if (::lstat(path.c_str(), &old) != 0) return errno == ENOENT ? Status{} : sys_error("cannot inspect", path);
  if (!S_ISREG(old.st_mode)) return {};
  if (::fstat(fd, &now) != 0) return sys_error("cannot inspect", tmp);
  if (now.st_gid != old.st_gid && ::fchown(fd, static_cast<uid_t>(-1), old.st_gid) != 0)
    return sys_error("cannot chown", tmp);
  return {};
}

Status remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return sys_error("cannot remove", path);
  return fsync_dir(dir_of(path));
}

namespace {

// Missing parents are created 0755 (shared paths such as /var/lib); the
// modes of existing ones are not touched.
Status make_parents(const std::string& dir) {
  struct stat st;
  if (dir.empty() || dir == "/" || ::stat(dir.c_str(), &st) == 0) return {};
  if (auto s = make_parents(dir_of(dir)); !s) return s;
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return sys_error("cannot create directory", dir);
  return {};
}

Status make_dir(const std::string& dir, mode_t mode, bool fix_existing) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Error{"not a directory: " + dir};
    if (fix_existing && (st.st_mode & 07777) != mode && ::chmod(dir.c_str(), mode) != 0)
      return sys_error("cannot chmod", dir);
    return {};
  }
  if (auto s = make_parents(dir_of(dir)); !s) return s;
  if (::mkdir(dir.c_str(), mode) != 0) {
    if (errno == EEXIST) return {};  // made meanwhile: not ours to chmod
    return sys_error("cannot create directory", dir);
  }
  // mkdir honours the umask; the mode must be exact.
  if (::chmod(dir.c_str(), mode) != 0) return sys_error("cannot chmod", dir);
  return fsync_dir(dir_of(dir));
}

}  // namespace

Status ensure_dir(const std::string& dir, mode_t mode) { return make_dir(dir, mode, false); }
Status ensure_own_dir(const std::string& dir, mode_t mode) { return make_dir(dir, mode, true); }

Status remove_stale_temp_files(const std::string& dir, const std::string& of) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return errno == ENOENT ? Status{} : sys_error("cannot open directory", dir);
  Status result;
  const std::string prefix = "." + of + kTempMarker;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    const bool ours = of.empty() ? name.size() > 1 && name[0] == '.' && name.find(kTempMarker) != std::string::npos
                                 : name.rfind(prefix, 0) == 0;
    if (ours)
      if (::unlinkat(::dirfd(d), e->d_name, 0) != 0 && errno != ENOENT)
        result = sys_error("cannot remove", dir + "/" + name);
  }
  ::closedir(d);
  return result;
}

}  // namespace cf::host
