// The agent's Prometheus metrics, written after every reconcile for
// node_exporter's textfile collector (docs/agent.md#metrics). Pure; writing
// the file is the caller's (ports.h).
#pragma once

#include <string>

#include "agent/status.h"

namespace cf::agent {

// Prometheus text format 0.0.4 (node_exporter's textfile collector).
std::string render_metrics(const AgentStatus& s);

}  // namespace cf::agent
