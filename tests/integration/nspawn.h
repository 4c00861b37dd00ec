// A real systemd for integration tests: Debian 12 booted with
// systemd-nspawn, reached over its own D-Bus system bus
// (shared/notes/real-systemd.md is the recipe this follows).
//
//   if (auto why = nspawn::unavailable()) GTEST_SKIP() << *why;
//   auto c = nspawn::Container::boot();       // ≈0.5 s with a warm cache
//   connect_systemd(c.value()->bus_address());
//   // unit files: c.value()->root() + "/etc/systemd/system"
//
// Root file system: tests/integration/nspawn-rootfs.sh debootstraps it once
// into <cache>/rootfs-<hash>.tar.zst, <hash> being the SHA-256 of the script
// (so editing the recipe rebuilds), <cache> being $CLAWFLEET_TEST_CACHE or
// /var/cache/clawfleet-tests (outside the repository). It is unpacked once
// into <cache>/rootfs-<hash>/, the read-only lower layer of every container.
//
// Each Container gets /tmp/cf-nspawn-XXXXXX/{upper,work,root,dbus}: an
// overlay mounted on root (so every boot starts clean), and its own cgroup
// clawfleet-tests/<machine> in each mounted hierarchy (name=systemd and/or
// cgroup2), into which the forked child moves itself before exec'ing
// systemd-nspawn. The container's /run/dbus is dbus/, so its bus is
// unix:path=<dir>/dbus/system_bus_socket.
//
// Teardown (the destructor, so also when a test fails): SIGTERM to the
// nspawn PID this object started, and nothing else (a clean poweroff, ≈1.5 s;
// SIGKILL after 20 s), unmount, remove the cgroups depth-first, remove the
// directory. A crashed test binary leaves its container behind.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/result.h"
#include "core/sha256.h"

