#include "host/real_host.h"

#include "host/network/allocator.h"

namespace cf::host {

Result<std::unique_ptr<RealHost>> RealHost::open(const model::Host& host, SecretReader read_secret) {
  std::unique_ptr<RealHost> h(new RealHost());
  auto systemd = connect_systemd();
  if (!systemd) return systemd.error();
  h->systemd_ = std::move(systemd.value());
  h->unit_files_ = unit_files_in(kUnitDir);
  h->network_ = real_network();
  h->state_ = state_store_at(host.state_root);
  h->vmm_ = make_vmm(host.vmm.kind);
  h->health_ = real_health();
  h->disks_ = real_guest_disks();
  h->platform_ = real_platform();
  auto listening = listening_tcp_ports(h->files_);
  if (!listening) return listening.error();
  h->listening_ = std::move(listening.value());
  h->read_secret_ = std::move(read_secret);
  return h;
}

Ports RealHost::ports() {
  return Ports{.systemd = *systemd_,
               .connect_systemd = [] { return connect_systemd(); },
               .unit_files = *unit_files_,
               .network = *network_,
               .state = *state_,
               .vmm = *vmm_,
               .health = *health_,
               .disks = *disks_,
               .platform = *platform_,
               .files = files_,
               .listening = [this](std::uint16_t p) { return listening_.count(p) > 0; },
               .read_secret = read_secret_};
}

}  // namespace cf::host
