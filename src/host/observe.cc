#include "host/observe.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "core/sha256.h"
#include "core/text.h"
#include "host/guest/image_record.h"
#include "host/guest/skills_record.h"
#include "host/platform/resolvers.h"
#include "host/vmm/launch.h"

namespace cf::host {
namespace {

constexpr std::chrono::milliseconds kVmmTimeout{500};
constexpr std::size_t kMaxUnitFileBytes = 1 << 20;
constexpr std::size_t kReadinessProbes = 8;  // at once

}  // namespace

std::string vmm_socket(const model::Host& host, const std::string& name) { return vmm_view(host, name).api_socket; }

Result<model::Observed> observe(const model::Host& host, const Ports& ports) {
  model::Observed out;
  out.platform = {ports.platform.kvm_device(), ports.platform.tsc_khz(), ports.platform.recorded_kvm_probe()};
  out.image_skills = read_skills_records(host, ports.files);
  out.images = identify_images(host, ports.files);

  // Pass 1: what clawfleet's own state says it owns.
  auto inventory = ports.state.read_inventory();
  if (!inventory) return inventory.error();
  out.dns = host_resolvers(ports.platform);
  out.dns.recorded = inventory.value().default_dns;
  for (const auto& [name, entry] : inventory.value().instances) {
    auto& i = out.instances[name];
    i.in_inventory = true;
    i.protect = entry.protect;
  }
  auto dirs = ports.state.instance_dirs();
  if (!dirs) return dirs.error();
  for (const auto& name : dirs.value()) out.instances[name];

  // Pass 2: systemd, in one listing; units of unknown instances are leftovers
  // and get an entry too, so the planner sees them. Unit files are hashed
  // so a hand edit shows up as drift; every instance shares its template,
  // read once.
  std::map<std::string, std::string> hashes;
  auto hash_of = [&](const std::string& path) -> std::string {
    if (path.empty()) return "";
    auto [it, fresh] = hashes.try_emplace(path);
    if (fresh) {
      auto content = ports.files.read_file(path, kMaxUnitFileBytes);
      // A file that vanished between listing and reading hashes as "".
      it->second = content ? "sha256:" + sha256_hex(content.value()) : "";
    }
    return it->second;
  };
  auto units = ports.systemd.list_units(model::instance_unit_patterns());
  if (!units) return units.error();
  for (const auto& u : units.value()) {
    std::string name = model::instance_of_unit(u.name);
    if (name.empty()) continue;
    model::ObservedUnit ou{u.load_state,    u.active_state,           u.sub_state, u.unit_file_state,
                           u.fragment_path, hash_of(u.fragment_path), {}};
    for (const auto& path : u.dropin_paths) ou.dropin_hashes[path] = hash_of(path);
    out.instances[name].units[u.name] = std::move(ou);
  }
  for (auto& [name, i] : out.instances) {
    for (const auto& unit : {vm_unit(name), proxy_socket_unit(name), proxy_service_unit(name)}) {
      const std::string dir = ports.unit_dir + "/" + unit + ".d";
      auto entries = ports.files.list_dir(dir);
      if (!entries) continue;  // no drop-in directory
      for (const auto& e : entries.value()) {
        if (!e.regular || e.name.size() < 6 || e.name.substr(e.name.size() - 5) != ".conf") continue;
        const std::string path = dir + "/" + e.name;
        auto& ou = i.units[unit];
        if (!ou.dropin_hashes.count(path)) ou.dropin_hashes[path] = hash_of(path);
      }
    }
  }

  // Pass 3: the network, in one dump; taps are matched by their alias.
  auto links = ports.network.links();
  if (!links) return links.error();
  for (const auto& l : links.value()) {
    if (l.name == host.bridge) {
      out.bridge = model::ObservedBridge{true, l.up, l.ipv4};
      continue;
    }
    if (l.alias.rfind(kTapAliasPrefix, 0) != 0) {
      for (const Cidr& a : l.ipv4) {
        const Cidr net{Ipv4{a.network.value & a.mask()}, a.prefix};
        if (std::find(out.host_networks.begin(), out.host_networks.end(), net) == out.host_networks.end())
          out.host_networks.push_back(net);
      }
      continue;
    }
    std::string name = l.alias.substr(std::string(kTapAliasPrefix).size());
    if (!is_dns_label(name)) continue;
    out.instances[name].tap = model::ObservedTap{true, l.master.value_or(""), l.up, l.isolated, l.alias};
  }
  std::sort(out.host_networks.begin(), out.host_networks.end(),
            [](const Cidr& a, const Cidr& b) { return std::tie(a.network, a.prefix) < std::tie(b.network, b.prefix); });
  auto table = ports.network.read_ruleset();
  if (!table) return table.error();
  if (table.value()) out.table_hash = "sha256:" + sha256_hex(*table.value());
  auto forward = ports.network.ip_forward();
  if (!forward) return forward.error();
  out.ip_forward = forward.value();

  // Pass 4: per instance, its state files and its VMM.
  for (auto& [name, i] : out.instances) {
    auto rec = ports.state.read_instance(name);
    if (!rec) return rec.error();
    if (rec.value()) {
      i.allocation = rec.value()->allocation;
      i.desired_hash = rec.value()->desired_hash;
      i.applied_generation = rec.value()->applied_generation;
      i.applied = rec.value()->applied;
    }
    auto dir = ports.state.inspect(name);
    if (!dir) return dir.error();
    i.dir = model::ObservedDir{dir.value().exists, unsigned(dir.value().mode), unsigned(dir.value().uid), {}};
    for (const auto& [file, mode] : dir.value().files) i.dir.files[file] = unsigned(mode);
    auto vm = ports.vmm.state(vmm_socket(host, name), kVmmTimeout);
    i.vm_state = vm ? vm.value() : model::VmState::Unknown;
  }
  return out;
}

namespace {

// An instance whose gateway can be asked: its VM unit is active and its
// proxy has an address.
bool askable(const std::string& name, const model::ObservedInstance& i) {
  if (!i.allocation) return false;
  auto u = i.units.find(vm_unit(name));
  return u != i.units.end() && u->second.active_state == "active";
}

// `probe` of every target, a few at a time: one hung guest costs its
// timeout, not every guest's.
template <class Answer, class Probe>
std::vector<Answer> probe_each(const std::vector<HealthTarget>& targets, const Probe& probe) {
  std::vector<Answer> answers(targets.size());
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t k; (k = next++) < targets.size();) answers[k] = probe(targets[k]);
  };
  std::vector<std::thread> threads;
  for (std::size_t n = 0; n < std::min(targets.size(), kReadinessProbes); ++n) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  return answers;
}

}  // namespace

