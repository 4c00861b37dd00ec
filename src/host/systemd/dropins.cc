#include "host/systemd/dropins.h"

#include <cctype>

#include "host/observe.h"
#include "host/vmm/launch.h"
#include "model/vm_limits.h"

namespace cf::host {

namespace {

// The VM unit's second variant (docs/host.md#the-jailer): `vm run` stays
// root and runs Firecracker's jailer, which builds the chroot with these
// (a mount namespace, pivot_root and chroot; device nodes made and given to
// the VMM's user; the VMM copied in) and runs Firecracker as that user with
// none of them. Everything else of the template's hardening stays.
constexpr const char* kJailerDropin =
    "[Service]\n"
    "CapabilityBoundingSet=CAP_CHOWN CAP_DAC_OVERRIDE CAP_FOWNER CAP_MKNOD CAP_SYS_ADMIN CAP_SYS_CHROOT "
    "CAP_SYS_RESOURCE\n"
    "RestrictNamespaces=mnt\n"
    "SystemCallFilter=@mount\n"
    "DeviceAllow=/dev/kvm rwm\n"
    "DeviceAllow=/dev/net/tun rwm\n"
    "DeviceAllow=/dev/userfaultfd rwm\n";

}  // namespace

std::string dropin_marker(const std::string& instance) { return "# clawfleet: owned by instance " + instance + "\n"; }

Result<std::vector<Dropin>> dropins_for(const model::Host& host, const model::Instance& spec,
                                        const model::Allocation& alloc) {
  const std::string& instance = spec.name;
  for (char c : host.state_root)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '.' || c == '_' || c == '-'))
      return Error{"state root \"" + host.state_root +
                   "\" cannot be written into a unit file: use only letters, digits, '/', '.', '_' and '-'"};
  const std::string marker = dropin_marker(instance);
  std::vector<Dropin> out;
  out.push_back({proxy_socket_unit(instance), "listen",
                 marker + "[Socket]\nListenStream=127.0.0.1:" + std::to_string(alloc.host_port) + "\n"});
  const model::Resources& r = spec.resources;
  std::string limits =
      marker + "[Service]\nMemoryMax=" + std::to_string(model::vm_memory_max_mib(r, host.vmm.kind)) + "M\n";
  if (r.cpu_quota_percent) limits += "CPUQuota=" + std::to_string(*r.cpu_quota_percent) + "%\n";
  if (r.io_weight) limits += "IOWeight=" + std::to_string(*r.io_weight) + "\n";
  out.push_back({vm_unit(instance), "manifest-limits", limits, true});
  if (!jail_root(host, instance).empty()) out.push_back({vm_unit(instance), "jailer", marker + kJailerDropin});
  if (host.state_root != kDefaultStateRoot) {
    // The templates name the default root; a unit cannot compute a path from
    // an environment variable in EnvironmentFile=, so both are overridden.
    out.push_back({vm_unit(instance), "state-root",
                   marker + "[Service]\nEnvironment=CLAWFLEET_STATE_ROOT=" + host.state_root +
                       "\nReadWritePaths=" + host.state_root + "\n"});
    out.push_back({proxy_service_unit(instance), "state-root",
                   marker + "[Service]\nEnvironmentFile=\nEnvironmentFile=" + paths_for(host.state_root, instance).dir +
                       "/proxy.env\n"});
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> every_dropin(const std::string& instance) {
  return {{proxy_socket_unit(instance), "listen"},
          {vm_unit(instance), "manifest-limits"},
          {vm_unit(instance), "jailer"},
          {vm_unit(instance), "state-root"},
          {proxy_service_unit(instance), "state-root"}};
}

std::string render_proxy_env(const model::Allocation& alloc) {
  return "CLAWFLEET_GUEST=" + to_string(alloc.ip) + ":" + std::to_string(kGatewayPort) + "\n";
}

}  // namespace cf::host
