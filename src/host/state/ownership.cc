#include "host/state/ownership.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "core/sys.h"
#include "core/text.h"
#include "model/instance_dir.h"

namespace cf::host {
namespace {

// Gains the search bits a VMM needs to pass; an existing mode is otherwise
// kept (the state root may be the operator's).
Status passable(const std::string& dir) {
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) return sys_error("cannot inspect", dir);
  if (!S_ISDIR(st.st_mode)) return Error{dir + " is not a directory"};
  const mode_t mode = st.st_mode & 07777;
  if ((mode & 011) != 011 && ::chmod(dir.c_str(), mode | 011) != 0) return sys_error("cannot chmod", dir);
  return {};
}

// Owner, group and mode of `name` in the directory `fd`, as given; the
// link itself when it is one (its mode is left: links have none).
Status set(int fd, const std::string& dir, const char* name, uid_t uid, gid_t gid, mode_t mode) {
  struct stat st;
  const std::string path = dir + "/" + name;
  if (::fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return {};  // removed meanwhile (a temp file)
    return sys_error("cannot inspect", path);
  }
  if ((st.st_uid != uid || st.st_gid != gid) && ::fchownat(fd, name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
    return sys_error("cannot chown", path);
  if (!S_ISLNK(st.st_mode) && (st.st_mode & 07777) != mode && ::fchmodat(fd, name, mode, 0) != 0)
    return sys_error("cannot chmod", path);
  return {};
}

// Applies `each` to every entry of dir but . and ..
template <class F>
Status for_entries(const std::string& dir, F&& each) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return sys_error("cannot open directory", dir);
  DIR* d = ::fdopendir(fd);
  if (!d) {
    Error e = sys_error("cannot open directory", dir);
    ::close(fd);
    return e;
  }
  Status result;
  errno = 0;
  while (dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    if (auto s = each(::dirfd(d), e->d_name); !s) {
      result = s;
      break;
    }
    errno = 0;
  }
  if (result && errno != 0) result = sys_error("cannot list", dir);
  ::closedir(d);
  return result;
}

}  // namespace

Status own_instance_dir(const std::string& state_root, const std::string& name, std::uint32_t uid) {
  if (!is_dns_label(name)) return Error{"not an instance name: \"" + name + "\""};
  const std::string instances = state_root + "/instances";
  const std::string dir = instances + "/" + name;
  const std::string vm = dir + "/vm";
  for (const auto& d : {state_root, instances})
    if (auto s = passable(d); !s) return s;

  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) return sys_error("cannot inspect", dir);
  if (!S_ISDIR(st.st_mode)) return Error{dir + " is not a directory"};
  if ((st.st_uid != 0 || st.st_gid != uid) && ::lchown(dir.c_str(), 0, uid) != 0) return sys_error("cannot chown", dir);
  if ((st.st_mode & 07777) != model::kInstanceDirMode && ::chmod(dir.c_str(), model::kInstanceDirMode) != 0)
    return sys_error("cannot chmod", dir);

  if (::mkdir(vm.c_str(), model::kVmmDirMode) != 0 && errno != EEXIST) return sys_error("cannot create directory", vm);
  if (::lstat(vm.c_str(), &st) != 0) return sys_error("cannot inspect", vm);
  if (!S_ISDIR(st.st_mode)) return Error{vm + " is not a directory"};

  auto files = for_entries(dir, [&](int fd, const char* n) -> Status {
    struct stat f;
    if (::fstatat(fd, n, &f, AT_SYMLINK_NOFOLLOW) != 0)
      return errno == ENOENT ? Status{} : sys_error("cannot inspect", dir + "/" + n);
    if (std::string(n) == "vm") return set(fd, dir, n, uid, uid, model::kVmmDirMode);
    if (!S_ISREG(f.st_mode)) return {};
    return set(fd, dir, n, 0, uid, model::instance_file_mode(n));
  });
  if (!files) return files;
  // The VMM's own files (its sockets, console log): a user that changed
  // with the guest's address takes them over; their modes are its own.
  return for_entries(vm, [&](int fd, const char* n) -> Status {
    struct stat f;
    if (::fstatat(fd, n, &f, AT_SYMLINK_NOFOLLOW) != 0)
      return errno == ENOENT ? Status{} : sys_error("cannot inspect", vm + "/" + n);
    if ((f.st_uid != uid || f.st_gid != uid) && ::fchownat(fd, n, uid, uid, AT_SYMLINK_NOFOLLOW) != 0)
      return sys_error("cannot chown", vm + "/" + n);
    return {};
  });
}

}  // namespace cf::host
