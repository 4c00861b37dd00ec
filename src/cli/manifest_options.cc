#include "cli/verbs.h"

namespace cf::cli {

void add_manifest_options(CLI::App& cmd, ManifestOptions& opts) {
  auto* dir = cmd.add_option("--manifests", opts.dir, "Directory of *.yaml/*.yml manifests")->capture_default_str();
  cmd.add_option("-f,--file", opts.files, "A manifest file (repeatable); replaces --manifests")
      ->excludes(dir)
      ->allow_extra_args(false);
}

manifest::SourceSpec source_spec(const ManifestOptions& opts) { return manifest::SourceSpec{opts.dir, opts.files}; }

}  // namespace cf::cli