std::map<std::string, model::Readiness> observe_readiness(const model::Observed& observed, const Ports& ports,
                                                          std::chrono::milliseconds timeout) {
  std::map<std::string, model::Readiness> out;
  std::vector<std::string> names;
  std::vector<HealthTarget> targets;
  for (const auto& [name, i] : observed.instances) {
    if (!askable(name, i)) continue;
    auto token = ports.state.read_token(name);
    if (!token || !token.value()) {
      out[name].error = token ? "no gateway token" : token.error().message;
      continue;
    }
    names.push_back(name);
    targets.push_back(HealthTarget{i.allocation->host_port, *token.value(), i.allocation->ip, ""});
  }
  auto answers =
      probe_each<model::Readiness>(targets, [&](const HealthTarget& t) { return ports.health.readiness(t, timeout); });
  for (std::size_t k = 0; k < names.size(); ++k) out[names[k]] = std::move(answers[k]);
  return out;
}

std::map<std::string, Status> observe_liveness(const model::Observed& observed, const Ports& ports,
                                               std::chrono::milliseconds timeout, const std::set<std::string>& names) {
  std::vector<std::string> asked;
  std::vector<HealthTarget> targets;
  for (const auto& name : names) {
    auto it = observed.instances.find(name);
    if (it == observed.instances.end() || !askable(name, it->second)) continue;
    asked.push_back(name);
    targets.push_back(HealthTarget{it->second.allocation->host_port, "", it->second.allocation->ip, ""});
  }
  auto answers = probe_each<Status>(targets, [&](const HealthTarget& t) { return ports.health.alive(t, timeout); });
  std::map<std::string, Status> out;
  for (std::size_t k = 0; k < asked.size(); ++k) out.emplace(asked[k], std::move(answers[k]));
  return out;
}

}  // namespace cf::host
