// clawfleet vm prepare|run|stop NAME: what the clawfleet-vm@.service unit
// runs, so that a VM comes back after a host reboot without the agent. Each
// reads the instance's launch record (what was last applied); `run` also
// keeps the guest's console (host/vmm/console.h) in a child of its own.
#include <fmt/core.h>
#include <grp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "cli/verbs.h"
#include "core/fs.h"
#include "core/text.h"
#include "host/state/ownership.h"
#include "host/vmm/console.h"
#include "host/vmm/launch.h"
#include "host/vmm/vm_stop.h"
#include "model/units.h"

namespace cf::cli {
namespace {

std::string default_state_root() {
  const char* env = std::getenv("CLAWFLEET_STATE_ROOT");
  return env && *env ? env : model::kDefaultStateRoot;
}

Result<host::LaunchRecord> read_launch(const VmOptions& opts) {
  if (!is_dns_label(opts.name)) return Error{"not an instance name: \"" + opts.name + "\""};
  std::string path = host::paths_for(opts.state_root, opts.name).launch;
  RealFileReader fs;
  auto text = fs.read_file(path, 1 << 20);
  if (!text) return Error{text.error().message + " (has `clawfleet apply` created instance " + opts.name + "?)"};
  auto r = host::launch_from_json(text.value());
  if (!r) return Error{"launch record " + path + ": " + r.error().message};
  if (r.value().name != opts.name)
    return Error{"launch record " + path + " is for instance \"" + r.value().name + "\""};
  return r;
}

int vm_failed(const std::string& what, const Error& e) { return fail_verb("vm " + what, e.message); }

// Becomes the VMM's own user (the launch record's; model/instance_dir.h).
// The unit starts `vm run` and `vm stop` as root with CAP_SETUID and
// CAP_SETGID alone, and the change of user drops those with the rest, for
// good: systemd's User= would want an entry in the user database for each
// VMM, which the agent (in a read-only /etc) cannot make. A record from
// before VMMs had users (0) keeps root without capabilities.
Status become(std::uint32_t uid) {
  if (uid == 0 || (::geteuid() == uid && ::getegid() == uid)) return {};
  if (::setgroups(0, nullptr) != 0 || ::setresgid(uid, uid, uid) != 0 || ::setresuid(uid, uid, uid) != 0)
    return Error{"cannot become the VMM's user " + std::to_string(uid) + ": " + std::strerror(errno)};
  return {};
}

// The socket the running VMM listens on: the record's, or where the VMM of
// the other variant listens when the jailer was switched on or off under
// it (the record is already the next start's), so that VM still powers
// off cleanly.
std::string live_socket(const VmOptions& opts, const host::LaunchRecord& r, host::Vmm& vmm) {
  const host::InstancePaths p = host::paths_for(opts.state_root, r.name);
  std::vector<std::string> candidates = {r.api_socket, p.api_socket};
  if (!r.jail && r.vmm == model::VmmKind::Firecracker)
    candidates.push_back(host::jail_root(opts.state_root, r.argv[0], r.name) + host::kJailApiSocket);
  for (const auto& socket : candidates) {
    auto state = vmm.state(socket, std::chrono::milliseconds(500));
    if (!state || state.value() != host::VmState::Absent) return socket;
  }
  return r.api_socket;
}

}  // namespace

void add_vm(CLI::App& app, VmOptions& opts) {
  auto* vm = app.add_subcommand("vm", "Run one instance's VM (used by clawfleet-vm@.service)");
  vm->require_subcommand(1);
  opts.state_root = default_state_root();
  for (auto [verb, help] :
       {std::pair{"prepare",
                  "Create the bridge, tap, neighbour entry, firewall ruleset and VMM files; remove a stale socket"},
        std::pair{"run", "Run the VMM in the foreground"},
        std::pair{"stop", "Ask the VMM to shut the guest down and wait for it"}}) {
    auto* cmd = vm->add_subcommand(verb, help);
    cmd->add_option("name", opts.name, "Instance name")->required();
    cmd->add_option("--state-root", opts.state_root,
                    "State root (default $CLAWFLEET_STATE_ROOT or /var/lib/clawfleet)");
    if (std::string(verb) == "stop") {
      cmd->add_option("--timeout", opts.stop_timeout_s, "Seconds the guest has to power off when asked")
          ->capture_default_str()
          ->check(CLI::Range(1, 3600));
      cmd->add_option("--quit-timeout", opts.quit_timeout_s, "Seconds the VMM then has to quit when asked")
          ->capture_default_str()
          ->check(CLI::Range(1, 3600));
    }
    cmd->callback([&opts, verb = std::string(verb)] { opts.verb = verb; });
  }
}

int run_vm(const VmOptions& opts) {
  auto record = read_launch(opts);
  if (!record) return vm_failed(opts.verb, record.error());
  const host::LaunchRecord& r = record.value();

  if (opts.verb == "prepare") {
    // The ruleset holds every guest's rules, this one's among them: written
    // by apply before it starts any VM.
    RealFileReader fs;
    auto ruleset = fs.read_file(host::ruleset_path(opts.state_root), host::kMaxRulesetBytes);
    if (!ruleset)
      return vm_failed("prepare", Error{ruleset.error().message + " (run `clawfleet apply` once after installing "
                                                                  "or upgrading clawfleet)"});
    auto net = host::real_network();
    if (auto s = host::prepare_vm(r, ruleset.value(), *net); !s) return vm_failed("prepare", s.error());
    // Whatever apply last did to the directory (or an older clawfleet, or
    // an address that changed), the VMM's user gets exactly its share.
    if (auto s = host::own_instance_dir(opts.state_root, r.name, r.uid); !s) return vm_failed("prepare", s.error());
    if (r.jail)
      if (auto s = host::prepare_jail(*r.jail, r.uid); !s) return vm_failed("prepare", s.error());
    return 0;
  }

  if (opts.verb == "run") {
    // Firecracker's jailer must start as root; it runs the VMM as r.uid.
    if (!r.jail)
      if (auto s = become(r.uid); !s) return vm_failed("run", s.error());
    // The VMM's serial port is its stdin/stdout: one end of a socket pair
    // whose other end a child keeps (host/vmm/console.h), so a guest's
    // console is bounded and attachable whatever the VMM.
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0)
      return vm_failed("run", Error{std::string("cannot create the console's socket pair: ") + std::strerror(errno)});
    const pid_t keeper = ::fork();
    if (keeper < 0)
      return vm_failed("run", Error{std::string("cannot fork the console keeper: ") + std::strerror(errno)});
    if (keeper == 0) {
      ::close(ends[0]);
      if (auto s = become(r.uid); !s) {
        fmt::print(stderr, "clawfleet vm run {}: console: {}\n", r.name, s.error().message);
        ::_exit(1);
      }
      // It ends when the VMM's end closes, after the last bytes: systemd's
      // SIGTERM to the unit's processes must not cut them off.
      ::signal(SIGTERM, SIG_IGN);
      ::signal(SIGINT, SIG_IGN);
      ::signal(SIGHUP, SIG_IGN);
      auto kept = host::keep_console(
          ends[1], host::paths_for(opts.state_root, r.name).console, host::kConsoleLogCap, r.name,
          [&](const std::string& line) { fmt::print(stderr, "clawfleet vm run {}: console: {}\n", r.name, line); });
      if (!kept) fmt::print(stderr, "clawfleet vm run {}: console: {}\n", r.name, kept.error().message);
      std::fflush(stderr);
      ::_exit(kept ? 0 : 1);
    }
    ::close(ends[1]);
    if (::dup2(ends[0], STDIN_FILENO) < 0 || ::dup2(ends[0], STDOUT_FILENO) < 0)
      return vm_failed("run", Error{std::string("cannot give the VMM its console: ") + std::strerror(errno)});
    if (ends[0] > STDOUT_FILENO) ::close(ends[0]);
    // exec, so systemd supervises the VMM itself (its PID, its exit status).
    std::vector<char*> argv;
    for (const auto& a : r.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    return vm_failed("run", Error{"cannot execute " + r.argv[0] + ": " + std::strerror(errno)});
  }

  // stop: the escalation of host/vmm/vm_stop.h. Whatever is left after it is
  // systemd's (SIGTERM, then SIGKILL after TimeoutStopSec); the unit runs
  // this as `ExecStop=-`, so a VM that needed them does not fail the unit.
  // The VMM's sockets are its user's (0600).
  if (auto s = become(r.uid); !s) return vm_failed("stop", s.error());
  auto vmm = host::make_vmm(r.vmm);
  const std::string socket = live_socket(opts, r, *vmm);
  host::StopDeadlines deadlines;
  deadlines.power_off = std::chrono::seconds(opts.stop_timeout_s);
  deadlines.quit = std::chrono::seconds(opts.quit_timeout_s);
  const auto t0 = std::chrono::steady_clock::now();
  const host::StopEnd end = host::stop_vm(*vmm, socket, deadlines, [&](const std::string& line) {
    fmt::print(stderr, "clawfleet vm stop {}: {}\n", r.name, line);
  });
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (end == host::StopEnd::Running) {
    fmt::print(stderr, "clawfleet vm stop {}: the VM still runs after {:.1f} s; SIGTERM, then SIGKILL, end it\n",
               r.name, took);
    return 1;
  }
  if (end == host::StopEnd::WasAbsent)
    fmt::print(stderr, "clawfleet vm stop {}: nothing answers on {}: the VM is not running\n", r.name, socket);
  else
    fmt::print(stderr, "clawfleet vm stop {}: {} after {:.1f} s\n", r.name, host::to_string(end), took);
  return 0;
}

}  // namespace cf::cli
