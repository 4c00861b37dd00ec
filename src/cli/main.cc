// clawfleet: declarative reconciler for a fleet of OpenClaw microVMs.
// main parses the command line and hands over to one verb.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/verbs.h"

#ifndef CLAWFLEET_VERSION
#define CLAWFLEET_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  CLI::App app{"clawfleet: run a fleet of OpenClaw gateways, one microVM each, from YAML manifests"};
  app.set_version_flag("--version", CLAWFLEET_VERSION);
  app.require_subcommand(1);

  cf::cli::ValidateOptions validate;
  cf::cli::add_validate(app, validate);
  cf::cli::PlanOptions plan;
  cf::cli::add_plan(app, plan);
  cf::cli::ApplyOptions apply;
  cf::cli::add_apply(app, apply);
  cf::cli::AgentOptions agent;
  cf::cli::add_agent(app, agent);
  cf::cli::StatusOptions status;
  cf::cli::add_status(app, status);
  cf::cli::BackupOptions backup;
  backup.version = CLAWFLEET_VERSION;
  cf::cli::add_backup(app, backup);
  cf::cli::RestoreOptions restore;
  cf::cli::add_restore(app, restore);
  cf::cli::VmOptions vm;
  cf::cli::add_vm(app, vm);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 1, as documented.
    int rc = app.exit(e);
    return rc == 0 ? 0 : 1;
  }

  if (app.got_subcommand("validate")) return cf::cli::run_validate(validate);
  if (app.got_subcommand("plan")) return cf::cli::run_plan(plan);
  if (app.got_subcommand("apply")) return cf::cli::run_apply(apply);
  if (app.got_subcommand("agent")) return cf::cli::run_agent(agent);
  if (app.got_subcommand("status")) return cf::cli::run_status(status);
  if (app.got_subcommand("backup")) return cf::cli::run_backup(backup);
  if (app.got_subcommand("restore")) return cf::cli::run_restore(restore);
  if (app.got_subcommand("vm")) return cf::cli::run_vm(vm);
  return 1;
}
