// The guest's configuration as a cloud-init NoCloud seed (docs/guest.md,
// "The provisioning contract"): meta-data whose instance-id names the
// configuration generation, network-config v2 with the static address and
// the Host's resolvers,
// and user-data whose write_files give the OpenClaw config, the 0600
// provider-key env file and the generation. Rendering is pure; writing the
// image is GuestDisks::write_seed.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/net.h"
#include "model/desired.h"
#include "model/observed.h"

namespace cf::host {

// The gateway's port inside the guest and the port of the guest's
// generation endpoint (GET / -> {"generation": "..."}). The endpoint stays
// out of 18789-18899, which OpenClaw reserves for the ports it derives from
// its own (the MCP Apps sandbox listens on gateway port + 1 = 18790).
inline constexpr std::uint16_t kGuestGatewayPort = 18789;
inline constexpr std::uint16_t kGuestStatusPort = 18780;

// Where the guest gets the operator's CA certificates: in Debian's local
// CA directory for update-ca-certificates (cloud-init's ca_certs module),
// and named by NODE_EXTRA_CA_CERTS for the gateway.
inline constexpr const char* kGuestCaBundle = "/usr/local/share/ca-certificates/clawfleet.crt";

// The browser the image provides for OpenClaw's browser tool (Debian's
// chromium package; docs/guest.md#browser).
inline constexpr const char* kGuestBrowser = "/usr/bin/chromium";

struct SeedInput {
  const model::Host* host = nullptr;
  const model::Instance* instance = nullptr;
  model::Allocation alloc;
  std::string token;                                 // the gateway token
  std::map<std::string, std::string> provider_keys;  // provider -> key value
  std::optional<std::string> telegram_token;         // with instance->telegram
  std::string generation;                            // "sha256:<hex>"
  std::string ca_certificates;                       // the Host's CAs as PEM (core/pem.h); "" for none
  bool emulated = false;                             // the plan's accelerator is TCG (plan::accelerator_for)
};

// The model request timeout the config sets for the primary model's
// provider when the guest is emulated: OpenClaw gives a model call 120 s
// for its first event by default and calls a turn stalled after 600 s
// without progress, both measured at native speed; under TCG a real
// gateway's first turn takes longer than either (docs/guest.md).
inline constexpr int kEmulatedModelTimeoutSeconds = 1800;
// gateway.env's CLAWFLEET_TIMEOUT_SCALE under emulation: OpenClaw's 60 s
// worker tasks get 30 min, its browser 450 s to launch. A TCG guest runs
// them 10-30x slower, and slower still beside another guest: with 10, a
// CI machine's first Chromium start overran 150 s + 80 s (docs/guest.md).
inline constexpr int kEmulatedTimeoutScale = 30;

struct SeedFiles {
  std::string meta_data, user_data, network_config;
  bool operator==(const SeedFiles&) const = default;
};

// "cf-<hex>" for "sha256:<hex>": cloud-init reruns its per-instance modules
// (write_files among them) whenever this changes.
std::string instance_id_for(const std::string& generation);

// The OpenClaw config (JSON) the guest's gateway runs with.
std::string render_openclaw_config(const SeedInput& in);
// "OPENAI_API_KEY=..." lines, sorted by provider; NODE_EXTRA_CA_CERTS
// with CA certificates; with egress proxy, the proxy variables last.
std::string render_gateway_env(const SeedInput& in);

SeedFiles render_seed(const SeedInput& in);

// SHA-256 over the three files: what the seed on disk is compared by.
std::string seed_digest(const SeedFiles& files);

}  // namespace cf::host
