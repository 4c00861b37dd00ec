// One function per verb; each returns the process exit status.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <optional>

#include "apply/lock.h"
#include "core/result.h"

#include "host/vmm/vm_stop.h"
#include "manifest/loader.h"

namespace cf::cli {

// Prints "clawfleet VERB: MESSAGE" on stderr; returns 1, the exit status
// of a verb that could not run.
int fail_verb(const std::string& verb, const std::string& message);

// Options every verb that reads manifests shares.
struct ManifestOptions {
  std::string dir = manifest::kDefaultManifestDir;
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

struct PlanOptions {
  ManifestOptions manifests;
  bool json = false;
  bool no_color = false;
  std::size_t max_destroy = 1;
  bool allow_destroy = false;
  std::string out_file;  // plan -o: save the plan for `apply FILE`
};
void add_plan_options(CLI::App& cmd, PlanOptions& opts);  // shared with apply
void add_plan(CLI::App& app, PlanOptions& opts);
int run_plan(const PlanOptions& opts);

// How steps are executed, and the lock: shared by apply and the agent.
struct ExecCliOptions {
  std::size_t parallelism = 0;  // 0: the host's cores
  int lock_timeout_ms = 0;
  int health_timeout_s = 300;
  int job_timeout_s = 180;  // apply::ExecOptions::job_deadline
  std::string lock_path = apply::kDefaultLockPath;
};
void add_exec_options(CLI::App& cmd, ExecCliOptions& opts);

struct ApplyOptions {
  PlanOptions plan;
  std::string plan_file;  // a plan saved by `plan -o`
  bool dry_run = false;
  std::optional<std::uint32_t> max_unavailable;  // overrides the Host's rollout.maxUnavailable
  ExecCliOptions exec;
};
void add_apply(CLI::App& app, ApplyOptions& opts);
int run_apply(const ApplyOptions& opts);

struct AgentOptions {
  ManifestOptions manifests;
  std::size_t max_destroy = 1;
  bool allow_destroy = false;
  ExecCliOptions exec;
  int debounce_ms = 500;
  std::string resync = "5min";   // a duration: 300, 300s, 5min, 1h
  std::string metrics_textfile;  // "" : none
  bool once = false;
  bool debug = false;
};
void add_agent(CLI::App& app, AgentOptions& opts);
int run_agent(const AgentOptions& opts);

struct StatusOptions {
  ManifestOptions manifests;
  std::string name;             // empty: the whole fleet
  std::string output = "text";  // -o: text, json
  bool json = false;            // --json: -o json
  std::string lock_path = apply::kDefaultLockPath;
};
void add_status(CLI::App& app, StatusOptions& opts);
int run_status(const StatusOptions& opts);

struct BackupOptions {
  ManifestOptions manifests;
  std::string name;
  std::string out;      // "" : NAME-<UTC time>.clawfleet-backup in the working directory
  std::string version;  // clawfleet's, recorded in the archive
  int lock_timeout_ms = 0;
  std::string lock_path = apply::kDefaultLockPath;
};
void add_backup(CLI::App& app, BackupOptions& opts);
int run_backup(const BackupOptions& opts);

struct RestoreOptions {
  ManifestOptions manifests;
  std::string name;
  std::string archive;
  bool replace = false;        // an instance on the host: its data replaced
  bool allow_destroy = false;  // ... also when protected
  int job_timeout_s = 180;
  int lock_timeout_ms = 0;
  std::string lock_path = apply::kDefaultLockPath;
};
void add_restore(CLI::App& app, RestoreOptions& opts);
int run_restore(const RestoreOptions& opts);

struct VmOptions {
  std::string verb;  // prepare, run, stop
  std::string name;
  std::string state_root;
  // host/vmm/vm_stop.h's deadlines, in seconds.
  int stop_timeout_s =
      static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(host::StopDeadlines{}.power_off).count());
  int quit_timeout_s =
      static_cast<int>(std::chrono::duration_cast<std::chrono::seconds>(host::StopDeadlines{}.quit).count());
};
void add_vm(CLI::App& app, VmOptions& opts);
int run_vm(const VmOptions& opts);

}  // namespace cf::cli
