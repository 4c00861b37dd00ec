#include "manifest/assemble.h"

#include <algorithm>

#include "core/text.h"
#include "manifest/bot_tokens.h"
#include "manifest/defaults.h"
#include "manifest/limits.h"
#include "manifest/secrets.h"
#include "manifest/trust.h"

namespace cf::manifest {
namespace {

std::string where_text(const Location& l) {
  return l.file + ':' + std::to_string(l.line) + ':' + std::to_string(l.column);
}

// Combines the raw documents of all files into the fleet, checking every
// rule that spans documents. Runs only on what parsed.
class Assembler {
 public:
  Assembler(Diagnostics& diags) : d_(diags) {}

  model::Fleet run(const Raw& raw, std::map<std::string, Location>& origins) {
    model::Fleet fleet;
    for (std::size_t i = 1; i < raw.hosts.size(); ++i)
      d_.error(raw.hosts[i].loc, "kind",
               "a second Host document; the first is at " + where_text(raw.hosts[0].loc) + " (at most one per fleet)");
    for (std::size_t i = 1; i < raw.defaults.size(); ++i)
      d_.error(raw.defaults[i].loc, "kind",
               "a second Defaults document; the first is at " + where_text(raw.defaults[0].loc) +
                   " (at most one per fleet)");
    RawHost no_host;
    const RawHost& rh = raw.hosts.empty() ? no_host : raw.hosts[0];
    host_ = host(rh);
    fleet.host = host_;
    RawDefaults no_defaults;
    defaults_ = raw.defaults.empty() ? &no_defaults : &raw.defaults[0];
    secret_files(defaults_->spec);

    std::map<std::string, Location> names;
    for (const auto& ri : raw.instances) {
      auto [it, fresh] = names.emplace(ri.name.value, ri.name.loc);
      if (!fresh) {
        d_.error(ri.name.loc, "metadata.name",
                 "instance \"" + ri.name.value + "\" is already defined at " + where_text(it->second));
        continue;
      }
      if (names.size() > kMaxInstances) {
        d_.error(ri.name.loc, "metadata.name",
                 "the fleet has more than " + std::to_string(kMaxInstances) + " instances");
        break;
      }
      fleet.instances.push_back(instance(ri));
      origins.emplace(ri.name.value, ri.name.loc);
    }
    previous_names(raw, names);
    capacity(raw, rh, fleet);
    std::sort(fleet.instances.begin(), fleet.instances.end(),
              [](const model::Instance& a, const model::Instance& b) { return a.name < b.name; });
    return fleet;
  }

