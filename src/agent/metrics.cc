#include "agent/metrics.h"

#include <fmt/core.h>

#include <chrono>

namespace cf::agent {

using namespace std::chrono;

std::string render_metrics(const AgentStatus& s) {
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  metric("clawfleet_reconcile_total", "counter",
         "Reconciles the agent ran since it started (not counting lock-busy retries).");
  out += fmt::format("clawfleet_reconcile_total {}\n", s.reconciles);
  metric("clawfleet_reconcile_errors_total", "counter",
         "Reconciles with a failed step, or whose manifests or host could not be read.");
  out += fmt::format("clawfleet_reconcile_errors_total {}\n", s.errors);
  metric("clawfleet_reconcile_duration_seconds", "gauge", "How long the last reconcile took.");
  out += fmt::format("clawfleet_reconcile_duration_seconds {:.3f}\n", s.last ? s.last->duration_seconds : 0.0);
  metric("clawfleet_instances", "gauge", "Instances whose condition is True, by condition.");
  for (auto t : kConditionTypes) {
    std::size_t n = 0;
    for (const auto& [_, i] : s.instances) n += i.is(t);
    out += fmt::format("clawfleet_instances{{condition=\"{}\"}} {}\n", to_string(t), n);
  }
  metric("clawfleet_manifest_error", "gauge", "1 while the manifests do not load (the last good set is enforced).");
  out += fmt::format("clawfleet_manifest_error {}\n", s.manifest_error.empty() ? 0 : 1);
  metric("clawfleet_last_success_timestamp_seconds", "gauge",
         "When the last reconcile without errors finished, in seconds since the epoch (0: none yet).");
  out += fmt::format("clawfleet_last_success_timestamp_seconds {}\n",
                     s.last_success ? duration_cast<seconds>(s.last_success->time_since_epoch()).count() : 0);
  return out;
}

}  // namespace cf::agent
