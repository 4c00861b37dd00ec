// The agent's clock-driven rules with a fake clock: debounce, resync,
// SIGHUP, lock retry, the backoff schedule and holding back the steps of
// instances in backoff (never a Destroy).
#include "agent/schedule.h"

#include <gtest/gtest.h>

namespace cf::agent {
namespace {

using namespace std::chrono;
using plan::Action;

const SteadyTime T0{hours(1000)};

TEST(AgentScheduler, FirstReconcileAtOnceThenResync) {
  Scheduler s({}, T0);
  EXPECT_TRUE(s.due(T0));
  EXPECT_EQ(s.reason(T0), "start");
  s.started(T0);
  EXPECT_FALSE(s.due(T0));  // never while one runs
  s.finished(T0 + seconds(3), {});
  EXPECT_FALSE(s.due(T0 + seconds(3)));
  EXPECT_EQ(s.next(T0 + seconds(3)), T0 + seconds(3) + minutes(5));
  EXPECT_FALSE(s.due(T0 + seconds(3) + minutes(5) - milliseconds(1)));
  EXPECT_TRUE(s.due(T0 + seconds(3) + minutes(5)));
  EXPECT_EQ(s.reason(T0 + seconds(3) + minutes(5)), "resync");
}

TEST(AgentScheduler, ResyncIsConfigurable) {
  ScheduleOptions o;
  o.resync = seconds(10);
  Scheduler s(o, T0);
  s.started(T0);
  s.finished(T0, {});
  EXPECT_FALSE(s.due(T0 + seconds(9)));
  EXPECT_TRUE(s.due(T0 + seconds(10)));
}

// A multi-file commit: five events 100 ms apart give one reconcile, 500 ms
// after the last.
TEST(AgentScheduler, ABurstOfEventsIsOneReconcile) {
  Scheduler s({}, T0);
  s.started(T0);
  s.finished(T0, {});
  const SteadyTime t = T0 + seconds(10);
  for (int i = 0; i < 5; ++i) s.manifest_changed(t + milliseconds(100 * i));
  const SteadyTime last = t + milliseconds(400);
  EXPECT_FALSE(s.due(last + milliseconds(499)));
  EXPECT_EQ(s.next(last), last + milliseconds(500));
  EXPECT_TRUE(s.due(last + milliseconds(500)));
  EXPECT_EQ(s.reason(last + milliseconds(500)), "manifests changed");
  s.started(last + milliseconds(500));
  s.finished(last + milliseconds(600), {});
  // The burst is consumed: the next reconcile is the resync.
  EXPECT_EQ(s.next(last + milliseconds(600)), last + milliseconds(600) + minutes(5));
}

TEST(AgentScheduler, ADirectoryThatNeverGoesQuietIsStillApplied) {
  Scheduler s({}, T0);
  s.started(T0);
  s.finished(T0, {});
  const SteadyTime t = T0 + seconds(1);
  for (int i = 0; i < 100; ++i) {
    s.manifest_changed(t + milliseconds(300 * i));
    if (s.due(t + milliseconds(300 * i))) {
      EXPECT_EQ(i, 17);  // 5.1 s after the first: the cap of 5 s
      return;
    }
  }
  FAIL() << "never due";
}

TEST(AgentScheduler, EventsDuringAReconcileScheduleTheNextOne) {
  Scheduler s({}, T0);
  s.started(T0);
  s.manifest_changed(T0 + milliseconds(100));
  EXPECT_FALSE(s.due(T0 + seconds(1)));  // still running
  s.finished(T0 + seconds(2), {});
  EXPECT_TRUE(s.due(T0 + seconds(2)));
  EXPECT_EQ(s.reason(T0 + seconds(2)), "manifests changed");
}

TEST(AgentScheduler, SighupReconcilesAtOnce) {
  Scheduler s({}, T0);
  s.started(T0);
  s.finished(T0, {});
  s.reload_requested(T0 + seconds(1));
  EXPECT_TRUE(s.due(T0 + seconds(1)));
  EXPECT_EQ(s.reason(T0 + seconds(1)), "SIGHUP");
}

// A liveness probe that found an instance to restart asks for a reconcile now.
TEST(AgentScheduler, ALivenessFailureReconcilesAtOnce) {
  Scheduler s({}, T0);
  s.started(T0);
  s.finished(T0, {});
  EXPECT_FALSE(s.due(T0 + seconds(30)));
  s.liveness_failed(T0 + seconds(30));
  EXPECT_TRUE(s.due(T0 + seconds(30)));
  EXPECT_EQ(s.reason(T0 + seconds(30)), "liveness");
  s.started(T0 + seconds(30));
  s.finished(T0 + seconds(31), {});
  EXPECT_FALSE(s.due(T0 + seconds(32)));
}

TEST(AgentScheduler, BusyLockAndBackoffEndsAreRetried) {
  Scheduler s({}, T0);
  s.started(T0);
  s.finished(T0, Finished{true, std::nullopt});
  EXPECT_EQ(s.next(T0), T0 + seconds(2));
  EXPECT_EQ(s.reason(T0 + seconds(2)), "retry");
  s.started(T0 + seconds(2));
  s.finished(T0 + seconds(3), Finished{false, T0 + seconds(8)});
  EXPECT_EQ(s.next(T0 + seconds(3)), T0 + seconds(8));
  EXPECT_TRUE(s.due(T0 + seconds(8)));
}

TEST(AgentBackoff, DoublesFrom5sTo10MinWithoutJitterAtTheMiddle) {
  Backoff b({}, [] { return 0.5; });
  std::vector<long long> got;
  for (int i = 0; i < 10; ++i) got.push_back(b.failed("bot", T0).count());
  EXPECT_EQ(got, (std::vector<long long>{5000, 10000, 20000, 40000, 80000, 160000, 320000, 600000, 600000, 600000}));
}

TEST(AgentBackoff, JitterIsPlusMinus20Percent) {
  Backoff low({}, [] { return 0.0; });
  Backoff high({}, [] { return 0.75; });
  EXPECT_EQ(low.failed("a", T0), milliseconds(4000));
  EXPECT_EQ(low.failed("a", T0), milliseconds(8000));
  EXPECT_EQ(high.failed("a", T0), milliseconds(5500));
  EXPECT_EQ(high.failed("a", T0), milliseconds(11000));
  for (int i = 0; i < 20; ++i) high.failed("a", T0);
  EXPECT_EQ(high.failed("a", T0), milliseconds(660000));  // the cap, then the jitter
}

TEST(AgentBackoff, RemainingExpiryAndResetOnSuccess) {
  Backoff b({}, [] { return 0.5; });
  EXPECT_EQ(b.remaining("bot", T0), std::nullopt);
  b.failed("bot", T0);
  b.failed("bot", T0 + seconds(5));  // 10 s from there
  EXPECT_EQ(b.failures("bot"), 2u);
  EXPECT_EQ(b.remaining("bot", T0 + seconds(6)), milliseconds(9000));
  EXPECT_EQ(b.next_expiry(T0 + seconds(6)), T0 + seconds(15));
  EXPECT_EQ(b.remaining("bot", T0 + seconds(15)), std::nullopt);
  b.succeeded("bot");
  EXPECT_EQ(b.failures("bot"), 0u);
  EXPECT_EQ(b.failed("bot", T0), milliseconds(5000));  // from the start again
}

plan::Step step(const std::string& instance, Action a, std::vector<std::size_t> deps = {}) {
  plan::Step s;
  s.instance = instance;
  s.action = a;
  s.depends_on = std::move(deps);
  return s;
}

TEST(AgentHoldBack, StepsOfInstancesInBackoffAreLeftOutAndIndexesRenumbered) {
  plan::Plan p;
  p.steps = {step("", Action::Repair),              // 0 host
             step("alpha", Action::Create, {0}),    // 1
             step("bad", Action::Repair, {0}),      // 2 held
             step("bad", Action::Restart, {0, 2}),  // 3 held
             step("gone", Action::Destroy),         // 4
             step("zeta", Action::Repair, {0}),     // 5
             step("zeta", Action::Start, {0, 5})};  // 6
  Filtered f = hold_back(p, [](const std::string& n) -> std::optional<Millis> {
    if (n == "bad" || n == "gone") return milliseconds(7000);
    return std::nullopt;
  });
  ASSERT_EQ(f.plan.steps.size(), 5u);
  EXPECT_EQ(f.origin, (std::vector<std::size_t>{0, 1, 4, 5, 6}));
  EXPECT_EQ(f.plan.steps[1].depends_on, (std::vector<std::size_t>{0}));
  EXPECT_EQ(f.plan.steps[2].instance, "gone");  // a destroy is never held back
  EXPECT_EQ(f.plan.steps[4].depends_on, (std::vector<std::size_t>{0, 3}));
  ASSERT_EQ(f.held.size(), 1u);
  EXPECT_EQ(f.held[0], (HeldBack{"bad", milliseconds(7000), {Action::Repair, Action::Restart}}));
}

TEST(AgentHoldBack, ADestroyAfterAHeldStepLosesThatDependencyOnly) {
  plan::Plan p;
  p.steps = {step("", Action::Repair), step("old", Action::Repair, {0}), step("old", Action::Destroy, {1})};
  Filtered f = hold_back(p, [](const std::string& n) -> std::optional<Millis> {
    if (n == "old") return milliseconds(1000);
    return std::nullopt;
  });
  ASSERT_EQ(f.plan.steps.size(), 2u);
  EXPECT_EQ(f.plan.steps[1].action, Action::Destroy);
  EXPECT_TRUE(f.plan.steps[1].depends_on.empty());
}

TEST(AgentHoldBack, NothingInBackoffKeepsThePlan) {
  plan::Plan p;
  p.steps = {step("", Action::Repair), step("a", Action::Create, {0})};
  Filtered f = hold_back(p, [](const std::string&) { return std::optional<Millis>{}; });
  EXPECT_EQ(f.plan, p);
  EXPECT_TRUE(f.held.empty());
}

TEST(AgentDuration, Describe) {
  EXPECT_EQ(describe_duration(milliseconds(1500)), "1.5 s");
  EXPECT_EQ(describe_duration(milliseconds(20000)), "20 s");
  EXPECT_EQ(describe_duration(milliseconds(250000)), "4 min 10 s");
  EXPECT_EQ(describe_duration(minutes(10)), "10 min");
}

}  // namespace
}  // namespace cf::agent