 private:
  model::Host host(const RawHost& rh) {
    model::Host h = default_host();
    if (rh.state_root) {
      h.state_root = rh.state_root->value;
      if (auto rule = state_root_rule(h.state_root)) d_.error(rh.state_root->loc, "spec.stateRoot", *rule);
    }
    h.images = rh.images ? rh.images->value : default_images(h.state_root);
    for (const auto& [path, file] : rh.image_files)
      if (auto rule = image_rule(h.state_root, file.value)) d_.error(file.loc, path, *rule);
    secret_roots_ = {std::string(kDefaultSecretRoot)};
    if (rh.secret_roots) {
      secret_roots_.clear();
      for (std::size_t n = 0; n < rh.secret_roots->size(); ++n) {
        const auto& root = (*rh.secret_roots)[n];
        secret_roots_.push_back(root.value);
        if (auto rule = secret_root_rule(root.value))
          d_.error(root.loc, "spec.secretRoots[" + std::to_string(n) + "]", *rule);
      }
    }
    if (rh.bridge) h.bridge = rh.bridge->value;
    if (rh.subnet) h.subnet = rh.subnet->value;
    h.gateway = rh.gateway ? rh.gateway->value : Ipv4{h.subnet.network.value + 1};
    if (rh.gateway) {
      if (!h.subnet.contains(h.gateway))
        d_.error(rh.gateway->loc, "spec.gateway",
                 to_string(h.gateway) + " is outside the subnet " + to_string(h.subnet));
      else if (h.gateway == h.subnet.network || h.gateway == h.subnet.broadcast())
        d_.error(rh.gateway->loc, "spec.gateway",
                 to_string(h.gateway) + " is the " + (h.gateway == h.subnet.network ? "network" : "broadcast") +
                     " address of " + to_string(h.subnet));
    }
    if (rh.port_first) h.port_first = rh.port_first->value;
    if (rh.port_last) h.port_last = rh.port_last->value;
    if (h.port_first > h.port_last) {
      const Location& loc = rh.port_first ? rh.port_first->loc : rh.port_last->loc;
      d_.error(
          loc, "spec.ports",
          "first (" + std::to_string(h.port_first) + ") is greater than last (" + std::to_string(h.port_last) + ")");
    }
    if (rh.vmm_kind) h.vmm.kind = rh.vmm_kind->value;
    h.vmm.binary = rh.vmm_binary ? rh.vmm_binary->value : default_vmm_binary(h.vmm.kind);
    if (rh.vmm_binary)
      if (auto rule = vmm_binary_rule(h.vmm.kind, h.vmm.binary)) d_.error(rh.vmm_binary->loc, "spec.vmm.binary", *rule);
    if (rh.jailer) {
      h.vmm.jailer = rh.jailer->value;
      if (h.vmm.kind != model::VmmKind::Firecracker)
        d_.error(rh.jailer->loc, "spec.vmm.jailer", "the jailer is Firecracker's: it needs kind: firecracker");
      else if (auto rule = jailer_rule(h.vmm.jailer))
        d_.error(rh.jailer->loc, "spec.vmm.jailer", *rule);
    }
    if (rh.smt) h.vmm.smt = rh.smt->value;
    if (rh.accel) {
      h.vmm.accel = rh.accel->value;
      if (h.vmm.kind == model::VmmKind::Firecracker && h.vmm.accel == model::Accel::Tcg)
        d_.error(rh.accel->loc, "spec.vmm.accel", "tcg needs kind: qemu: Firecracker runs its guests only under KVM");
    }
    if (rh.egress) h.egress = rh.egress->value;
    if (rh.proxy) h.proxy = rh.proxy->value;
    if (rh.allow_to) h.allow_to = rh.allow_to->value;
    if (rh.proxy && h.subnet.contains(h.proxy->address) && h.proxy->address != h.gateway)
      d_.error(rh.proxy->loc, "spec.egress.proxy.url",
               to_string(h.proxy->address) + " is inside the subnet " + to_string(h.subnet) + " and not its gateway " +
                   to_string(h.gateway) + ": guests cannot reach each other");
    if (rh.dns) {
      h.dns = rh.dns->value;
      // Guests cannot reach each other; the gateway is the host itself.
      for (Ipv4 a : h.dns)
        if (h.subnet.contains(a) && a != h.gateway)
          d_.error(rh.dns->loc, "spec.dns",
                   to_string(a) + " is inside the subnet " + to_string(h.subnet) + " and not its gateway " +
                       to_string(h.gateway) + ": guests cannot reach each other");
    }
    if (rh.max_vcpus) h.max_vcpus = rh.max_vcpus->value;
    if (rh.max_memory_mib) h.max_memory_mib = rh.max_memory_mib->value;
    if (rh.max_connections) h.max_connections = rh.max_connections->value;
    if (rh.ca_certificates)
      for (const auto& ca : *rh.ca_certificates) h.ca_certificates.push_back(ca.value);
    std::sort(h.ca_certificates.begin(), h.ca_certificates.end());
    if (rh.liveness_fail_after_ms) h.liveness.fail_after_ms = rh.liveness_fail_after_ms->value;
    if (rh.max_unavailable) h.rollout.max_unavailable = rh.max_unavailable->value;
    return h;
  }

  // Where to report a rule broken by a merged value, and a note when the
  // value came from Defaults (reported at the instance's name).
  template <class T>
  std::pair<Location, std::string> blame(const std::optional<At<T>>& mine, const std::optional<At<T>>& theirs,
                                         const RawInstance& ri) {
    if (mine) return {mine->loc, ""};
    if (theirs) return {ri.name.loc, " (the value comes from Defaults at " + where_text(theirs->loc) + ")"};
    return {ri.name.loc, " (the built-in default)"};
  }

