// make_plan: desired × observed → steps. Pure; see plan.h for the order
// and docs/plan-format.md for every rule and reason text.
#include "plan/plan.h"

#include <algorithm>
#include <charconv>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "core/net.h"
#include "core/text.h"
#include "model/instance_dir.h"
#include "model/units.h"
#include "plan/images.h"
#include "plan/skills.h"

namespace cf::plan {
namespace {

const std::string kDiskPath = "spec.resources.disk";
const std::string kDataDiskPath = kDataDiskField;

bool is_disk(const std::string& path) { return path == kDiskPath || path == kDataDiskPath; }

using model::proxy_socket_unit;
using model::vm_unit;

int rank(Action a) {
  switch (a) {
    case Action::Replace: return 5;
    case Action::Reimage: return 4;
    case Action::Restart: return 3;
    case Action::GrowDisk: return 2;
    case Action::Reprovision: return 1;
    default: return 0;
  }
}

bool needs_host_network(Action a) { return a != Action::GrowDisk && a != Action::Stop && a != Action::Destroy; }

std::string octal(unsigned mode) {
  std::string s;
  do {
    s.insert(s.begin(), char('0' + (mode & 7)));
    mode >>= 3;
  } while (mode);
  while (s.size() < 4) s.insert(s.begin(), '0');
  return s;
}

// "a", "a and b", "a, b and c"
std::string join_and(const std::vector<std::string>& xs) {
  std::string out;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (i) out += i + 1 == xs.size() ? " and " : ", ";
    out += xs[i];
  }
  return out;
}

std::optional<std::uint64_t> parse_u64(const std::optional<std::string>& s) {
  if (!s) return std::nullopt;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s->data(), s->data() + s->size(), v);
  if (ec != std::errc() || end != s->data() + s->size()) return std::nullopt;
  return v;
}

// A value as a reason shows it: sizes readable, absence visible.
std::string display(const std::string& path, const std::optional<std::string>& v) {
  if (!v) return "(none)";
  if (is_disk(path))
    if (auto n = parse_u64(v)) return format_size(*n);
  // As secrets' digests are shown: enough to tell two apart.
  if (path == kImageDigestField && v->rfind("sha256:", 0) == 0) return v->substr(0, 19);
  return *v;
}

// Field nouns for reasons, in the manifest reference's order (the order
// reasons name them in).
constexpr std::pair<const char*, const char*> kNouns[] = {
    {"spec.model", "model"},
    {"spec.skills", "skills"},
    {"spec.image", "base image"},
    {"spec.resources.vcpus", "vCPUs"},
    {"spec.resources.memoryMiB", "memory"},
    {"spec.resources.disk", "disk"},
    {"spec.resources.dataDisk", "data disk"},
    {"spec.resources.cpuQuota", "CPU quota"},
    {"spec.resources.ioWeight", "IO weight"},
    {"spec.telegram.botToken", "Telegram bot token"},
    {"spec.telegram.allowFrom", "Telegram users"},
    {"spec.providerKeys.", "provider key "},  // + the provider
    {"host.bridge", "bridge"},
    {"host.subnet", "subnet"},
    {"host.gateway", "gateway"},
    {"host.dns", "DNS resolvers"},
    {"host.egress.proxy.url", "egress proxy"},
    {"host.vmm.kind", "VMM"},
    {"host.vmm.binary", "VMM binary"},
    {"host.vmm.jailer", "jailer"},
    {"host.vmm.smt", "SMT setting"},
    {"host.image.kernel", "kernel"},
    {"host.image.rootfs", "base root filesystem"},
    {"host.image.initrd", "initrd"},
    {"host.image.digest", "image content"},
    {"host.image.version", "image version"},
};

std::size_t noun_index(const std::string& path) {
  for (std::size_t i = 0; i < std::size(kNouns); ++i) {
    std::string key = kNouns[i].first;
    if (path == key || (key.back() == '.' && path.rfind(key, 0) == 0)) return i;
  }
  return std::size(kNouns);
}

std::string noun(const std::string& path) {
  std::size_t i = noun_index(path);
  if (i == std::size(kNouns)) return path;
  std::string key = kNouns[i].first;
  return key.back() == '.' ? kNouns[i].second + path.substr(key.size()) : kNouns[i].second;
}

