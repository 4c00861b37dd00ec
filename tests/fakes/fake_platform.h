// A machine whose /dev/kvm, TSC frequency and resolver files the test sets;
// by default as these machines are: /dev/kvm opens (a PVM device), 2 GHz,
// and systemd-resolved's stub with one upstream resolver.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "host/platform/platform.h"

namespace cf::testing {

class FakePlatform : public host::Platform {
 public:
  bool kvm_device() override { return kvm; }
  std::uint32_t tsc_khz() override { return khz; }
  Result<std::optional<std::string>> resolver_file(const std::string& path) override {
    calls.push_back("resolver_file " + path);
    if (auto it = failures.find(path); it != failures.end()) return Error{it->second};
    auto it = files.find(path);
    return it == files.end() ? std::optional<std::string>{} : std::optional<std::string>{it->second};
  }
  bool kvm = true;
  std::uint32_t khz = 2000000;
  std::map<std::string, std::string> files = {
      {"/run/systemd/resolve/resolv.conf", "# upstream\nnameserver 192.0.2.53\n"},
      {"/etc/resolv.conf", "nameserver 127.0.0.53\noptions edns0 trust-ad\n"}};
  std::map<std::string, std::string> failures;  // path -> message
  std::vector<std::string> calls;
};

}  // namespace cf::testing
