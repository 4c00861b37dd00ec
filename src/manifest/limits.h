// Limits on everything a user controls (docs/manifest.md, "Limits").
#pragma once

#include <cstddef>

namespace cf::manifest {

inline constexpr std::size_t kMaxFileBytes = 1 << 20;
inline constexpr std::size_t kMaxFiles = 1024;
// All files of a set together: bounds the loader's memory and parse time.
inline constexpr std::size_t kMaxTotalBytes = 16 << 20;
inline constexpr std::size_t kMaxDocumentsPerFile = 1024;
inline constexpr std::size_t kMaxInstances = 4096;
// Ports of one Linux bridge, each instance's tap one of them: the kernel's
// BR_MAX_PORTS (1024) less port 0, which it reserves. The 1024th tap is
// refused with "Exchange full", halfway through an apply.
inline constexpr std::size_t kMaxBridgePorts = 1023;
inline constexpr std::size_t kMaxStringBytes = 4096;
inline constexpr std::size_t kMaxLabels = 64;
// metadata.previousNames: the names an instance had (a rename at a time).
inline constexpr std::size_t kMaxPreviousNames = 16;
inline constexpr std::size_t kMaxSkills = 128;
inline constexpr std::size_t kMaxTelegramUsers = 1024;
inline constexpr std::size_t kMaxProviderKeys = 32;
inline constexpr std::size_t kMaxImages = 64;
inline constexpr std::size_t kMaxEgressExceptions = 64;
inline constexpr std::size_t kMaxCaCertificates = 16;  // files; their size: core/pem.h
inline constexpr std::size_t kMaxSecretRoots = 16;
// URLs: manifest/url.h (kMaxUrlBytes).

}  // namespace cf::manifest
