// A disposable host for real guests: a real systemd booted in nspawn (own
// network namespace, /dev/net/tun), with the built clawfleet and QEMU
// installed, the shipped units, and the guest image of examples/guest-image
// (built once per recipe and cached) at the default image paths. Used by the
// guest end-to-end test and by `make demo`.
#pragma once

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
  for (const char* tool : {kQemu, "/usr/bin/genisoimage"})
    if (!std::filesystem::exists(tool)) return std::string(tool) + " is missing (make deps installs it)";
  return std::nullopt;
}

// The cached guest image directory (builds it the first time: minutes).
inline Result<std::string> guest_image(const std::string& source_dir) {
  std::string out;
  if (nspawn::detail::run("/bin/sh " + source_dir + "/examples/guest-image/cached.sh 2>&1", &out) != 0)
    return Error{"cannot build the guest image:\n" + nspawn::detail::tail(out, 30)};
  std::string dir = nspawn::detail::trim(out);
  if (auto nl = dir.rfind('\n'); nl != std::string::npos) dir = dir.substr(nl + 1);
  if (!std::filesystem::exists(dir + "/rootfs.ext4")) return Error{"no rootfs.ext4 in " + dir + ":\n" + out};
  return dir;
}

inline Result<std::unique_ptr<nspawn::Container>> boot_guest_host(const std::string& source_dir,
                                                                   const std::string& binary, const std::string& image) {
  namespace fs = std::filesystem;
  auto c = nspawn::Container::boot({"--bind-ro=" + image + ":/var/lib/clawfleet/images/default",
                                    "--bind-ro=/usr/share/qemu", "--bind-ro=/usr/share/seabios", "--bind=/dev/net/tun"});
  if (!c) return c.error();
  for (auto [from, to] : {std::pair{binary, std::string("/usr/local/bin/clawfleet")},
                          std::pair{std::string(kQemu), std::string("/usr/local/bin/qemu-system-x86_64")}})
    if (auto s = c.value()->install(from, to); !s) return s.error();
  std::error_code ec;
  const std::string etc = c.value()->root() + "/etc/systemd/system/";
  for (const char* unit : {"clawfleet-vm@.service", "clawfleet-proxy@.socket", "clawfleet-proxy@.service"}) {
    fs::copy_file(fs::path(source_dir) / "units" / unit, etc + unit, ec);
    if (ec) return Error{std::string("cannot install ") + unit + ": " + ec.message()};
  }
  // A placeholder provider key: the guests have no way out anyway.
  fs::create_directories(c.value()->root() + "/etc/clawfleet/secrets", ec);
  std::ofstream(c.value()->root() + "/etc/clawfleet/secrets/openai") << "sk-placeholder-not-a-real-key\n";
  std::string out;
  if (c.value()->exec("chmod 0600 /etc/clawfleet/secrets/openai && systemctl daemon-reload 2>&1", &out) != 0)
    return Error{"cannot prepare the container: " + out};
  return c;
}

}  // namespace cf::testing
