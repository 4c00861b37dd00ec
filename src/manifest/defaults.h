// Built-in defaults of every optional field (docs/manifest.md).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "model/desired.h"

namespace cf::manifest {

inline constexpr std::string_view kDefaultModel = "openai/gpt-5.5";
// Bundled with the pinned OpenClaw, and their tools are in the image
// (examples/guest-image/build.sh refuses to build otherwise).
inline constexpr std::string_view kDefaultSkills[] = {"github", "tmux", "coding-agent", "skill-creator"};
inline constexpr std::string_view kDefaultImage = "default";
inline constexpr int kDefaultVcpus = 2;
inline constexpr std::uint32_t kDefaultMemoryMiB = 2048;
inline constexpr std::uint64_t kDefaultDiskBytes = std::uint64_t{10} << 30;
// Sparse: it costs what the gateway writes, not its size.
inline constexpr std::uint64_t kDefaultDataDiskBytes = std::uint64_t{8} << 30;

inline constexpr std::uint64_t kMinDiskBytes = std::uint64_t{1} << 30;
inline constexpr std::uint64_t kMaxDiskBytes = std::uint64_t{64} << 40;
// spec.resources.bandwidth, bits per second: 1Mbit to 100Gbit.
inline constexpr std::uint64_t kMinBandwidthBps = 1'000'000;
inline constexpr std::uint64_t kMaxBandwidthBps = 100'000'000'000;
// spec.resources.ioWeight: systemd's IOWeight= range.
inline constexpr std::int64_t kMinIoWeight = 1;
inline constexpr std::int64_t kMaxIoWeight = 10000;
inline constexpr std::int64_t kMinMemoryMiB = 128;
inline constexpr std::int64_t kMaxMemoryMiB = 1048576;
inline constexpr std::int64_t kMaxVcpus = 32;
// spec.liveness.failAfter: longer than a gateway restart, at most a day.
inline constexpr std::int64_t kMinLivenessFailAfterMs = 30 * 1000;
inline constexpr std::int64_t kMaxLivenessFailAfterMs = 24 * 3600 * 1000;
inline constexpr std::int64_t kMaxTelegramUserId = 9007199254740991;  // 2^53-1: exact in JSON

// Providers whose models cannot run without an API key.
inline constexpr std::string_view kKeyedProviders[] = {"anthropic", "minimax", "openai"};

// The Host used when no Host document is given; also the base that a Host
// document's fields override.
model::Host default_host();
std::string default_vmm_binary(model::VmmKind kind);
std::map<std::string, model::Image> default_images(const std::string& state_root);

}  // namespace cf::manifest
