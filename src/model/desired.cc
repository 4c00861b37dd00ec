#include "model/desired.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "core/sha256.h"

namespace cf::model {
namespace {

using nlohmann::json;

json to_json(const SecretRef& s) { return json{{to_string(s.source), s.name}}; }

json to_json(const Instance& i) {
  json network = json::object();
  if (i.network.host_port) network["hostPort"] = *i.network.host_port;
  if (i.network.ip) network["ip"] = to_string(*i.network.ip);
  if (i.network.mac) network["mac"] = to_string(*i.network.mac);
  json keys = json::object();
  for (const auto& [provider, ref] : i.provider_keys) keys[provider] = to_json(ref);
  json j{
      {"name", i.name},
      {"labels", i.labels},
      {"model", i.model},
      {"skills", i.skills},
      {"image", i.image},
      {"resources",
       {{"vcpus", i.resources.vcpus},
        {"memoryMiB", i.resources.memory_mib},
        {"diskBytes", i.resources.disk_bytes},
        {"dataDiskBytes", i.resources.data_disk_bytes}}},
      {"telegram", nullptr},
      {"providerKeys", keys},
      {"state", to_string(i.state)},
      {"protect", i.protect},
      {"network", network},
  };
  if (i.telegram) j["telegram"] = {{"botToken", to_json(i.telegram->bot_token)}, {"allowFrom", i.telegram->allow_from}};
  // Written only when set, so that instances without endpoints keep the
  // content hash they had before these fields existed.
  if (i.telegram && i.telegram->api_root) j["telegram"]["apiRoot"] = *i.telegram->api_root;
  if (!i.provider_base_urls.empty()) j["providerBaseUrls"] = i.provider_base_urls;
  if (i.resources.bandwidth_bps) j["resources"]["bandwidthBps"] = *i.resources.bandwidth_bps;
  if (i.resources.cpu_quota_percent) j["resources"]["cpuQuotaPercent"] = *i.resources.cpu_quota_percent;
  if (i.resources.io_weight) j["resources"]["ioWeight"] = *i.resources.io_weight;
  if (i.chat_completions) j["chatCompletions"] = true;
  if (!i.browser) j["browser"] = false;
  return j;
}

json to_json(const Host& h) {
  json images = json::object();
  for (const auto& [name, img] : h.images) {
    json j{{"kernel", img.kernel}, {"rootfs", img.rootfs}};
    if (img.initrd) j["initrd"] = *img.initrd;
    images[name] = j;
  }
  json egress{{"mode", to_string(h.egress)}, {"allowTo", json::array()}};
  if (h.proxy) egress["proxy"] = {{"url", h.proxy->url}};
  for (const auto& e : h.allow_to) egress["allowTo"].push_back(to_string(e));
  json dns = json::array();
  for (const auto& a : h.dns) dns.push_back(to_string(a));
  json limits = json::object();
  if (h.max_vcpus) limits["vcpus"] = *h.max_vcpus;
  if (h.max_memory_mib) limits["memoryMiB"] = *h.max_memory_mib;
  if (h.max_connections) limits["connections"] = *h.max_connections;
  json j{
      {"bridge", h.bridge},
      {"subnet", to_string(h.subnet)},
      {"gateway", to_string(h.gateway)},
      {"ports", {{"first", h.port_first}, {"last", h.port_last}}},
      {"vmm",
       {{"kind", to_string(h.vmm.kind)},
        {"binary", h.vmm.binary},
        {"smt", h.vmm.smt},
        {"accel", to_string(h.vmm.accel)}}},
      {"images", images},
      {"egress", egress},
      {"dns", dns},
      {"stateRoot", h.state_root},
      {"limits", limits},
  };
  if (!h.vmm.jailer.empty()) j["vmm"]["jailer"] = h.vmm.jailer;
  // Only when set (liveness: when not the default): fleets without them
  // keep the hash they had before.
  if (!h.ca_certificates.empty()) j["caCertificates"] = h.ca_certificates;
  if (h.liveness.fail_after_ms) j["liveness"] = {{"failAfterMs", *h.liveness.fail_after_ms}};
  if (h.rollout.max_unavailable) j["rollout"] = {{"maxUnavailable", *h.rollout.max_unavailable}};
  return j;
}

// nlohmann's objects are std::maps, so dump() sorts keys. Strings were
// checked to be UTF-8 at load; `replace` keeps a bad one from throwing.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

const char* to_string(SecretSource s) {
  switch (s) {
    case SecretSource::File: return "file";
    case SecretSource::Env: return "env";
    case SecretSource::Credential: return "credential";
  }
  return "?";
}

const char* to_string(RunState s) { return s == RunState::Running ? "running" : "stopped"; }
const char* to_string(VmmKind k) { return k == VmmKind::Firecracker ? "firecracker" : "qemu"; }
const char* to_string(Egress e) {
  switch (e) {
    case Egress::Deny: return "deny";
    case Egress::Internet: return "internet";
    case Egress::Allow: return "allow";
    case Egress::Proxy: return "proxy";
  }
  return "?";
}

std::string to_string(const EgressException& e) {
  if (e.to.prefix != 32) return cf::to_string(e.to);
  return cf::to_string(e.to.network) + (e.port ? ":" + std::to_string(*e.port) : "");
}

bool forwards(const Host& h) { return h.egress != Egress::Deny || !h.allow_to.empty(); }
const char* to_string(Accel a) { return a == Accel::Kvm ? "kvm" : a == Accel::Tcg ? "tcg" : "auto"; }

const Instance* Fleet::find(const std::string& name) const {
  auto it = std::lower_bound(instances.begin(), instances.end(), name,
                             [](const Instance& i, const std::string& n) { return i.name < n; });
  return it != instances.end() && it->name == name ? &*it : nullptr;
}

std::vector<SecretRef> secret_refs(const Instance& i) {
  std::vector<SecretRef> refs;
  if (i.telegram) refs.push_back(i.telegram->bot_token);
  for (const auto& [_, ref] : i.provider_keys) refs.push_back(ref);
  return refs;
}

std::string canonical_json(const Instance& i) { return dump(to_json(i)); }
std::string canonical_json(const Host& h) { return dump(to_json(h)); }

std::string canonical_json(const Fleet& f) {
  json instances = json::array();
  for (const auto& i : f.instances) instances.push_back(to_json(i));
  return dump(json{{"host", to_json(f.host)}, {"instances", instances}});
}

std::string content_hash(const Instance& i) { return "sha256:" + sha256_hex(canonical_json(i)); }
std::string content_hash(const Fleet& f) { return "sha256:" + sha256_hex(canonical_json(f)); }

}  // namespace cf::model
