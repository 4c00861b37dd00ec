// A stand-in for Firecracker's jailer, for the real-systemd test of the VM
// unit's jailer variant (the jailer is not installable here). It makes the
// same system calls in the same order as the jailer's source at the commit
// of shared/reference/firecracker (src/jailer/src/env.rs, chroot.rs), so
// the unit must allow what the jailer needs: copy the VMM into
// <base>/<file>/<id>/root, NOFILE 2048, a mount namespace, pivot_root, the
// jail's directories and device nodes given to --uid/--gid, a pid file, and
// the VMM exec'ed as that user with --id and the arguments after "--". It
// refuses what clawfleet must not pass: --cgroup, --cgroup-version other
// than 1, --daemonize, --new-pid-ns, --netns.
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "stand-in jailer: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}
[[noreturn]] void refuse(const std::string& what) {
  std::fprintf(stderr, "stand-in jailer: %s\n", what.c_str());
  std::exit(1);
}

void mkdirs(const std::string& path) {
  std::string at;
  std::stringstream parts(path);
  for (std::string p; std::getline(parts, p, '/');) {
    if (p.empty()) continue;
    at += "/" + p;
    if (::mkdir(at.c_str(), 0755) != 0 && errno != EEXIST) die("create directory " + at);
  }
}

void node(const char* path, unsigned major, unsigned minor, uid_t uid, gid_t gid, bool fatal) {
  if (::mknod(path, S_IFCHR | S_IRUSR | S_IWUSR, makedev(major, minor)) != 0 || ::chown(path, uid, gid) != 0) {
    if (fatal) die(std::string("mknod ") + path);
    std::printf("Warning! Could not create %s inside jailer: %s.\n", path, std::strerror(errno));
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string id, exec_file, base = "/srv/jailer", cgroup_version = "1";
  long uid = -1, gid = -1;
  std::vector<std::string> extra;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--") {
      extra.assign(argv + i + 1, argv + argc);
      break;
    }
    if (i + 1 >= argc) refuse("unsupported or incomplete argument " + a);
    const std::string v = argv[++i];
    if (a == "--id")
      id = v;
    else if (a == "--exec-file")
      exec_file = v;
    else if (a == "--uid")
      uid = std::stol(v);
    else if (a == "--gid")
      gid = std::stol(v);
    else if (a == "--chroot-base-dir")
      base = v;
    else if (a == "--cgroup-version")
      cgroup_version = v;
    else
      refuse("unsupported argument " + a);
  }
  if (id.empty() || id.size() > 64) refuse("invalid --id");
  for (char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') refuse("invalid --id " + id);
  if (exec_file.empty() || uid < 0 || gid < 0) refuse("--exec-file, --uid and --gid are required");
  if (cgroup_version != "1") refuse("--cgroup-version " + cgroup_version + ": it would move the VMM's cgroup");

  char real[PATH_MAX];
  if (!::realpath(exec_file.c_str(), real)) die("canonicalize " + exec_file);
  struct stat st;
  if (::stat(real, &st) != 0 || !S_ISREG(st.st_mode)) refuse(std::string(real) + " is not a file");
  const std::string exec_name = std::strrchr(real, '/') + 1;
  char base_real[PATH_MAX];
  if (!::realpath(base.c_str(), base_real)) die("canonicalize " + base);
  const std::string chroot_dir = std::string(base_real) + "/" + exec_name + "/" + id + "/root";

  // /dev/userfaultfd is made in the jail where the host has one: its minor
  // from /proc/misc, read before the jail hides it.
  int uffd_minor = -1;
  std::ifstream misc("/proc/misc");
  for (std::string line; std::getline(misc, line);) {
    std::istringstream fields(line);
    int minor;
    std::string name;
    if (fields >> minor >> name && name == "userfaultfd") uffd_minor = minor;
  }
  misc.close();

  // Every descriptor but stdio, and the environment.
  for (int fd = 3; fd < 1024; ++fd) ::close(fd);
  ::clearenv();
  mkdirs(chroot_dir);

  // The VMM copied in, never through a link, owned by the user.
  const int src = ::open(real, O_RDONLY | O_CLOEXEC);
  if (src < 0) die(std::string("open ") + real);
  const std::string dst_path = chroot_dir + "/" + exec_name;
  const int dst = ::open(dst_path.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, st.st_mode & 07777);
  if (dst < 0) die("open " + dst_path);
  struct stat dst_st;
  if (::fstat(dst, &dst_st) != 0) die("stat " + dst_path);
  if (dst_st.st_nlink > 1) refuse(dst_path + " is a hard link");
  if (::fchown(dst, uid, gid) != 0) die("chown " + dst_path);
  char buf[65536];
  for (ssize_t n; (n = ::read(src, buf, sizeof buf)) > 0;)
    if (::write(dst, buf, n) != n) die("copy to " + dst_path);
  ::close(src);
  ::close(dst);

  const rlimit nofile{2048, 2048};
  if (::setrlimit(RLIMIT_NOFILE, &nofile) != 0) die("setrlimit NOFILE");

  // chroot.rs: a mount namespace of its own, the jail its root.
  if (::unshare(CLONE_NEWNS) != 0) die("unshare(CLONE_NEWNS)");
  if (::mount(nullptr, "/", nullptr, MS_SLAVE | MS_REC, nullptr) != 0) die("mount / slave");
  if (::mount(chroot_dir.c_str(), chroot_dir.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
    die("bind mount " + chroot_dir);
  if (::chdir(chroot_dir.c_str()) != 0) die("chdir " + chroot_dir);
  if (::mkdir("old_root", S_IRUSR | S_IWUSR) != 0) die("mkdir old_root");
  if (::syscall(SYS_pivot_root, ".", "old_root") != 0) die("pivot_root");
  if (::chdir("/") != 0) die("chdir /");
  if (::umount2("old_root", MNT_DETACH) != 0) die("umount old_root");
  if (::rmdir("old_root") != 0) die("rmdir old_root");

  for (const char* d : {"/", "/dev", "/dev/net", "/run"}) {
    if (::mkdir(d, 0700) != 0 && errno != EEXIST) die(std::string("mkdir ") + d);
    if (::chmod(d, 0700) != 0 || ::chown(d, uid, gid) != 0) die(std::string("own ") + d);
  }
  node("/dev/net/tun", 10, 200, uid, gid, true);
  node("/dev/kvm", 10, 232, uid, gid, true);
  node("/dev/urandom", 1, 9, uid, gid, false);
  if (uffd_minor >= 0) node("/dev/userfaultfd", 10, uffd_minor, uid, gid, true);

  const std::string pid_file = "/" + exec_name + ".pid";
  const int pf = ::open(pid_file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (pf < 0) die("create " + pid_file);
  const std::string pid = std::to_string(::getpid());
  if (::write(pf, pid.data(), pid.size()) != static_cast<ssize_t>(pid.size())) die("write " + pid_file);
  ::close(pf);

  std::vector<std::string> args = {
      "/" + exec_name, "--id", id, "--start-time-us", "0", "--start-time-cpu-us", "0", "--parent-cpu-time-us", "0"};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> c_args;
  for (auto& a : args) c_args.push_back(a.data());
  c_args.push_back(nullptr);
  if (::setgid(gid) != 0) die("setgid");
  if (::setgroups(0, nullptr) != 0) die("setgroups");
  if (::setuid(uid) != 0) die("setuid");
  ::execv(c_args[0], c_args.data());
  die("exec " + args[0]);
}
