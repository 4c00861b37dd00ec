// QEMU's microvm machine: everything on the command line, QMP on a unix
// socket for state (query-status) and graceful shutdown (system_powerdown).
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/sys.h"
#include "host/vmm/vmm_backends.h"
#include "model/vm_limits.h"

namespace cf::host {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// QMP messages are single JSON objects, one per line; none we read is large.
constexpr std::size_t kMaxLine = 1 << 20;

// One QMP session: connect, greeting, capabilities negotiation, commands.
// Every step shares one deadline.
class Qmp {
 public:
  Qmp(std::string socket, std::chrono::milliseconds timeout)
      : socket_(std::move(socket)), timeout_(timeout), deadline_(Clock::now() + timeout) {}

  // false: nobody listens (no socket file, or refused).
  Result<bool> open() {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (socket_.size() >= sizeof(addr.sun_path))
      return error("socket path is longer than " + std::to_string(sizeof(addr.sun_path) - 1) + " bytes");
    std::memcpy(addr.sun_path, socket_.c_str(), socket_.size() + 1);
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return error(std::string("socket: ") + std::strerror(errno));
    fd_ = std::make_unique<Fd>(fd);
    // A unix connect does not block on a non-blocking socket: EAGAIN means
    // a full listen backlog, so try again until the deadline.
    while (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      if (errno == ENOENT || errno == ECONNREFUSED) return false;
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return error(std::string("cannot connect: ") + std::strerror(errno));
      if (Clock::now() >= deadline_) return error("no connection within " + std::to_string(timeout_.count()) + " ms");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    auto greeting = read_message("greeting");
    if (!greeting) return greeting.error();
    if (!greeting.value().contains("QMP")) return error("no QMP greeting: " + greeting.value().dump());
    if (auto r = execute("qmp_capabilities"); !r) return r.error();
    return true;
  }

  // The "return" value of a command, or its "error" as an Error.
  Result<json> execute(const std::string& command, const json& arguments = nullptr) {
    int id = ++next_id_;
    json message = {{"execute", command}, {"id", id}};
    if (!arguments.is_null()) message["arguments"] = arguments;
    std::string line = message.dump() + "\n";
    if (auto s = send_all(line, command); !s) return s.error();
    for (;;) {  // skip asynchronous events until our reply
      auto m = read_message("reply to " + command);
      if (!m) return m.error();
      const json& j = m.value();
      if (j.contains("event")) continue;
      if (j.contains("id") && j["id"] != id) continue;
      if (j.contains("error")) {
        const json& e = j["error"];
        std::string desc =
            e.is_object() && e.contains("desc") && e["desc"].is_string() ? e["desc"].get<std::string>() : e.dump();
        return error(command + " failed: " + desc);
      }
      if (j.contains("return")) return j["return"];
      return error("unexpected reply to " + command + ": " + j.dump());
    }
  }

  Error error(const std::string& message) const { return Error{"qemu QMP " + socket_ + ": " + message}; }

 private:
  Status wait(short events, const std::string& what) {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now()).count();
      if (left <= 0) return error("no " + what + " within " + std::to_string(timeout_.count()) + " ms");
      pollfd p{fd_->get(), events, 0};
      int n = ::poll(&p, 1, static_cast<int>(left));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return error(std::string("poll: ") + std::strerror(errno));
      if (n > 0) return {};
    }
  }

  Status send_all(const std::string& data, const std::string& what) {
    std::size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::send(fd_->get(), data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (auto s = wait(POLLOUT, "room to send " + what); !s) return s;
        continue;
      }
      return error("cannot send " + what + ": " + std::strerror(errno));
    }
    return {};
  }

  Result<json> read_message(const std::string& what) {
    for (;;) {
      auto nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.empty()) continue;
        try {
          json j = json::parse(line);
          if (!j.is_object()) return error("not a QMP message: " + line.substr(0, 200));
          return j;
        } catch (const json::exception&) {
          return error("not a QMP message: " + line.substr(0, 200));
        }
      }
      if (buffer_.size() > kMaxLine) return error("a QMP message longer than " + std::to_string(kMaxLine) + " bytes");
      if (auto s = wait(POLLIN, what); !s) return s.error();
      char chunk[4096];
      ssize_t n = ::recv(fd_->get(), chunk, sizeof chunk, 0);
      if (n == 0) return error("connection closed before the " + what);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
        return error("cannot read " + what + ": " + std::strerror(errno));
      }
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }

  std::string socket_;
  std::chrono::milliseconds timeout_;
  Clock::time_point deadline_;
  std::unique_ptr<Fd> fd_;
  std::string buffer_;
  int next_id_ = 0;
};

// QEMU's RunState names (qapi/run-state.json) as clawfleet's states.
VmState from_run_state(const std::string& s) {
  if (s == "running") return VmState::Running;
  if (s == "prelaunch" || s == "inmigrate") return VmState::NotStarted;
  if (s == "paused" || s == "suspended" || s == "debug" || s == "postmigrate" || s == "finish-migrate" ||
      s == "save-vm" || s == "restore-vm")
    return VmState::Paused;
  // internal-error (e.g. a KVM emulation failure), io-error, guest-panicked,
  // shutdown, watchdog, colo: stopped for a reason a supervisor must act on.
  return VmState::Unknown;
}

