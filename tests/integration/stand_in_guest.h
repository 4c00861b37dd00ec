// A stand-in for a guest, for the real tests whose subject is clawfleet and
// systemd rather than the guest (the guest end-to-end test boots real ones):
// the "VMM" finds the instance from the rootfs path in QEMU's argv, puts the
// guest address on lo and answers there as the guest contract says — HTTP
// 200 on the gateway port (/startupz started, /readyz ready with nothing
// failing), and on the generation endpoint the generation
// its seed's instance-id names (read from the seed ISO with isoinfo). Its
// QMP socket answers query-status, system_powerdown and quit, and how it
// ends is set per instance (set_stand_in_behaviour), so `vm stop`'s whole
// escalation runs against real systemd. The image is two small placeholder
// files at the default image paths.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include "integration/nspawn.h"

namespace cf::testing {

inline constexpr const char* kStandInVmm = R"SH(#!/bin/sh
for a in "$@"; do case "$a" in
  id=rootfs,file=*) f=${a#id=rootfs,file=}; f=${f%%,*};;
  unix:*,server=on*) qmp=${a#unix:}; qmp=${qmp%%,server=on*};;
esac; done
dir=${f%/rootfs.ext4}
ip=$(sed -n 's/.*"ip": *"\([0-9.]*\)".*/\1/p' "$dir/launch.json" | head -n 1)
gen=$(isoinfo -R -x /meta-data -i "$dir/seed.img" | sed -n 's/^instance-id: cf-/sha256:/p')
# A root disk saying "broken gateway" holds a guest whose gateway never
# starts: its gateway port is closed, its status endpoint says why.
if head -c 64 "$f" | grep -q 'broken gateway'; then gen=broken; fi
# How this guest ends (kStandInBehaviours), from /etc/stand-in-vmm/<name>.
read -r how delay 2>/dev/null <"/etc/stand-in-vmm/${dir##*/}" || how=powers-off
/usr/bin/systemd-socket-activate -l "$ip:18780" -a --inetd /usr/local/bin/stand-in-status "$gen" & pids=$!
[ "$gen" = broken ] || { /usr/bin/systemd-socket-activate -l "$ip:18789" -a --inetd /usr/local/bin/stand-in-gateway & pids="$pids $!"; }
/usr/bin/systemd-socket-activate -l "$qmp" -a --inetd /usr/local/bin/stand-in-qmp $$ "$how" & pids="$pids $!"
# Its console is stdin/stdout, like QEMU's -serial stdio: a first line,
# each line typed echoed, and with /etc/stand-in-vmm/<name>.console saying
# "floods N", N numbered lines at once.
echo "stand-in console of ${dir##*/}"
exec 3<&0
(while read -r line <&3; do echo "stand-in got: $line"; done) & pids="$pids $!"
read -r mode count 2>/dev/null <"/etc/stand-in-vmm/${dir##*/}.console" || mode=
if [ "$mode" = floods ]; then seq -f 'flood %g' 1 "$count" & pids="$pids $!"; fi
# Like QEMU, it takes its sockets with it. USR1: the guest powered off
# (after its delay); USR2: QEMU's quit.
end() { kill $pids; exit 0; }
trap 'sleep "${delay:-0}"; end' USR1
trap end USR2
if [ "$how" = hangs ]; then trap '' TERM; else trap end TERM; fi
# `wait` returns as a trapped signal arrives (a foreground sleep would hold
# the trap back up to a second, which a loaded host added to a stop's
# deadline).
while :; do sleep 1 & wait $!; done
)SH";

// A QMP monitor on one connection (stdin/stdout): query-status says
// running; system_powerdown and quit signal the stand-in VMM ($1) as its
// behaviour ($2) says.
inline constexpr const char* kStandInQmp = R"SH(#!/bin/sh
main=$1; how=$2
printf '{"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}}, "capabilities": []}}\r\n'
while read -r line; do
  id=$(printf '%s\n' "$line" | sed -n 's/.*"id": *\([0-9]*\).*/\1/p')
  case $line in
    *'"query-status"'*) printf '{"return": {"status": "running", "running": true}, "id": %s}\r\n' "$id";;
    *'"system_powerdown"'*) printf '{"return": {}, "id": %s}\r\n' "$id"
      [ "$how" = powers-off ] && kill -USR1 "$main";;
    *'"quit"'*) printf '{"return": {}, "id": %s}\r\n' "$id"
      [ "$how" = ignores-powerdown ] || [ "$how" = powers-off ] && kill -USR2 "$main";;
    *) printf '{"return": {}, "id": %s}\r\n' "$id";;
  esac
