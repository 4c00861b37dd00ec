// clawfleet validate: load every manifest, report every diagnostic, exit 1
// on any error. Reads files only; touches nothing on the host.
#include <fmt/core.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "cli/verbs.h"
#include "core/env.h"
#include "core/text.h"
#include "manifest/secrets.h"

namespace cf::cli {
namespace {

nlohmann::json to_json(const Diagnostic& d) {
  return {{"severity", d.severity == Severity::Error ? "error" : "warning"},
          {"file", d.where.file},
          {"line", d.where.line},
          {"column", d.where.column},
          {"path", d.path},
          {"message", d.message}};
}

std::string summary(const manifest::LoadResult& r) {
  const auto& d = r.diagnostics;
  std::string s =
      plural(r.fleet.instances.size(), "instance", "instances") + ", " + plural(d.error_count(), "error", "errors");
  if (d.warning_count()) s += ", " + plural(d.warning_count(), "warning", "warnings");
  return s;
}

}  // namespace

void add_validate(CLI::App& app, ValidateOptions& opts) {
  auto* cmd = app.add_subcommand("validate", "Check manifests and report every problem with file:line:col");
  add_manifest_options(*cmd, opts.manifests);
  cmd->add_flag("--json", opts.json, "Print diagnostics as JSON on stdout");
  cmd->add_flag("--check-secrets", opts.check_secrets,
                "Also read every referenced secret (files, variables, credentials) and report those missing or empty");
}

int run_validate(const ValidateOptions& opts) {
  // Pass 1: read and load every manifest; all problems become diagnostics.
  RealFileReader fs;
  manifest::LoadResult r = manifest::load(fs, source_spec(opts.manifests));

  // Pass 2 (optional): secrets are not part of a manifest's validity, but an
  // operator can ask whether this machine has every one the fleet needs.
  if (opts.check_secrets) manifest::check_secrets(r, fs, RealEnvironment());
  const Diagnostics& d = r.diagnostics;

  // Pass 3: report. Diagnostics go to stderr like a compiler's; the summary
  // (or the JSON document) to stdout for scripts.
  if (opts.json) {
    nlohmann::json out{{"format_version", 1},
                       {"valid", !d.has_errors()},
                       {"files", r.files},
                       {"instances", r.fleet.instances.size()},
                       {"errors", d.error_count()},
                       {"warnings", d.warning_count()},
                       {"diagnostics", nlohmann::json::array()}};
    for (const auto& diag : d.all()) out["diagnostics"].push_back(to_json(diag));
    fmt::print("{}\n", out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
  } else {
    for (const auto& diag : d.all()) fmt::print(stderr, "{}\n", printable(format(diag)));
    if (d.truncated()) fmt::print(stderr, "... and {} more not shown\n", d.dropped());
    fmt::print("{}\n", summary(r));
  }
  return d.has_errors() ? 1 : 0;
}

}  // namespace cf::cli