  template <class T, class U>
  static T pick(const std::optional<At<T>>& mine, const std::optional<At<T>>& theirs, U fallback) {
    return mine ? mine->value : theirs ? theirs->value : T(fallback);
  }

  // A previous name is nobody's name now, and one instance's only: else
  // which instance a state directory is would depend on the order.
  void previous_names(const Raw& raw, const std::map<std::string, Location>& names) {
    std::map<std::string, std::pair<std::string, Location>> claimed;
    for (const auto& ri : raw.instances)
      for (const auto& p : ri.previous_names) {
        if (p.value == ri.name.value) {
          d_.error(p.loc, "metadata.previousNames", "\"" + p.value + "\" is this instance's own name");
        } else if (auto it = names.find(p.value); it != names.end()) {
          d_.error(p.loc, "metadata.previousNames",
                   "\"" + p.value + "\" is the name of the instance at " + where_text(it->second) +
                       ": a previous name must be nobody's now");
        } else if (auto [c, fresh] = claimed.emplace(p.value, std::pair{ri.name.value, p.loc});
                   !fresh && c->second.first != ri.name.value) {
          d_.error(p.loc, "metadata.previousNames",
                   "\"" + p.value + "\" is a previous name of instance \"" + c->second.first + "\" too, at " +
                       where_text(c->second.second));
        }
      }
  }

  model::Instance instance(const RawInstance& ri) {
    const RawSpec& s = ri.spec;
    const RawSpec& def = defaults_->spec;
    model::Instance i;
    i.name = ri.name.value;
    i.labels = ri.labels;
    for (const auto& p : ri.previous_names)
      if (std::find(i.previous_names.begin(), i.previous_names.end(), p.value) == i.previous_names.end())
        i.previous_names.push_back(p.value);
    i.model = pick(s.model, def.model, kDefaultModel);
    if (s.skills)
      i.skills = s.skills->value;
    else if (def.skills)
      i.skills = def.skills->value;
    else
      i.skills.assign(std::begin(kDefaultSkills), std::end(kDefaultSkills)),
          std::sort(i.skills.begin(), i.skills.end());
    i.image = pick(s.image, def.image, kDefaultImage);
    i.resources.vcpus = pick(s.vcpus, def.vcpus, kDefaultVcpus);
    i.resources.memory_mib = pick(s.memory_mib, def.memory_mib, kDefaultMemoryMiB);
    i.resources.disk_bytes = pick(s.disk_bytes, def.disk_bytes, kDefaultDiskBytes);
    i.resources.data_disk_bytes = pick(s.data_disk_bytes, def.data_disk_bytes, kDefaultDataDiskBytes);
    if (s.bandwidth_bps)
      i.resources.bandwidth_bps = s.bandwidth_bps->value;
    else if (def.bandwidth_bps)
      i.resources.bandwidth_bps = def.bandwidth_bps->value;
    if (s.cpu_quota_percent || def.cpu_quota_percent)
      i.resources.cpu_quota_percent = pick(s.cpu_quota_percent, def.cpu_quota_percent, 0);
    if (s.io_weight || def.io_weight) i.resources.io_weight = pick(s.io_weight, def.io_weight, 0);
    i.telegram = s.telegram;
    for (const auto& [provider, ref] : def.provider_keys) i.provider_keys[provider] = ref.value;
    for (const auto& [provider, ref] : s.provider_keys) i.provider_keys[provider] = ref.value;
    for (const auto& [provider, url] : def.provider_base_urls) i.provider_base_urls[provider] = url.value;
    for (const auto& [provider, url] : s.provider_base_urls) i.provider_base_urls[provider] = url.value;
    i.state = pick(s.state, def.state, model::RunState::Running);
    i.protect = pick(s.protect, def.protect, false);
    i.chat_completions = pick(s.chat_completions, def.chat_completions, false);
    i.browser = pick(s.browser, def.browser, true);
    if (s.host_port) i.network.host_port = s.host_port->value;
    if (s.ip) i.network.ip = s.ip->value;
    if (s.mac) i.network.mac = s.mac->value;
    check(ri, i);
    secret_files(s);
    return i;
  }

