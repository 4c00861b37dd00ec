// One function per verb; each returns the process exit status.
#pragma once

#include <CLI/CLI.hpp>

#include "manifest/loader.h"

namespace cf::cli {

// Options every verb that reads manifests shares.
struct ManifestOptions {
  std::string dir = "/etc/clawfleet";
  std::vector<std::string> files;
};
void add_manifest_options(CLI::App& cmd, ManifestOptions& opts);
manifest::SourceSpec source_spec(const ManifestOptions& opts);

struct ValidateOptions {
  ManifestOptions manifests;
  bool json = false;
  bool check_secrets = false;
};
void add_validate(CLI::App& app, ValidateOptions& opts);
int run_validate(const ValidateOptions& opts);

struct VmOptions {
  std::string verb;  // prepare, run, stop
  std::string name;
  std::string state_root;
  int stop_timeout_s = 20;
};
void add_vm(CLI::App& app, VmOptions& opts);
int run_vm(const VmOptions& opts);

}  // namespace cf::cli
