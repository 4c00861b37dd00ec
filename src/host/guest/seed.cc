#include "host/guest/seed.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/sha256.h"
#include "core/text.h"

namespace cf::host {
namespace {

using nlohmann::json;

std::string env_name(const std::string& provider) {
  std::string out;
  for (char ch : provider) out += ch == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return out + "_API_KEY";
}

// A YAML double-quoted scalar: JSON's string syntax is a subset of it.
std::string quoted(const std::string& s) { return json(s).dump(); }

}  // namespace

std::string instance_id_for(const std::string& generation) {
  const std::string prefix = "sha256:";
  return "cf-" + (generation.rfind(prefix, 0) == 0 ? generation.substr(prefix.size()) : generation);
}

std::string render_openclaw_config(const SeedInput& in) {
  const model::Instance& i = *in.instance;
  json c;
  c["gateway"] = {{"mode", "local"},
                  {"bind", "lan"},
                  {"port", kGuestGatewayPort},
                  {"auth", {{"mode", "token"}, {"token", in.token}}},
                  {"tailscale", {{"mode", "off"}}}};
  if (i.chat_completions) c["gateway"]["http"]["endpoints"]["chatCompletions"]["enabled"] = true;
  c["agents"]["defaults"]["model"]["primary"] = i.model;
  // An openai/* model on OpenAI's own endpoint may select the Codex
  // harness, whose plugin the gateway installs with npm at start: the guest
  // has no npm, and offline the gateway exits 78. OpenClaw's own runtime
  // needs no plugin (docs/providers/openai/runtimes.md of 2026.9.6).
  if (i.model.rfind("openai/", 0) == 0) c["agents"]["defaults"]["models"][i.model]["agentRuntime"]["id"] = "openclaw";
  c["skills"]["allowBundled"] = i.skills;
  // coding-agent is eligible only when enabled in the config as well
  // (its SKILL.md requires skills.entries.coding-agent.enabled).
  if (std::find(i.skills.begin(), i.skills.end(), "coding-agent") != i.skills.end())
    c["skills"]["entries"]["coding-agent"]["enabled"] = true;
  // The browser tool on the image's Chromium (docs/guest.md#browser), headless:
  // a guest has no display. Off also turns its plugin off: with only
  // browser.enabled false the agent is still offered the tool, and every
  // call fails ("Browser control is disabled").
  if (i.browser) {
    c["browser"] = {{"enabled", true}, {"executablePath", kGuestBrowser}, {"headless", true}};
  } else {
    c["browser"] = {{"enabled", false}};
    c["plugins"]["entries"]["browser"]["enabled"] = false;
  }
  // Offline by design: no update check, no catalogue refresh.
  c["update"]["checkOnStart"] = false;
  c["models"]["catalogRefresh"]["enabled"] = false;
  c["logging"]["file"] = "/var/lib/openclaw/logs/gateway.log";
  // The console log gets warnings and errors only (on stderr, which the
  // example image also puts on the serial console the host keeps): why a
  // turn failed, without the routine lines; the file above keeps everything.
  c["logging"]["consoleLevel"] = "warn";
  if (i.model.rfind("minimax/", 0) == 0)
    c["models"]["providers"]["minimax"] = {{"baseUrl", "https://api.minimax.io/anthropic"},
                                           {"api", "anthropic-messages"}};
  // spec.providerBaseUrls: an overlay on OpenClaw's bundled provider.
  for (const auto& [provider, url] : i.provider_base_urls) c["models"]["providers"][provider]["baseUrl"] = url;
  // Under emulation the provider's request timeout, which OpenClaw's
  // first-event and stalled-turn watchdogs both follow, is raised; only for
  // the providers OpenClaw bundles (an overlay without baseUrl is refused
  // for any other).
  if (in.emulated) {
    const std::string provider = i.model.substr(0, i.model.find('/'));
    if (provider == "anthropic" || provider == "openai" || provider == "minimax")
      c["models"]["providers"][provider]["timeoutSeconds"] = kEmulatedModelTimeoutSeconds;
    // Diagnostics' heartbeat aborts a turn after 360 s without progress, a
    // fixed native-speed limit (no setting moves it) that an emulated
    // gateway's first turn exceeds before its first model call; off is the
    // only way (docs/gateway/health.md), at the cost of its liveness events.
    c["diagnostics"]["enabled"] = false;
  }
  // Telegram is written only when configured: the whole file is replaced on
  // every generation, so turning it off leaves nothing behind.
  if (i.telegram && in.telegram_token) {
    c["channels"]["telegram"] = {{"enabled", true},
                                 {"botToken", *in.telegram_token},
                                 {"dmPolicy", "allowlist"},
                                 {"groupPolicy", "disabled"},
                                 {"allowFrom", i.telegram->allow_from}};
    if (i.telegram->api_root) c["channels"]["telegram"]["apiRoot"] = *i.telegram->api_root;
    c["plugins"]["entries"]["telegram"]["enabled"] = true;
  }
  return c.dump(2) + "\n";
}

std::string render_gateway_env(const SeedInput& in) {
  std::string out;
  for (const auto& [provider, key] : in.provider_keys) out += env_name(provider) + "=" + key + "\n";
  // Node does not read the system trust store by default.
  if (!in.ca_certificates.empty()) out += std::string("NODE_EXTRA_CA_CERTS=") + kGuestCaBundle + "\n";
  // Under emulation the example image's OpenClaw multiplies its fixed
  // worker-task timeouts by this (examples/guest-image/build.sh).
  if (in.emulated) out += "CLAWFLEET_TIMEOUT_SCALE=" + std::to_string(kEmulatedTimeoutScale) + "\n";
  // Egress proxy: the only way out, for OpenClaw's transports (undici reads
  // the upper-case names) and for the tools its skills run (curl reads
  // http_proxy in lower case only). The guest's own loopback stays direct.
  if (!in.host || in.host->egress != model::Egress::Proxy || !in.host->proxy) return out;
  for (const char* name : {"HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"})
    out += std::string(name) + "=" + in.host->proxy->url + "\n";
  return out + "NO_PROXY=localhost,127.0.0.1,::1\nno_proxy=localhost,127.0.0.1,::1\n";
}

SeedFiles render_seed(const SeedInput& in) {
  const model::Host& h = *in.host;
  SeedFiles f;
  f.meta_data = "instance-id: " + instance_id_for(in.generation) + "\nlocal-hostname: " + in.instance->name + "\n";

  f.network_config =
      "version: 2\nethernets:\n  eth0:\n    match:\n      macaddress: " + quoted(to_string(in.alloc.mac)) +
      "\n    set-name: eth0\n    addresses: [" +
      quoted(to_string(in.alloc.ip) + "/" + std::to_string(h.subnet.prefix)) +
      "]\n    routes:\n      - to: 0.0.0.0/0\n        via: " + quoted(to_string(h.gateway)) + "\n";
  // Debian's systemd-resolved has no fallback servers: without these the
  // guest resolves nothing.
  if (!h.dns.empty()) {
    std::vector<std::string> servers;
    for (Ipv4 a : h.dns) servers.push_back(quoted(to_string(a)));
    f.network_config += "    nameservers:\n      addresses: [" + join(servers, ", ") + "]\n";
  }

  // Contents in base64: secrets and JSON need no YAML quoting that way.
  struct File {
    std::string path, owner, mode, content;
  };
  const File files[] = {
      {"/etc/openclaw/openclaw.json", "openclaw:openclaw", "0600", render_openclaw_config(in)},
      {"/etc/openclaw/gateway.env", "openclaw:openclaw", "0600", render_gateway_env(in)},
      {"/etc/openclaw/generation", "root:root", "0644", in.generation + "\n"},
      // Always written: write_files cannot delete, so removing the last CA
      // leaves a comment, which update-ca-certificates adds nothing for.
      {kGuestCaBundle, "root:root", "0644",
       in.ca_certificates.empty() ? "# clawfleet: no operator CA certificates\n" : in.ca_certificates},
  };
  f.user_data = "#cloud-config\nwrite_files:\n";
  for (const auto& file : files)
    f.user_data += "  - path: " + file.path + "\n    owner: " + quoted(file.owner) +
                   "\n    permissions: " + quoted(file.mode) +
                   "\n    encoding: b64\n    content: " + base64_encode(file.content) + "\n";
  // cloud-init's ca_certs runs update-ca-certificates (after write_files,
  // in the image's cloud_init_modules) whenever the key is present.
  f.user_data += "ca_certs:\n  remove_defaults: false\n";
  return f;
}

std::string seed_digest(const SeedFiles& files) {
  return "sha256:" + sha256_hex("meta-data\n" + files.meta_data + "\nnetwork-config\n" + files.network_config +
                                "\nuser-data\n" + files.user_data);
}

}  // namespace cf::host
