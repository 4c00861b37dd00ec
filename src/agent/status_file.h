// The agent's status file, <stateRoot>/agent-status.json (docs/agent.md):
// written after every reconcile, read back by `clawfleet status`, which
// shows it as a few lines. Pure: time comes in as arguments; writing the
// file is the caller's (ports.h).
#pragma once

#include <string>

#include "agent/clock.h"
#include "agent/status.h"
#include "core/result.h"

namespace cf::agent {

// The status file: {"format_version":1, ...}, keys in a fixed order, times
// RFC 3339 UTC; `now` gives retry_in_seconds. Ends with a newline.
std::string render_status_file(const AgentStatus& s, WallTime now);

// The inverse of render_status_file, for `clawfleet status`; an error names
// what is wrong ("agent-status.json: not JSON: ...").
Result<AgentStatus> parse_status_file(const std::string& text);

// For `clawfleet status`: the agent's view, a few lines:
//   agent: pid 42, running, updated 2026-01-01T00:00:04Z: 12 instances, 11 ready, 1 degraded: ...
//   agent: manifests broken since ...: FILE:LINE:COL: error: ... (enforcing the last good set)
//   agent: last reconcile ok (resync) at ..., 0 steps, 0.2 s
//   bot-7: Degraded StepFailed: health gate ...; retry in 8 s (3 failures)
// `running`: whether its pid is alive (a stale file says "not running").
std::string render_agent_text(const AgentStatus& s, bool running, WallTime now);

}  // namespace cf::agent
