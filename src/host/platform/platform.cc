#include "host/platform/platform.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "core/fs.h"

namespace cf::host {
namespace {

class RealPlatform : public Platform {
 public:
  bool kvm_device() override { return ::access("/dev/kvm", R_OK | W_OK) == 0; }

  std::uint32_t tsc_khz() override {
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("cpu MHz", 0) != 0) continue;
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      const double mhz = std::strtod(line.c_str() + colon + 1, nullptr);
      if (mhz > 0 && mhz < 1e6) return static_cast<std::uint32_t>(mhz * 1000);
    }
    return 0;
  }

  Result<std::optional<std::string>> resolver_file(const std::string& path) override {
    return read_file_if_exists(path, kMaxResolverFileBytes);
  }
};

}  // namespace

std::unique_ptr<Platform> real_platform() { return std::make_unique<RealPlatform>(); }

}  // namespace cf::host
