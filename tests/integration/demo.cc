// `make demo`: the main job on a disposable real host. Boots a real systemd
// in nspawn with the guest image, its uplink the simulated internet of
// tests/integration/internet/ (internet.h), then runs `clawfleet plan`,
// `clawfleet apply` (its progress lines on your terminal) and `clawfleet
// status` on the fleet of examples/demo, shows what reached the stand-ins,
// and tears it all down. The guests run the image's contract gateway (a
// stand-in, said so on the screen; its egress probe makes the calls) unless
// CLAWFLEET_DEMO_GATEWAY=openclaw (`make demo GATEWAY=openclaw`): OpenClaw's
// own gateway needs five minutes or more to become ready under emulation,
// and the demo ends with one Telegram conversation with it.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "integration/guest_host.h"
#include "integration/internet.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The stand-ins' calls (their log without its events).
nlohmann::json calls(const cf::testing::SimulatedInternet& net) {
  auto log = nlohmann::json::parse(net.ctl("GET", "/log"), nullptr, false);
  nlohmann::json out = nlohmann::json::array();
  if (log.is_array())
    for (auto& e : log)
      if (e.contains("method")) out.push_back(e);
  return out;
}

// Polls `done` every 5 s for up to `seconds`.
template <typename F>
bool wait_until(int seconds, F done) {
  for (auto end = Clock::now() + std::chrono::seconds(seconds);;) {
    if (done()) return true;
    if (Clock::now() > end) return false;
    ::sleep(5);
  }
}

// One line a call: service, method, path (a bot token shown as "bot…"), status.
void show_calls(const nlohmann::json& calls) {
  std::cout << "\nWhat reached the simulated internet (" << calls.size() << " calls):\n";
  for (const auto& c : calls) {
    std::string path = c.value("path", "");
    if (path.rfind("/bot", 0) == 0) path = "/bot…" + path.substr(path.find('/', 1));
    std::cout << "  " << c.value("service", "") << " " << c.value("method", "") << " " << path << " -> "
              << c.value("status", 0) << "\n";
  }
}

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
  const std::string reply = "Hello from the stand-in model, through DNS, NAT and TLS.";
  auto net = cf::testing::SimulatedInternet::up(std::string("--telegram-token ") + cf::testing::kPlaceholderBotToken +
                                                " --reply '" + reply + "'");
  if (!net) {
    std::cerr << "make demo: " << net.error().message << "\n";
    return 1;
  }
  if (auto s = net.value()->attach(host.leader()); !s) {
    std::cerr << "make demo: " << s.error().message << "\n";
    return 1;
  }
  std::ofstream(host.root() + "/etc/clawfleet/demo-ca.pem") << net.value()->ca_pem();
  std::cout << "  its uplink: a simulated internet (DNS " << cf::testing::kInternetDns
            << ", stand-ins for api.telegram.org, api.anthropic.com, api.openai.com)" << std::endl;
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
  if (gateway == cf::testing::Gateway::OpenClaw) {
    // One conversation: a message from an allowed Telegram user, once
    // hello's bot polls.
    std::cout << "\nA Telegram user (1001, in hello's allowFrom) writes to hello's bot..." << std::endl;
    const bool polling =
        wait_until(900, [&] { return calls(*net.value()).dump().find("\"getUpdates\"") != std::string::npos; });
    const std::string question = "Hello bot, what do you say?";
    nlohmann::json sent;
    if (polling)
      net.value()->ctl("POST", "/telegram/update", nlohmann::json{{"user_id", 1001}, {"text", question}}.dump());
    const bool answered =
        polling && wait_until(1500, [&] {
          sent = nlohmann::json::parse(net.value()->ctl("GET", "/telegram/sent?chat_id=1001"), nullptr, false);
          return sent.is_array() && !sent.empty();
        });
    std::cout << "  user: " << question << "\n";
    if (answered)
      for (const auto& m : sent) std::cout << "  bot:  " << m.value("text", "") << "\n";
    else
      std::cout << "  (no answer: " << (polling ? "none within 25 min" : "the bot never polled") << ")\n";
    // The demo shows, it does not judge; but it says what it saw.
    if (answered && sent.dump().find(reply) == std::string::npos)
      std::cout << "  That is the gateway's own notice, not the model's answer: under software emulation a first\n"
                   "  turn is slower than OpenClaw's own watchdogs allow (docs/guest.md).\n";
  } else {
    // The contract gateway's egress probe: one call a provider a guest.
    wait_until(300, [&] { return calls(*net.value()).size() >= 2; });
  }
  show_calls(calls(*net.value()));
  // Where the time went: each step's start (clawfleet's journal) against
  // the moment its VM process started (systemd); the rest is guest boot.
  shown(host, "grep -h '\"event\":\"start\"' /var/lib/clawfleet/journal.jsonl");
  shown(host, "systemctl show -p Id -p ExecMainStartTimestamp 'clawfleet-vm@*.service'");
  std::cout << "\napply took " << apply_s << " s; the demo " << since(t0)
            << " s in all. Tearing the host down (VMs, taps, container)..." << std::endl;
  c.value().reset();
  net.value().reset();
  // plan and apply exit 2 when they made (or would make) changes.
  return rc == 0 || rc == 2 ? 0 : rc;
}
