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
  for (const char* tool : {kQemu, "/usr/bin/genisoimage", "/sbin/debugfs", "/usr/sbin/dnsmasq", "/usr/bin/openssl"})
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

// The same image with the contract gateway enabled instead of OpenClaw's,
// and an egress probe (below), made once beside it (debugfs on a copy), in
// a directory named by this script's hash: a changed variant is a new one.
// $1: the image, $2: the variant's directory, $3: the image recipe's
// record.py, which records the variant's identity by content.
//
// The probe: at each boot, from inside the guest, with the image's own
// tools and the instance's keys (its gateway.env), each provider's API
// once, retried until it answers 200: curl (the system trust store, where
// cloud-init put the Host's CAs) to Anthropic, Node (NODE_EXTRA_CA_CERTS) to
// OpenAI. So `make e2e-contract` checks the guest's DNS, route, NAT and TLS
// trust without OpenClaw.
inline constexpr const char* kContractVariant = R"SH(set -eu
src=$1; dst=$2; record=$3
exec 9>"$dst.lock"; flock 9
[ -s "$dst/rootfs.ext4" ] && exit 0
tmp=$dst.tmp.$$; rm -rf "$tmp"; mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
cp --reflink=auto --sparse=always "$src/vmlinux" "$src/initrd.img" "$src/rootfs.ext4" "$src/skills.json" "$tmp/"
cat >"$tmp/contract-egress" <<'PROBE_END'
#!/bin/sh
# clawfleet's contract test: each provider's API once, from inside the guest.
# Retried every 10 s for an hour.
a=${ANTHROPIC_API_KEY:+pending} o=${OPENAI_API_KEY:+pending} i=0
while [ -n "$a$o" ] && [ $i -lt 360 ]; do
  if [ -n "$a" ]; then
    code=$(curl -sS --max-time 20 -o /dev/null -w '%{http_code}' -H "x-api-key: $ANTHROPIC_API_KEY" \
      -H 'anthropic-version: 2023-06-01' https://api.anthropic.com/v1/models) || :
    echo "contract-egress: anthropic (curl): ${code:-no answer}"
    [ "$code" != 200 ] || a=
  fi
  # Node only once curl got through (or with no Anthropic key): cheap
  # while there is no way out.
  if [ -n "$o" ] && [ -z "$a" ] && /opt/node/bin/node -e '
    fetch("https://api.openai.com/v1/models", {headers: {authorization: "Bearer " + process.env.OPENAI_API_KEY},
                                               signal: AbortSignal.timeout(20000)})
      .then(r => { console.log("contract-egress: openai (node):", r.status); process.exit(r.status == 200 ? 0 : 1); },
            e => { console.log("contract-egress: openai (node):", String(e.cause || e)); process.exit(1); });'; then
    o=
  fi
  i=$((i + 1))
  [ -z "$a$o" ] || sleep 10
done
PROBE_END
cat >"$tmp/clawfleet-contract-egress.service" <<'UNIT_END'
[Unit]
Description=clawfleet contract test: egress probe
After=cloud-init.service
ConditionPathExists=/etc/openclaw/gateway.env
[Service]
Type=exec
EnvironmentFile=/etc/openclaw/gateway.env
ExecStart=/usr/local/lib/clawfleet-contract-egress
[Install]
WantedBy=multi-user.target
UNIT_END
wants=/etc/systemd/system/multi-user.target.wants
debugfs -w -f - "$tmp/rootfs.ext4" >/dev/null <<DEBUGFS_END
rm $wants/openclaw-gateway.service
symlink $wants/clawfleet-contract-gateway.service /etc/systemd/system/clawfleet-contract-gateway.service
cd /usr/local/lib
write $tmp/contract-egress clawfleet-contract-egress
sif /usr/local/lib/clawfleet-contract-egress mode 0100755
sif /usr/local/lib/clawfleet-contract-egress uid 0
sif /usr/local/lib/clawfleet-contract-egress gid 0
cd /etc/systemd/system
write $tmp/clawfleet-contract-egress.service clawfleet-contract-egress.service
sif /etc/systemd/system/clawfleet-contract-egress.service uid 0
sif /etc/systemd/system/clawfleet-contract-egress.service gid 0
symlink $wants/clawfleet-contract-egress.service /etc/systemd/system/clawfleet-contract-egress.service
DEBUGFS_END
links=$(debugfs -R "ls $wants" "$tmp/rootfs.ext4" 2>/dev/null)
case $links in *clawfleet-contract-gateway.service*) ;; *) echo "contract gateway not enabled" >&2; exit 1;; esac
case $links in *clawfleet-contract-egress.service*) ;; *) echo "egress probe not enabled" >&2; exit 1;; esac
case $links in *openclaw-gateway.service*) echo "openclaw gateway still enabled" >&2; exit 1;; esac
debugfs -R "cat /usr/local/lib/clawfleet-contract-egress" "$tmp/rootfs.ext4" 2>/dev/null | cmp -s - "$tmp/contract-egress" ||
  { echo "egress probe not written" >&2; exit 1; }
e2fsck -fn "$tmp/rootfs.ext4" >/dev/null
rm -f "$tmp/contract-egress" "$tmp/clawfleet-contract-egress.service"
python3 "$record" "$tmp" "contract gateway variant of $(printf '%.12s' "$(basename "$src")")"
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
  const std::string variant = dir + ".contract-" + sha256_hex(kContractVariant).substr(0, 12);
  const std::string script = variant + ".sh";
  std::ofstream(script) << kContractVariant;
  if (nspawn::detail::run(
          "/bin/sh " + script + " " + dir + " " + variant + " " + source_dir + "/examples/guest-image/record.py 2>&1",
          &out) != 0)
    return Error{"cannot make the contract-gateway variant of " + dir + ":\n" + nspawn::detail::tail(out, 30)};
  return variant;
}

// The placeholder secrets of a disposable host: the stand-ins of the
// simulated internet accept them, nothing else would.
inline constexpr const char* kPlaceholderAnthropicKey = "sk-ant-placeholder-not-a-real-key";
inline constexpr const char* kPlaceholderOpenAiKey = "sk-proj-placeholder-not-a-real-key";
inline constexpr const char* kPlaceholderBotToken = "123456789:AAplaceholder-not-a-real-bot-token0000";

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
  // Placeholder provider keys and bot token (above).
  fs::create_directories(c.value()->root() + "/etc/clawfleet/secrets", ec);
  std::ofstream(c.value()->root() + "/etc/clawfleet/secrets/anthropic") << kPlaceholderAnthropicKey << "\n";
  std::ofstream(c.value()->root() + "/etc/clawfleet/secrets/openai") << kPlaceholderOpenAiKey << "\n";
  std::ofstream(c.value()->root() + "/etc/clawfleet/secrets/telegram") << kPlaceholderBotToken << "\n";
  std::string out;
  if (c.value()->exec(
          "chmod 0600 /etc/clawfleet/secrets/anthropic /etc/clawfleet/secrets/openai /etc/clawfleet/secrets/telegram && "
          "systemctl daemon-reload 2>&1",
          &out) != 0)
    return Error{"cannot prepare the container: " + out};
  return c;
}

}  // namespace cf::testing
