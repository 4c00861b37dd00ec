// A machine whose /dev/kvm, TSC frequency, KVM boot probe and resolver
// files the test sets; by default as these machines are: /dev/kvm opens (a
// PVM device) and cannot run a guest, 2 GHz, no probe recorded yet, and
// systemd-resolved's stub with one upstream resolver.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "host/platform/platform.h"

namespace cf::testing {

class FakePlatform : public host::Platform {
 public:
  bool kvm_device() override { return kvm; }
  std::uint32_t tsc_khz() override { return khz; }
  std::optional<model::KvmProbe> recorded_kvm_probe() override { return recorded; }
  model::KvmProbe probe_kvm(const std::string& qemu, const std::string& kernel,
                            std::chrono::milliseconds deadline) override {
    probes.push_back(qemu + " " + kernel + " " + std::to_string(deadline.count()) + "ms");
    recorded = outcome;
    return outcome;
  }
  Result<std::optional<std::string>> resolver_file(const std::string& path) override {
    calls.push_back("resolver_file " + path);
    if (auto it = failures.find(path); it != failures.end()) return Error{it->second};
    auto it = files.find(path);
    return it == files.end() ? std::optional<std::string>{} : std::optional<std::string>{it->second};
  }
  bool kvm = true;
  std::uint32_t khz = 2000000;
  std::optional<model::KvmProbe> recorded;
  model::KvmProbe outcome{false, "no guest console output within 20.0 s", "2026-12-01T00:00:00.000Z"};
  std::vector<std::string> probes;  // every probe_kvm call
  std::map<std::string, std::string> files = {
      {"/run/systemd/resolve/resolv.conf", "# upstream\nnameserver 192.0.2.53\n"},
      {"/etc/resolv.conf", "nameserver 127.0.0.53\noptions edns0 trust-ad\n"}};
  std::map<std::string, std::string> failures;  // path -> message
  std::vector<std::string> calls;
};

}  // namespace cf::testing
