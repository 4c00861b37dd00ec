// The manifest documents as written, between reading them (document.h) and
// assembling the fleet (assemble.h): each field is optional (unset = absent
// or bad) and keeps where it was written, for rules that span documents.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/diagnostic.h"
#include "core/net.h"
#include "model/desired.h"

namespace cf::manifest {

// A value and where it was written.
template <class T>
struct At {
  T value;
  Location loc;
};

// The spec fields an Instance and Defaults share, as written (unset = absent).
struct RawSpec {
  std::optional<At<std::string>> model;
  std::optional<At<std::vector<std::string>>> skills;
  std::optional<At<std::string>> image;
  std::optional<At<int>> vcpus;
  std::optional<At<std::uint32_t>> memory_mib;
  std::optional<At<std::uint64_t>> disk_bytes;
  std::optional<At<std::uint64_t>> data_disk_bytes;
  std::optional<At<std::uint64_t>> bandwidth_bps;
  std::optional<At<int>> cpu_quota_percent;
  std::optional<At<int>> io_weight;
  std::optional<model::Telegram> telegram;
  Location bot_token_loc;  // where spec.telegram.botToken was written
  std::map<std::string, At<model::SecretRef>> provider_keys;
  std::set<std::string> providers_named;  // even with a bad reference: no "needs a key" on top
  std::map<std::string, At<std::string>> provider_base_urls;
  std::optional<At<model::RunState>> state;
  std::optional<At<bool>> protect;
  std::optional<At<bool>> chat_completions;
  std::optional<At<bool>> browser;
  std::optional<At<std::uint16_t>> host_port;
  std::optional<At<Ipv4>> ip;
  std::optional<At<Mac>> mac;
};

struct RawInstance {
  At<std::string> name;
  std::map<std::string, std::string> labels;
  std::vector<At<std::string>> previous_names;
  RawSpec spec;
};

struct RawDefaults {
  Location loc;
  RawSpec spec;
};

struct RawHost {
  Location loc;
  std::optional<At<std::string>> bridge;
  std::optional<At<Cidr>> subnet;
  std::optional<At<Ipv4>> gateway;
  std::optional<At<std::uint16_t>> port_first;
  std::optional<At<std::uint16_t>> port_last;
  std::optional<At<model::VmmKind>> vmm_kind;
  std::optional<At<std::string>> vmm_binary;
  std::optional<At<std::string>> jailer;
  std::optional<At<bool>> smt;
  std::optional<At<model::Accel>> accel;
  std::optional<At<std::map<std::string, model::Image>>> images;
  std::optional<At<model::Egress>> egress;
  std::optional<At<model::EgressProxy>> proxy;
  std::optional<At<std::vector<model::EgressException>>> allow_to;
  std::optional<At<std::vector<Ipv4>>> dns;
  std::optional<At<std::string>> state_root;
  std::optional<At<int>> max_vcpus;
  std::optional<At<std::uint32_t>> max_memory_mib;
  std::optional<At<std::uint32_t>> max_connections;
  std::optional<std::vector<At<std::string>>> ca_certificates;  // as written, repeats dropped
  std::optional<std::vector<At<std::string>>> secret_roots;     // as written, repeats dropped
  // Each file of spec.images with its field path ("spec.images.default.kernel").
  std::vector<std::pair<std::string, At<std::string>>> image_files;
  std::optional<At<std::int64_t>> liveness_fail_after_ms;  // 0: off
  std::optional<At<std::uint32_t>> max_unavailable;
};

struct Raw {
  std::vector<RawInstance> instances;
  std::vector<RawDefaults> defaults;
  std::vector<RawHost> hosts;
};

}  // namespace cf::manifest
