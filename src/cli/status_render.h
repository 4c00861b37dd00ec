// clawfleet status, rendered (docs/cli.md#status): the table, the detail
// view and the JSON document of a FleetStatus (status_model.h). Text from
// the host or the journal is shown printable (control characters as \xNN).
#pragma once

#include <string>

#include "cli/status_model.h"

namespace cf::cli {

// "NAME STATE HEALTH GENERATION IP PORT LAST ERROR", one row per instance,
// then "3 instances: 2 ready, 1 degraded" (and a host line when its step
// is not settled).
std::string render_status_table(const FleetStatus& s);
// Everything known of each instance in `s` (the verb keeps the one asked
// for), one field a line; then the host line as in the table.
std::string render_status_detail(const FleetStatus& s);
// {"format_version":1, "manifests_loaded", "instances", "host", "summary"}; ends with a newline.
std::string render_status_json(const FleetStatus& s);

}  // namespace cf::cli
