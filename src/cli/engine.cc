#include "cli/engine.h"

#include <fmt/core.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include "cli/plan_output.h"
#include "cli/saved_plan.h"
#include "cli/status_model.h"
#include "core/env.h"
#include "core/text.h"
#include "manifest/desired_state.h"
#include "manifest/secrets.h"

namespace cf::cli {

Result<model::DesiredState> load_desired(const ManifestOptions& opts, FileReader& fs) {
  manifest::LoadedDesired d = manifest::load_desired(fs, RealEnvironment(), source_spec(opts));
  for (const auto& diag : d.diagnostics.all()) fmt::print(stderr, "{}\n", printable(format(diag)));
  if (d.diagnostics.has_errors()) return Error{"the manifests have errors; nothing was planned"};
  if (!d.secret_problems.empty()) return Error{d.secret_problems.front()};
  return std::move(d.state);
}

std::unique_ptr<apply::HostOpener> real_host() { return apply::real_host_opener(manifest::real_secret_reader()); }

Result<std::unique_ptr<apply::HostSession>> open_host(const model::Host& host) { return real_host()->open(host); }

SavedPlan saved_plan_for(const model::DesiredState& d, const apply::Planned& p, const plan::Options& options) {
  return SavedPlan{manifest_digest(d.fleet, d.digests, d.ca_digests), observed_fingerprint(p.observed), options,
                   render_plan_json(p.plan)};
}

apply::ExecOptions exec_options(const ExecCliOptions& opts) {
  apply::ExecOptions exec;
  exec.parallelism = opts.parallelism ? opts.parallelism : std::max(1u, std::thread::hardware_concurrency());
  exec.job_deadline = std::chrono::seconds(opts.job_timeout_s);
  exec.health_deadline = std::chrono::seconds(opts.health_timeout_s);
  return exec;
}

int fail_verb(const std::string& verb, const std::string& message) {
  fmt::print(stderr, "clawfleet {}: {}\n", verb, printable(message));
  return 1;
}

bool use_color(bool no_color_flag) {
  const char* no_color = std::getenv("NO_COLOR");
  return !no_color_flag && !(no_color && *no_color) && ::isatty(STDOUT_FILENO);
}

}  // namespace cf::cli
