#include "cli/engine.h"

#include <fmt/core.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "apply/desired.h"
#include "cli/plan_output.h"
#include "cli/saved_plan.h"
#include "cli/status_model.h"
#include "core/env.h"
#include "host/state.h"
#include "host/vmm.h"
#include "manifest/secrets.h"

namespace cf::cli {

Result<Desired> load_desired(const ManifestOptions& opts, FileReader& fs) {
  Desired d;
  d.loaded = manifest::load(fs, source_spec(opts));
  for (const auto& diag : d.loaded.diagnostics.all()) fmt::print(stderr, "{}\n", format(diag));
  if (d.loaded.diagnostics.has_errors()) return Error{"the manifests have errors; nothing was planned"};

  Digests digests = read_digests(d.loaded.fleet, fs, RealEnvironment());
  if (!digests.problems.empty()) return Error{digests.problems.front()};
  d.digests = std::move(digests.digests);
  return d;
}

Result<std::unique_ptr<HostAdapters>> open_host(const model::Host& host) {
  auto a = std::make_unique<HostAdapters>();
  auto systemd = host::connect_systemd();
  if (!systemd) return systemd.error();
  a->systemd = std::move(systemd.value());
  a->unit_files = host::unit_files_in("/etc/systemd/system");
  a->network = host::real_network();
  a->state = host::state_store_at(host.state_root);
  a->vmm = host::make_vmm(host.vmm.kind);
  a->disks = host::real_guest_disks();
  return a;
}

Result<std::string> HostAdapters::read_secret(const model::SecretRef& ref) {
  RealFileReader files;
  RealEnvironment env;
  return manifest::read_secret(ref, files, env);
}

Result<Planned> observe_and_plan(const Desired& d, HostAdapters& host, const plan::Options& options) {
  auto observed = host::observe(d.loaded.fleet.host, host.ports());
  if (!observed) return Error{"cannot observe the host: " + observed.error().message};
  Planned p;
  p.observed = std::move(observed.value());
  p.desired = apply::desired_for(d.loaded.fleet, true, d.digests, p.observed);
  p.plan = plan::make_plan(p.desired, p.observed, options);
  return p;
}

SavedPlan saved_plan_for(const Desired& d, const Planned& p, const plan::Options& options) {
  return SavedPlan{manifest_digest(d.loaded.fleet, d.digests), observed_fingerprint(p.observed), options,
                   render_plan_json(p.plan)};
}

bool use_color(bool no_color_flag) {
  const char* no_color = std::getenv("NO_COLOR");
  return !no_color_flag && !(no_color && *no_color) && ::isatty(STDOUT_FILENO);
}

}  // namespace cf::cli
