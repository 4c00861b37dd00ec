// The simulated internet of tests/integration/internet/ (its README is the
// contract) for the tests that boot real guests: a network namespace of the
// test's own with DNS for the real API names and TLS stand-ins for Telegram,
// Anthropic and OpenAI, signed by a CA made for the run, attached as the
// uplink of the disposable host (its default route), with nothing routed
// beyond it. Taken down, by the PIDs it recorded, when destroyed.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "core/result.h"
#include "integration/nspawn.h"

namespace cf::testing {

// What the guests are given: the resolver and the address every call
// reaches the stand-ins from (the disposable host's uplink, as its NAT
// leaves it).
inline constexpr const char* kInternetDns = "198.18.0.53";
inline constexpr const char* kInternetPeer = "203.0.113.2";

class SimulatedInternet {
 public:
  // Up, with standin.py serve's options (e.g. "--telegram-token T --reply R").
  static Result<std::unique_ptr<SimulatedInternet>> up(const std::string& options) {
    std::unique_ptr<SimulatedInternet> net(new SimulatedInternet);
    net->name_ = "cf-inet-" + std::to_string(::getpid());
    net->dir_ = "/tmp/" + net->name_;
    std::filesystem::remove_all(net->dir_);
    std::string out;
    if (nspawn::detail::run(script() + " up " + net->name_ + " " + net->dir_ + " " + options + " 2>&1", &out) != 0)
      return Error{"cannot bring the simulated internet up:\n" + nspawn::detail::tail(out, 20)};
    net->up_ = true;
    return net;
  }

  ~SimulatedInternet() {
    if (up_) nspawn::detail::run(script() + " down " + name_ + " " + dir_ + " 2>&1");
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  SimulatedInternet(const SimulatedInternet&) = delete;
  SimulatedInternet& operator=(const SimulatedInternet&) = delete;

  // The uplink of the namespace that `pid` is in (the container's leader).
  Status attach(pid_t pid) const {
    std::string out;
    if (nspawn::detail::run(script() + " attach " + name_ + " " + std::to_string(pid) + " 2>&1", &out) != 0)
      return Error{"cannot attach the simulated internet: " + out};
    return Status{};
  }

  // One request to the stand-ins' control socket; its JSON answer, or an
  // answer that starts with "ctl failed".
  std::string ctl(const std::string& method, const std::string& path, const std::string& json = "") const {
    std::string out;
    std::string command = script() + " ctl " + dir_ + " " + method + " '" + path + "'";
    if (!json.empty()) command += " '" + json + "'";
    if (nspawn::detail::run(command + " 2>&1", &out) != 0) return "ctl failed: " + out;
    return out;
  }

  std::string ca_pem() const { return nspawn::detail::read_all(dir_ + "/certs/ca.pem"); }
  const std::string& dir() const { return dir_; }

 private:
  SimulatedInternet() = default;
  static std::string script() { return "/bin/sh " CLAWFLEET_SOURCE_DIR "/tests/integration/internet/internet.sh"; }

  std::string name_, dir_;
  bool up_ = false;
};

}  // namespace cf::testing