// What a change costs, with the direction of a disk change.
std::optional<Action> cost_of_change(const FieldChange& c) {
  if (is_disk(c.path)) {
    auto before = parse_u64(c.before), after = parse_u64(c.after);
    return before && after && *after < *before ? Action::Replace : Action::GrowDisk;
  }
  return cost_of(c.path);
}

// "model changed (spec.model: a -> b)", "vCPUs and memory changed",
// "base image changed and disk shrinks". A single non-secret change shows
// its values; a secret's digests are in the field lines only.
std::string describe(std::vector<FieldChange> changes) {
  // Another image brings another kernel and rootfs: the image is the cause.
  if (std::any_of(changes.begin(), changes.end(), [](const FieldChange& c) { return c.path == "spec.image"; }))
    changes.erase(std::remove_if(changes.begin(), changes.end(),
                                 [](const FieldChange& c) { return c.path.rfind("host.image.", 0) == 0; }),
                  changes.end());
  std::stable_sort(changes.begin(), changes.end(),
                   [](const FieldChange& a, const FieldChange& b) { return noun_index(a.path) < noun_index(b.path); });
  std::vector<std::string> nouns, phrases;
  for (const auto& c : changes) {
    if (is_disk(c.path)) {
      phrases.push_back(std::string(c.path == kDiskPath ? "disk" : "data disk") +
                        (cost_of_change(c) == Action::Replace ? " shrinks" : " grows"));
      continue;
    }
    std::string n = noun(c.path);
    if (std::find(nouns.begin(), nouns.end(), n) == nouns.end()) nouns.push_back(n);
  }
  std::vector<std::string> parts;
  if (!nouns.empty()) parts.push_back(join_and(nouns) + " changed");
  parts.insert(parts.end(), phrases.begin(), phrases.end());
  std::string s = join_and(parts);
  if (changes.size() == 1 && !changes[0].secret) {
    const auto& c = changes[0];
    s += " (" + c.path + ": " + display(c.path, c.before) + " -> " + display(c.path, c.after) + ")";
  }
  return s;
}

void sort_by_path(std::vector<FieldChange>& changes) {
  std::stable_sort(changes.begin(), changes.end(),
                   [](const FieldChange& a, const FieldChange& b) { return a.path < b.path; });
}

// Kinds of drift, and which steps fix them on the way.
enum DriftKind : unsigned { kUnit = 1, kTap = 2, kDropin = 4, kProxy = 8, kModes = 16 };

struct Drift {
  unsigned kind;
  std::string reason;
  FieldChange change;
};

// A changed allocation: a pin that differs, or an allocated value the
// Host's subnet or port range no longer holds.
struct AllocChange {
  FieldChange change;
  std::string reason;
  bool restarts;  // the VM sees it (address, MAC); a port reaches only the proxy
};

std::vector<AllocChange> allocation_changes(const model::Instance& want, const model::Allocation& a,
                                            const model::Host& h) {
  std::vector<AllocChange> out;
  const model::NetworkPins& pin = want.network;
  const std::string ip = cf::to_string(a.ip);
  if (pin.ip) {
    if (*pin.ip != a.ip)
      out.push_back({{"spec.network.ip", ip, cf::to_string(*pin.ip)},
                     "spec.network.ip is pinned to " + cf::to_string(*pin.ip) + " (allocated " + ip + ")",
                     true});
  } else if (!h.subnet.contains(a.ip)) {
    out.push_back({{"spec.network.ip", ip, std::nullopt},
                   "guest address " + ip + " is outside subnet " + cf::to_string(h.subnet),
                   true});
  } else if (a.ip == h.gateway || a.ip == h.subnet.network || a.ip == h.subnet.broadcast()) {
    out.push_back({{"spec.network.ip", ip, std::nullopt},
                   "guest address " + ip + " is reserved in subnet " + cf::to_string(h.subnet),
                   true});
  }
  if (pin.mac && *pin.mac != a.mac) {
    const std::string mac = cf::to_string(a.mac);
    out.push_back({{"spec.network.mac", mac, cf::to_string(*pin.mac)},
                   "spec.network.mac is pinned to " + cf::to_string(*pin.mac) + " (allocated " + mac + ")",
                   true});
  }
  const std::string port = std::to_string(a.host_port);
  if (pin.host_port) {
    if (*pin.host_port != a.host_port)
      out.push_back(
          {{"spec.network.hostPort", port, std::to_string(*pin.host_port)},
           "spec.network.hostPort is pinned to " + std::to_string(*pin.host_port) + " (allocated " + port + ")",
           false});
  } else if (a.host_port < h.port_first || a.host_port > h.port_last) {
    out.push_back({{"spec.network.hostPort", port, std::nullopt},
                   "host port " + port + " is outside the range " + std::to_string(h.port_first) + "-" +
                       std::to_string(h.port_last),
                   false});
  }
  return out;
}

