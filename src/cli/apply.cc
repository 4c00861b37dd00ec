// clawfleet apply: converge the host to the manifests. Plans, executes the
// plan under the one-writer lock with a journal, then plans again to tell
// whether the host converged. Exit codes (docs/apply.md): 0 converged and
// nothing changed; 2 changed and converged; 4 failures, nothing changed;
// 6 changed with failures (or not converged); 1 could not run.
#include <fmt/core.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include "apply/executor.h"
#include "apply/journal.h"
#include "apply/lock.h"
#include "cli/engine.h"
#include "cli/plan_output.h"
#include "cli/saved_plan.h"
#include "cli/verbs.h"
#include "host/allocator.h"
#include "host/health.h"

namespace cf::cli {
namespace {

using namespace std::chrono;

int fail(const std::string& message) {
  fmt::print(stderr, "clawfleet apply: {}\n", message);
  return 1;
}

// QEMU under TCG needs the TSC frequency (shared/notes/real-microvms.md).
std::uint32_t tsc_khz() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("cpu MHz", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return static_cast<std::uint32_t>(std::stod(line.substr(colon + 1)) * 1000);
    }
  return 0;
}

}  // namespace

void add_apply(CLI::App& app, ApplyOptions& opts) {
  auto* cmd = app.add_subcommand("apply", "Converge this host to the manifests, then plan again to confirm");
  add_plan_options(*cmd, opts.plan);
  cmd->add_option("plan", opts.plan_file, "A plan saved by `clawfleet plan -o`: applied only if still current");
  cmd->add_flag("--dry-run", opts.dry_run, "Plan only (the same as clawfleet plan)");
  add_exec_options(*cmd, opts.exec);
}

void add_exec_options(CLI::App& cmd, ExecCliOptions& opts) {
  cmd.add_option("--parallelism", opts.parallelism, "Instances worked on at once (default: the host's cores)");
  cmd.add_option("--lock-timeout", opts.lock_timeout_ms, "Milliseconds to wait for another apply or the agent")
      ->capture_default_str();
  cmd.add_option("--health-timeout", opts.health_timeout_s, "Seconds a (re)started instance has to become ready")
      ->capture_default_str();
  cmd.add_option("--job-timeout", opts.job_timeout_s, "Seconds a systemd start/stop job may take")->capture_default_str();
  cmd.add_option("--lock-file", opts.lock_path, "The lock apply and the agent share")->capture_default_str();
}

apply::ExecOptions exec_options(const ExecCliOptions& opts, model::VmmKind vmm) {
  apply::ExecOptions exec;
  exec.parallelism = opts.parallelism ? opts.parallelism : std::max(1u, std::thread::hardware_concurrency());
  exec.job_deadline = seconds(opts.job_timeout_s);
  exec.health_deadline = seconds(opts.health_timeout_s);
  exec.kvm = ::access("/dev/kvm", R_OK | W_OK) == 0 && vmm == model::VmmKind::Firecracker;
  exec.tsc_khz = tsc_khz();
  return exec;
}

