// `make demo`: the main job on a disposable real host. Boots a real systemd
// in nspawn with the guest image, then runs `clawfleet plan`, `clawfleet
// apply` (its progress lines on your terminal) and `clawfleet status` on the
// fleet of examples/demo, and tears the host down. The guests run the
// image's contract gateway (a stand-in, said so on the screen) unless
// CLAWFLEET_DEMO_GATEWAY=openclaw (`make demo GATEWAY=openclaw`): OpenClaw's
// own gateway needs five minutes or more to become ready under emulation.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "integration/guest_host.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Runs a command in the container with this process's stdout and stderr,
// so clawfleet sees the terminal.
int shown(const cf::testing::nspawn::Container& c, const std::string& command) {
  std::cout << "\n$ " << command << std::endl;
  int rc = std::system(("nsenter -t " + std::to_string(c.leader()) + " -a " + command).c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 1;
}

}  // namespace

int main() {
  const auto t0 = Clock::now();
  if (auto why = cf::testing::guest_host_unavailable()) {
    std::cerr << "make demo: " << *why << "\n";
    return 1;
  }
  // Ctrl-C reaches clawfleet in the container; the demo itself goes on to
  // tear the host down.
  ::signal(SIGINT, SIG_IGN);
  const auto gateway = cf::testing::gateway_from_env("CLAWFLEET_DEMO_GATEWAY", cf::testing::Gateway::Contract);
  std::cout << "The guests run " << cf::testing::describe(gateway) << ".\n"
            << "Guest image (built once from examples/guest-image, then cached)..." << std::endl;
  auto image = cf::testing::guest_image(CLAWFLEET_SOURCE_DIR, gateway);
  if (!image) {
    std::cerr << "make demo: " << image.error().message << "\n";
    return 1;
  }
  std::cout << "  " << image.value() << " (" << since(t0) << " s)\nBooting a disposable host (systemd in nspawn)..."
            << std::endl;
  auto c = cf::testing::boot_guest_host(CLAWFLEET_SOURCE_DIR, CLAWFLEET_BINARY, image.value());
  if (!c) {
    std::cerr << "make demo: " << c.error().message << "\n";
    return 1;
  }
  auto& host = *c.value();
  std::error_code ec;
  fs::copy_file(fs::path(CLAWFLEET_SOURCE_DIR) / "examples/demo/fleet.yaml", host.root() + "/etc/clawfleet/fleet.yaml",
                ec);
  if (ec) {
    std::cerr << "make demo: cannot copy examples/demo/fleet.yaml: " << ec.message() << "\n";
    return 1;
  }
  std::cout << "  ready (" << since(t0) << " s); the guests boot under software emulation: minutes, not seconds."
            << std::endl;

  int rc = shown(host, "clawfleet plan");
  const auto applied = Clock::now();
  if (rc == 2) rc = shown(host, "clawfleet apply --parallelism 2 --health-timeout 1500");
  const double apply_s = since(applied);
  shown(host, "clawfleet status");
  // Where the time went: each step's start (clawfleet's journal) against
  // the moment its VM process started (systemd); the rest is guest boot.
  shown(host, "grep -h '\"event\":\"start\"' /var/lib/clawfleet/journal.jsonl");
  shown(host, "systemctl show -p Id -p ExecMainStartTimestamp 'clawfleet-vm@*.service'");
  std::cout << "\napply took " << apply_s << " s; the demo " << since(t0)
            << " s in all. Tearing the host down (VMs, taps, container)..." << std::endl;
  c.value().reset();
  // plan and apply exit 2 when they made (or would make) changes.
  return rc == 0 || rc == 2 ? 0 : rc;
}
