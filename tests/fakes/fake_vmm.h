// In-memory host::Vmm that records every call (ninja's VirtualFileSystem).
//
// Tests set each socket's state with set_state() (unknown sockets are
// Absent); request_shutdown() of a running VM makes it Absent when
// shutdown_powers_off is set (the guest powered off at once), else leaves
// it Running (a guest that ignores the request); quit() ends it unless
// quit_ends_it is false. fail() makes one exact call fail.
//
// UnixSocketServer: a listening unix socket in a fresh temp directory and a
// thread that accepts connections one at a time and hands each to a
// handler; the fake Firecracker API and QMP servers of the VMM tests are
// built on it. Its destructor stops the thread (also a handler that waits
// forever, through Conn::read) and removes the directory.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "host/vmm/vmm.h"

namespace cf::testing {

class FakeVmm : public host::Vmm {
 public:
  void set_state(const std::string& api_socket, host::VmState s) { states_[api_socket] = s; }
  host::VmState state_of(const std::string& api_socket) const {
    auto it = states_.find(api_socket);
    return it == states_.end() ? host::VmState::Absent : it->second;
  }
  // The call whose recorded text is exactly `call` fails with message
  // (every time, until cleared with an empty message).
  void fail(const std::string& call, std::string message) {
    if (message.empty())
      failures_.erase(call);
    else
      failures_[call] = std::move(message);
  }

  bool shutdown_powers_off = true;
  // quit(): whether this VMM has it (QEMU) or not (Firecracker), and
  // whether it ends the VM (false: a hung VMM).
  bool has_quit = true;
  bool quit_ends_it = true;
  // Every call, in order: "files bot", "argv bot", "state /s/bot.sock 500ms",
  // "request_shutdown /s/bot.sock 2000ms".
  mutable std::vector<std::string> calls;
  // The last spec argv() was asked for, by instance name.
  mutable std::map<std::string, host::VmSpec> specs;

  Result<std::vector<std::pair<std::string, std::string>>> files(const host::VmSpec& spec) const override {
    if (auto e = record("files " + spec.name)) return *e;
    if (spec.config_path.empty()) return std::vector<std::pair<std::string, std::string>>{};
    return std::vector<std::pair<std::string, std::string>>{{spec.config_path, "fake config of " + spec.name + "\n"}};
  }

  std::vector<std::string> argv(const host::VmSpec& spec) const override {
    (void)record("argv " + spec.name);
    specs[spec.name] = spec;
    return {spec.binary, "--fake", spec.name, spec.api_socket};
  }

  Result<host::VmState> state(const std::string& api_socket, std::chrono::milliseconds timeout) override {
    if (auto e = record("state " + api_socket + " " + std::to_string(timeout.count()) + "ms")) return *e;
    return state_of(api_socket);
  }

  Status request_shutdown(const std::string& api_socket, std::chrono::milliseconds timeout) override {
    if (auto e = record("request_shutdown " + api_socket + " " + std::to_string(timeout.count()) + "ms")) return *e;
    host::VmState s = state_of(api_socket);
    if (s == host::VmState::Absent)
      return Error{"fake VMM " + api_socket + ": nothing listens (the VM is not running)"};
    if (shutdown_powers_off) states_.erase(api_socket);
    return {};
  }

  Result<bool> quit(const std::string& api_socket, std::chrono::milliseconds timeout) override {
    if (auto e = record("quit " + api_socket + " " + std::to_string(timeout.count()) + "ms")) return *e;
    if (!has_quit) return false;
    if (state_of(api_socket) == host::VmState::Absent)
      return Error{"fake VMM " + api_socket + ": nothing listens (the VM is not running)"};
    if (quit_ends_it) states_.erase(api_socket);
    return true;
  }

  Status notify_disk_grown(const std::string& api_socket, const std::string& drive, const std::string&,
                           std::uint64_t bytes, std::chrono::milliseconds) override {
    if (auto e = record("notify_disk_grown " + api_socket + " " + drive + " " + std::to_string(bytes))) return *e;
    if (state_of(api_socket) == host::VmState::Absent)
      return Error{"fake VMM " + api_socket + ": nothing listens (the VM is not running)"};
    return {};
  }

