// Liveness after the health gate (docs/agent.md#liveness): per instance,
// since when its gateway's /healthz has failed without a break, from the
// answers the agent gets (a probe every probe_interval between reconciles,
// and one after each reconcile). A success ends the run of failures. Pure
// and clock-driven: the caller passes `now`.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/clock.h"
#include "core/result.h"

namespace cf::agent {

// How often /healthz is asked: a tenth of the period, within 5-30 s, so
// that a period is judged on about ten answers.
Millis probe_interval(Millis fail_after);

class Liveness {
 public:
  struct Entry {
    std::optional<SteadyTime> failing_since;  // the first failure of the current run
    std::string error;                        // the last failure's
    std::optional<SteadyTime> live_since;     // the first success since the last failure
    std::string restarted;                    // why the agent last restarted it; "" once forgiven
  };
  enum class Change { None, Failing, Recovered };

  // One answer of the instance's /healthz; says whether it started or
  // stopped failing.
  Change record(const std::string& name, const Status& answer, SteadyTime now);
  // The instances liveness watches now; the others are forgotten (a VM
  // stopped or restarting is not failing).
  void keep_only(const std::set<std::string>& names);
  // The agent restarted it (`why`, shown until forgiven): the failures
  // before the restart no longer count.
  void restarted(const std::string& name, std::string why);
  // It stayed live long enough after its restart: the restart is history.
  void forgive(const std::string& name);

  const Entry* find(const std::string& name) const;
  // How long it has failed without a break; nullopt while it answers.
  std::optional<Millis> failing_for(const std::string& name, SteadyTime now) const;
  // How long it has answered since its last failure; nullopt while failing
  // or before any answer.
  std::optional<Millis> live_for(const std::string& name, SteadyTime now) const;
  // Those that have failed without a break for at least `fail_after`.
  std::vector<std::string> due(Millis fail_after, SteadyTime now) const;

 private:
  std::map<std::string, Entry> entries_;
};

}  // namespace cf::agent
