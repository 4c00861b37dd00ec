// The planner's vocabulary: action names, the flattened fields of an
// instance and what changing each one costs.
#include <string>
#include <vector>

#include "core/net.h"
#include "plan/plan.h"

namespace cf::plan {
namespace {

template <typename T, typename F>
std::string join_each(const std::vector<T>& xs, F show) {
  std::string out;
  for (const auto& x : xs) {
    if (!out.empty()) out += ',';
    out += show(x);
  }
  return out;
}

std::string digest_of(const model::SecretRef& ref, const std::map<model::SecretRef, std::string>& digests) {
  auto it = digests.find(ref);
  // A missing digest must still differ from any recorded one, so the
  // plan shows the field instead of silently keeping the old secret.
  return it == digests.end() ? "(unreadable)" : it->second;
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

// path is `base` itself or one of its children ("base.x").
bool under(const std::string& path, const std::string& base) { return path == base || starts_with(path, base + "."); }

}  // namespace

const char* to_string(Action a) {
  switch (a) {
    case Action::Create: return "create";
    case Action::Reprovision: return "reprovision";
    case Action::Restart: return "restart";
    case Action::GrowDisk: return "grow-disk";
    case Action::Reimage: return "reimage";
    case Action::Replace: return "replace";
    case Action::Start: return "start";
    case Action::Stop: return "stop";
    case Action::Repair: return "repair";
    case Action::Destroy: return "destroy";
    case Action::UpdateAllocation: return "update-allocation";
    case Action::Rename: return "rename";
  }
  return "repair";
}

const char* symbol(Action a) {
  switch (a) {
    case Action::Create: return "+";
    case Action::Replace: return "-/+";
    case Action::Destroy: return "-";
    default: return "~";
  }
}

std::map<std::string, std::string> flatten(const model::Instance& instance, const model::Host& host,
                                           const std::map<model::SecretRef, std::string>& secret_digests,
                                           const std::map<std::string, std::string>& ca_digests) {
  std::map<std::string, std::string> f;
  for (const auto& [key, value] : instance.labels) f["metadata.labels." + key] = value;
  f["spec.model"] = instance.model;
  f["spec.skills"] = join_each(instance.skills, [](const std::string& s) { return s; });
  f["spec.image"] = instance.image;
  f["spec.resources.vcpus"] = std::to_string(instance.resources.vcpus);
  f["spec.resources.memoryMiB"] = std::to_string(instance.resources.memory_mib);
  f["spec.resources.disk"] = std::to_string(instance.resources.disk_bytes);
  f[kDataDiskField] = std::to_string(instance.resources.data_disk_bytes);
  if (instance.resources.cpu_quota_percent)
    f["spec.resources.cpuQuota"] = std::to_string(*instance.resources.cpu_quota_percent) + "%";
  if (instance.resources.io_weight) f["spec.resources.ioWeight"] = std::to_string(*instance.resources.io_weight);
  if (instance.telegram) {
    f["spec.telegram.botToken"] = digest_of(instance.telegram->bot_token, secret_digests);
    f["spec.telegram.allowFrom"] =
        join_each(instance.telegram->allow_from, [](std::int64_t id) { return std::to_string(id); });
    if (instance.telegram->api_root) f["spec.telegram.apiRoot"] = *instance.telegram->api_root;
  }
  for (const auto& [provider, ref] : instance.provider_keys)
    f["spec.providerKeys." + provider] = digest_of(ref, secret_digests);
  for (const auto& [provider, url] : instance.provider_base_urls) f["spec.providerBaseUrls." + provider] = url;
  // Only when on: instances recorded before the field existed keep their map.
  if (instance.chat_completions) f["spec.chatCompletions"] = "true";
  // Only when off, for the same reason: on is the default.
  if (!instance.browser) f["spec.browser"] = "false";
  f["spec.state"] = model::to_string(instance.state);
  f["spec.protect"] = instance.protect ? "true" : "false";

  f["host.bridge"] = host.bridge;
  f["host.subnet"] = cf::to_string(host.subnet);
  f["host.gateway"] = cf::to_string(host.gateway);
  // Order matters (the first is asked first), so the list is not sorted.
  if (!host.dns.empty()) f["host.dns"] = join_each(host.dns, [](Ipv4 a) { return cf::to_string(a); });
  // The guest's env names the proxy; the rest of egress is the table's.
  if (host.egress == model::Egress::Proxy && host.proxy) f["host.egress.proxy.url"] = host.proxy->url;
  f["host.vmm.kind"] = model::to_string(host.vmm.kind);
  f["host.vmm.binary"] = host.vmm.binary;
  // Only when set: instances applied before the field existed stay as they are.
  if (!host.vmm.jailer.empty()) f["host.vmm.jailer"] = host.vmm.jailer;
  f["host.vmm.smt"] = host.vmm.smt ? "true" : "false";
  if (auto it = host.images.find(instance.image); it != host.images.end()) {
    f["host.image.kernel"] = it->second.kernel;
    f["host.image.rootfs"] = it->second.rootfs;
    if (it->second.initrd) f["host.image.initrd"] = *it->second.initrd;
    // Only when known (every file matches its record): an image without a
    // record is compared by its paths alone, as before records existed.
    if (!it->second.digest.empty()) f[kImageDigestField] = it->second.digest;
    if (!it->second.version.empty()) f[kImageVersionField] = it->second.version;
  }
  // Only when set, like every optional field: instances of a Host without
  // CAs keep their generation.
  if (!host.ca_certificates.empty())
    f["host.caCertificates"] = join_each(host.ca_certificates, [&](const std::string& path) {
      auto it = ca_digests.find(path);
      return path + " (" + (it == ca_digests.end() ? std::string("(unreadable)") : it->second) + ")";
    });
  return f;
}

bool applies_live(const std::string& path) {
  return path == "spec.resources.cpuQuota" || path == "spec.resources.ioWeight";
}

std::optional<Action> cost_of(const std::string& path) {
  // The version is what a digest is called; the digest is what changes.
  if (under(path, "metadata.labels") || path == "spec.protect" || applies_live(path) || path == kImageVersionField)
    return std::nullopt;
  if (path == "spec.model" || path == "spec.skills" || under(path, "spec.telegram") ||
      under(path, "spec.providerKeys") || under(path, "spec.providerBaseUrls") || path == "spec.chatCompletions" ||
      path == "spec.browser" || path == "host.dns" || path == "host.egress.proxy.url")
    return Action::Reprovision;
  if (path == "spec.image" || under(path, "host.image")) return Action::Replace;
  if (path == "host.caCertificates") return Action::Reprovision;
  if (path == "spec.resources.vcpus" || path == "spec.resources.memoryMiB") return Action::Restart;
  if (path == "spec.resources.disk" || path == kDataDiskField) return Action::GrowDisk;
  if (path == "spec.state") return Action::Start;
  if (path == "spec.network.ip" || path == "spec.network.mac") return Action::Restart;
  if (path == "spec.network.hostPort" || under(path, "host.ports")) return Action::UpdateAllocation;
  // host.vmm.accel is not flattened: a VM takes the plan's accelerator when it next starts.
  if (path == "host.vmm.accel") return std::nullopt;
  if (path == "host.bridge" || path == "host.subnet" || path == "host.gateway" || under(path, "host.vmm"))
    return Action::Restart;
  // host.egress, host.stateRoot, host.limits.*: nothing per instance (the
  // host step covers the table); unknown paths: an older record's fields.
  return std::nullopt;
}

bool is_secret_path(const std::string& path) {
  return path == "spec.telegram.botToken" || starts_with(path, "spec.providerKeys.");
}

}  // namespace cf::plan
