// A stand-in for a guest, for the real tests whose subject is clawfleet and
// systemd rather than the guest (the guest end-to-end test boots real ones):
// the "VMM" finds the instance from the rootfs path in QEMU's argv, puts the
// guest address on lo and answers there as the guest contract says — HTTP
// 200 on the gateway port, and on the generation endpoint the generation
// its seed's instance-id names (read from the seed ISO with isoinfo). The
// image is two small placeholder files at the default image paths.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include "integration/nspawn.h"

namespace cf::testing {

inline constexpr const char* kStandInVmm = R"SH(#!/bin/sh
for a in "$@"; do case "$a" in id=rootfs,file=*) f=${a#id=rootfs,file=}; f=${f%%,*};; esac; done
dir=${f%/rootfs.ext4}
ip=$(sed -n 's/.*"ip": *"\([0-9.]*\)".*/\1/p' "$dir/instance.json" | head -n 1)
gen=$(isoinfo -R -x /meta-data -i "$dir/seed.img" | sed -n 's/^instance-id: cf-/sha256:/p')
ip addr add "$ip/32" dev lo 2>/dev/null || true
/usr/bin/systemd-socket-activate -l "$ip:18790" -a --inetd /usr/local/bin/stand-in-status "$gen" &
exec /usr/bin/systemd-socket-activate -l "$ip:18789" -a --inetd /usr/local/bin/stand-in-gateway
)SH";

inline constexpr const char* kStandInGateway = R"SH(#!/bin/sh
while read -r line; do [ "$line" = "$(printf '\r')" ] && break; done
printf 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{"ok":true}'
)SH";

inline constexpr const char* kStandInStatus = R"SH(#!/bin/sh
while read -r line; do [ "$line" = "$(printf '\r')" ] && break; done
body="{\"generation\":\"$1\"}"
printf 'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: %s\r\n\r\n%s' "${#body}" "$body"
)SH";

// The VMM binary to name in the Host manifest.
inline constexpr const char* kStandInVmmPath = "/usr/local/bin/fake-vmm";

inline Status install_stand_in_guest(const nspawn::Container& c) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (auto [path, text] : {std::pair{kStandInVmmPath, kStandInVmm},
                            std::pair{"/usr/local/bin/stand-in-gateway", kStandInGateway},
                            std::pair{"/usr/local/bin/stand-in-status", kStandInStatus}}) {
    std::ofstream(c.root() + path) << text;
    fs::permissions(c.root() + path, fs::perms(0755), ec);
    if (ec) return Error{"cannot install " + std::string(path) + ": " + ec.message()};
  }
  const std::string images = c.root() + "/var/lib/clawfleet/images/default";
  fs::create_directories(images, ec);
  if (ec) return Error{"cannot create " + images + ": " + ec.message()};
  std::ofstream(images + "/vmlinux") << "placeholder kernel\n";
  std::ofstream(images + "/rootfs.ext4") << "placeholder rootfs\n";
  return {};
}

}  // namespace cf::testing
