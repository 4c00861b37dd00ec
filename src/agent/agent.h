// The agent's main loop: waits on the event source (manifest directory,
// signals), decides with the Scheduler when to reconcile, runs each
// reconcile on a worker thread so that it stays responsive, and reports to
// the service manager (READY, STATUS, WATCHDOG) and to the status and
// metrics files after each reconcile.
//
// WATCHDOG=1 is sent from this loop only, never from a side thread: a loop
// that stalls (a deadlock, SIGSTOP) stops pinging and systemd restarts the
// service. While a reconcile runs the loop pings only as long as the
// reconcile made progress (a step started or ended) within `stall_after`,
// so a reconcile stuck beyond every deadline it has is restarted too.
//
// Between reconciles the worker also runs the liveness probes
// (Reconciler::probe_liveness, when next_probe() is due); one that finds an
// instance to restart makes a reconcile due at once ("liveness").
#pragma once

#include <atomic>
#include <string>

#include "agent/clock.h"
#include "agent/ports.h"
#include "agent/reconciler.h"
#include "agent/schedule.h"

namespace cf::agent {

struct AgentOptions {
  ScheduleOptions schedule;
  std::string metrics_path;  // "" : no metrics file
  bool once = false;         // one reconcile, then exit
  Millis stall_after{std::chrono::minutes(20)};
};

// A reconcile may legitimately go this long without a step event: the
// longest step (a replace: a teardown, then a converge) waits for up to
// six systemd jobs and one health gate; plus a minute of slack.
Millis stall_bound(const apply::ExecOptions& exec);

struct AgentPorts {
  EventSource& events;
  Notifier& notifier;
  FileWriter& files;
  Log& log;
  Clock& clock;
};

class Agent {
 public:
  Agent(AgentPorts ports, Reconciler& reconciler, AgentOptions options);
  // Until SIGTERM (or, with `once`, one reconcile). Exit status: 0 after a
  // clean stop (or a successful --once), 1 when the event source fails or
  // the --once reconcile did not succeed.
  int run();

 private:
  void report(const ReconcileReport& r, bool first);
  // STATUS=, the status file and the metrics, from the reconciler's status.
  void publish(bool first);

  AgentPorts ports_;
  Reconciler& reconciler_;
  AgentOptions options_;
  // The reconciler's status belongs to the worker while it runs: the loop
  // shows the summary of the last finished reconcile.
  std::string summary_ = "starting";
};

}  // namespace cf::agent