  void check(const RawInstance& ri, const model::Instance& i) {
    const RawSpec& s = ri.spec;
    const RawSpec& def = defaults_->spec;
    if (!host_.images.count(i.image)) {
      std::string have;
      for (const auto& [name, _] : host_.images) have += (have.empty() ? "" : ", ") + name;
      auto [loc, note] = blame(s.image, def.image, ri);
      d_.error(loc, "spec.image",
               "no image \"" + i.image + "\" in the Host's spec.images (it has: " + have + ")" + note);
    }
    if (host_.vmm.smt && i.resources.vcpus > 1 && i.resources.vcpus % 2) {
      auto [loc, note] = blame(s.vcpus, def.vcpus, ri);
      d_.error(
          loc, "spec.resources.vcpus",
          std::to_string(i.resources.vcpus) + " vCPUs: must be 1 or even when the Host's spec.vmm.smt is true" + note);
    }
    if (host_.max_vcpus && i.resources.vcpus > *host_.max_vcpus) {
      auto [loc, note] = blame(s.vcpus, def.vcpus, ri);
      d_.error(loc, "spec.resources.vcpus",
               std::to_string(i.resources.vcpus) + " vCPUs is above the Host's spec.limits.vcpus (" +
                   std::to_string(*host_.max_vcpus) + ")" + note);
    }
    if (host_.max_memory_mib && i.resources.memory_mib > *host_.max_memory_mib) {
      auto [loc, note] = blame(s.memory_mib, def.memory_mib, ri);
      d_.error(loc, "spec.resources.memoryMiB",
               std::to_string(i.resources.memory_mib) + " MiB is above the Host's spec.limits.memoryMiB (" +
                   std::to_string(*host_.max_memory_mib) + ")" + note);
    }
    // More than one host CPU per vCPU limits nothing: the guest runs on its
    // vCPU threads (and QEMU's I/O threads, which a quota should not favour).
    if (const auto& q = i.resources.cpu_quota_percent; q && *q > 100 * i.resources.vcpus) {
      auto [loc, note] = blame(s.cpu_quota_percent, def.cpu_quota_percent, ri);
      d_.error(loc, "spec.resources.cpuQuota",
               std::to_string(*q) + "% is more than " + std::to_string(i.resources.vcpus) + " vCPUs can use: at most " +
                   std::to_string(100 * i.resources.vcpus) + "%" + note);
    }
    std::string provider = i.model.substr(0, i.model.find('/'));
    bool keyed =
        std::find(std::begin(kKeyedProviders), std::end(kKeyedProviders), provider) != std::end(kKeyedProviders);
    bool named = s.providers_named.count(provider) || def.providers_named.count(provider);
    if (keyed && !named) {
      auto [loc, note] = blame(s.model, def.model, ri);
      d_.error(loc, "spec.model",
               "model \"" + i.model + "\" needs an API key: set spec.providerKeys." + provider +
                   " in this Instance or in Defaults" + note);
    }
    if (s.ip) {
      const Ipv4 ip = s.ip->value;
      const char* what = nullptr;
      if (!host_.subnet.contains(ip))
        what = "outside the subnet";
      else if (ip == host_.subnet.network)
        what = "the network address of";
      else if (ip == host_.subnet.broadcast())
        what = "the broadcast address of";
      else if (ip == host_.gateway)
        what = "the gateway of";
      if (what) d_.error(s.ip->loc, "spec.network.ip", to_string(ip) + " is " + what + " " + to_string(host_.subnet));
      unique(ips_, ip, s.ip->loc, "spec.network.ip", "address " + to_string(ip), i.name);
    }
    if (s.host_port)
      unique(ports_, s.host_port->value, s.host_port->loc, "spec.network.hostPort",
             "port " + std::to_string(s.host_port->value), i.name);
    if (s.mac) unique(macs_, s.mac->value, s.mac->loc, "spec.network.mac", "MAC " + to_string(s.mac->value), i.name);
    // The same reference twice is seen here, without reading it; two
    // references with the same content only by digest (bot_tokens.h).
    if (i.telegram) {
      auto [it, fresh] = bot_tokens_.emplace(i.telegram->bot_token, std::make_pair(i.name, s.bot_token_loc));
      if (!fresh)
        d_.error(s.bot_token_loc, "spec.telegram.botToken",
                 "secret " + describe(i.telegram->bot_token) + " is also the bot token of instance \"" +
                     it->second.first + "\" at " + where_text(it->second.second) + "; " + kOneBotOneInstance);
    }
  }