done
)SH";

// What /etc/stand-in-vmm/<name> may say (default powers-off):
//   powers-off [SECONDS]  powers off when asked, after SECONDS
//   ignores-powerdown     ignores the request, quits when QEMU is told to
//   ignores-quit          ignores the request and quit, ends on SIGTERM
//   hangs                 ignores the request, quit and SIGTERM (SIGKILL ends it)
inline Status set_stand_in_behaviour(const nspawn::Container& c, const std::string& instance, const std::string& how) {
  std::error_code ec;
  std::filesystem::create_directories(c.root() + "/etc/stand-in-vmm", ec);
  if (ec) return Error{"cannot create /etc/stand-in-vmm: " + ec.message()};
  std::ofstream(c.root() + "/etc/stand-in-vmm/" + instance) << how << "\n";
  return {};
}

inline constexpr const char* kStandInGateway = R"SH(#!/bin/sh
read -r method path rest
while read -r line; do [ "$line" = "$(printf '\r')" ] && break; done
case $path in
  /startupz) body='{"ok":true,"status":"started"}';;
  /readyz) body='{"ready":true,"failing":[]}';;
  *) body='{"ok":true}';;
esac
printf 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %s\r\nConnection: close\r\n\r\n%s' "${#body}" "$body"
)SH";

inline constexpr const char* kStandInStatus = R"SH(#!/bin/sh
while read -r line; do [ "$line" = "$(printf '\r')" ] && break; done
body="{\"generation\":\"$1\"}" status="200 OK"
if [ "$1" = broken ]; then
  body='{"generation":null,"gatewayFailures":3,"lastFailure":"exit-code exited 1","gatewayGaveUp":false}'
  status="503 Service Unavailable"
fi
printf 'HTTP/1.0 %s\r\nContent-Type: application/json\r\nContent-Length: %s\r\n\r\n%s' "$status" "${#body}" "$body"
)SH";

// Root's part of the stand-in, before the VMM starts (as its own user, with
// no capability): the "guest" address on lo. $1: the instance.
inline constexpr const char* kStandInPrepare = R"SH(#!/bin/sh
ip=$(sed -n 's/.*"ip": *"\([0-9.]*\)".*/\1/p' "/var/lib/clawfleet/instances/$1/launch.json" | head -n 1)
ip addr replace "$ip/32" dev lo
)SH";

// The VMM binary to name in the Host manifest.
inline constexpr const char* kStandInVmmPath = "/usr/local/bin/qemu-system-stand-in";

inline Status install_stand_in_guest(const nspawn::Container& c) {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (auto [path, text] :
       {std::pair{kStandInVmmPath, kStandInVmm}, std::pair{"/usr/local/bin/stand-in-gateway", kStandInGateway},
        std::pair{"/usr/local/bin/stand-in-qmp", kStandInQmp},
        std::pair{"/usr/local/bin/stand-in-prepare", kStandInPrepare},
        std::pair{"/usr/local/bin/stand-in-status", kStandInStatus}}) {
    std::ofstream(c.root() + path) << text;
    fs::permissions(c.root() + path, fs::perms(0755), ec);
    if (ec) return Error{"cannot install " + std::string(path) + ": " + ec.message()};
  }
  // What the stand-in needs beyond the shipped VM unit, which gives a VMM
  // (its own user) no capability and no network socket: its "guest" is an
  // address on lo (put there as root before the VMM starts) serving TCP.
  fs::create_directories(c.root() + "/etc/systemd/system/clawfleet-vm@.service.d", ec);
  if (ec) return Error{"cannot create the VM unit's drop-in directory: " + ec.message()};
  std::ofstream(c.root() + "/etc/systemd/system/clawfleet-vm@.service.d/stand-in.conf")
      << "[Service]\nExecStartPre=+/usr/local/bin/stand-in-prepare %i\nRestrictAddressFamilies=AF_UNIX AF_INET AF_INET6\n";
  const std::string images = c.root() + "/var/lib/clawfleet/images/default";
  fs::create_directories(images, ec);
  if (ec) return Error{"cannot create " + images + ": " + ec.message()};
  std::ofstream(images + "/vmlinux") << "placeholder kernel\n";
  std::ofstream(images + "/rootfs.ext4") << "placeholder rootfs\n";
  return {};
}

}  // namespace cf::testing
