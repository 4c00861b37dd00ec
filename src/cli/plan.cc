// clawfleet plan: what apply would do, without doing it. Reads manifests,
// secrets (for their digests only) and the host; changes nothing. Exit 0:
// no changes; 2: changes; 1: error (Terraform's -detailed-exitcode).
#include <fmt/core.h>

#include <cstdio>

#include "cli/engine.h"
#include "cli/plan_output.h"
#include "cli/saved_plan.h"
#include "cli/verbs.h"
#include "host/state/files.h"

namespace cf::cli {
namespace {

int plan_failed(const std::string& message) { return fail_verb("plan", message); }

}  // namespace

void add_plan_options(CLI::App& cmd, PlanOptions& opts) {
  add_manifest_options(cmd, opts.manifests);
  cmd.add_flag("--json", opts.json, "Print the plan as JSON (docs/plan-format.md)");
  cmd.add_flag("--no-color", opts.no_color, "No colour even on a terminal (also: NO_COLOR)");
  cmd.add_option("--max-destroy", opts.max_destroy, "Most instances one run may destroy")->capture_default_str();
  cmd.add_flag("--allow-destroy", opts.allow_destroy,
               "Lift --max-destroy and protect: true (destroy and replace whatever the plan asks for)");
}

void add_plan(CLI::App& app, PlanOptions& opts) {
  auto* cmd = app.add_subcommand("plan", "Show what apply would change on this host, and change nothing");
  add_plan_options(*cmd, opts);
  cmd->add_option("-o,--out", opts.out_file, "Also save the plan (0600) for `clawfleet apply FILE`");
}

int run_plan(const PlanOptions& opts) {
  // Pass 1: the desired fleet and the digests of its secrets.
  RealFileReader fs;
  auto desired = load_desired(opts.manifests, fs);
  if (!desired) return plan_failed(desired.error().message);

  // Pass 2: observe the host (read-only) and diff.
  auto host = open_host(desired.value().fleet.host);
  if (!host) return plan_failed(host.error().message);
  const apply::Target target{desired.value(), true, plan::Options{opts.max_destroy, opts.allow_destroy}};
  auto planned = apply::plan_once(target, host.value()->ports());
  if (!planned) return plan_failed(planned.error().message);

  // Pass 3: report; the exit code says whether anything would change.
  const plan::Plan& p = planned.value().plan;
  fmt::print("{}", opts.json ? render_plan_json(p) : render_plan_text(p, use_color(opts.no_color)));

  // Pass 4 (-o): save it with what it was made from, so apply can tell
  // whether the manifests or the host moved on since.
  if (!opts.out_file.empty()) {
    SavedPlan saved = saved_plan_for(desired.value(), planned.value(), target.options);
    if (auto s = host::write_file_atomic(opts.out_file, to_json(saved), 0600); !s)
      return plan_failed(s.error().message);
  }
  return p.empty() ? 0 : 2;
}

}  // namespace cf::cli