const model::ObservedUnit* find_unit(const model::ObservedInstance& i, const std::string& unit) {
  auto it = i.units.find(unit);
  return it == i.units.end() ? nullptr : &it->second;
}

// Why a unit that should be active is not, or nullopt.
std::optional<std::string> not_active(const model::ObservedUnit* u) {
  if (!u || u->load_state.empty() || u->load_state == "not-found") return "not loaded";
  if (u->load_state != "loaded") return u->load_state;
  if (u->active_state == "failed" || u->active_state == "inactive") return u->active_state;
  return std::nullopt;
}

class Planner {
 public:
  Planner(const Desired& d, const model::Observed& o, const Options& opt) : d_(d), o_(o), opt_(opt) {}

  Plan run() {
    host_step();
    renames();
    auto refusals = prune_refusals();
    std::set<std::string> names;
    for (const auto& i : d_.fleet.instances) names.insert(i.name);
    for (const auto& [name, _] : o_.instances) names.insert(name);
    for (const auto& name : names) {
      last_.reset();
      auto it = o_.instances.find(name);
      const model::ObservedInstance* have = it == o_.instances.end() ? nullptr : &it->second;
      if (const model::Instance* want = d_.fleet.find(name)) {
        if (auto from = renamed_from_.find(name); from != renamed_from_.end())
          renamed(*want, from->second, o_.instances.at(from->second));
        else
          instance(*want, have);
      } else if (auto claim = claimed_by_.find(name); claim != claimed_by_.end()) {
        // Never destroyed while a manifest names it as a previous name.
        if (!renamed_to_.count(name))
          p_.refused.push_back({name, Action::Destroy,
                                "it is a previous name of " + claim->second +
                                    " (metadata.previousNames), which is on the host too; remove it from "
                                    "metadata.previousNames to destroy it"});
      } else {
        removed(name, *have, refusals);
      }
    }
    return std::move(p_);
  }

 private:
  void add(Step s) {
    if (host_ && needs_host_network(s.action)) s.depends_on.push_back(*host_);
    if (last_) s.depends_on.push_back(*last_);
    std::sort(s.depends_on.begin(), s.depends_on.end());
    s.depends_on.erase(std::unique(s.depends_on.begin(), s.depends_on.end()), s.depends_on.end());
    last_ = p_.steps.size();
    p_.steps.push_back(std::move(s));
  }

  // The bridge, the table and ip_forward are shared by every instance, so
  // they are one step that the instances' steps wait for. A host with no
  // desired instance needs none of them.
  void host_step() {
    if (d_.fleet.instances.empty()) return;
    const model::Host& h = d_.fleet.host;
    Step s;
    s.action = Action::Repair;
    std::vector<std::string> why;
    const Cidr address{h.gateway, h.subnet.prefix};
    const std::string bridge = "bridge " + h.bridge;
    const std::string want_bridge = "up, " + cf::to_string(address);
    if (!o_.bridge.present) {
      why.push_back(bridge + " is missing");
      s.changes.push_back({bridge, std::nullopt, want_bridge});
    } else {
      const auto& addrs = o_.bridge.addresses;
      bool has_address = std::find(addrs.begin(), addrs.end(), address) != addrs.end();
      if (!o_.bridge.up) why.push_back(bridge + " is down");
      if (!has_address) why.push_back(bridge + " lacks its address " + cf::to_string(address));
      if (!o_.bridge.up || !has_address) {
        std::vector<std::string> shown;
        for (const auto& a : addrs) shown.push_back(cf::to_string(a));
        std::string before =
            std::string(o_.bridge.up ? "up" : "down") + ", " + (shown.empty() ? "no address" : join(shown, " "));
        s.changes.push_back({bridge, before, want_bridge});
      }
    }
    if (!d_.table_hash.empty() && o_.table_hash != d_.table_hash) {
      why.push_back(o_.table_hash ? "nftables tables inet/bridge clawfleet differ from what clawfleet renders"
                                  : "nftables tables inet/bridge clawfleet are missing");
      s.changes.push_back({"tables inet/bridge clawfleet", o_.table_hash, d_.table_hash});
    }
    if (model::forwards(h) && !o_.ip_forward) {
      why.push_back(std::string("net.ipv4.ip_forward is 0 (egress: ") + model::to_string(h.egress) + " needs 1)");
      s.changes.push_back({"net.ipv4.ip_forward", "0", "1"});
    }
    if (why.empty()) return;
    s.reason = join(why, "; ");
    host_ = p_.steps.size();
    p_.steps.push_back(std::move(s));
  }

