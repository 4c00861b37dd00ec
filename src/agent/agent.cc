#include "agent/agent.h"

#include <fmt/core.h>

#include <algorithm>
#include <thread>

#include "agent/metrics.h"
#include "agent/status_file.h"
#include "host/state/ownership.h"

namespace cf::agent {

using namespace std::chrono;

Millis stall_bound(const apply::ExecOptions& exec) {
  return 6 * exec.job_deadline + exec.health_deadline + Millis(minutes(1));
}

Agent::Agent(AgentPorts ports, Reconciler& reconciler, AgentOptions options)
    : ports_(ports), reconciler_(reconciler), options_(std::move(options)) {}

void Agent::report(const ReconcileReport& r, bool first) {
  publish(first);
  const std::string& summary = summary_;
  switch (r.result) {
    case ReconcileResult::Ok:
      ports_.log.write(Level::Info,
                       fmt::format("reconciled: {} step{}; {}", r.steps, r.steps == 1 ? "" : "s", summary));
      break;
    case ReconcileResult::LockBusy: ports_.log.write(Level::Info, r.error + "; retrying"); break;
    default:
      ports_.log.write(Level::Warning, fmt::format("reconcile {}: {}; {}", to_string(r.result), r.error, summary));
  }
}

void Agent::publish(bool first) {
  const AgentStatus& s = reconciler_.status();
  summary_ = summary_line(s);
  // READY after the first reconcile, whatever its result: the service is
  // up and reporting; its STATUS says how the fleet is.
  ports_.notifier.notify(std::string(first ? "READY=1\n" : "") + "STATUS=" + summary_);
  const WallTime now = ports_.clock.wall();
  const std::string status_path = reconciler_.state_root() + "/agent-status.json";
  // The state root is made as apply makes it (0711: the VMMs pass through
  // it), so the file is root's alone (0600); the metrics directory is
  // node_exporter's and must exist.
  if (auto d = ports_.files.ensure_dir(reconciler_.state_root(), host::kStateRootMode); !d)
    ports_.log.write(Level::Warning, "cannot write the status file: " + d.error().message);
  else if (auto w = ports_.files.write_atomic(status_path, render_status_file(s, now), 0600); !w)
    ports_.log.write(Level::Warning, "cannot write the status file: " + w.error().message);
  if (!options_.metrics_path.empty())
    if (auto w = ports_.files.write_atomic(options_.metrics_path, render_metrics(s), 0644); !w)
      ports_.log.write(Level::Warning, "cannot write the metrics file: " + w.error().message);
}

int Agent::run() {
  Clock& clock = ports_.clock;
  Scheduler sched(options_.schedule, clock.now());
  const auto watchdog = ports_.notifier.watchdog();
  const Millis ping_every = watchdog ? std::max(Millis(1), duration_cast<Millis>(*watchdog / 2)) : Millis::max();
  SteadyTime next_ping = clock.now();

  std::atomic<bool> stop{false};
  std::atomic<bool> done{false};
  std::atomic<SteadyTime::rep> last_progress{0};
  std::thread worker;
  ReconcileReport result;
  // Between reconciles the worker may run a liveness probe instead.
  bool probing = false;
  LivenessProbe probed;
  std::optional<SteadyTime> probe_at;
  bool ready = false;
  bool stopping = false;
  bool once_ok = false;

  for (;;) {
    SteadyTime now = clock.now();
    if (worker.joinable() && done.load() && probing) {
      worker.join();
      probing = false;
      probe_at = reconciler_.next_probe();
      if (probed.restart_due) sched.liveness_failed(now);
      // A Live condition changed: shown now, not only after the next reconcile.
      if (probed.changed && ready) publish(false);
    } else if (worker.joinable() && done.load()) {
      worker.join();
      probe_at = reconciler_.next_probe();
      sched.finished(now, Finished{result.result == ReconcileResult::LockBusy, result.retry_at});
      const bool first = !ready && result.result != ReconcileResult::LockBusy;
      report(result, first);
      ready = ready || first;
      if (options_.once && result.result != ReconcileResult::LockBusy) {
        once_ok = result.result == ReconcileResult::Ok;
        break;
      }
    }
    if (stopping && !worker.joinable()) break;
    if (!stopping && !worker.joinable() && sched.due(now)) {
      const std::string trigger = sched.reason(now);
      sched.started(now);
      done = false;
      last_progress = now.time_since_epoch().count();
      ports_.log.write(Level::Debug, "reconcile: " + trigger);
      if (ready) ports_.notifier.notify("STATUS=reconciling (" + trigger + "); " + summary_);
      worker = std::thread([&, trigger] {
        result = reconciler_.reconcile(
            trigger, stop, [&](const apply::StepEvent&) { last_progress = clock.now().time_since_epoch().count(); });
        done = true;
        ports_.events.interrupt();
      });
    } else if (!stopping && !worker.joinable() && probe_at && *probe_at <= now) {
      probing = true;
      done = false;
      last_progress = now.time_since_epoch().count();
      worker = std::thread([&] {
        probed = reconciler_.probe_liveness(stop);
        done = true;
        ports_.events.interrupt();
      });
    }

    // The watchdog: alive means this loop turns and, while a reconcile
    // runs, that it moves.
    if (watchdog && now >= next_ping) {
      const bool moving =
          !worker.joinable() || now - SteadyTime(SteadyTime::duration(last_progress.load())) < options_.stall_after;
      if (moving) ports_.notifier.notify("WATCHDOG=1");
      next_ping = now + ping_every;
    }

    SteadyTime wake = next_ping;
    if (!stopping && !worker.joinable()) wake = std::min(wake, sched.next(now));
    if (!stopping && !worker.joinable() && probe_at) wake = std::min(wake, *probe_at);
    const Millis timeout = std::clamp(duration_cast<Millis>(wake - now), Millis(0), Millis(hours(1)));
    auto events = ports_.events.wait(timeout);
    if (!events) {
      ports_.log.write(Level::Error, "cannot wait for events: " + events.error().message);
      stop = true;
      if (worker.joinable()) worker.join();
      return 1;
    }
    now = clock.now();
    for (const Event& e : events.value()) {
      switch (e.kind) {
        case EventKind::ManifestChanged:
          ports_.log.write(Level::Debug, "manifest event: " + e.detail);
          sched.manifest_changed(now);
          break;
        case EventKind::Reload:
          ports_.log.write(Level::Info, e.detail + ": reconciling now");
          sched.reload_requested(now);
          break;
        case EventKind::Stop:
          if (stopping) break;
          stopping = true;
          // The executor finishes the steps in flight and starts no other.
          stop = true;
          ports_.log.write(Level::Info,
                           e.detail + ": stopping" + (worker.joinable() ? " after the steps in flight" : ""));
          ports_.notifier.notify("STOPPING=1\nSTATUS=stopping: " + summary_);
          break;
      }
    }
  }
  if (options_.once) return once_ok ? 0 : 1;
  ports_.log.write(Level::Info, "stopped");
  return 0;
}

}  // namespace cf::agent
