#include "host/platform/platform.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "core/fs.h"
#include "core/sys.h"
#include "core/text.h"
#include "core/time.h"
#include "host/platform/process.h"
#include "host/state/files.h"

namespace cf::host {
namespace {

constexpr std::size_t kMaxConsole = 64 * 1024;

// This boot of the host: a probe recorded under another one says nothing.
std::string boot_id() {
  std::ifstream in("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(in, id);
  return id;
}

class RealPlatform : public Platform {
 public:
  explicit RealPlatform(std::string record) : record_(std::move(record)) {}

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

  std::optional<model::KvmProbe> recorded_kvm_probe() override {
    auto text = read_file_if_exists(record_, 4096);
    if (!text || !text.value()) return std::nullopt;
    try {
      auto j = nlohmann::json::parse(*text.value());
      if (j.value("boot_id", "") != boot_id() || boot_id().empty()) return std::nullopt;
      return model::KvmProbe{j.at("runs").get<bool>(), j.value("detail", ""), j.value("time", "")};
    } catch (const nlohmann::json::exception&) {
      return std::nullopt;  // unreadable: probe again
    }
  }

  model::KvmProbe probe_kvm(const std::string& qemu, const std::string& kernel,
                            std::chrono::milliseconds deadline) override {
    model::KvmProbe p = boot_probe(qemu, kernel, "kvm", 0, deadline);
    nlohmann::json j{{"boot_id", boot_id()}, {"runs", p.runs}, {"detail", p.detail}, {"time", p.time}};
    // Not recorded is not fatal: the next apply probes again.
    if (ensure_dir(dir_of(record_), 0755)) (void)write_file_atomic(record_, j.dump() + "\n", 0644);
    return p;
  }

 private:
  std::string record_;
};

}  // namespace

std::unique_ptr<Platform> real_platform(std::string record) {
  return std::make_unique<RealPlatform>(std::move(record));
}

model::KvmProbe boot_probe(const std::string& qemu, const std::string& kernel, const std::string& accel,
                           std::uint32_t tsc_khz, std::chrono::milliseconds deadline) {
  model::KvmProbe p;
  p.time = rfc3339(std::chrono::system_clock::now());
  const auto t0 = std::chrono::steady_clock::now();
  auto ran = run_process(
      {qemu,
       "-M",
       "microvm,x-option-roms=off,pit=off,pic=off,isa-serial=on,rtc=on",
       "-accel",
       accel,
       "-cpu",
       accel == "kvm" ? "host" : "max",
       "-smp",
       "1",
       "-m",
       "128",
       "-nodefaults",
       "-no-user-config",
       "-display",
       "none",
       "-no-reboot",
       "-kernel",
       kernel,
       "-append",
       "console=ttyS0 panic=-1 reboot=t" + (tsc_khz ? " tsc_early_khz=" + std::to_string(tsc_khz) : std::string()),
       "-serial",
       "stdio"},
      deadline, kMaxConsole);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!ran) {
    p.detail = "cannot run " + qemu + ": " + ran.error().message;
    return p;
  }
  const ProcessResult& r = ran.value();
  char took[32];
  std::snprintf(took, sizeof took, "%.1f s", secs);
  if (r.output.find("Kernel panic") != std::string::npos) {
    p.runs = true;
    p.detail = std::string("the guest kernel ran to its panic in ") + took;
  } else if (r.timed_out) {
    p.detail = std::string(r.output.find("Linux version") != std::string::npos
                               ? "the guest kernel started and did not reach its panic within "
                               : "no guest console output within ") +
               took;
  } else {
    // QEMU's own complaint (e.g. "failed to initialize kvm"), one line.
    std::string why;
    for (char ch : cut(r.output.substr(0, r.output.find('\n')), 200))
      why += static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f ? ' ' : ch;
    p.detail = qemu + " ended (" + describe_end(r) + ") before the guest ran" + (why.empty() ? "" : ": " + why);
  }
  return p;
}

}  // namespace cf::host
