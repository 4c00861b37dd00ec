#include "manifest/defaults.h"

#include "model/units.h"

namespace cf::manifest {

std::string default_vmm_binary(model::VmmKind kind) {
  return kind == model::VmmKind::Firecracker ? "/usr/local/bin/firecracker" : "/usr/bin/qemu-system-x86_64";
}

std::map<std::string, model::Image> default_images(const std::string& state_root) {
  return {{std::string(kDefaultImage), model::Image{state_root + "/images/default/vmlinux",
                                                    state_root + "/images/default/rootfs.ext4", std::nullopt, "", ""}}};
}

model::Host default_host() {
  model::Host h;
  h.bridge = "clawfleet0";
  h.subnet = Cidr{Ipv4{(172u << 24) | (29u << 16)}, 24};
  h.gateway = Ipv4{h.subnet.network.value + 1};
  h.port_first = 18900;
  h.port_last = 19899;
  h.vmm = model::Vmm{model::VmmKind::Firecracker, default_vmm_binary(model::VmmKind::Firecracker), false};
  h.state_root = model::kDefaultStateRoot;
  h.images = default_images(h.state_root);
  h.egress = model::Egress::Internet;
  return h;
}

}  // namespace cf::manifest
