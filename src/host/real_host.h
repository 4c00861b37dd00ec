// The real host adapters, opened once for a Host: sd-bus, the unit files
// under /etc/systemd/system, netlink/nftables, the state store under the
// state root, the VMM the Host names, the health gate, the guest disks, the
// platform, and the TCP ports listening at the time it is opened. The one
// factory of the CLI's verbs and the agent (through apply::real_host_opener,
// which adds the journal).
#pragma once

#include <cstdint>
#include <memory>
#include <set>

#include "core/fs.h"
#include "core/result.h"
#include "host/ports.h"
#include "model/desired.h"

namespace cf::host {

class RealHost {
 public:
  static Result<std::unique_ptr<RealHost>> open(const model::Host& host, SecretReader read_secret);
  Ports ports();

 private:
  RealHost() = default;
  std::unique_ptr<Systemd> systemd_;
  std::unique_ptr<UnitFiles> unit_files_;
  std::unique_ptr<Network> network_;
  std::unique_ptr<StateStore> state_;
  std::unique_ptr<Vmm> vmm_;
  std::unique_ptr<Health> health_;
  std::unique_ptr<GuestDisks> disks_;
  std::unique_ptr<Platform> platform_;
  RealFileReader files_;
  std::set<std::uint16_t> listening_;
  SecretReader read_secret_;
};

}  // namespace cf::host
