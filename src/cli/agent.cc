// clawfleet agent: the long-running reconciler, run by clawfleet.service
// (Type=notify). Watches the manifest directory, reconciles on changes
// (debounced), on SIGHUP and every --resync, with per-instance backoff;
// reports READY/STATUS/WATCHDOG to systemd, a status file, metrics and the
// journal. SIGTERM finishes the steps in flight and exits 0
// (docs/agent.md). Exit 1: could not start (or, with --once, the one
// reconcile did not succeed).
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <cstdio>
#include <random>

#include "agent/agent.h"
#include "agent/real.h"
#include "agent/reconciler.h"
#include "apply/lock.h"
#include "cli/engine.h"
#include "cli/verbs.h"
#include "core/env.h"
#include "core/fs.h"
#include "core/text.h"

namespace cf::cli {
namespace {

using namespace std::chrono;

int agent_failed(const std::string& message) { return fail_verb("agent", message); }

}  // namespace

void add_agent(CLI::App& app, AgentOptions& opts) {
  auto* cmd = app.add_subcommand("agent", "Keep this host converged to the manifests (run by clawfleet.service)");
  add_manifest_options(*cmd, opts.manifests);
  cmd->add_option("--max-destroy", opts.max_destroy, "Most instances one reconcile may destroy")->capture_default_str();
  cmd->add_flag("--allow-destroy", opts.allow_destroy, "Lift --max-destroy and protect: true");
  add_exec_options(*cmd, opts.exec);
  cmd->add_option("--debounce", opts.debounce_ms, "Milliseconds of quiet after a manifest change before reconciling")
      ->check(CLI::Range(0, 600000))
      ->capture_default_str();
  cmd->add_option("--resync", opts.resync, "Reconcile at least this often, to repair drift (300, 30s, 5min, 1h)")
      ->capture_default_str();
  cmd->add_option("--metrics-textfile", opts.metrics_textfile,
                  "Write Prometheus metrics here after each reconcile (node_exporter textfile collector, *.prom)");
  cmd->add_flag("--once", opts.once, "Reconcile once and exit (0: it succeeded)");
  cmd->add_flag("--debug", opts.debug, "Also log each trigger and manifest event");
}

int run_agent(const AgentOptions& opts) {
  auto resync = parse_duration(opts.resync);
  if (!resync) return agent_failed("--resync: " + resync.error().message);
  if (resync.value() < seconds(1)) return agent_failed("--resync: must be at least 1 s, got " + opts.resync);

  // Pass 1: signals and the manifest watch, before any thread exists: the
  // blocked signal mask must be inherited by every thread.
  const std::vector<std::string> watched = agent::manifest_directories(opts.manifests.dir, opts.manifests.files);
  auto events = agent::watch_manifests(watched);
  if (!events) return agent_failed(events.error().message);

  // Pass 2: the real ports.
  auto clock = agent::real_clock();
  auto log = agent::journal_or_stderr_log(opts.debug);
  auto notifier = agent::systemd_notifier();
  auto files = agent::real_file_writer();
  auto host = real_host();
  auto lock = apply::lock_at(opts.exec.lock_path);
  RealFileReader reader;
  RealEnvironment env;
  std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> uniform(0.0, 1.0);

  // Pass 3: the reconciler, with the options apply would use.
  agent::ReconcileOptions ro;
  ro.manifests = source_spec(opts.manifests);
  ro.plan = plan::Options{opts.max_destroy, opts.allow_destroy};
  ro.exec = exec_options(opts.exec);
  ro.lock_timeout = milliseconds(opts.exec.lock_timeout_ms);
  agent::Reconciler reconciler(
      agent::ReconcilerPorts{reader, env, *lock, *host, *clock, *log, [&] { return uniform(rng); }}, ro);

  // Pass 4: the loop, until SIGTERM.
  agent::AgentOptions ao;
  ao.schedule.debounce = milliseconds(opts.debounce_ms);
  ao.schedule.debounce_max = std::max(milliseconds(opts.debounce_ms) * 10, milliseconds(5000));
  ao.schedule.resync = resync.value();
  ao.metrics_path = opts.metrics_textfile;
  ao.once = opts.once;
  ao.stall_after = agent::stall_bound(ro.exec);
  log->write(agent::Level::Info, fmt::format("clawfleet agent started: watching {}, resync every {}, debounce {} ms",
                                             fmt::join(watched, ", "), opts.resync, opts.debounce_ms));
  agent::Agent loop(agent::AgentPorts{*events.value(), *notifier, *files, *log, *clock}, reconciler, ao);
  return loop.run();
}

}  // namespace cf::cli
