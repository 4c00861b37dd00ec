// What clawfleet writes beside the shipped templates for one instance: the
// drop-ins that make clawfleet-vm@NAME and clawfleet-proxy@NAME that
// instance's, and the proxy's environment file. Pure renderers; apply
// writes them, the planner compares their hashes with what observe() reads.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/net.h"
#include "core/result.h"
#include "host/systemd/systemd.h"
#include "model/desired.h"
#include "model/observed.h"
#include "model/units.h"

namespace cf::host {

using model::kDefaultStateRoot;
inline constexpr std::uint16_t kGatewayPort = 18789;  // the OpenClaw gateway in the guest
// First line of every drop-in clawfleet writes: its ownership marker.
std::string dropin_marker(const std::string& instance);  // "# clawfleet: owned by instance NAME\n"

struct Dropin {
  std::string unit;  // "clawfleet-proxy@bot.socket"
  std::string name;  // "listen" (the file is <unit>.d/<name>.conf)
  std::string content;
  // systemd applies it to the running unit at daemon-reload (resource
  // control); any other drop-in takes effect when the unit restarts.
  bool live = false;
  std::string path(const std::string& unit_dir = kUnitDir) const {
    return unit_dir + "/" + unit + ".d/" + name + ".conf";
  }
  bool operator==(const Dropin&) const = default;
};

// The proxy socket's listener (127.0.0.1:<host port>, the only address it
// ever has), the VM unit's cgroup limits (MemoryMax= from the guest's
// memory, model/vm_limits.h; CPUQuota= and IOWeight= when the manifest sets
// them), under Firecracker's jailer what the jailer needs of the unit, and
// when the Host's state root is not the default, the drop-ins
// that point the VM unit's helper and the proxy's EnvironmentFile there.
// A state root with characters a unit file would interpret (space, '%',
// quotes, control characters) is refused rather than escaped.
Result<std::vector<Dropin>> dropins_for(const model::Host& host, const model::Instance& instance,
                                        const model::Allocation& alloc);

// Every drop-in dropins_for() may write for the instance, as (unit, name):
// what a destroy removes.
std::vector<std::pair<std::string, std::string>> every_dropin(const std::string& instance);

// <state root>/instances/<name>/proxy.env: where the proxy forwards to.
std::string render_proxy_env(const model::Allocation& alloc);  // "CLAWFLEET_GUEST=<ip>:18789\n"

}  // namespace cf::host