  // metadata.previousNames (docs/manifest.md#rename): an instance whose
  // name is not on the host (no state directory with its record), while a
  // previous name of it is, is that instance renamed. The first such name
  // in its list wins; the manifest loader let no name be claimed twice.
  void renames() {
    for (const auto& want : d_.fleet.instances) {
      for (const auto& old : want.previous_names) claimed_by_.emplace(old, want.name);
      auto have = o_.instances.find(want.name);
      if (have != o_.instances.end() && have->second.allocation) continue;
      for (const auto& old : want.previous_names) {
        auto it = o_.instances.find(old);
        if (it == o_.instances.end() || !it->second.allocation || d_.fleet.find(old)) continue;
        renamed_from_[want.name] = old;
        renamed_to_[old] = want.name;
        break;
      }
    }
  }

  // One step that converges the instance under its new name; what it
  // changes beside the name is shown as for any update. A new image is not
  // the rename's: the next plan shows it (a rename keeps the root disk).
  void renamed(const model::Instance& want, const std::string& from, const model::ObservedInstance& have) {
    const auto fields = flatten(want, d_.fleet.host, d_.secret_digests, d_.ca_digests);
    Step s{want.name,
           Action::Rename,
           {{"metadata.name", from, want.name}},
           "it was " + from + " (metadata.previousNames)",
           {}};
    for (const auto& [path, after] : fields) {
      if (is_image_field(path) || (path == kDataDiskPath && !have.applied.count(path))) continue;
      auto b = have.applied.find(path);
      std::optional<std::string> before = b == have.applied.end() ? std::nullopt : std::optional(b->second);
      if (before != after) s.changes.push_back({path, before, after, is_secret_path(path)});
    }
    sort_by_path(s.changes);
    add(std::move(s));
  }

  // For every inventory instance absent from the manifests, why it may not
  // be destroyed (no entry: it may).
  std::map<std::string, std::string> prune_refusals() const {
    std::vector<std::string> candidates, unprotected;
    for (const auto& [name, i] : o_.instances) {
      if (!i.in_inventory || d_.fleet.find(name) || claimed_by_.count(name)) continue;
      candidates.push_back(name);
      if (!i.protect) unprotected.push_back(name);
    }
    std::map<std::string, std::string> out;
    const bool too_many = !opt_.allow_destroy && unprotected.size() > opt_.max_destroy;
    for (const auto& name : candidates) {
      if (!d_.complete)
        out[name] = "the manifest set did not load completely, and a file that failed may still declare it";
      else if (d_.fleet.instances.empty())
        out[name] = "the manifest set is empty; refusing to destroy everything";
      else if (o_.instances.at(name).protect && !opt_.allow_destroy)
        out[name] = "it is protected (protect: true in the inventory); rerun with --allow-destroy to destroy it";
      else if (too_many)
        out[name] = plural(unprotected.size(), "instance", "instances") +
                    " would be destroyed, more than --max-destroy " + std::to_string(opt_.max_destroy) +
                    "; raise --max-destroy or rerun with --allow-destroy";
    }
    return out;
  }