class Qemu final : public Vmm {
 public:
  Result<std::vector<std::pair<std::string, std::string>>> files(const VmSpec&) const override {
    return std::vector<std::pair<std::string, std::string>>{};
  }

  std::vector<std::string> argv(const VmSpec& spec) const override {
    std::string append = "console=ttyS0 root=/dev/vda rw reboot=t panic=1";
    if (spec.tsc_khz != 0) append += " tsc_early_khz=" + std::to_string(spec.tsc_khz);
    if (!spec.kernel_args.empty()) append += " " + spec.kernel_args;
    std::vector<std::string> a = {
        spec.binary.empty() ? "/usr/bin/qemu-system-x86_64" : spec.binary,
        // No option ROMs, legacy timers or PIC; the ISA serial port is the
        // console, the RTC gives the guest its wall clock.
        "-M",
        "microvm,x-option-roms=off,pit=off,pic=off,isa-serial=on,rtc=on",
        // TCG's translation buffer counts against the unit's MemoryMax=
        // (model/vm_limits.h).
        "-accel",
        spec.kvm ? "kvm" : "tcg,tb-size=" + std::to_string(model::kTcgTranslationBufferMiB),
        "-cpu",
        spec.kvm ? "host" : "max",
        "-smp",
        std::to_string(spec.vcpus),
        "-m",
        std::to_string(spec.memory_mib),
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        // Exit when the guest reboots or panics (reboot=t panic=1), as
        // Firecracker does: systemd, not QEMU, restarts the VM.
        "-no-reboot",
        "-kernel",
        spec.image.kernel,
    };
    if (spec.image.initrd && !spec.image.initrd->empty()) {
      a.push_back("-initrd");
      a.push_back(*spec.image.initrd);
    }
    auto add = [&a](std::initializer_list<std::string> items) { a.insert(a.end(), items); };
    add({"-append", append});
    // Drives in this order become /dev/vda (root), /dev/vdb (seed) and
    // /dev/vdc (data).
    add({"-drive", std::string("id=") + kRootDrive + ",file=" + escape(spec.rootfs_path) + ",format=raw,if=none"});
    add({"-device", std::string("virtio-blk-device,drive=") + kRootDrive});
    add({"-drive",
         std::string("id=") + kSeedDrive + ",file=" + escape(spec.seed_path) + ",format=raw,if=none,readonly=on"});
    add({"-device", std::string("virtio-blk-device,drive=") + kSeedDrive});
    if (!spec.data_path.empty()) {
      add({"-drive", std::string("id=") + kDataDrive + ",file=" + escape(spec.data_path) + ",format=raw,if=none"});
      add({"-device", std::string("virtio-blk-device,drive=") + kDataDrive});
    }
    add({"-netdev", "tap,id=net0,ifname=" + spec.tap + ",script=no,downscript=no"});
    add({"-device", "virtio-net-device,netdev=net0,mac=" + to_string(spec.mac)});
    // The console: stdin/stdout, which `clawfleet vm run` connects to its
    // keeper (console.h).
    add({"-serial", "stdio"});
    add({"-qmp", "unix:" + escape(spec.api_socket) + ",server=on,wait=off"});
    return a;
  }

  Result<VmState> state(const std::string& api_socket, std::chrono::milliseconds timeout) override {
    Qmp qmp(api_socket, timeout);
    auto open = qmp.open();
    if (!open) return open.error();
    if (!open.value()) return VmState::Absent;
    auto r = qmp.execute("query-status");
    if (!r) return r.error();
    try {
      return from_run_state(r.value().at("status").get<std::string>());
    } catch (const json::exception& e) {
      return qmp.error(std::string("query-status answered no status: ") + e.what());
    }
  }

  Status request_shutdown(const std::string& api_socket, std::chrono::milliseconds timeout) override {
    Qmp qmp(api_socket, timeout);
    auto open = qmp.open();
    if (!open) return open.error();
    if (!open.value()) return qmp.error("nothing listens (the VM is not running)");
    if (auto r = qmp.execute("system_powerdown"); !r) return r.error();
    return {};
  }

  Result<bool> quit(const std::string& api_socket, std::chrono::milliseconds timeout) override {
    Qmp qmp(api_socket, timeout);
    auto open = qmp.open();
    if (!open) return open.error();
    if (!open.value()) return qmp.error("nothing listens (the VM is not running)");
    if (auto r = qmp.execute("quit"); !r) return r.error();
    return true;
  }

  Status notify_disk_grown(const std::string& api_socket, const std::string& drive, const std::string&,
                           std::uint64_t bytes, std::chrono::milliseconds timeout) override {
    Qmp qmp(api_socket, timeout);
    auto open = qmp.open();
    if (!open) return open.error();
    if (!open.value()) return qmp.error("nothing listens (the VM is not running)");
    // The file is already that size: QEMU only updates the capacity and
    // the guest gets a configuration-change interrupt.
    if (auto r = qmp.execute("block_resize", json{{"device", drive}, {"size", bytes}}); !r) return r.error();
    return {};
  }

 private:
  // QEMU's option syntax: a comma inside a value is written twice.
  static std::string escape(const std::string& value) {
    std::string out;
    for (char ch : value) {
      out += ch;
      if (ch == ',') out += ',';
    }
    return out;
  }
};

}  // namespace

std::unique_ptr<Vmm> make_qemu_vmm() { return std::make_unique<Qemu>(); }

}  // namespace cf::host
