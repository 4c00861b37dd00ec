// QEMU microvm backend: the command line, and the QMP client against a fake
// QMP server on a unix socket (and against the real QEMU when installed).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "fakes/fake_vmm.h"
#include "host/vmm/vmm_backends.h"

namespace cf::host {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using testing::Conn;
using testing::UnixSocketServer;

VmSpec spec() {
  VmSpec s;
  s.name = "bot";
  s.binary = "/usr/bin/qemu-system-x86_64";
  s.image = {"/srv/images/default/vmlinux", "/srv/images/default/rootfs.ext4", "/srv/images/default/initrd.img", "",
             ""};
  s.rootfs_path = "/srv/cf/instances/bot/rootfs.ext4";
  s.seed_path = "/srv/cf/instances/bot/seed.img";
  s.data_path = "/srv/cf/instances/bot/data.img";
  s.vcpus = 2;
  s.memory_mib = 2048;
  s.tap = "cf0123456789abc";
  s.mac = parse_mac("06:fc:0a:50:00:02").value();
  s.api_socket = "/srv/cf/instances/bot/vmm.sock";
  s.kernel_args = "quiet";
  return s;
}

TEST(Qemu, NoFiles) {
  auto f = make_qemu_vmm()->files(spec());
  ASSERT_TRUE(f);
  EXPECT_TRUE(f.value().empty());
}

TEST(Qemu, ArgvKvmWithInitrd) {
  EXPECT_EQ(make_qemu_vmm()->argv(spec()),
            (std::vector<std::string>{
                "/usr/bin/qemu-system-x86_64",
                "-M",
                "microvm,x-option-roms=off,pit=off,pic=off,isa-serial=on,rtc=on",
                "-accel",
                "kvm",
                "-cpu",
                "host",
                "-smp",
                "2",
                "-m",
                "2048",
                "-nodefaults",
                "-no-user-config",
                "-display",
                "none",
                "-no-reboot",
                "-kernel",
                "/srv/images/default/vmlinux",
                "-initrd",
                "/srv/images/default/initrd.img",
                "-append",
                "console=ttyS0 root=/dev/vda rw reboot=t panic=1 quiet",
                "-drive",
                "id=rootfs,file=/srv/cf/instances/bot/rootfs.ext4,format=raw,if=none",
                "-device",
                "virtio-blk-device,drive=rootfs",
                "-drive",
                "id=seed,file=/srv/cf/instances/bot/seed.img,format=raw,if=none,readonly=on",
                "-device",
                "virtio-blk-device,drive=seed",
                "-drive",
                "id=data,file=/srv/cf/instances/bot/data.img,format=raw,if=none",
                "-device",
                "virtio-blk-device,drive=data",
                "-netdev",
                "tap,id=net0,ifname=cf0123456789abc,script=no,downscript=no",
                "-device",
                "virtio-net-device,netdev=net0,mac=06:fc:0a:50:00:02",
                "-serial",
                "stdio",
                "-qmp",
                "unix:/srv/cf/instances/bot/vmm.sock,server=on,wait=off",
            }));
}

TEST(Qemu, ArgvTcgWithoutInitrd) {
  VmSpec s = spec();
  s.kvm = false;
  s.tsc_khz = 2400000;
  s.image.initrd.reset();
  s.kernel_args.clear();
  s.rootfs_path = "/srv/a,b/rootfs.ext4";  // QEMU's option syntax doubles commas
  s.data_path.clear();                     // an instance created before data disks
  auto a = make_qemu_vmm()->argv(s);
  auto after = [&a](const std::string& flag) {
    auto it = std::find(a.begin(), a.end(), flag);
    return it == a.end() || it + 1 == a.end() ? std::string("<missing>") : *(it + 1);
  };
  EXPECT_EQ(after("-accel"), "tcg,tb-size=1024");
  EXPECT_EQ(after("-cpu"), "max");
  EXPECT_EQ(after("-initrd"), "<missing>");
  EXPECT_EQ(after("-append"), "console=ttyS0 root=/dev/vda rw reboot=t panic=1 tsc_early_khz=2400000");
  EXPECT_EQ(after("-drive"), "id=rootfs,file=/srv/a,,b/rootfs.ext4,format=raw,if=none");
  EXPECT_EQ(std::count(a.begin(), a.end(), "-drive"), 2);
}

// A fake QMP monitor: greeting, capabilities negotiation (commands before it
// fail as in QEMU), query-status answering `status`, system_powerdown with a
// POWERDOWN event before its reply. Records each command.
class FakeQmp {
 public:
  explicit FakeQmp(std::string status, bool greet = true)
      : status_(std::move(status)), greet_(greet), server_([this](Conn& c) { serve(c); }) {}

