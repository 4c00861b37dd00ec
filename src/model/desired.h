// The desired state of the fleet as plain values: what the manifests say,
// with every default filled in and Defaults merged. Equality, canonical JSON
// and content hashes ignore where a value was written.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/net.h"

namespace cf::model {

enum class SecretSource { File, Env, Credential };

// A reference to a secret, never its value.
struct SecretRef {
  SecretSource source = SecretSource::File;
  std::string name;  // path, variable name or credential name
  auto operator<=>(const SecretRef&) const = default;
};

enum class RunState { Running, Stopped };
enum class VmmKind { Firecracker, Qemu };
enum class Egress { Allow, Deny };

const char* to_string(SecretSource s);  // "file", "env", "credential"
const char* to_string(RunState s);      // "running", "stopped"
const char* to_string(VmmKind k);       // "firecracker", "qemu"
const char* to_string(Egress e);        // "allow", "deny"

struct Resources {
  int vcpus = 0;
  std::uint32_t memory_mib = 0;
  std::uint64_t disk_bytes = 0;
  bool operator==(const Resources&) const = default;
};

struct Telegram {
  SecretRef bot_token;
  std::vector<std::int64_t> allow_from;  // sorted, unique
  std::optional<std::string> api_root;   // a self-hosted Bot API server; unset: OpenClaw's default
  bool operator==(const Telegram&) const = default;
};

// Values the manifest pins instead of leaving them to the allocator.
struct NetworkPins {
  std::optional<std::uint16_t> host_port;
  std::optional<Ipv4> ip;
  std::optional<Mac> mac;
  bool operator==(const NetworkPins&) const = default;
};

struct Instance {
  std::string name;
  std::map<std::string, std::string> labels;
  std::string model;
  std::vector<std::string> skills;  // sorted, unique
  std::string image;
  Resources resources;
  std::optional<Telegram> telegram;
  std::map<std::string, SecretRef> provider_keys;
  std::map<std::string, std::string> provider_base_urls;  // provider -> its API's base URL (an LLM gateway)
  RunState state = RunState::Running;
  bool protect = false;
  NetworkPins network;
  bool operator==(const Instance&) const = default;
};

struct Image {
  std::string kernel;
  std::string rootfs;
  std::optional<std::string> initrd;
  bool operator==(const Image&) const = default;
};

struct Vmm {
  VmmKind kind = VmmKind::Firecracker;
  std::string binary;
  bool smt = false;
  bool operator==(const Vmm&) const = default;
};

struct Host {
  std::string bridge;
  Cidr subnet;
  Ipv4 gateway;
  std::uint16_t port_first = 0;
  std::uint16_t port_last = 0;
  Vmm vmm;
  std::map<std::string, Image> images;
  Egress egress = Egress::Allow;
  std::string state_root;
  std::optional<int> max_vcpus;
  std::optional<std::uint32_t> max_memory_mib;
  std::vector<std::string> ca_certificates;  // paths of the operator's CA certificate files; sorted, unique
  bool operator==(const Host&) const = default;
};

struct Fleet {
  Host host;
  std::vector<Instance> instances;  // sorted by name, names unique
  bool operator==(const Fleet&) const = default;

  const Instance* find(const std::string& name) const;
};

// Every secret an instance references (bot token, provider keys), in a
// fixed order, possibly with repeats.
std::vector<SecretRef> secret_refs(const Instance& i);

// What clawfleet converges a host to: the fleet the manifests describe and
// the digest (manifest::secret_digest) of each secret it references, never
// a value. A reference missing from `digests` could not be read.
struct DesiredState {
  Fleet fleet;
  std::map<SecretRef, std::string> digests;
  // CA certificate path -> certificates_digest (core/pem.h) of its
  // certificates: their content goes into every guest, like a secret's.
  std::map<std::string, std::string> ca_digests;
};

// Canonical JSON: sorted keys, no insignificant whitespace, sizes in bytes.
std::string canonical_json(const Instance& i);
std::string canonical_json(const Host& h);
std::string canonical_json(const Fleet& f);

// "sha256:<hex>" of the canonical JSON.
std::string content_hash(const Instance& i);
std::string content_hash(const Fleet& f);

}  // namespace cf::model
