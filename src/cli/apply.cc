// clawfleet apply: converge the host to the manifests. Under the one-writer
// lock: plan_once, print, apply_once (execute with a journal, then plan
// again to tell whether the host converged), exit code (docs/apply.md):
// 0 converged and nothing changed; 2 changed and converged; 4 failures,
// nothing changed; 6 changed with failures (or not converged); 1 could not run.
#include <fmt/core.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <optional>

#include "apply/engine.h"
#include "apply/lock.h"
#include "cli/engine.h"
#include "cli/plan_output.h"
#include "cli/saved_plan.h"
#include "cli/verbs.h"
#include "core/text.h"

namespace cf::cli {
namespace {

using namespace std::chrono;

int apply_failed(const std::string& message) { return fail_verb("apply", message); }

}  // namespace

void add_apply(CLI::App& app, ApplyOptions& opts) {
  auto* cmd = app.add_subcommand("apply", "Converge this host to the manifests, then plan again to confirm");
  add_plan_options(*cmd, opts.plan);
  cmd->add_option("plan", opts.plan_file, "A plan saved by `clawfleet plan -o`: applied only if still current");
  cmd->add_flag("--dry-run", opts.dry_run, "Plan only (the same as clawfleet plan)");
  cmd->add_option("--max-unavailable", opts.max_unavailable,
                  "Running instances a reimage, reprovision, restart or replace may have down at once (default: the "
                  "Host's rollout.maxUnavailable, 1)")
      ->check(CLI::Range(1, 4096));
  add_exec_options(*cmd, opts.exec);
}

void add_exec_options(CLI::App& cmd, ExecCliOptions& opts) {
  cmd.add_option("--parallelism", opts.parallelism, "Instances worked on at once (default: the host's cores)");
  cmd.add_option("--lock-timeout", opts.lock_timeout_ms, "Milliseconds to wait for another apply or the agent")
      ->capture_default_str();
  cmd.add_option("--health-timeout", opts.health_timeout_s, "Seconds a (re)started instance has to become ready")
      ->capture_default_str();
  cmd.add_option("--job-timeout", opts.job_timeout_s, "Seconds a systemd start/stop job may take")
      ->capture_default_str();
  cmd.add_option("--lock-file", opts.lock_path, "The lock apply and the agent share")->capture_default_str();
}

int run_apply(const ApplyOptions& opts) {
  // Pass 1: one writer at a time (another apply, or the agent).
  auto lock = apply::lock_at(opts.exec.lock_path)->acquire("apply", milliseconds(opts.exec.lock_timeout_ms));
  if (!lock) return apply_failed(lock.error().message);

  // Pass 2: desired and observed, and the plan between them.
  RealFileReader fs;
  auto desired = load_desired(opts.plan.manifests, fs);
  if (!desired) return apply_failed(desired.error().message);
  auto session = open_host(desired.value().fleet.host);
  if (!session) return apply_failed(session.error().message);
  apply::HostSession& host = *session.value();
  // A saved plan brings its own options; it is applied only if planning now
  // gives the same plan from the same manifests and the same host.
  std::optional<SavedPlan> saved;
  if (!opts.plan_file.empty()) {
    auto text = fs.read_file(opts.plan_file, 64u << 20);
    if (!text) return apply_failed(text.error().message);
    auto s = saved_plan_from_json(text.value());
    if (!s) return apply_failed(opts.plan_file + ": " + s.error().message);
    saved = s.value();
  }
  const apply::Target target{desired.value(), true,
                             saved ? saved->options : plan::Options{opts.plan.max_destroy, opts.plan.allow_destroy}};
  // Once per boot of the host: can /dev/kvm run a guest? (The plan's
  // accelerator line says what came of it.)
  if (auto probe = apply::probe_accelerator(desired.value().fleet.host, host.ports()))
    fmt::print(stderr, "clawfleet apply: KVM boot probe: {} ({})\n", probe->runs ? "a guest ran" : "no guest ran",
               probe->detail);
  auto planned = apply::plan_once(target, host.ports());
  if (!planned) return apply_failed(planned.error().message);
  if (saved)
    if (auto why = stale_because(*saved, saved_plan_for(desired.value(), planned.value(), target.options)))
      return apply_failed("plan " + opts.plan_file + " is stale: " + *why + "; run clawfleet plan again");
  const bool color = use_color(opts.plan.no_color);
  fmt::print("{}",
             opts.plan.json ? render_plan_json(planned.value().plan) : render_plan_text(planned.value().plan, color));
  if (planned.value().plan.empty()) return 0;
  if (opts.dry_run) return 2;

  // Pass 3: execute (journalled by the engine) and plan again, with a
  // line per step: on a terminal also when one starts, as a guest's boot
  // takes minutes.
  std::map<std::size_t, steady_clock::time_point> started;
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  auto on_event = [&](const apply::StepEvent& e) {
    const std::string who = e.step->instance.empty() ? "host" : printable(e.step->instance);
    if (e.start) {
      started[e.index] = steady_clock::now();
      if (tty) fmt::print(stderr, "{}: {} started\n", who, plan::to_string(e.step->action));
      return;
    }
    double secs = duration<double>(steady_clock::now() - started[e.index]).count();
    if (e.result.outcome == apply::Outcome::Ok)
      fmt::print(stderr, "{}: {} done ({:.1f} s)\n", who, plan::to_string(e.step->action), secs);
    else
      fmt::print(stderr, "{}: {} {}: {}\n", who, plan::to_string(e.step->action), apply::to_string(e.result.outcome),
                 printable(e.result.error));
  };
  apply::ExecOptions exec = exec_options(opts.exec);
  exec.max_unavailable = opts.max_unavailable;
  apply::Applied applied = apply::apply_once(target, planned.value(), planned.value().plan, {}, host, exec, on_event);
  if (!applied.journal_error.empty())
    fmt::print(stderr, "clawfleet apply: warning: journal: {}\n", printable(applied.journal_error));

  // Pass 4: converged means nothing is left to do.
  std::size_t ok = 0, failed = 0;
  // A skipped step (its dependency failed) did not happen: a failure too.
  for (const auto& r : applied.results) ++(r.outcome == apply::Outcome::Ok ? ok : failed);
  if (!applied.again) return apply_failed(applied.again.error().message);
  const bool converged = applied.again.value().plan.empty();
  if (converged) {
    fmt::print("Converged: {} step{} applied.\n", ok, ok == 1 ? "" : "s");
  } else {
    fmt::print("Not converged; still to do:\n{}", render_plan_text(applied.again.value().plan, color));
  }
  const bool changed = ok > 0;
  if (failed == 0 && converged) return changed ? 2 : 0;
  return changed ? 6 : 4;
}

}  // namespace cf::cli