  std::vector<std::string> commands() {
    std::lock_guard<std::mutex> lock(mu_);
    return commands_;
  }
  const std::string& socket() const { return server_.path; }
  bool ok() const { return server_.ok(); }

 private:
  void serve(Conn& c) {
    if (!greet_) return c.hang();
    c.write(
        R"({"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}})"
        "\r\n");
    bool negotiated = false;
    std::string buf;
    for (;;) {
      if (!c.read_until(buf, "\n")) return;
      auto nl = buf.find('\n');
      json cmd = json::parse(buf.substr(0, nl), nullptr, false);
      buf.erase(0, nl + 1);
      std::string name = cmd.is_object() ? cmd.value("execute", "") : "";
      {
        std::lock_guard<std::mutex> lock(mu_);
        commands_.push_back(name);
      }
      json reply;
      if (name == "qmp_capabilities") {
        negotiated = true;
        reply = {{"return", json::object()}};
      } else if (!negotiated) {
        reply = {
            {"error",
             {{"class", "CommandNotFound"}, {"desc", "Expecting capabilities negotiation with 'qmp_capabilities'"}}}};
      } else if (name == "query-status" && status_ == "<error>") {
        reply = {{"error", {{"class", "GenericError"}, {"desc", "boom"}}}};
      } else if (name == "query-status") {
        reply = {{"return", {{"status", status_}, {"singlestep", false}, {"running", status_ == "running"}}}};
      } else if (name == "system_powerdown") {
        c.write(R"({"timestamp": {"seconds": 1, "microseconds": 2}, "event": "POWERDOWN"})"
                "\r\n");
        reply = {{"return", json::object()}};
      } else {
        reply = {{"error", {{"class", "CommandNotFound"}, {"desc", "The command " + name + " has not been found"}}}};
      }
      if (cmd.is_object() && cmd.contains("id")) reply["id"] = cmd["id"];
      c.write(reply.dump() + "\r\n");
    }
  }

  std::string status_;
  bool greet_;
  std::mutex mu_;
  std::vector<std::string> commands_;
  UnixSocketServer server_;  // last: its thread stops before the rest goes
};

TEST(QemuQmp, StateFromQueryStatus) {
  for (auto [status, want] : std::vector<std::pair<std::string, VmState>>{{"running", VmState::Running},
                                                                          {"paused", VmState::Paused},
                                                                          {"prelaunch", VmState::NotStarted},
                                                                          {"internal-error", VmState::Unknown}}) {
    FakeQmp qmp(status);
    ASSERT_TRUE(qmp.ok());
    auto s = make_qemu_vmm()->state(qmp.socket(), milliseconds(1000));
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(s.value(), want) << status;
    EXPECT_EQ(qmp.commands(), (std::vector<std::string>{"qmp_capabilities", "query-status"}));
  }
}

TEST(QemuQmp, ShutdownIsSystemPowerdown) {
  FakeQmp qmp("running");
  ASSERT_TRUE(qmp.ok());
  auto s = make_qemu_vmm()->request_shutdown(qmp.socket(), milliseconds(1000));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(qmp.commands(), (std::vector<std::string>{"qmp_capabilities", "system_powerdown"}));
}

