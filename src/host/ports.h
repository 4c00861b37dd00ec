// The host as one bundle of ports: what observe() reads and what the
// executor changes, handed to both by the CLI and the agent alike. The real
// bundle comes from RealHost (real_host.h); tests build it from the fakes
// (tests/fakes/fake_host.h).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/fs.h"
#include "core/result.h"
#include "host/guest/guest_disks.h"
#include "host/guest/health.h"
#include "host/network/network.h"
#include "host/platform/platform.h"
#include "host/state/state.h"
#include "host/systemd/systemd.h"
#include "host/vmm/vmm.h"
#include "model/desired.h"

namespace cf::host {

// A secret's value, for the guest's seed (provider keys, bot token).
// Callable from any executor worker.
using SecretReader = std::function<Result<std::string>(const model::SecretRef&)>;

struct Ports {
  // The calling thread's systemd connection (observe, the host step).
  Systemd& systemd;
  // One more connection per executor worker: an sd-bus connection is not
  // thread-safe, and job waits must not block the other workers.
  std::function<Result<std::unique_ptr<Systemd>>()> connect_systemd;
  UnitFiles& unit_files;
  Network& network;
  StateStore& state;
  Vmm& vmm;
  Health& health;
  GuestDisks& disks;
  Platform& platform;
  FileReader& files;  // reads unit files and drop-ins for their content hashes
  // Whether a process on the host listens on a TCP port (the allocator skips those).
  std::function<bool(std::uint16_t)> listening;
  SecretReader read_secret;
  // Where clawfleet writes drop-ins: read directly, so those of instances
  // whose units systemd has not loaded (stopped, disabled) are seen too.
  std::string unit_dir = kUnitDir;
};

}  // namespace cf::host