  void removed(const std::string& name, const model::ObservedInstance& have,
               const std::map<std::string, std::string>& refusals) {
    if (!have.in_inventory) {
      // A leftover (a unit, a tap or a directory with clawfleet's marker)
      // is shown, never destroyed: only the inventory says what is ours.
      p_.refused.push_back({name, Action::Destroy, "not in the inventory; clawfleet does not touch it"});
      return;
    }
    if (auto it = refusals.find(name); it != refusals.end()) {
      p_.refused.push_back({name, Action::Destroy, it->second});
      return;
    }
    Step s{name, Action::Destroy, {}, "absent from every manifest", {}};
    for (const auto& [path, value] : have.applied)
      s.changes.push_back({path, value, std::nullopt, is_secret_path(path)});
    add(std::move(s));
  }

  Step create(const model::Instance& want, const std::map<std::string, std::string>& fields, std::string reason) {
    Step s{want.name, Action::Create, {}, std::move(reason), {}};
    for (const auto& [path, value] : fields) s.changes.push_back({path, std::nullopt, value, is_secret_path(path)});
    if (want.network.ip) s.changes.push_back({"spec.network.ip", std::nullopt, cf::to_string(*want.network.ip)});
    if (want.network.mac) s.changes.push_back({"spec.network.mac", std::nullopt, cf::to_string(*want.network.mac)});
    if (want.network.host_port)
      s.changes.push_back({"spec.network.hostPort", std::nullopt, std::to_string(*want.network.host_port)});
    sort_by_path(s.changes);
    return s;
  }

  std::vector<Drift> drift_of(const model::Instance& want, const model::ObservedInstance& have,
                              const std::optional<std::string>& applied_state) const {
    std::vector<Drift> out;
    const model::Host& h = d_.fleet.host;
    const std::string& name = want.name;
    const bool running = want.state == model::RunState::Running && applied_state == "running";
    const bool stopped = want.state == model::RunState::Stopped && applied_state == "stopped";
    const std::string vm = vm_unit(name);
    if (running) {
      if (auto bad = not_active(find_unit(have, vm)))
        out.push_back({kUnit, vm + " is " + *bad + " (was running)", {vm, *bad, "active"}});
      const std::string socket = proxy_socket_unit(name);
      if (auto bad = not_active(find_unit(have, socket)))
        out.push_back({kProxy, socket + " is " + *bad + " (was listening)", {socket, *bad, "active"}});
      // Taps do not survive a reboot; a stopped VM's comes back with it.
      const std::string tap = "tap " + have.allocation->tap;
      std::vector<std::string> problems;
      if (!have.tap.present) {
        problems.push_back("missing");
      } else {
        if (have.tap.master.empty())
          problems.push_back("detached from bridge " + h.bridge);
        else if (have.tap.master != h.bridge)
          problems.push_back("attached to " + have.tap.master + ", not " + h.bridge);
        if (!have.tap.isolated) problems.push_back("not isolated");
        if (!have.tap.up) problems.push_back("down");
      }
      if (!problems.empty())
        out.push_back({kTap,
                       tap + " is " + join_and(problems),
                       {tap, join(problems, ", "), "attached to " + h.bridge + ", isolated, up"}});
    }
    if (stopped) {
      const model::ObservedUnit* u = find_unit(have, vm);
      if (u && u->active_state == "active")
        out.push_back({kUnit, vm + " is active (was stopped)", {vm, "active", "inactive"}});
    }
    if (auto want_dropins = d_.dropin_hashes.find(name); want_dropins != d_.dropin_hashes.end()) {
      for (const auto& [path, hash] : want_dropins->second) {
        std::optional<std::string> seen;
        for (const auto& [_, u] : have.units)
          if (auto f = u.dropin_hashes.find(path); f != u.dropin_hashes.end()) seen = f->second;
        if (!seen)
          out.push_back({kDropin, "drop-in " + path + " is missing", {path, std::nullopt, hash}});
        else if (seen->empty())
          out.push_back({kDropin, "drop-in " + path + " is unreadable", {path, "(unreadable)", hash}});
        else if (*seen != hash)
          out.push_back({kDropin, "drop-in " + path + " was edited by hand", {path, *seen, hash}});
      }
    }
    const std::string dir = h.state_root + "/instances/" + name;
    if (have.dir.exists && have.dir.mode != model::kInstanceDirMode)
      out.push_back(
          {kModes,
           "state directory " + dir + " is " + octal(have.dir.mode) + " (want " + octal(model::kInstanceDirMode) + ")",
           {dir, octal(have.dir.mode), octal(model::kInstanceDirMode)}});
    for (const auto& [file, mode] : have.dir.files) {
      const unsigned want = model::instance_file_mode(file);
      if (mode == want) continue;
      const std::string path = dir + "/" + file;
      out.push_back({kModes,
                     "state file " + path + " is " + octal(mode) + " (want " + octal(want) + ")",
                     {path, octal(mode), octal(want)}});
    }
    return out;
  }

