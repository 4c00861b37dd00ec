// The desired state of the fleet as plain values: what the manifests say,
// with every default filled in and Defaults merged. Equality, canonical JSON
// and content hashes ignore where a value was written.
#pragma once

#include <cstddef>
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
// What guest traffic may leave the host for (docs/manifest.md "Egress"):
// nothing; the internet but no private, local or metadata destination; any
// destination (the LAN too); only an HTTP proxy.
enum class Egress { Deny, Internet, Allow, Proxy };
// How QEMU runs its guests: `auto` uses KVM only after a boot probe ran a
// guest under /dev/kvm (plan::accelerator_for). Firecracker is always KVM.
enum class Accel { Auto, Kvm, Tcg };

const char* to_string(SecretSource s);  // "file", "env", "credential"
const char* to_string(RunState s);      // "running", "stopped"
const char* to_string(VmmKind k);       // "firecracker", "qemu"
const char* to_string(Egress e);        // "deny", "internet", "allow", "proxy"
const char* to_string(Accel a);         // "auto", "kvm", "tcg"

struct Resources {
  int vcpus = 0;
  std::uint32_t memory_mib = 0;
  std::uint64_t disk_bytes = 0;
  // spec.resources.dataDisk: the data disk's size (docs/guest.md#the-data-disk).
  std::uint64_t data_disk_bytes = 0;
  // spec.resources.bandwidth in bits per second, each direction; nullopt:
  // no limit. Enforced by the host's ruleset only (no guest change).
  std::optional<std::uint64_t> bandwidth_bps;
  // spec.resources.cpuQuota in percent of one host CPU (systemd's
  // CPUQuota=) and spec.resources.ioWeight (IOWeight=, 1-10000); nullopt:
  // systemd's defaults (no quota, weight 100). The VM unit's limits.
  std::optional<int> cpu_quota_percent;
  std::optional<int> io_weight;
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
  // metadata.previousNames: names this instance had; one that is on the
  // host (and this name is not) is renamed to this one
  // (docs/manifest.md#rename). Not part of what the guest sees.
  std::vector<std::string> previous_names;
  std::string model;
  std::vector<std::string> skills;  // sorted, unique
  std::string image;
  Resources resources;
  std::optional<Telegram> telegram;
  std::map<std::string, SecretRef> provider_keys;
  std::map<std::string, std::string> provider_base_urls;  // provider -> its API's base URL (an LLM gateway)
  RunState state = RunState::Running;
  bool protect = false;
  // The gateway's OpenAI-compatible POST /v1/chat/completions (and
  // /v1/models, /v1/embeddings), behind its token: operator access.
  bool chat_completions = false;
  // OpenClaw's browser tool, on the image's Chromium (docs/guest.md#browser).
  bool browser = true;
  NetworkPins network;
  bool operator==(const Instance&) const = default;
};

struct Image {
  std::string kernel;
  std::string rootfs;
  std::optional<std::string> initrd;
  // Not from the manifest: the image's identity by content, from the
  // records beside its files (ObservedImage), which apply::desired_for
  // puts here; "" when not every file matches a record.
  std::string digest;   // "sha256:<hex>"
  std::string version;  // as its record names it; "" when none
  bool operator==(const Image&) const = default;
};

struct Vmm {
  VmmKind kind = VmmKind::Firecracker;
  std::string binary;
  bool smt = false;
  Accel accel = Accel::Auto;
  // Firecracker's jailer (spec.vmm.jailer): "" runs Firecracker directly.
  std::string jailer{};
  bool operator==(const Vmm&) const = default;
};

// The most resolvers a guest gets: glibc reads no more than three
// (MAXNS), so a fourth would be dead weight in any guest's resolv.conf.
inline constexpr std::size_t kMaxDnsServers = 3;

// An egress exception (spec.egress.allowTo), kept in every mode: a network
// (an address alone is a /32), or one address and port (TCP and UDP).
struct EgressException {
  Cidr to;
  std::optional<std::uint16_t> port;
  bool operator==(const EgressException&) const = default;
};
std::string to_string(const EgressException& e);  // "10.0.0.0/8", "10.1.2.3", "10.1.2.3:443"

