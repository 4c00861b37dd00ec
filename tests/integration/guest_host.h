// A disposable host for real guests: a real systemd booted in nspawn (own
// network namespace, /dev/net/tun), with the built clawfleet and QEMU
// installed, the shipped units, and the guest image of examples/guest-image
// (built once per recipe and cached) at the default image paths. Used by the
// guest end-to-end test and by `make demo`.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "integration/nspawn.h"

namespace cf::testing {

inline constexpr const char* kQemu = "/usr/bin/qemu-system-x86_64";

// Why a guest host cannot be made here, or nullopt.
inline std::optional<std::string> guest_host_unavailable() {
  if (auto why = nspawn::unavailable()) return "real systemd in nspawn unavailable: " + *why;
  for (const char* tool : {kQemu, "/usr/bin/genisoimage", "/sbin/debugfs"})
    if (!std::filesystem::exists(tool)) return std::string(tool) + " is missing (make deps installs it)";
  return std::nullopt;
}

// Which gateway the guests run: OpenClaw's, or the image's contract
// gateway, a stand-in that answers the guest contract without OpenClaw
// (docs/guest.md: the real one needs five minutes or more under emulation).
enum class Gateway { OpenClaw, Contract };

inline const char* describe(Gateway g) {
  return g == Gateway::OpenClaw ? "the real OpenClaw gateway"
                                : "the image's CONTRACT GATEWAY, a stand-in for OpenClaw, not OpenClaw";
}

// From $<variable> ("openclaw" or "contract"), else `otherwise`.
inline Gateway gateway_from_env(const char* variable, Gateway otherwise) {
  const char* v = std::getenv(variable);
  if (v && std::string(v) == "openclaw") return Gateway::OpenClaw;
  if (v && std::string(v) == "contract") return Gateway::Contract;
  return otherwise;
}

// The same image with the contract gateway enabled instead of OpenClaw's
// (two links changed with debugfs in a copy), made once beside it. $1: the image.
inline constexpr const char* kContractVariant = R"SH(set -eu
src=$1; dst=$1.contract
exec 9>"$dst.lock"; flock 9
[ -s "$dst/rootfs.ext4" ] && exit 0
tmp=$dst.tmp.$$; rm -rf "$tmp"; mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
cp --reflink=auto --sparse=always "$src/vmlinux" "$src/initrd.img" "$src/rootfs.ext4" "$src/skills.json" "$tmp/"
wants=/etc/systemd/system/multi-user.target.wants
printf 'rm %s\nsymlink %s %s\n' "$wants/openclaw-gateway.service" "$wants/clawfleet-contract-gateway.service" \
  /etc/systemd/system/clawfleet-contract-gateway.service | debugfs -w -f - "$tmp/rootfs.ext4" >/dev/null
links=$(debugfs -R "ls $wants" "$tmp/rootfs.ext4" 2>/dev/null)
case $links in *clawfleet-contract-gateway.service*) ;; *) echo "contract gateway not enabled" >&2; exit 1;; esac
case $links in *openclaw-gateway.service*) echo "openclaw gateway still enabled" >&2; exit 1;; esac
e2fsck -fn "$tmp/rootfs.ext4" >/dev/null
mv "$tmp" "$dst"
trap - EXIT
)SH";

// The cached guest image directory (builds it the first time: minutes).
inline Result<std::string> guest_image(const std::string& source_dir, Gateway gateway) {
  std::string out;
  if (nspawn::detail::run("/bin/sh " + source_dir + "/examples/guest-image/cached.sh 2>&1", &out) != 0)
    return Error{"cannot build the guest image:\n" + nspawn::detail::tail(out, 30)};
  std::string dir = nspawn::detail::trim(out);
  if (auto nl = dir.rfind('\n'); nl != std::string::npos) dir = dir.substr(nl + 1);
  if (!std::filesystem::exists(dir + "/rootfs.ext4")) return Error{"no rootfs.ext4 in " + dir + ":\n" + out};
  if (gateway == Gateway::OpenClaw) return dir;
  const std::string script = dir + ".contract.sh";
  std::ofstream(script) << kContractVariant;
  if (nspawn::detail::run("/bin/sh " + script + " " + dir + " 2>&1", &out) != 0)
    return Error{"cannot make the contract-gateway variant of " + dir + ":\n" + nspawn::detail::tail(out, 30)};
  return dir + ".contract";
}

inline Result<std::unique_ptr<nspawn::Container>> boot_guest_host(const std::string& source_dir,
                                                                  const std::string& binary, const std::string& image) {
  namespace fs = std::filesystem;
  auto c = nspawn::Container::boot({"--bind-ro=" + image + ":/var/lib/clawfleet/images/default",
                                    "--bind-ro=/usr/share/qemu", "--bind-ro=/usr/share/seabios",
                                    "--bind-ro=/usr/lib/x86_64-linux-gnu/qemu", "--bind=/dev/net/tun"});
  if (!c) return c.error();
  // QEMU at the host's own path: it finds its modules (TCG is one) relative
  // to its executable.
  for (auto [from, to] :
       {std::pair{binary, std::string("/usr/local/bin/clawfleet")}, std::pair{std::string(kQemu), std::string(kQemu)}})
    if (auto s = c.value()->install(from, to); !s) return s.error();
  std::error_code ec;
  const std::string etc = c.value()->root() + "/etc/systemd/system/";
  for (const char* unit : {"clawfleet-vm@.service", "clawfleet-proxy@.socket", "clawfleet-proxy@.service"}) {
    fs::copy_file(fs::path(source_dir) / "units" / unit, etc + unit, ec);
    if (ec) return Error{std::string("cannot install ") + unit + ": " + ec.message()};
  }
  // A placeholder provider key and bot token: the guests have no way out anyway.
  fs::create_directories(c.value()->root() + "/etc/clawfleet/secrets", ec);
  std::ofstream(c.value()->root() + "/etc/clawfleet/secrets/anthropic") << "sk-ant-placeholder-not-a-real-key\n";
  std::ofstream(c.value()->root() + "/etc/clawfleet/secrets/openai") << "sk-proj-placeholder-not-a-real-key\n";
  std::ofstream(c.value()->root() + "/etc/clawfleet/secrets/telegram")
      << "123456789:AAplaceholder-not-a-real-bot-token0000\n";
  std::string out;
  if (c.value()->exec(
          "chmod 0600 /etc/clawfleet/secrets/anthropic /etc/clawfleet/secrets/openai /etc/clawfleet/secrets/telegram && "
          "systemctl daemon-reload 2>&1",
          &out) != 0)
    return Error{"cannot prepare the container: " + out};
  return c;
}

}  // namespace cf::testing
