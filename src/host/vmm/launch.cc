#include "host/vmm/launch.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/sys.h"
#include "core/text.h"
#include "host/state/files.h"
#include "model/instance_dir.h"

namespace cf::host {
namespace {

using nlohmann::json;
constexpr int kLaunchFormat = 1;

}  // namespace

InstancePaths paths_for(const std::string& state_root, const std::string& name) {
  std::string dir = state_root + "/instances/" + name;
  std::string vm = dir + "/vm";
  return {dir,
          dir + "/rootfs.ext4",
          dir + "/seed.img",
          dir + "/vmm-config.json",
          dir + "/launch.json",
          dir + "/" + model::kDataDiskFile,
          dir + "/" + model::kPreviousRootFile,
          dir + "/" + model::kPreviousSeedFile,
          vm,
          vm + "/vmm.sock",
          vm + "/vmm.log",
          vm + "/metrics.json",
          {vm + "/console.log", vm + "/console.log.1", vm + "/console.sock"}};
}

VmmView vmm_view(const model::Host& host, const std::string& instance) {
  const InstancePaths p = paths_for(host.state_root, instance);
  const std::string root = jail_root(host, instance);
  if (root.empty()) return {p.api_socket, p.rootfs, p.data};
  return {root + kJailApiSocket, kJailRootfs, kJailData};
}

VmSpec vm_spec(const model::Host& host, const model::Instance& instance, const model::Allocation& alloc, bool kvm,
               std::uint32_t tsc_khz, bool data_disk) {
  InstancePaths p = paths_for(host.state_root, instance.name);
  VmSpec s;
  s.name = instance.name;
  s.binary = host.vmm.binary;
  s.image = host.images.at(instance.image);
  s.rootfs_path = p.rootfs;
  s.seed_path = p.seed;
  if (data_disk) s.data_path = p.data;
  s.vcpus = instance.resources.vcpus;
  s.memory_mib = instance.resources.memory_mib;
  s.smt = host.vmm.smt;
  s.tap = alloc.tap;
  s.mac = alloc.mac;
  s.api_socket = p.api_socket;
  s.log_path = host.vmm.kind == model::VmmKind::Firecracker ? p.log : "";
  s.metrics_path = host.vmm.kind == model::VmmKind::Firecracker ? p.metrics : "";
  s.config_path = host.vmm.kind == model::VmmKind::Firecracker ? p.vmm_config : "";
  s.kvm = kvm;
  s.tsc_khz = kvm ? 0 : tsc_khz;
  s.uid = model::vmm_uid(alloc);
  if (!jail_root(host, instance.name).empty()) {
    // Its socket, log and metrics in its jail (the jail keeps the last two
    // across starts); everything else linked in.
    s.jailer = host.vmm.jailer;
    s.jail = jail_for(host, instance, data_disk);
    s.api_socket = vmm_view(host, instance.name).api_socket;
    s.log_path = s.jail->root + "/vmm.log";
    s.metrics_path = s.jail->root + "/metrics.json";
  }
  return s;
}

Result<LaunchRecord> make_launch_record(const model::Host& host, const model::Instance& instance,
                                        const model::Allocation& alloc, const Vmm& vmm, bool kvm, std::uint32_t tsc_khz,
                                        bool data_disk) {
  if (!host.images.count(instance.image))
    return Error{"instance " + instance.name + ": no image \"" + instance.image + "\""};
  VmSpec spec = vm_spec(host, instance, alloc, kvm, tsc_khz, data_disk);
  auto files = vmm.files(spec);
  if (!files) return files.error();
  return LaunchRecord{instance.name,
                      host.bridge,
                      Cidr{host.gateway, host.subnet.prefix},
                      alloc.tap,
                      alloc.ip,
                      alloc.mac,
                      host.vmm.kind,
                      model::vmm_uid(alloc),
                      spec.api_socket,
                      vmm.argv(spec),
                      std::move(files.value()),
                      model::forwards(host),
                      spec.jail};
}

std::string to_json(const LaunchRecord& r) {
  json files = json::array();
  for (const auto& [path, content] : r.files) files.push_back({{"path", path}, {"content", content}});
  json j{{"format", kLaunchFormat},
         {"name", r.name},
         {"bridge", r.bridge},
         {"bridgeAddress", to_string(r.bridge_address)},
         {"tap", r.tap},
         {"ip", to_string(r.ip)},
         {"mac", to_string(r.mac)},
         {"vmm", model::to_string(r.vmm)},
         {"vmmUser", r.uid},
         {"apiSocket", r.api_socket},
         {"argv", r.argv},
         {"files", files},
         {"ipForward", r.ip_forward}};
  if (r.jail) {
    json links = json::array();
    for (const auto& [from, to] : r.jail->links) links.push_back({{"from", from}, {"to", to}});
    j["jail"] = {{"base", r.jail->base}, {"root", r.jail->root}, {"links", links}};
  }
  return j.dump(2) + "\n";
}

Result<LaunchRecord> launch_from_json(const std::string& text) {
  try {
    json j = json::parse(text);
    if (!j.is_object() || j.value("format", 0) != kLaunchFormat) return Error{"unknown format (want \"format\": 1)"};
    LaunchRecord r;
    r.name = j.at("name").get<std::string>();
    r.bridge = j.at("bridge").get<std::string>();
    auto addr = parse_cidr(j.at("bridgeAddress").get<std::string>());
    if (!addr) return Error{"bridgeAddress: " + addr.error().message};
    r.bridge_address = addr.value();
    r.tap = j.at("tap").get<std::string>();
    auto ip = parse_ipv4(j.at("ip").get<std::string>());
    if (!ip) return Error{"ip: " + ip.error().message};
    r.ip = ip.value();
    auto mac = parse_mac(j.at("mac").get<std::string>());
    if (!mac) return Error{"mac: " + mac.error().message};
    r.mac = mac.value();
    std::string vmm = j.at("vmm").get<std::string>();
    if (vmm != "firecracker" && vmm != "qemu") return Error{"vmm: unknown kind \"" + vmm + "\""};
    r.vmm = vmm == "qemu" ? model::VmmKind::Qemu : model::VmmKind::Firecracker;
    // Absent from records written before VMMs had users of their own.
    r.uid = j.value("vmmUser", std::uint32_t(0));
    if (r.uid != 0 && (r.uid & ~0xffffu) != model::kVmmUidBase)
      return Error{"vmmUser: " + std::to_string(r.uid) + " is outside clawfleet's range"};
    r.api_socket = j.at("apiSocket").get<std::string>();
    r.argv = j.at("argv").get<std::vector<std::string>>();
    for (const auto& f : j.at("files"))
      r.files.emplace_back(f.at("path").get<std::string>(), f.at("content").get<std::string>());
    r.ip_forward = j.at("ipForward").get<bool>();
    // Absent unless the Host names a jailer.
    if (j.contains("jail")) {
      const json& jail = j.at("jail");
      Jail parsed{jail.at("base").get<std::string>(), jail.at("root").get<std::string>(), {}};
      for (const auto& l : jail.at("links"))
        parsed.links.emplace_back(l.at("from").get<std::string>(), l.at("to").get<std::string>());
      const std::string dir = dir_of(parsed.base);  // <state root>/instances/<name>
      if (base_of(dir) != r.name || base_of(dir_of(dir)) != "instances")
        return Error{"jail: base is not the instance's"};
      if (auto s = check_jail(parsed, dir); !s) return s.error();
      if (r.vmm != model::VmmKind::Firecracker || r.uid == 0)
        return Error{"jail: only Firecracker runs jailed, as a user of its own"};
      r.jail = std::move(parsed);
    }
    if (!is_dns_label(r.name) || !is_ifname(r.bridge) || !is_ifname(r.tap) || r.argv.empty() ||
        !is_clean_absolute_path(r.argv[0]) || !is_clean_absolute_path(r.api_socket))
      return Error{"name, bridge, tap, argv[0] or apiSocket is malformed"};
    for (const auto& [path, _] : r.files)
      if (!is_clean_absolute_path(path)) return Error{"files: \"" + path + "\" is not an absolute path"};
    return r;
  } catch (const json::exception& e) {
    return Error{e.what()};
  }
}

Status prepare_host_side(const LaunchRecord& r, const std::string& ruleset, Network& net) {
  if (auto s = net.ensure_bridge(r.bridge, r.bridge_address.network, r.bridge_address.prefix); !s) return s;
  if (auto s = net.ensure_tap(r.tap, r.bridge, std::string(kTapAliasPrefix) + r.name, r.uid); !s) return s;
  if (auto s = net.ensure_neighbour(r.bridge, r.ip, r.mac); !s) return s;
  // Replaced only when it differs: restarting one VM leaves the rules every
  // other guest uses untouched.
  auto table = net.read_ruleset();
  if (!table) return table.error();
  if (table.value() != ruleset)
    if (auto s = net.replace_ruleset(ruleset); !s) return s;
  if (r.ip_forward) {
    auto on = net.ip_forward();
    if (!on) return on.error();
    if (!on.value())
      if (auto s = net.set_ip_forward(true); !s) return s;
  }
  for (const auto& [path, content] : r.files)
    if (auto s = write_file_atomic(path, content, model::instance_file_mode(base_of(path))); !s) return s;
  return {};
}

Status prepare_vm(const LaunchRecord& r, const std::string& ruleset, Network& net) {
  // The file may be older than the live ruleset: apply rewrites and loads
  // it as it creates each instance, and another VM's prepare may read it
  // just before. Loaded only when the live ruleset lacks this guest (after
  // a reboot, or deleted by hand), it never takes a newer guest's rules
  // away; any other difference is apply's (the agent's) to repair.
  auto live = net.read_ruleset();
  if (!live) return live.error();
  const bool has_guest = live.value() && live.value()->find("\tchain guest-" + r.tap + " {\n") != std::string::npos;
  if (auto s = prepare_host_side(r, has_guest ? *live.value() : ruleset, net); !s) return s;
  // A socket left by a VMM that died would make the next one fail to bind.
  if (::unlink(r.api_socket.c_str()) != 0 && errno != ENOENT)
    return Error{"cannot remove stale socket " + r.api_socket + ": " + std::strerror(errno)};
  return {};
}

}  // namespace cf::host