// The proxy of egress mode proxy: the one destination guests reach, given
// to them as HTTP(S)_PROXY. An address, not a name: the table is rendered
// without resolving anything.
struct EgressProxy {
  std::string url;  // http://ADDRESS:PORT
  Ipv4 address;
  std::uint16_t port = 0;
  bool operator==(const EgressProxy&) const = default;
};

// How long an instance's /healthz may fail, after its health gate passed,
// before the agent restarts it (spec.liveness.failAfter); 0: never. The
// agent's alone: it changes nothing on the host and no instance's
// generation. The default is longer than a gateway's restart, which takes
// 5-8 minutes under emulation (TCG).
inline constexpr std::int64_t kDefaultLivenessFailAfterMs = 5 * 60 * 1000;
inline constexpr std::int64_t kDefaultLivenessFailAfterTcgMs = 15 * 60 * 1000;
struct Liveness {
  std::optional<std::int64_t> fail_after_ms;  // nullopt: the default for the accelerator
  bool operator==(const Liveness&) const = default;
};
// The period in effect, the VMs running under KVM or not.
inline std::int64_t fail_after_ms(const Liveness& l, bool kvm) {
  return l.fail_after_ms ? *l.fail_after_ms : kvm ? kDefaultLivenessFailAfterMs : kDefaultLivenessFailAfterTcgMs;
}

// How many instances a restart-class change (a reimage, a reprovision, a
// restart, a replace) may have down at once (spec.rollout.maxUnavailable):
// each starts only as another passes its health gate, and the first that
// fails stops the rest (docs/apply.md#rollouts). Like liveness, it changes
// nothing on the host and no instance's generation.
inline constexpr std::uint32_t kDefaultMaxUnavailable = 1;
struct Rollout {
  std::optional<std::uint32_t> max_unavailable;  // nullopt: kDefaultMaxUnavailable
  bool operator==(const Rollout&) const = default;
};

struct Host {
  std::string bridge;
  Cidr subnet;
  Ipv4 gateway;
  std::uint16_t port_first = 0;
  std::uint16_t port_last = 0;
  Vmm vmm;
  std::map<std::string, Image> images;
  Egress egress = Egress::Internet;
  std::optional<EgressProxy> proxy;       // with Egress::Proxy only
  std::vector<EgressException> allow_to;  // in order written
  // Not from the manifest: the host's own IPv4 networks, which `internet`
  // keeps guests out of (apply::desired_for fills them in from observe()).
  std::vector<Cidr> host_networks;
  // spec.dns, in order. Empty in a loaded manifest means "the host's
  // default"; apply::desired_for puts the effective list here (plan::choose_dns).
  std::vector<Ipv4> dns;
  std::string state_root;
  std::optional<int> max_vcpus;
  std::optional<std::uint32_t> max_memory_mib;
  // spec.limits.connections: the most connections one guest may have
  // tracked by the host at once; nullopt: kDefaultMaxConnections.
  std::optional<std::uint32_t> max_connections;
  std::vector<std::string> ca_certificates;  // paths of the operator's CA certificate files; sorted, unique
  Liveness liveness;
  Rollout rollout;
  bool operator==(const Host&) const = default;
};
inline std::uint32_t max_unavailable(const Host& h) {
  return h.rollout.max_unavailable ? *h.rollout.max_unavailable : kDefaultMaxUnavailable;
}

// A guest's tracked connections unless the Host says otherwise: far above
// what a gateway with its browser opens, and a small share of the kernel's
// conntrack table (262144 entries on a host with 4 GiB or more).
inline constexpr std::uint32_t kDefaultMaxConnections = 4096;
inline constexpr std::uint32_t kMinMaxConnections = 16;
inline constexpr std::uint32_t kMaxMaxConnections = 1048576;
inline std::uint32_t max_connections(const Host& h) {
  return h.max_connections ? *h.max_connections : kDefaultMaxConnections;
}

// Whether guest traffic is routed off the host at all (masquerade and
// net.ipv4.ip_forward): every mode but deny, and deny with exceptions.
bool forwards(const Host& h);

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