  void instance(const model::Instance& want, const model::ObservedInstance* have) {
    const model::Host& h = d_.fleet.host;
    const std::string& name = want.name;
    const auto fields = flatten(want, h, d_.secret_digests, d_.ca_digests);

    if (!have) return add(create(want, fields, kReasonNewInstance));
    if (!have->allocation) {
      return add(create(want, fields,
                        have->in_inventory
                            ? "in the inventory, but its state directory is gone"
                            : "only leftovers of it are on the host (units or a tap), which the create takes over"));
    }
    // apply records the applied fields last, so a record without them is
    // a create that stopped half way; create is idempotent and resumes it.
    if (have->applied.empty())
      return add(create(want, fields, "an earlier create did not finish (no applied fields are recorded)"));

    // The field diff, without the run state (a step of its own).
    std::vector<FieldChange> diff;
    std::vector<FieldChange> new_root;  // shown by a step that clones the root, compared by none
    {
      std::set<std::string> paths;
      for (const auto& [p, _] : fields) paths.insert(p);
      for (const auto& [p, _] : have->applied) paths.insert(p);
      for (const auto& p : paths) {
        if (p == "spec.state") continue;
        auto b = have->applied.find(p);
        // Created before data disks: it has none (docs/guest.md#the-data-disk).
        if (p == kDataDiskPath && b == have->applied.end()) continue;
        auto a = fields.find(p);
        std::optional<std::string> before = b == have->applied.end() ? std::nullopt : std::optional(b->second);
        std::optional<std::string> after = a == fields.end() ? std::nullopt : std::optional(a->second);
        if (before == after) continue;
        // Content is compared only when known on both sides.
        if ((p == kImageDigestField || p == kImageVersionField) && (!before || !after))
          new_root.push_back({p, before, after, false});
        else
          diff.push_back({p, before, after, is_secret_path(p)});
      }
    }
    // The most expensive cost; rank 0 (Repair here) means no field step.
    // (A plain Action, not an optional: g++ 12 warns falsely on the latter.)
    Action top = Action::Repair;
    for (const auto& c : diff)
      if (auto cost = cost_of_change(c); cost && rank(*cost) > rank(top)) top = *cost;
    std::vector<FieldChange> top_changes;
    for (const auto& c : diff)
      if (rank(top) > 0 && cost_of_change(c) == top) top_changes.push_back(c);
    // Another image, with the gateway's state on a data disk: only the
    // root disk is the image's (docs/guest.md#the-data-disk).
    if (top == Action::Replace && have->applied.count(kDataDiskPath) &&
        std::all_of(top_changes.begin(), top_changes.end(),
                    [](const FieldChange& c) { return is_image_field(c.path); }))
      top = Action::Reimage;
    if (top == Action::Reimage || top == Action::Replace) {
      diff.insert(diff.end(), new_root.begin(), new_root.end());
      sort_by_path(diff);
    }

    const auto alloc = allocation_changes(want, *have->allocation, h);

    if (top == Action::Replace) {
      std::string cause = describe(top_changes);
      const bool protect = want.protect || have->protect;
      if (!opt_.allow_destroy && (protect || !have->in_inventory)) {
        p_.refused.push_back(
            {name, Action::Replace,
             cause + (protect
                          ? "; it is protected, and a replace loses its disk: rerun with --allow-destroy"
                          : "; it is not in the inventory, and a replace loses its disk: rerun with --allow-destroy")});
        top = Action::Repair;
      } else {
        // Destroy + create: the create brings the run state, units, tap and
        // pins, so nothing else is needed.
        Step s{name, Action::Replace, diff, cause, {}};
        for (const auto& a : alloc) s.changes.push_back(a.change);
        sort_by_path(s.changes);
        return add(std::move(s));
      }
    }

    auto st = have->applied.find("spec.state");
    const std::optional<std::string> applied_state =
        st == have->applied.end() ? std::nullopt : std::optional(st->second);
    const std::string want_state = model::to_string(want.state);
    std::optional<Action> state_step;
    if (applied_state && *applied_state != want_state)
      state_step = want.state == model::RunState::Running ? Action::Start : Action::Stop;

    // Drift that a bigger step of this instance fixes anyway is left out.
    bool alloc_restarts = false;
    for (const auto& a : alloc) alloc_restarts |= a.restarts;
    unsigned covered = 0;
    if (state_step == Action::Start || top == Action::Restart || top == Action::Reimage || alloc_restarts)
      covered |= kUnit | kTap;
    // A reimage converges everything, and a step of its own before it would
    // boot the new kernel on the old root.
    if (top == Action::Reimage) covered |= kUnit | kTap | kDropin | kProxy;
    if (!alloc.empty()) covered |= kDropin | kProxy;
    // Every field step rewrites the drop-ins (memory is in the limits).
    if (rank(top) > 0) covered |= kDropin;
    // Limits systemd applies to the running unit: without a field step they
    // are this Repair's, and the limits drop-in they change is explained.
    std::vector<FieldChange> live;
    if (rank(top) == 0)
      for (const auto& c : diff)
        if (applies_live(c.path)) live.push_back(c);
    const std::string limits_dropin = "/" + vm_unit(name) + ".d/manifest-limits.conf";
    std::vector<Drift> drift;
    for (auto& d : drift_of(want, *have, applied_state)) {
      if (d.kind & covered) continue;
      if (!live.empty() && d.kind == kDropin && d.change.path.ends_with(limits_dropin)) continue;
      drift.push_back(std::move(d));
    }

    if (!drift.empty() || !live.empty()) {
      Step s{name, Action::Repair, live, {}, {}};
      std::vector<std::string> why;
      if (!live.empty()) why.push_back(describe(live) + ", which systemd applies without a restart");
      for (const auto& d : drift) {
        s.changes.push_back(d.change);
        why.push_back(d.reason);
      }
      s.reason = join(why, "; ");
      add(std::move(s));
    }
    if (!alloc.empty()) {
      Step s{name, Action::UpdateAllocation, {}, {}, {}};
      std::vector<std::string> why;
      for (const auto& a : alloc) {
        s.changes.push_back(a.change);
        why.push_back(a.reason);
      }
      // A new address or MAC restarts the VM anyway: one restart for both.
      if (alloc_restarts && top == Action::Restart) {
        s.changes.insert(s.changes.end(), diff.begin(), diff.end());
        why.push_back(describe(top_changes));
        top = Action::Repair;
      }
      sort_by_path(s.changes);
      s.reason = join(why, "; ");
      add(std::move(s));
    }
    if (rank(top) > 0) add(Step{name, top, diff, describe(top_changes), {}});
    if (state_step)
      add(Step{name,
               *state_step,
               {{"spec.state", applied_state, want_state}},
               "run state changed (spec.state: " + *applied_state + " -> " + want_state + ")",
               {}});
  }

  const Desired& d_;
  const model::Observed& o_;
  const Options& opt_;
  Plan p_;
  std::optional<std::size_t> host_;
  std::optional<std::size_t> last_;                  // the current instance's previous step
  std::map<std::string, std::string> claimed_by_;    // previous name -> the instance that names it
  std::map<std::string, std::string> renamed_from_;  // new name -> old, renamed by this plan
  std::map<std::string, std::string> renamed_to_;    // old name -> new
};

}  // namespace

Plan make_plan(const Desired& desired, const model::Observed& observed, const Options& options) {
  Plan plan = Planner(desired, observed, options).run();
  plan.accelerator = accelerator_for(desired.fleet.host.vmm, observed.platform);
  if (!desired.dns.warning.empty()) plan.warnings.push_back(desired.dns.warning);
  for (auto& w : image_warnings(desired.fleet, observed.images)) plan.warnings.push_back(std::move(w));
  for (auto& w : skill_warnings(desired.fleet, observed.image_skills)) plan.warnings.push_back(std::move(w));
  return plan;
}

}  // namespace cf::plan