 private:
  std::optional<Error> record(std::string call) const {
    calls.push_back(call);
    if (auto it = failures_.find(call); it != failures_.end()) return Error{it->second};
    return std::nullopt;
  }

  std::map<std::string, host::VmState> states_;
  std::map<std::string, std::string> failures_;
};

// One accepted connection, as the handler sees it.
class Conn {
 public:
  Conn(int fd, int stop_fd) : fd_(fd), stop_fd_(stop_fd) {}
  // Appends what arrives to `buf`; false when the peer closed or the server
  // is stopping.
  bool read(std::string& buf) {
    pollfd p[2] = {{fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(p, 2, -1) <= 0 || (p[1].revents & POLLIN)) return false;
    char chunk[4096];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buf.append(chunk, static_cast<std::size_t>(n));
    return true;
  }
  // Reads until `buf` holds `delim`; false as read().
  bool read_until(std::string& buf, const std::string& delim) {
    while (buf.find(delim) == std::string::npos)
      if (!read(buf)) return false;
    return true;
  }
  void write(const std::string& data) {
    std::size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;
      done += static_cast<std::size_t>(n);
    }
  }
  // Blocks until the peer closes or the server stops (a VMM that hangs).
  void hang() {
    std::string ignored;
    while (read(ignored)) ignored.clear();
  }

 private:
  int fd_;
  int stop_fd_;
};

// Accepts connections one at a time on a listening socket and hands each
// to the handler, on its own thread, until destroyed.
class SocketServer {
 public:
  SocketServer(const SocketServer&) = delete;
  SocketServer& operator=(const SocketServer&) = delete;
  virtual ~SocketServer() { stop(); }

  int connections() const { return connections_; }

 protected:
  explicit SocketServer(std::function<void(Conn&)> handler) : handler_(std::move(handler)) {}
  // Takes the listening socket; false when it could not start.
  bool start(int listen_fd) {
    listen_fd_ = listen_fd;
    if (listen_fd_ < 0 || ::listen(listen_fd_, 8) != 0 || ::pipe2(stop_, O_CLOEXEC) != 0) return false;
    thread_ = std::thread([this] { loop(); });
    return true;
  }
  // Derived destructors call this first, so the thread never runs a handler
  // of a half-destroyed object.
  void stop() {
    if (stop_[1] >= 0) (void)!::write(stop_[1], "x", 1);
    if (thread_.joinable()) thread_.join();
    for (int* fd : {&listen_fd_, &stop_[0], &stop_[1]})
      if (*fd >= 0) ::close(*fd), *fd = -1;
  }

 private:
  void loop() {
    for (;;) {
      pollfd p[2] = {{listen_fd_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) continue;
      if (p[1].revents & POLLIN) return;
      if (!(p[0].revents & POLLIN)) continue;
      int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      ++connections_;
      Conn conn(fd, stop_[0]);
      handler_(conn);
      ::close(fd);
    }
  }

  std::function<void(Conn&)> handler_;
  int listen_fd_ = -1;
  int stop_[2] = {-1, -1};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

class UnixSocketServer : public SocketServer {
 public:
  explicit UnixSocketServer(std::function<void(Conn&)> handler) : SocketServer(std::move(handler)) {
    char tmpl[] = "/tmp/cf-vmm-XXXXXX";
    if (!::mkdtemp(tmpl)) return;
    dir = tmpl;
    path = dir + "/api.sock";
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || !start(fd)) path.clear();
  }
  ~UnixSocketServer() override {
    stop();
    std::error_code ec;
    if (!dir.empty()) std::filesystem::remove_all(dir, ec);
  }

  bool ok() const { return !path.empty(); }

  std::string dir;   // "" when the temp directory could not be made
  std::string path;  // the socket; "" when it could not listen
};

// On 127.0.0.1, an ephemeral port.
class LoopbackTcpServer : public SocketServer {
 public:
  explicit LoopbackTcpServer(std::function<void(Conn&)> handler) : SocketServer(std::move(handler)) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0 || !start(fd))
      return;
    port = ntohs(addr.sin_port);
  }
  ~LoopbackTcpServer() override { stop(); }

  bool ok() const { return port != 0; }
  std::uint16_t port = 0;
};

}  // namespace cf::testing
