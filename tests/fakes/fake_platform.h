// A machine whose /dev/kvm and TSC frequency the test sets; by default as
// these machines are: /dev/kvm opens (a PVM device), 2 GHz.
#pragma once

#include <cstdint>

#include "host/platform/platform.h"

namespace cf::testing {

class FakePlatform : public host::Platform {
 public:
  bool kvm_device() override { return kvm; }
  std::uint32_t tsc_khz() override { return khz; }
  bool kvm = true;
  std::uint32_t khz = 2000000;
};

}  // namespace cf::testing