int run_apply(const ApplyOptions& opts) {
  // Pass 1: one writer at a time (another apply, or the agent).
  auto lock = apply::lock_at(opts.exec.lock_path)->acquire("apply", milliseconds(opts.exec.lock_timeout_ms));
  if (!lock) return fail(lock.error().message);

  // Pass 2: desired and observed, and the plan between them.
  RealFileReader fs;
  auto desired = load_desired(opts.plan.manifests, fs);
  if (!desired) return fail(desired.error().message);
  const model::Host& host = desired.value().loaded.fleet.host;
  auto adapters = open_host(host);
  if (!adapters) return fail(adapters.error().message);
  HostAdapters& a = *adapters.value();
  // A saved plan brings its own options; it is applied only if planning now
  // gives the same plan from the same manifests and the same host.
  std::optional<SavedPlan> saved;
  if (!opts.plan_file.empty()) {
    auto text = fs.read_file(opts.plan_file, 64u << 20);
    if (!text) return fail(text.error().message);
    auto s = saved_plan_from_json(text.value());
    if (!s) return fail(opts.plan_file + ": " + s.error().message);
    saved = s.value();
  }
  const plan::Options plan_options =
      saved ? saved->options : plan::Options{opts.plan.max_destroy, opts.plan.allow_destroy};
  auto planned = observe_and_plan(desired.value(), a, plan_options);
  if (!planned) return fail(planned.error().message);
  if (saved)
    if (auto why = stale_because(*saved, saved_plan_for(desired.value(), planned.value(), plan_options)))
      return fail("plan " + opts.plan_file + " is stale: " + *why + "; run clawfleet plan again");
  const bool color = use_color(opts.plan.no_color);
  fmt::print("{}", opts.plan.json ? render_plan_json(planned.value().plan) : render_plan_text(planned.value().plan, color));
  if (planned.value().plan.empty()) return 0;
  if (opts.dry_run) return 2;

  // Pass 3: execute, journaling each step's start and end before and after
  // it runs, so a crash leaves a trace; observation still wins next time.
  auto journal = apply::journal_at(host.state_root);
  const std::string run = apply::new_run_id();
  auto health = host::real_health();
  auto listening = host::listening_tcp_ports(a.files);
  if (!listening) return fail(listening.error().message);
  apply::HostPorts ports{[] { return host::connect_systemd(); },
                         *a.unit_files,
                         *a.network,
                         *a.state,
                         *a.vmm,
                         *health,
                         [&](std::uint16_t p) { return listening.value().count(p) > 0; },
                         *a.disks,
                         &HostAdapters::read_secret};
  const apply::ExecOptions exec = exec_options(opts.exec, host.vmm.kind);
  std::string journal_error;
  std::map<std::size_t, steady_clock::time_point> started;
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  auto on_event = [&](const apply::StepEvent& e) {
    apply::JournalRecord rec;
    rec.run = run, rec.seq = e.index, rec.instance = e.step->instance, rec.action = plan::to_string(e.step->action);
    rec.event = e.start ? apply::JournalEvent::Start : apply::JournalEvent::End;
    if (!e.start) {
      rec.result = e.result.outcome == apply::Outcome::Ok       ? apply::StepResult::Ok
                   : e.result.outcome == apply::Outcome::Failed ? apply::StepResult::Failed
                                                                : apply::StepResult::Skipped;
      rec.error = e.result.error;
    }
    if (auto s = journal->append(rec); !s && journal_error.empty()) journal_error = s.error().message;
    const std::string who = e.step->instance.empty() ? "host" : e.step->instance;
    if (e.start) {
      started[e.index] = steady_clock::now();
      // On a terminal, say what is under way: a guest's boot takes minutes.
      if (tty) fmt::print(stderr, "{}: {} started\n", who, plan::to_string(e.step->action));
      return;
    }
    double secs = duration<double>(steady_clock::now() - started[e.index]).count();
    if (e.result.outcome == apply::Outcome::Ok)
      fmt::print(stderr, "{}: {} done ({:.1f} s)\n", who, plan::to_string(e.step->action), secs);
    else
      fmt::print(stderr, "{}: {} {}: {}\n", who, plan::to_string(e.step->action), apply::to_string(e.result.outcome),
                 e.result.error);
  };
  auto results = apply::execute(planned.value().plan, planned.value().desired, planned.value().observed, ports, exec,
                                on_event);
  if (!journal_error.empty()) fmt::print(stderr, "clawfleet apply: warning: journal: {}\n", journal_error);

  // Pass 4: plan again; converged means nothing is left to do.
  std::size_t ok = 0, failed = 0;
  // A skipped step (its dependency failed) did not happen: a failure too.
  for (const auto& r : results) ++(r.outcome == apply::Outcome::Ok ? ok : failed);
  auto again = observe_and_plan(desired.value(), a, plan_options);
  if (!again) return fail(again.error().message);
  const bool converged = again.value().plan.empty();
  if (converged) {
    fmt::print("Converged: {} step{} applied.\n", ok, ok == 1 ? "" : "s");
  } else {
    fmt::print("Not converged; still to do:\n{}", render_plan_text(again.value().plan, color));
  }
  const bool changed = ok > 0;
  if (failed == 0 && converged) return changed ? 2 : 0;
  return changed ? 6 : 4;
}

}  // namespace cf::cli