namespace cf::testing::nspawn {

// A drop-in that replaces the clawfleet commands of the shipped VM unit with
// a process every container has, so the unit's lifecycle runs for real
// without the clawfleet binary.
inline constexpr const char* kVmStub =
    "[Service]\n"
    "ExecStartPre=\n"
    "ExecStart=\n"
    "ExecStart=/bin/sleep infinity\n"
    "ExecStop=\n";

namespace detail {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

inline std::string find_tool(const std::string& tool) {
  const char* env = std::getenv("PATH");
  std::string path = std::string(env ? env : "") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  std::stringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + tool;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// Runs a shell command; output is stdout and stderr together.
inline int run(const std::string& command, std::string* output = nullptr) {
  FILE* f = ::popen((command + " 2>&1").c_str(), "r");
  if (!f) return -1;
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int status = ::pclose(f);
  if (output) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::string tail(const std::string& text, std::size_t lines) {
  std::size_t pos = text.size();
  while (lines-- > 0 && pos > 0) {
    pos = text.rfind('\n', pos - 1);
    if (pos == std::string::npos) return text;
  }
  return text.substr(pos == 0 ? 0 : pos + 1);
}

inline std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

inline std::string cache_dir() {
  const char* env = std::getenv("CLAWFLEET_TEST_CACHE");
  return env && *env ? env : "/var/cache/clawfleet-tests";
}

inline std::string recipe() { return std::string(CLAWFLEET_SOURCE_DIR) + "/tests/integration/nspawn-rootfs.sh"; }

// <cache>/rootfs-<first 16 hex digits of the recipe's SHA-256>
inline std::string rootfs_stem() { return cache_dir() + "/rootfs-" + sha256_hex(read_all(recipe())).substr(0, 16); }

// The cgroup hierarchies a container needs a cgroup of its own in.
inline std::vector<std::string> cgroup_hierarchies() {
  std::vector<std::string> out;
  constexpr long kCgroup2Magic = 0x63677270;
  constexpr long kCgroup1Magic = 0x27e0eb;
  struct statfs st;
  if (::statfs("/sys/fs/cgroup", &st) == 0 && long(st.f_type) == kCgroup2Magic) return {"/sys/fs/cgroup"};
  if (::statfs("/sys/fs/cgroup/systemd", &st) == 0 && long(st.f_type) == kCgroup1Magic)
    out.push_back("/sys/fs/cgroup/systemd");
  if (::statfs("/sys/fs/cgroup/unified", &st) == 0 && long(st.f_type) == kCgroup2Magic)
    out.push_back("/sys/fs/cgroup/unified");
  return out;
}

// rmdir a cgroup and its children depth-first (cgroup directories hold only
// kernel files, which go with rmdir).
inline bool remove_cgroup(const std::string& dir) {
  if (DIR* d = ::opendir(dir.c_str())) {
    std::vector<std::string> subdirs;
    while (dirent* e = ::readdir(d))
      if (e->d_type == DT_DIR && std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
        subdirs.push_back(dir + "/" + e->d_name);
    ::closedir(d);
    for (const auto& s : subdirs) remove_cgroup(s);
  }
  return ::rmdir(dir.c_str()) == 0 || errno == ENOENT;
}

class FileLock {
 public:
  explicit FileLock(const std::string& path) : fd_(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_;
};

}  // namespace detail

// Why a real-systemd test cannot run here, or nullopt when it can.
inline std::optional<std::string> unavailable() {
  using detail::find_tool;
  const char* skip = std::getenv("CLAWFLEET_SKIP_NSPAWN");
  if (skip && std::string(skip) == "1") return "CLAWFLEET_SKIP_NSPAWN=1";
  if (::geteuid() != 0) return "needs root (mounts an overlay, creates cgroups, runs systemd-nspawn)";
  if (find_tool("systemd-nspawn").empty())
    return "systemd-nspawn is missing (apt-get install --no-install-recommends systemd-container)";
  for (const char* tool : {"nsenter", "zstd", "tar"})
    if (find_tool(tool).empty()) return std::string(tool) + " is missing";
  if (find_tool("debootstrap").empty() && !std::filesystem::exists(detail::rootfs_stem() + ".tar.zst"))
    return "debootstrap is missing (apt-get install debootstrap) and no rootfs is cached";
  if (detail::cgroup_hierarchies().empty())
    return "neither a name=systemd cgroup hierarchy nor a cgroup2 is mounted under /sys/fs/cgroup";
  return std::nullopt;
}

// The unpacked root file system, built and unpacked on first use.
inline Result<std::string> lower_dir() {
  namespace fs = std::filesystem;
  const std::string stem = detail::rootfs_stem();
  const std::string archive = stem + ".tar.zst";
  std::error_code ec;
  fs::create_directories(detail::cache_dir(), ec);
  if (ec) return Error{"cannot create " + detail::cache_dir() + ": " + ec.message()};
  detail::FileLock lock(stem + ".unpack.lock");
  if (fs::is_directory(stem)) return stem;

  if (!fs::exists(archive)) {
    std::string out;
    if (detail::run("/bin/sh " + detail::recipe() + " " + archive, &out) != 0)
      return Error{"cannot build " + archive + " with " + detail::recipe() + ":\n" + detail::tail(out, 30)};
  }
  // Unpack next to the final name, then rename: the directory is complete
  // whenever it exists.
  const std::string tmp = stem + ".unpacking." + std::to_string(::getpid());
  fs::remove_all(tmp, ec);
  fs::create_directory(tmp, ec);
  if (ec) return Error{"cannot create " + tmp + ": " + ec.message()};
  std::string out;
  if (detail::run("zstd -dc " + archive + " | tar --numeric-owner --xattrs --acls -C " + tmp + " -xf -", &out) != 0) {
    fs::remove_all(tmp, ec);
    return Error{"cannot unpack " + archive + ":\n" + detail::tail(out, 10)};
  }
  if (::rename(tmp.c_str(), stem.c_str()) != 0) {
    std::string why = std::strerror(errno);
    fs::remove_all(tmp, ec);
    return Error{"cannot rename " + tmp + " to " + stem + ": " + why};
  }
  return stem;
}

class Container {
 public:
  // Boots a fresh container and waits until its systemd reports running
  // (or degraded). On failure everything set up so far is torn down.
  // `extra`: more systemd-nspawn options (--bind-ro=...).
  static Result<std::unique_ptr<Container>> boot(const std::vector<std::string>& extra = {}) {
    auto lower = lower_dir();
    if (!lower) return lower.error();
    std::unique_ptr<Container> c(new Container());
    if (auto s = c->start(lower.value(), extra); !s) return s.error();
    return c;
  }

  ~Container() { shutdown(); }
  Container(const Container&) = delete;
  Container& operator=(const Container&) = delete;

  const std::string& dir() const { return dir_; }
  std::string root() const { return dir_ + "/root"; }  // the container's "/", writable
  std::string bus_address() const { return "unix:path=" + dir_ + "/dbus/system_bus_socket"; }
  const std::string& machine() const { return machine_; }
  pid_t nspawn_pid() const { return nspawn_; }
  pid_t leader() const { return leader_; }                            // the container's PID 1, as seen from the host
  std::chrono::milliseconds boot_time() const { return boot_time_; }  // fork to "running"
  std::string console() const { return detail::read_all(dir_ + "/console.log"); }

  // Runs a shell command inside the container (all its namespaces).
  // Copies a host-built binary to `path` in the container, with every
  // shared library it needs that the container lacks (a sanitizer runtime).
  Status install(const std::string& binary, const std::string& path) const {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(fs::path(root() + path).parent_path(), ec);
    fs::copy_file(binary, root() + path, fs::copy_options::overwrite_existing, ec);
    if (ec) return Error{"cannot copy " + binary + " into the container: " + ec.message()};
    fs::permissions(root() + path, fs::perms(0755), ec);
    std::string libs;
    if (detail::run("ldd " + binary, &libs) != 0) return Error{"ldd " + binary + ": " + libs};
    std::istringstream lines(libs);
    for (std::string line; std::getline(lines, line);) {
      auto arrow = line.find("=> /");
      if (arrow == std::string::npos) continue;
      std::string lib = line.substr(arrow + 3, line.find(' ', arrow + 3) - arrow - 3);
      if (fs::exists(root() + lib)) continue;
      fs::create_directories(fs::path(root() + lib).parent_path(), ec);
      fs::copy_file(lib, root() + lib, ec);
      if (ec) return Error{"cannot copy " + lib + " into the container: " + ec.message()};
    }
    return {};
  }

  // A host reboot, as far as the container goes: its systemd powers off
  // and boots again on the same root (what was written to disk stays), in
  // a fresh network namespace (every link, address, neighbour entry and
  // nftables table is gone) with a fresh /run.
  Status reboot() {
    stop_nspawn();
    leader_ = -1;
    return launch();
  }

  int exec(const std::string& command, std::string* output = nullptr) const {
    std::string quoted = "'";
    for (char ch : command) quoted += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
    quoted += "'";
    return detail::run("nsenter -t " + std::to_string(leader_) + " -a /bin/sh -c " + quoted, output);
  }

 private:
  Container() = default;

  Status start(const std::string& lower, const std::vector<std::string>& extra) {
    namespace fs = std::filesystem;
    char tmpl[] = "/tmp/cf-nspawn-XXXXXX";
    if (!::mkdtemp(tmpl)) return Error{std::string("cannot create /tmp/cf-nspawn-XXXXXX: ") + std::strerror(errno)};
    dir_ = tmpl;
    machine_ = "cf-" + dir_.substr(dir_.rfind('-') + 1);
    for (const char* sub : {"upper", "work", "root", "dbus"})
      if (::mkdir((dir_ + "/" + sub).c_str(), 0755) != 0)
        return Error{"cannot create " + dir_ + "/" + sub + ": " + std::strerror(errno)};

    const std::string options = "lowerdir=" + lower + ",upperdir=" + dir_ + "/upper,workdir=" + dir_ + "/work";
    if (::mount("overlay", root().c_str(), "overlay", 0, options.c_str()) != 0)
      return Error{"cannot mount an overlay on " + root() + ": " + std::strerror(errno)};
    mounted_ = true;

    for (const auto& h : detail::cgroup_hierarchies()) {
      const std::string cg = h + "/clawfleet-tests/" + machine_;
      std::error_code ec;
      fs::create_directories(cg, ec);
      if (ec) return Error{"cannot create cgroup " + cg + ": " + ec.message()};
      cgroups_.push_back(cg);
    }
    extra_ = extra;
    return launch();
  }

  // Starts systemd-nspawn on root() in the cgroups made by start(), and
  // waits for the container's systemd to be up.
  Status launch() {
    std::vector<std::string> procs;
    for (const auto& cg : cgroups_) procs.push_back(cg + "/cgroup.procs");

    // nspawn copies the host's /dev/net/tun with its mode, 0600 on a host
    // without udev (this one); Debian's udev makes it 0666, which the VMMs,
    // running as their own users, rely on. Applied at every boot.
    {
      std::error_code ec;
      std::filesystem::create_directories(root() + "/etc/tmpfiles.d", ec);
      std::ofstream(root() + "/etc/tmpfiles.d/clawfleet-test-tun.conf") << "z /dev/net/tun 0666 - - -\n";
    }
    const std::string nspawn = detail::find_tool("systemd-nspawn");
    std::vector<std::string> args = {nspawn,
                                     "-D",
                                     root(),
                                     "--boot",
                                     "--register=no",
                                     "--keep-unit",
                                     "--private-network",
                                     "--machine=" + machine_,
                                     "--bind=" + dir_ + "/dbus:/run/dbus"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int log = ::open((dir_ + "/console.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log < 0 || null < 0) {
      if (log >= 0) ::close(log);
      if (null >= 0) ::close(null);
      return Error{"cannot open " + dir_ + "/console.log or /dev/null"};
    }

    const auto t0 = detail::Clock::now();
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid == 0) {
      // Only async-signal-safe calls from here to exec. If the test process
      // dies without running the destructor (a crash, a ctest timeout),
      // nspawn gets SIGTERM and powers the container off.
      if (::prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || ::getppid() != parent) ::_exit(125);
      char buf[16];
      int n = 0;
      for (pid_t p = ::getpid(); p > 0 && n < 15; p /= 10) buf[n++] = char('0' + p % 10);
      for (int i = 0; i < n / 2; ++i) std::swap(buf[i], buf[n - 1 - i]);
      for (const auto& path : procs) {
        int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0 || ::write(fd, buf, std::size_t(n)) != n) ::_exit(126);
        ::close(fd);
      }
      ::dup2(null, 0);
      ::dup2(log, 1);
      ::dup2(log, 2);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(log);
    ::close(null);
    if (pid < 0) return Error{std::string("cannot fork: ") + std::strerror(errno)};
    nspawn_ = pid;

    const auto give_up = t0 + std::chrono::seconds(30);
    std::string state;
    while (detail::Clock::now() < give_up) {
      int status;
      if (::waitpid(nspawn_, &status, WNOHANG) == nspawn_) {
        nspawn_ = -1;
        return Error{"systemd-nspawn exited before the container was up:\n" + detail::tail(console(), 20)};
      }
      if (leader_ <= 0) leader_ = find_leader();
      if (leader_ > 0) {
        exec("systemctl is-system-running", &state);
        state = detail::trim(state);
        if (state == "running" || state == "degraded") {
          boot_time_ = std::chrono::duration_cast<std::chrono::milliseconds>(detail::Clock::now() - t0);
          return {};
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return Error{"the container's systemd did not reach running within 30 s (state \"" + state + "\"):\n" +
                 detail::tail(console(), 20)};
  }

  // nspawn's child named "systemd": the container's PID 1.
  pid_t find_leader() const {
    DIR* d = ::opendir("/proc");
    if (!d) return -1;
    pid_t found = -1;
    while (dirent* e = ::readdir(d)) {
      char* end;
      long pid = std::strtol(e->d_name, &end, 10);
      if (*end != '\0' || pid <= 0) continue;
      std::string stat = detail::read_all("/proc/" + std::string(e->d_name) + "/stat");
      // pid (comm) state ppid ...
      auto close_paren = stat.rfind(')');
      if (close_paren == std::string::npos) continue;
      std::string comm = stat.substr(stat.find('(') + 1, close_paren - stat.find('(') - 1);
      long ppid = std::strtol(stat.c_str() + close_paren + 4, nullptr, 10);
      if (ppid == nspawn_ && comm == "systemd") {
        found = pid_t(pid);
        break;
      }
    }
    ::closedir(d);
    return found;
  }

  // SIGTERM to the nspawn this object started (a clean poweroff), SIGKILL
  // after 20 s.
  void stop_nspawn() {
    if (nspawn_ > 0) {
      ::kill(nspawn_, SIGTERM);  // nspawn powers the container off cleanly
      const auto give_up = detail::Clock::now() + std::chrono::seconds(20);
      int status;
      while (::waitpid(nspawn_, &status, WNOHANG) == 0) {
        if (detail::Clock::now() > give_up) {
          ::kill(nspawn_, SIGKILL);
          ::waitpid(nspawn_, &status, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      nspawn_ = -1;
    }
  }

  void shutdown() {
    namespace fs = std::filesystem;
    stop_nspawn();
    if (mounted_) {
      for (int i = 0; i < 100 && ::umount2(root().c_str(), 0) != 0 && errno == EBUSY; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      // Still mounted after 2 s: detach it rather than leave it behind.
      struct stat a, b;
      if (::stat(root().c_str(), &a) == 0 && ::stat(dir_.c_str(), &b) == 0 && a.st_dev != b.st_dev)
        ::umount2(root().c_str(), MNT_DETACH);
      mounted_ = ::stat(root().c_str(), &a) == 0 && ::stat(dir_.c_str(), &b) == 0 && a.st_dev != b.st_dev;
    }
    for (const auto& cg : cgroups_) {
      for (int i = 0; i < 100 && !detail::remove_cgroup(cg); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      ::rmdir(fs::path(cg).parent_path().c_str());  // clawfleet-tests/, when no other container uses it
    }
    cgroups_.clear();
    // Never recurse into a mounted overlay.
    if (!dir_.empty() && !mounted_) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
      dir_.clear();
    }
  }

  std::string dir_;
  std::string machine_;
  bool mounted_ = false;
  std::vector<std::string> cgroups_;
  std::vector<std::string> extra_;
  pid_t nspawn_ = -1;
  pid_t leader_ = -1;
  std::chrono::milliseconds boot_time_{0};
};

}  // namespace cf::testing::nspawn
