#include "host/vmm/console.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "core/sys.h"

namespace cf::host {
namespace {

// The capped log: appends to `log` until it holds `cap` bytes, then
// renames it over `previous` and starts an empty one.
class CappedLog {
 public:
  CappedLog(const ConsolePaths& paths, std::uint64_t cap) : paths_(paths), cap_(std::max<std::uint64_t>(cap, 1)) {}

  Status open() {
    fd_.reset(::open(paths_.log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600));
    if (fd_.get() < 0) return sys_error("cannot open", paths_.log);
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0) return sys_error("cannot stat", paths_.log);
    if (!S_ISREG(st.st_mode)) return Error{paths_.log + " is not a regular file"};
    size_ = static_cast<std::uint64_t>(st.st_size);
    // A log from before (a restarted VM) is continued; one over the cap
    // (written by something else) is cut to it, so the bound holds.
    if (size_ > cap_) {
      if (::ftruncate(fd_.get(), static_cast<off_t>(cap_)) != 0) return sys_error("cannot truncate", paths_.log);
      size_ = cap_;
    }
    return {};
  }

  Status write(const char* p, std::size_t n) {
    while (n > 0) {
      if (size_ >= cap_)
        if (auto s = rotate(); !s) return s;
      const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n, cap_ - size_));
      if (auto s = write_all(fd_.get(), std::string(p, k), paths_.log); !s) return s;
      size_ += k;
      p += k;
      n -= k;
    }
    return {};
  }

 private:
  Status rotate() {
    if (::rename(paths_.log.c_str(), paths_.previous.c_str()) != 0) return sys_error("cannot rename", paths_.log);
    fd_.reset(::open(paths_.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                     0600));
    if (fd_.get() < 0) return sys_error("cannot open", paths_.log);
    size_ = 0;
    return {};
  }

  ConsolePaths paths_;
  std::uint64_t cap_;
  std::uint64_t size_ = 0;
  Fd fd_;
};

// The attach socket, 0600, replacing a stale one left by a keeper that
// died; `bound` gets its inode, so that only this one is removed at the end.
Result<int> listen_on(const std::string& path, struct stat& bound) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path))
    return Error{"cannot listen on " + path + ": longer than " + std::to_string(sizeof(addr.sun_path) - 1) + " bytes"};
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return Error{"cannot listen on " + path + ": it exists and is not a socket"};
    if (::unlink(path.c_str()) != 0) return sys_error("cannot remove stale socket", path);
  }
  Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return sys_error("cannot create a socket for", path);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return sys_error("cannot bind", path);
  if (::chmod(path.c_str(), 0600) != 0 || ::lstat(path.c_str(), &bound) != 0) return sys_error("cannot chmod", path);
  if (::listen(fd.get(), 2) != 0) return sys_error("cannot listen on", path);
  return fd.release();
}

bool again(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

}  // namespace

Status keep_console(int guest_fd, const ConsolePaths& paths, std::uint64_t cap, const std::string& instance,
                    const std::function<void(const std::string&)>& note) {
  std::set<std::string> noted;
  const auto once = [&](const std::string& kind, const std::string& line) {
    if (noted.insert(kind).second) note(line);
  };
  CappedLog log(paths, cap);
  if (auto s = log.open(); !s) return s;
  // Non-blocking: input for a guest whose VMM does not read waits here,
  // never blocks the loop that logs what the guest writes.
  if (::fcntl(guest_fd, F_SETFL, ::fcntl(guest_fd, F_GETFL) | O_NONBLOCK) != 0)
    return sys_error("cannot set O_NONBLOCK on the console of", instance);
  Fd listener;
  struct stat bound {};
  if (auto l = listen_on(paths.socket, bound))
    listener.reset(l.value());
  else
    note(l.error().message + "; the console is logged but cannot be attached");
  Fd client;
  std::string input;  // from the client, not yet taken by the VMM
  char buf[65536];
  bool log_ok = true;

  for (;;) {
    pollfd fds[3] = {{guest_fd, static_cast<short>(POLLIN | (input.empty() ? 0 : POLLOUT)), 0},
                     {listener.get(), POLLIN, 0},
                     {client.get(), static_cast<short>(input.empty() ? POLLIN : 0), 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      return sys_error("cannot poll the console of", instance);
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = ::read(guest_fd, buf, sizeof buf);
      if (n == 0) break;  // the VMM exited
      if (n < 0 && !again(errno)) {
        if (errno == ECONNRESET) break;
        return sys_error("cannot read the console of", instance);
      }
      if (n > 0) {
        if (auto s = log.write(buf, static_cast<std::size_t>(n)); !s) {
          once("log", s.error().message + "; console output is lost until a write succeeds");
          log_ok = false;
        } else if (!log_ok) {
          note("the console log of " + instance + " is written again");
          noted.erase("log");
          log_ok = true;
        }
        // What the client cannot take now is its loss, not the guest's.
        if (client.get() >= 0 &&
            ::send(client.get(), buf, static_cast<std::size_t>(n), MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && !again(errno))
          client.reset();
      }
    }
    if (!input.empty() && (fds[0].revents & POLLOUT)) {
      const ssize_t n = ::send(guest_fd, input.data(), input.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) input.erase(0, static_cast<std::size_t>(n));
    }
    // A client that left is gone before the next one is accepted.
    if (client.get() >= 0 && input.empty() && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
      const ssize_t n = ::read(client.get(), buf, 4096);
      if (n > 0)
        input.assign(buf, static_cast<std::size_t>(n));
      else if (n == 0 || !again(errno))
        client.reset();
    }
    if (fds[1].revents & POLLIN) {
      Fd next(::accept4(listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (next.get() >= 0) {
        if (client.get() < 0) {
          client.reset(next.release());
        } else {
          const std::string busy = "clawfleet: the console of " + instance + " is attached elsewhere\r\n";
          (void)::send(next.get(), busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        }
      }
    }
  }
  struct stat now {};
  if (listener.get() >= 0 && ::lstat(paths.socket.c_str(), &now) == 0 && now.st_ino == bound.st_ino &&
      now.st_dev == bound.st_dev)
    ::unlink(paths.socket.c_str());
  return {};
}

}  // namespace cf::host
