// What the verbs share on top of the converge engine (apply/engine.h):
// loading the desired state with its diagnostics printed, opening the real
// host, the executor's options and colour.
#pragma once

#include <memory>
#include <string>

#include "apply/engine.h"
#include "apply/executor.h"
#include "apply/session.h"
#include "cli/verbs.h"
#include "core/fs.h"
#include "model/desired.h"
#include "plan/plan.h"

namespace cf::cli {

// Prints every diagnostic to stderr. An error when any manifest has an
// error (a plan of half the fleet would destroy the other half) or a
// secret cannot be read (the plan could not tell whether it changed).
Result<model::DesiredState> load_desired(const ManifestOptions& opts, FileReader& fs);

// The real host and its journal, with secrets read through the real file
// system and environment (apply::real_host_opener).
std::unique_ptr<apply::HostOpener> real_host();
Result<std::unique_ptr<apply::HostSession>> open_host(const model::Host& host);

// The saved form of a plan just made (cli/saved_plan.h).
struct SavedPlan;
SavedPlan saved_plan_for(const model::DesiredState& d, const apply::Planned& p, const plan::Options& options);

// The executor's options from the command line (apply, agent): deadlines
// and workers.
apply::ExecOptions exec_options(const ExecCliOptions& opts);

// Colour on a terminal unless --no-color or NO_COLOR (https://no-color.org).
bool use_color(bool no_color_flag);

}  // namespace cf::cli
