// A machine whose /dev/kvm, TSC frequency and KVM boot probe the test
// sets; by default as these machines are: /dev/kvm opens (a PVM device)
// and cannot run a guest, 2 GHz, no probe recorded yet.
#pragma once

#include <cstdint>
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
  bool kvm = true;
  std::uint32_t khz = 2000000;
  std::optional<model::KvmProbe> recorded;
  model::KvmProbe outcome{false, "no guest console output within 20.0 s", "2026-12-01T00:00:00.000Z"};
  std::vector<std::string> probes;  // every probe_kvm call
};

}  // namespace cf::testing
