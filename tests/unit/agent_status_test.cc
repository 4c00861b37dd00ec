// Conditions, the STATUS= line, the metrics text and the status file.
#include "agent/status.h"

#include <gtest/gtest.h>

#include "agent/metrics.h"
#include "agent/status_file.h"

namespace cf::agent {
namespace {

using namespace std::chrono;

const WallTime W0{seconds(1767225600)};  // 2026-01-01T00:00:00Z

InstanceOutcome converged() {
  InstanceOutcome o;
  o.generation = "sha256:g1";
  return o;
}

InstanceConditions with(const std::string& name, const InstanceOutcome& o) {
  InstanceConditions s;
  s.name = name;
  update_conditions(s, o, W0);
  return s;
}

TEST(AgentConditions, ConvergedInstanceIsReady) {
  InstanceConditions s = with("bot", converged());
  ASSERT_EQ(s.conditions.size(), 4u);
  EXPECT_EQ(s.conditions[0], (Condition{ConditionType::Ready, true, "Converged", "", "sha256:g1", W0}));
  EXPECT_EQ(s.conditions[1], (Condition{ConditionType::Progressing, false, "Converged", "", "sha256:g1", W0}));
  EXPECT_EQ(s.conditions[2], (Condition{ConditionType::Degraded, false, "NoFailures", "", "sha256:g1", W0}));
  EXPECT_EQ(s.conditions[3], (Condition{ConditionType::RestartRequired, false, "UpToDate", "", "sha256:g1", W0}));
}

// Live, from what liveness knows: absent when not watched, the reasons exact.
TEST(AgentConditions, LiveSaysHowLongHealthzFailedAndWhy) {
  InstanceOutcome o = converged();
  EXPECT_EQ(with("bot", o).find(ConditionType::Live), nullptr);
  o.live = LiveOutcome{};
  EXPECT_EQ(*with("bot", o).find(ConditionType::Live),
            (Condition{ConditionType::Live, true, "Live", "", "sha256:g1", W0}));
  o.live = LiveOutcome{milliseconds(252000), "/healthz: connection refused", "", std::nullopt};
  EXPECT_EQ(*with("bot", o).find(ConditionType::Live),
            (Condition{ConditionType::Live, false, "Failing", "failing for 4 min 12 s: /healthz: connection refused",
                       "sha256:g1", W0}));
  o.live->failing_for = minutes(6);
  o.live->held = minutes(2);
  EXPECT_EQ(with("bot", o).find(ConditionType::Live)->message,
            "failing for 6 min: /healthz: connection refused; restart held back for 2 min (backoff)");
  o.live = LiveOutcome{std::nullopt, "", "restarted after failing for 5 min: /healthz answered 503", std::nullopt};
  EXPECT_EQ(*with("bot", o).find(ConditionType::Live),
            (Condition{ConditionType::Live, true, "Restarted",
                       "restarted after failing for 5 min: /healthz answered 503", "sha256:g1", W0}));
  // Between reconciles: the status moves, and with it the transition time.
  InstanceConditions s = with("bot", o);
  update_live(s, LiveOutcome{seconds(30), "GET /healthz: no answer within 5000 ms", "", std::nullopt},
              W0 + seconds(30));
  EXPECT_EQ(*s.find(ConditionType::Live),
            (Condition{ConditionType::Live, false, "Failing",
                       "failing for 30 s: GET /healthz: no answer within 5000 ms", "sha256:g1", W0 + seconds(30)}));
  update_live(s, std::nullopt, W0 + seconds(60));
  EXPECT_EQ(s.find(ConditionType::Live), nullptr);
}

// lastTransitionTime moves only when a condition's status changes.
TEST(AgentConditions, TransitionTimesChangeWithStatusOnly) {
  InstanceConditions s = with("bot", converged());
  const WallTime t1 = W0 + seconds(60);
  mark_progressing(s, "restart", t1);
  EXPECT_EQ(*s.find(ConditionType::Progressing),
            (Condition{ConditionType::Progressing, true, "Restart", "restart in progress", "sha256:g1", t1}));

  InstanceOutcome failed = converged();
  failed.failed = true;
  failed.error = "instance bot: health gate: /ready timed out after 60 s";
  failed.backoff = seconds(5);
  failed.pending = {"restart"};
  failed.restart_pending = true;
  const WallTime t2 = W0 + seconds(120);
  update_conditions(s, failed, t2);
  EXPECT_EQ(*s.find(ConditionType::Ready),
            (Condition{ConditionType::Ready, false, "StepFailed", failed.error, "sha256:g1", t2}));
  EXPECT_EQ(*s.find(ConditionType::Progressing),
            (Condition{ConditionType::Progressing, false, "BackingOff", "retry in 5.0 s", "sha256:g1", t2}));
  EXPECT_EQ(*s.find(ConditionType::Degraded), (Condition{ConditionType::Degraded, true, "StepFailed",
                                                         failed.error + "; retry in 5.0 s", "sha256:g1", t2}));
  EXPECT_EQ(*s.find(ConditionType::RestartRequired),
            (Condition{ConditionType::RestartRequired, true, "RestartPending",
                       "restart pending: the guest has not been restarted yet", "sha256:g1", t2}));

  // Still failing, held back: Degraded stays True since t2.
  InstanceOutcome held = converged();
  held.backoff = seconds(3);
  held.last_error = "health gate: /ready timed out after 60 s";
  held.pending = {"restart"};
  held.restart_pending = true;
  update_conditions(s, held, W0 + seconds(122));
  EXPECT_EQ(s.find(ConditionType::Degraded)->last_transition, t2);
  EXPECT_EQ(s.find(ConditionType::Degraded)->reason, "BackingOff");
  EXPECT_EQ(s.find(ConditionType::Ready)->message, "restart held back; retry in 3.0 s");

  // Recovered: everything flips at t3, Ready with the new generation.
  const WallTime t3 = W0 + seconds(200);
  InstanceOutcome ok = converged();
  ok.generation = "sha256:g2";
  update_conditions(s, ok, t3);
  EXPECT_EQ(*s.find(ConditionType::Ready), (Condition{ConditionType::Ready, true, "Converged", "", "sha256:g2", t3}));
  EXPECT_EQ(s.find(ConditionType::Degraded)->last_transition, t3);
  EXPECT_EQ(s.find(ConditionType::Progressing)->last_transition, t2);  // False since the failure
  EXPECT_EQ(s.find(ConditionType::RestartRequired)->last_transition, t3);
}

TEST(AgentConditions, StoppedAsAskedIsReady) {
  InstanceOutcome o = converged();
  o.desired_running = false;
  InstanceConditions s = with("bot", o);
  EXPECT_EQ(*s.find(ConditionType::Ready),
            (Condition{ConditionType::Ready, true, "Stopped", "stopped, as the manifests ask", "sha256:g1", W0}));
}

AgentStatus fleet_of_12() {
  AgentStatus s;
  for (int i = 1; i <= 12; ++i) {
    InstanceOutcome o = converged();
    if (i == 7) {
      o.failed = true;
      o.error = "instance bot-7: health gate timeout";
    }
    s.instances["bot-" + std::to_string(i)] = with("bot-" + std::to_string(i), o);
  }
  return s;
}

TEST(AgentSummary, TheOneLineStatus) {
  AgentStatus s = fleet_of_12();
  EXPECT_EQ(summary_line(s), "12 instances, 11 ready, 1 degraded: bot-7 health gate timeout");
  s.manifest_error = "/etc/clawfleet/a.yaml:3:7: error: spec.model: must not be empty";
  s.have_desired = true;
  EXPECT_EQ(summary_line(s),
            "manifests broken (keeping the last good set): /etc/clawfleet/a.yaml:3:7: error: spec.model: must not be "
            "empty; 12 instances, 11 ready, 1 degraded: bot-7 health gate timeout");
  AgentStatus empty;
  EXPECT_EQ(summary_line(empty), "0 instances, 0 ready");
  InstanceOutcome pending = converged();
  pending.pending = {"create"};
  empty.instances["new"] = with("new", pending);
  EXPECT_EQ(summary_line(empty), "1 instance, 0 ready, 1 progressing");
}

TEST(AgentMetrics, ExactText) {
  AgentStatus s = fleet_of_12();
  s.reconciles = 3;
  s.errors = 1;
  s.last = ReconcileRecord{"resync", W0, W0 + milliseconds(1250), 1.25, ReconcileResult::Failed, 4, 1, 0, ""};
  s.last_success = W0 - seconds(300);
  EXPECT_EQ(
      render_metrics(s),
      "# HELP clawfleet_reconcile_total Reconciles the agent ran since it started (not counting lock-busy retries).\n"
      "# TYPE clawfleet_reconcile_total counter\n"
      "clawfleet_reconcile_total 3\n"
      "# HELP clawfleet_reconcile_errors_total Reconciles with a failed step, or whose manifests or host could not be read.\n"
      "# TYPE clawfleet_reconcile_errors_total counter\n"
      "clawfleet_reconcile_errors_total 1\n"
      "# HELP clawfleet_reconcile_duration_seconds How long the last reconcile took.\n"
      "# TYPE clawfleet_reconcile_duration_seconds gauge\n"
      "clawfleet_reconcile_duration_seconds 1.250\n"
      "# HELP clawfleet_instances Instances whose condition is True, by condition.\n"
      "# TYPE clawfleet_instances gauge\n"
      "clawfleet_instances{condition=\"Ready\"} 11\n"
      "clawfleet_instances{condition=\"Progressing\"} 0\n"
      "clawfleet_instances{condition=\"Degraded\"} 1\n"
      "clawfleet_instances{condition=\"RestartRequired\"} 0\n"
      "clawfleet_instances{condition=\"ChannelsReady\"} 0\n"
      "clawfleet_instances{condition=\"Live\"} 0\n"
      "# HELP clawfleet_manifest_error 1 while the manifests do not load (the last good set is enforced).\n"
      "# TYPE clawfleet_manifest_error gauge\n"
      "clawfleet_manifest_error 0\n"
      "# HELP clawfleet_last_success_timestamp_seconds When the last reconcile without errors finished, in seconds since the epoch (0: none yet).\n"
      "# TYPE clawfleet_last_success_timestamp_seconds gauge\n"
      "clawfleet_last_success_timestamp_seconds 1767225300\n");
}

TEST(AgentStatusFile, RoundTripsAndHasAFixedShape) {
  AgentStatus s = fleet_of_12();
  s.pid = 42;
  s.manifests = "/etc/clawfleet";
  s.manifest_error = "a.yaml:1:1: error: bad";
  s.manifest_error_since = W0;
  s.have_desired = true;
  s.last = ReconcileRecord{"manifests changed", W0, W0 + seconds(2), 2.0, ReconcileResult::Error, 0, 0, 1, "x"};
  s.reconciles = 2;
  s.errors = 1;
  s.instances["bot-7"].failures = 2;
  s.instances["bot-7"].retry_at = W0 + seconds(10);
  const std::string text = render_status_file(s, W0 + seconds(4));
  EXPECT_EQ(text.rfind("{\n  \"format_version\": 1,\n  \"pid\": 42,\n  \"updated\": \"2026-01-01T00:00:04Z\",\n", 0),
            0u)
      << text;
  EXPECT_NE(text.find("\"retry_in_seconds\": 6"), std::string::npos) << text;
  EXPECT_NE(text.find("\"enforcing_last_good\": true"), std::string::npos) << text;
  auto back = parse_status_file(text);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back.value(), s);
}

TEST(AgentStatusText, WhatClawfleetStatusShows) {
  AgentStatus s = fleet_of_12();
  s.pid = 42;
  s.manifest_error = "a.yaml:2:1: error: invalid YAML: end of sequence flow not found";
  s.manifest_error_since = W0;
  s.have_desired = true;
  s.last = ReconcileRecord{"resync", W0, W0 + seconds(2), 2.0, ReconcileResult::Error, 0, 0, 0, "x"};
  s.instances["bot-7"].failures = 2;
  s.instances["bot-7"].retry_at = W0 + seconds(10);
  EXPECT_EQ(render_agent_text(s, false, W0),
            "agent: pid 42, not running: manifests broken (keeping the last good set): a.yaml:2:1: error: invalid "
            "YAML: end of sequence flow not found; 12 instances, 11 ready, 1 degraded: bot-7 health gate timeout\n"
            "agent: manifests broken since 2026-01-01T00:00:00Z: a.yaml:2:1: error: invalid YAML: end of sequence flow "
            "not found (enforcing the last good set)\n"
            "agent: last reconcile error (resync) at 2026-01-01T00:00:02Z, 0 steps, 2.0 s: x\n"
            "bot-7: Degraded=True StepFailed: instance bot-7: health gate timeout (2 failures, next try at "
            "2026-01-01T00:00:10Z) since 2026-01-01T00:00:00Z\n");
}

// Text from outside that is not UTF-8 (a VMM's reply, a file's bytes) is
// written as U+FFFD, never an exception.
TEST(AgentStatusFile, BytesThatAreNotUtf8AreReplaced) {
  AgentStatus s;
  s.manifest_error = "a.yaml:1:1: error: \xff\xfe";
  const std::string text = render_status_file(s, W0);
  EXPECT_NE(text.find("error: \xef\xbf\xbd\xef\xbf\xbd"), std::string::npos) << text;
}

TEST(AgentStatusFile, RefusesWhatItDidNotWrite) {
  EXPECT_EQ(parse_status_file("{").error().message.rfind("not a valid agent status file: ", 0), 0u);
  EXPECT_EQ(parse_status_file("{\"format_version\":2}").error().message, "unknown format_version (expected 1)");
}

}  // namespace
}  // namespace cf::agent
