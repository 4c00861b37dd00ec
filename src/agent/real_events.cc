// inotify + signalfd + eventfd behind EventSource.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "agent/real.h"
#include "core/sys.h"

namespace cf::agent {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

constexpr uint32_t kDirMask =
    IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;
constexpr uint32_t kParentMask = IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_ONLYDIR;

class Inotify : public EventSource {
 public:
  ~Inotify() override {
    for (int fd : {inotify_, signal_, wake_})
      if (fd >= 0) ::close(fd);
  }

  Status open(const std::vector<std::string>& dirs) {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGHUP, SIGTERM, SIGINT}) sigaddset(&set, sig);
    // Blocked so that they arrive only through the signalfd (in every
    // thread: the mask is inherited by threads started later).
    if (int e = ::pthread_sigmask(SIG_BLOCK, &set, nullptr); e != 0)
      return Error{std::string("cannot block SIGHUP, SIGTERM and SIGINT: ") + std::strerror(e)};
    signal_ = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_ < 0) return Error{"cannot create a signalfd: " + errno_text()};
    wake_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_ < 0) return Error{"cannot create an eventfd: " + errno_text()};
    inotify_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify_ < 0) return Error{"cannot create an inotify instance: " + errno_text()};
    for (std::string dir : dirs) {
      while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
      Watch w;
      w.dir = dir;
      w.parent = dir_of(dir);
      w.base = base_of(dir);
      w.parent_wd = ::inotify_add_watch(inotify_, w.parent.c_str(), kParentMask | IN_MASK_ADD);
      if (w.parent_wd < 0) return Error{"cannot watch " + w.parent + ": " + errno_text()};
      watches_.push_back(std::move(w));
      // A missing directory is not an error: its parent's watch notices it
      // appear, and the reconcile reports the manifests missing meanwhile.
      rewatch(watches_.back());
    }
    return {};
  }

  Result<std::vector<Event>> wait(std::chrono::milliseconds timeout) override {
    pollfd fds[3] = {{inotify_, POLLIN, 0}, {signal_, POLLIN, 0}, {wake_, POLLIN, 0}};
    int n = ::poll(fds, 3, int(std::min<long long>(timeout.count(), 1 << 30)));
    std::vector<Event> out;
    if (n < 0) {
      if (errno == EINTR) return out;
      return Error{"poll: " + errno_text()};
    }
    if (fds[2].revents & POLLIN) {
      uint64_t v;
      while (::read(wake_, &v, sizeof v) > 0) {}
    }
    if (fds[1].revents & POLLIN) {
      signalfd_siginfo si;
      while (::read(signal_, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGHUP)
          out.push_back({EventKind::Reload, "SIGHUP"});
        else
          out.push_back({EventKind::Stop, si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM"});
      }
    }
    if (fds[0].revents & POLLIN) read_inotify(out);
    return out;
  }

  void interrupt() override {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_, &one, sizeof one);
  }

 private:
  // One watched directory: its own watch, and its parent's (which sees the
  // directory replaced). Watches of one inode share a descriptor (two
  // directories with one parent, or one directory the parent of another),
  // so every watch adds to the mask (IN_MASK_ADD) instead of replacing it.
  struct Watch {
    std::string dir, parent, base;
    int parent_wd = -1, dir_wd = -1;
  };

  // (Re)watches the directory by its path: after a symlink swap or a
  // replacement the path names another inode, whose watch is a new one.
  void rewatch(Watch& w) {
    int wd = ::inotify_add_watch(inotify_, w.dir.c_str(), kDirMask | IN_MASK_ADD);
    if (w.dir_wd >= 0 && w.dir_wd != wd && !shared(w.dir_wd, w)) ::inotify_rm_watch(inotify_, w.dir_wd);
    w.dir_wd = wd;
  }
  // Whether another watched directory's parent is that descriptor too.
  bool shared(int wd, const Watch& self) const {
    for (const auto& w : watches_)
      if (&w != &self && (w.parent_wd == wd || w.dir_wd == wd)) return true;
    return false;
  }

  void read_inotify(std::vector<Event>& out) {
    alignas(inotify_event) char buf[16384];
    for (;;) {
      ssize_t len = ::read(inotify_, buf, sizeof buf);
      if (len <= 0) return;
      for (char* p = buf; p < buf + len;) {
        auto* ev = reinterpret_cast<inotify_event*>(p);
        p += sizeof(inotify_event) + ev->len;
        const std::string name = ev->len ? std::string(ev->name) : "";
        if (ev->mask & IN_Q_OVERFLOW) {
          for (auto& w : watches_) rewatch(w);
          out.push_back({EventKind::ManifestChanged, "(inotify queue overflow)"});
          continue;
        }
        for (auto& w : watches_) {
          if (ev->wd == w.parent_wd && name == w.base) {
            rewatch(w);
            out.push_back({EventKind::ManifestChanged, w.dir + " replaced"});
          } else if (ev->wd == w.dir_wd) {
            if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
              if (ev->mask & IN_IGNORED) w.dir_wd = -1;  // the kernel dropped it
              rewatch(w);
              out.push_back({EventKind::ManifestChanged, w.dir + " moved or deleted"});
            } else if (!ignored_name(name)) {
              out.push_back({EventKind::ManifestChanged, w.dir + "/" + name});
            }
          }
        }
      }
    }
  }

  std::vector<Watch> watches_;
  int inotify_ = -1, signal_ = -1, wake_ = -1;
};

}  // namespace

bool ignored_name(const std::string& name) {
  if (name.empty()) return false;
  if (name[0] == '.' || name[0] == '#' || name.back() == '~') return true;
  if (name == "4913") return true;  // vim probes whether it may write the directory
  for (const char* suffix : {".swp", ".swx", ".tmp", ".bak", ".orig", ".dpkg-new", ".dpkg-tmp"})
    if (ends_with(name, suffix)) return true;
  return false;
}

std::vector<std::string> manifest_directories(const std::string& dir, const std::vector<std::string>& files) {
  if (files.empty()) return {dir};
  std::vector<std::string> out;
  for (const auto& f : files) {
    std::string parent = dir_of(f);
    if (std::find(out.begin(), out.end(), parent) == out.end()) out.push_back(parent);
  }
  return out;
}

Result<std::unique_ptr<EventSource>> watch_manifests(const std::vector<std::string>& dirs) {
  auto source = std::make_unique<Inotify>();
  if (auto s = source->open(dirs); !s) return s.error();
  return std::unique_ptr<EventSource>(std::move(source));
}

}  // namespace cf::agent