  // {file:} references where they are written (an Instance or Defaults).
  void secret_files(const RawSpec& s) {
    const auto check = [&](const model::SecretRef& ref, const Location& loc, const std::string& path) {
      if (ref.source != model::SecretSource::File) return;
      if (auto rule = secret_file_rule(secret_roots_, ref.name))
        d_.error(loc, path, "secret " + describe(ref) + " " + *rule);
    };
    if (s.telegram) check(s.telegram->bot_token, s.bot_token_loc, "spec.telegram.botToken");
    for (const auto& [provider, ref] : s.provider_keys) check(ref.value, ref.loc, "spec.providerKeys." + provider);
  }

  template <class K>
  void unique(std::map<K, std::pair<std::string, Location>>& seen, const K& key, const Location& loc,
              const std::string& path, const std::string& what, const std::string& name) {
    auto [it, fresh] = seen.emplace(key, std::make_pair(name, loc));
    if (!fresh)
      d_.error(
          loc, path,
          what + " is already pinned by instance \"" + it->second.first + "\" at " + where_text(it->second.second));
  }

  // Every instance must be able to get an address and a port.
  void capacity(const Raw& raw, const RawHost& rh, const model::Fleet& fleet) {
    const std::uint64_t guests = host_.subnet.size() - 3;  // network, broadcast, gateway
    std::uint64_t in_range = 0;
    for (const auto& [port, _] : ports_)
      if (port >= host_.port_first && port <= host_.port_last) ++in_range;
    std::uint64_t need_port = 0;
    for (const auto& i : fleet.instances) need_port += !i.network.host_port;
    const std::uint64_t ports = host_.port_first <= host_.port_last ? host_.port_last - host_.port_first + 1u : 0u;
    std::size_t n = fleet.instances.size();
    Location fallback = n > 0 ? raw.instances.back().name.loc : rh.loc;
    if (n > guests) {
      Location loc = rh.subnet ? rh.subnet->loc : fallback;
      d_.error(loc, "spec.subnet",
               to_string(host_.subnet) + " has room for " + plural(guests, "guest", "guests") + ", but the fleet has " +
                   plural(n, "instance", "instances"));
    }
    if (n > kMaxBridgePorts)
      d_.error(rh.bridge ? rh.bridge->loc : fallback, "spec.bridge",
               "a Linux bridge has at most " + std::to_string(kMaxBridgePorts) +
                   " ports, one for each instance's tap, but the fleet has " + plural(n, "instance", "instances"));
    if (ports >= in_range && need_port > ports - in_range && ports > 0) {
      Location loc = rh.port_first ? rh.port_first->loc : rh.port_last ? rh.port_last->loc : fallback;
      d_.error(loc, "spec.ports",
               std::to_string(host_.port_first) + "-" + std::to_string(host_.port_last) + " has room for " +
                   plural(ports - in_range, "port", "ports") + ", but " +
                   plural(need_port, "instance needs", "instances need") + " one");
    }
  }

  Diagnostics& d_;
  model::Host host_;
  const RawDefaults* defaults_ = nullptr;
  std::vector<std::string> secret_roots_;
  std::map<Ipv4, std::pair<std::string, Location>> ips_;
  std::map<std::uint16_t, std::pair<std::string, Location>> ports_;
  std::map<Mac, std::pair<std::string, Location>> macs_;
  std::map<model::SecretRef, std::pair<std::string, Location>> bot_tokens_;
};

}  // namespace

model::Fleet assemble(const Raw& raw, Diagnostics& diags, std::map<std::string, Location>& origins) {
  return Assembler(diags).run(raw, origins);
}

}  // namespace cf::manifest
