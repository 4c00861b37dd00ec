// The passes `plan` and `apply` share: load the manifests with the digests
// of their secrets, open the real host adapters, observe, plan.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "apply/executor.h"
#include "cli/verbs.h"
#include "core/fs.h"
#include "host/guest_disks.h"
#include "host/observe.h"
#include "host/systemd.h"
#include "manifest/loader.h"
#include "plan/plan.h"

namespace cf::cli {

struct Desired {
  manifest::LoadResult loaded;
  std::map<model::SecretRef, std::string> digests;
};

// Prints every diagnostic to stderr. An error when any manifest has an
// error (a plan of half the fleet would destroy the other half) or a
// secret cannot be read (the plan could not tell whether it changed).
Result<Desired> load_desired(const ManifestOptions& opts, FileReader& fs);

struct HostAdapters {
  std::unique_ptr<host::Systemd> systemd;
  std::unique_ptr<host::UnitFiles> unit_files;
  std::unique_ptr<host::Network> network;
  std::unique_ptr<host::StateStore> state;
  std::unique_ptr<host::Vmm> vmm;
  std::unique_ptr<host::GuestDisks> disks;
  RealFileReader files;
  host::Ports ports() { return host::Ports{*systemd, *network, *state, *vmm, files}; }
  // A secret's value for the guest's seed; callable from any worker thread.
  static Result<std::string> read_secret(const model::SecretRef& ref);
};
Result<std::unique_ptr<HostAdapters>> open_host(const model::Host& host);

// observe() + make_plan(), with the host-rendered parts of the desired state.
struct Planned {
  model::Observed observed;
  plan::Desired desired;
  plan::Plan plan;
};
Result<Planned> observe_and_plan(const Desired& d, HostAdapters& host, const plan::Options& options);

// The saved form of a plan just made (cli/saved_plan.h).
struct SavedPlan;
SavedPlan saved_plan_for(const Desired& d, const Planned& p, const plan::Options& options);

// The executor's options from the command line (apply, agent): deadlines,
// workers, and whether QEMU may use KVM and at which TSC frequency.
apply::ExecOptions exec_options(const ExecCliOptions& opts, model::VmmKind vmm);

// Colour on a terminal unless --no-color or NO_COLOR (https://no-color.org).
bool use_color(bool no_color_flag);

}  // namespace cf::cli