TEST(QemuQmp, CommandErrorInTheError) {
  FakeQmp qmp("<error>");
  ASSERT_TRUE(qmp.ok());
  auto s = make_qemu_vmm()->state(qmp.socket(), milliseconds(1000));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "qemu QMP " + qmp.socket() + ": query-status failed: boom");
}

TEST(QemuQmp, MissingSocketIsAbsent) {
  auto s = make_qemu_vmm()->state("/nonexistent/clawfleet/vmm.sock", milliseconds(500));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s.value(), VmState::Absent);
  auto d = make_qemu_vmm()->request_shutdown("/nonexistent/clawfleet/vmm.sock", milliseconds(500));
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().message, "qemu QMP /nonexistent/clawfleet/vmm.sock: nothing listens (the VM is not running)");
}

// QMP serves one client at a time: a second one gets no greeting.
TEST(QemuQmp, NoGreetingIsAnErrorWithinTheTimeout) {
  FakeQmp qmp("running", false);
  ASSERT_TRUE(qmp.ok());
  auto start = std::chrono::steady_clock::now();
  auto s = make_qemu_vmm()->state(qmp.socket(), milliseconds(300));
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "qemu QMP " + qmp.socket() + ": no greeting within 300 ms");
  EXPECT_LT(took, milliseconds(1500));
}

// The real QEMU, when installed: our -M options are accepted and the client
// speaks its QMP. -S keeps the VM in prelaunch, so no kernel is needed.
TEST(QemuQmp, RealQemu) {
  const char* qemu = "/usr/bin/qemu-system-x86_64";
  if (::access(qemu, X_OK) != 0) GTEST_SKIP() << "qemu-system-x86_64 is not installed";
  char tmpl[] = "/tmp/cf-qemu-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string sock = std::string(tmpl) + "/qmp.sock";
  VmSpec s = spec();
  s.kvm = false;
  auto full = make_qemu_vmm()->argv(s);
  auto machine = std::find(full.begin(), full.end(), "-M");
  ASSERT_NE(machine, full.end());
  std::vector<std::string> args = {qemu,
                                   "-M",
                                   *(machine + 1),
                                   "-accel",
                                   "tcg,tb-size=1024",
                                   "-cpu",
                                   "max",
                                   "-m",
                                   "64",
                                   "-nodefaults",
                                   "-no-user-config",
                                   "-display",
                                   "none",
                                   "-S",
                                   "-qmp",
                                   "unix:" + sock + ",server=on,wait=off"};
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 2);
    ::execv(qemu, argv.data());
    ::_exit(127);
  }
  auto vmm = make_qemu_vmm();
  Result<VmState> state = VmState::Absent;
  // QEMU's start is slow on a loaded machine (CI's sanitizer phase saw more
  // than 2 s before the socket existed): wait for it, with a bound.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  int wstatus = 0;
  bool reaped = false;
  while (state && state.value() == VmState::Absent && std::chrono::steady_clock::now() < deadline) {
    reaped = ::waitpid(pid, &wstatus, WNOHANG) == pid;
    if (reaped) break;  // QEMU refused our options
    std::this_thread::sleep_for(milliseconds(20));
    state = vmm->state(sock, milliseconds(1000));
  }
  Status down = vmm->request_shutdown(sock, milliseconds(1000));
  if (!reaped) {
    ::kill(pid, SIGTERM);
    ::waitpid(pid, &wstatus, 0);
  }
  std::filesystem::remove_all(tmpl);
  ASSERT_FALSE(reaped) << "qemu exited with status " << wstatus;
  ASSERT_TRUE(state) << state.error().message;
  EXPECT_EQ(state.value(), VmState::NotStarted);
  EXPECT_TRUE(down) << down.error().message;
}

}  // namespace
}  // namespace cf::host
