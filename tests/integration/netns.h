// A network namespace of the test's own, for the real network adapter.
//
//   if (auto why = netns::unavailable()) GTEST_SKIP() << *why;
//   netns::Namespace ns;  // a new thread, unshare(CLONE_NEWNET)
//   ns.run([&] { EXPECT_TRUE(host::real_network()->ensure_bridge(...)); });
//
// How: unshare(CLONE_NEWNET) moves only the calling THREAD into a new,
// anonymous namespace. Namespace owns such a thread and runs closures on it
// (gtest assertions there are reported as usual). Everything the adapter
// opens on that thread (rtnetlink and nftables sockets, /dev/net/tun,
// /proc/sys/net/...) and every command started from it (popen forks the
// calling thread) lives in that namespace. Before the first closure runs,
// the thread's namespace inode is compared with the process's: if they are
// equal (unshare did not happen) nothing runs, so the host's namespace is
// never touched.
//
// Teardown: the thread exits when Namespace is destroyed (also when a test
// fails); the namespace has no name (nothing in /run/netns, nothing for
// `ip netns list`) and no other reference, so the kernel destroys it with
// all its links (persistent taps included), addresses and nftables tables.
// Even a crashed test binary leaves nothing behind.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace cf::testing::netns {

// The inode of a namespace file, 0 when it cannot be read.
inline ino_t ns_inode(const char* path) {
  struct stat st {};
  return ::stat(path, &st) == 0 ? st.st_ino : 0;
}

// Runs a shell command; returns its exit status, output is stdout and
// stderr together. Runs in the calling thread's network namespace.
inline int sh(const std::string& command, std::string* output = nullptr) {
  FILE* f = ::popen((command + " 2>&1").c_str(), "r");
  if (!f) return -1;
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  int status = ::pclose(f);
  if (output) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class Namespace {
 public:
  Namespace() : thread_([this] { loop(); }) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return started_; });
  }
  Namespace(const Namespace&) = delete;
  Namespace& operator=(const Namespace&) = delete;
  ~Namespace() {
    {
      std::lock_guard lock(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  // Why the namespace could not be made; nullopt when it was.
  const std::optional<std::string>& error() const { return error_; }

  // Runs body on the namespace's thread and waits for it. Does nothing when
  // the namespace could not be made (check error() first).
  void run(const std::function<void()>& body) {
    if (error_) return;
    std::unique_lock lock(mu_);
    job_ = &body;
    cv_.notify_all();
    cv_.wait(lock, [this] { return job_ == nullptr; });
  }

 private:
  void loop() {
    ino_t before = ns_inode("/proc/thread-self/ns/net");
    std::optional<std::string> error;
    if (::unshare(CLONE_NEWNET) != 0)
      error = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
    else if (ino_t after = ns_inode("/proc/thread-self/ns/net"); after == 0 || after == before)
      error = "the thread's network namespace did not change after unshare";
    else if (ns_inode("/proc/self/ns/net") != before)
      error = "the process's network namespace changed: unshare moved more than this thread";
    std::unique_lock lock(mu_);
    error_ = error;
    started_ = true;
    cv_.notify_all();
    for (;;) {
      cv_.wait(lock, [this] { return quit_ || job_ != nullptr; });
      if (job_) {
        const std::function<void()>* job = job_;
        lock.unlock();
        (*job)();
        lock.lock();
        job_ = nullptr;
        cv_.notify_all();
        continue;
      }
      if (quit_) return;
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  bool quit_ = false;
  const std::function<void()>* job_ = nullptr;
  std::optional<std::string> error_;
  std::thread thread_;  // last: starts after the members above exist
};

// --- traffic: plain TCP, in the namespace of the thread that makes the socket

// A listening TCP socket on ip:port (non-blocking), or -1.
inline int tcp_listen(const std::string& ip, int port, int backlog = 8) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(std::uint16_t(port));
  if (::inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, backlog) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// A TCP connection to ip:port established within timeout_ms, kept open
// (the caller closes it), or -1: a dropped SYN times out, a refused one
// fails at once.
inline int tcp_open(const std::string& ip, int port, int timeout_ms) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(std::uint16_t(port));
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0)
    ok = true;
  else if (errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof err;
    ok = ::poll(&p, 1, timeout_ms) == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
  }
  if (ok) return fd;
  ::close(fd);
  return -1;
}

// Whether a TCP connection to ip:port is established within timeout_ms
// (a dropped SYN times out, a refused one fails at once).
inline bool tcp_connects(const std::string& ip, int port, int timeout_ms) {
  int fd = tcp_open(ip, port, timeout_ms);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

// The source address of the next connection accepted on listener fd within
// timeout_ms, or "" when none came.
inline std::string accepted_peer(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  if (int n = ::poll(&p, 1, timeout_ms); n != 1) return "poll " + std::to_string(n) + ": " + std::strerror(errno);
  sockaddr_in a{};
  socklen_t len = sizeof a;
  int c = ::accept4(fd, reinterpret_cast<sockaddr*>(&a), &len, SOCK_CLOEXEC);
  if (c < 0) return std::string("accept: ") + std::strerror(errno);
  ::close(c);
  char buf[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf);
  return buf;
}

// A bound UDP socket on ip:port (non-blocking), or -1.
inline int udp_bind(const std::string& ip, int port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(std::uint16_t(port));
  if (::inet_pton(AF_INET, ip.c_str(), &a.sin_addr) != 1 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends one datagram `payload` to ip:port; whether it was handed to the kernel.
inline bool udp_send(const std::string& ip, int port, const std::string& payload) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(std::uint16_t(port));
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  bool ok = ::sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a) ==
            ssize_t(payload.size());
  ::close(fd);
  return ok;
}

// The next datagram on fd within timeout_ms, or "" when none came.
inline std::string udp_received(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) != 1) return "";
  char buf[512];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  return n > 0 ? std::string(buf, std::size_t(n)) : "";
}

// Why real-network tests cannot run here, or nullopt.
inline std::optional<std::string> unavailable() {
  if (const char* skip = std::getenv("CLAWFLEET_SKIP_NETNS"); skip && std::string(skip) == "1")
    return "CLAWFLEET_SKIP_NETNS=1";
  if (::geteuid() != 0) return "not root (network namespaces, taps and nftables need CAP_NET_ADMIN/CAP_SYS_ADMIN)";
  if (::access("/dev/net/tun", R_OK | W_OK) != 0)
    return std::string("/dev/net/tun is not usable: ") + std::strerror(errno);
  Namespace probe;
  if (probe.error()) return "cannot make a network namespace: " + *probe.error();
  return std::nullopt;
}

}  // namespace cf::testing::netns
