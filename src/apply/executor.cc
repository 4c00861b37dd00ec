#include "apply/executor.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "apply/desired.h"
#include "core/pem.h"
#include "core/sha256.h"
#include "host/guest/seed.h"
#include "host/network/allocator.h"
#include "host/observe.h"
#include "host/systemd/dropins.h"
#include "host/vmm/launch.h"
#include "model/instance_dir.h"

namespace cf::apply {
namespace {

// A VM unit that restarts this often while its gate waits does not stay up.
constexpr int kVmRestartsToGiveUp = 3;
// The most a launch record (launch.json) kept for a rollback may hold.
constexpr std::size_t kMaxLaunchBytes = 1 << 20;

using plan::Action;

std::string unit_job_error(const std::string& verb, const std::string& unit, host::JobResult r) {
  return "cannot " + verb + " " + unit + ": the job ended \"" + host::to_string(r) + "\"";
}

// Shared state of one execute() call. `mu_` guards the ports other than
// systemd and health (whose fakes and some adapters are not thread-safe,
// and whose calls are short) and the allocation and inventory bookkeeping.
class Run {
 public:
  Run(const plan::Desired& desired, const model::Observed& observed, const host::Ports& ports,
      const ExecOptions& options, bool kvm)
      : desired_(desired), observed_(observed), ports_(ports), options_(options), kvm_(kvm) {
    for (const auto& [name, i] : observed.instances)
      if (i.allocation) {
        taken_.add(*i.allocation);
        on_host_.emplace(name, *i.allocation);
      }
  }

  Status host_step() {
    std::lock_guard<std::mutex> lock(mu_);
    const model::Host& h = desired_.fleet.host;
    if (auto s = ports_.network.ensure_bridge(h.bridge, h.gateway, h.subnet.prefix); !s) return s;
    if (auto s = sync_ruleset(); !s) return s;
    if (model::forwards(h)) {
      auto on = ports_.network.ip_forward();
      if (!on) return on.error();
      if (!on.value())
        if (auto s = ports_.network.set_ip_forward(true); !s) return s;
    }
    // Every launch record carries what `vm prepare` needs after a reboot:
    // rewrite them all, or a VM restarted later would bring an old Host back.
    for (const auto& inst : desired_.fleet.instances) {
      const model::ObservedInstance* seen = observed(inst.name);
      if (!seen || !seen->allocation || !seen->dir.exists) continue;
      auto data_disk = has_data_disk(host::paths_for(h.state_root, inst.name));
      if (!data_disk) return data_disk.error();
      auto launch = host::make_launch_record(h, inst, *seen->allocation, ports_.vmm, kvm_, observed_.platform.tsc_khz,
                                             data_disk.value());
      if (!launch) return launch.error();
      if (auto s = ports_.state.write_file(inst.name, "launch.json", host::to_json(launch.value()),
                                           model::instance_file_mode("launch.json"));
          !s)
        return s;
    }
    return {};
  }

  // Allocations for the instances the plan creates, made in plan order
  // before any worker starts, so that who gets which address and port does
  // not depend on thread scheduling (lowest free, by name).
  void preallocate(const plan::Plan& plan) {
    for (const auto& step : plan.steps) {
      if (step.action != Action::Create && step.action != Action::Replace) continue;
      const model::Instance* inst = desired_.fleet.find(step.instance);
      const model::ObservedInstance* seen = observed(step.instance);
      if (!inst || (seen && seen->allocation)) continue;
      auto alloc = host::allocate(inst->name, desired_.fleet.host, inst->network, taken_, ports_.listening);
      if (!alloc) {
        allocated_.emplace(inst->name, alloc.error());
        continue;
      }
      taken_.add(alloc.value());
      allocated_.emplace(inst->name, alloc.value());
    }
  }

  // Whether these steps of one instance take it down while it runs (a
  // rollout's unit, docs/apply.md#rollouts): it runs now and is to run.
  bool takes_down(const plan::Plan& plan, const std::vector<std::size_t>& steps) const {
    if (steps.empty()) return false;
    const plan::Step& first = plan.steps[steps.front()];
    const model::Instance* inst = desired_.fleet.find(first.instance);
    // A rename's instance runs under its old name until the step.
    std::string running_as = first.instance;
    if (first.action == Action::Rename && !first.changes.empty() && first.changes.front().before)
      running_as = *first.changes.front().before;
    if (!inst || inst->state != model::RunState::Running || !was_running(running_as)) return false;
    return std::any_of(steps.begin(), steps.end(), [&](std::size_t i) { return interrupts(plan.steps[i].action); });
  }

  Status instance_step(const plan::Step& step, host::Systemd& sd) {
    const model::Instance* inst = desired_.fleet.find(step.instance);
    const model::ObservedInstance* seen = observed(step.instance);
    const std::optional<model::Allocation> had = seen ? seen->allocation : std::nullopt;
    switch (step.action) {
      case Action::Destroy: return teardown(step.instance, sd);
      case Action::Rename: return rename(*inst, step, sd);
      case Action::Create: return create(*inst, sd);
      case Action::Replace: {
        if (auto s = teardown(step.instance, sd); !s) return s;
        // The same address, MAC and port after the replace, unless pinned otherwise.
        return had ? converge(*inst, *had, Mode::Start, sd) : create(*inst, sd);
      }
      case Action::UpdateAllocation: {
        auto alloc = repin(*inst, had);
        if (!alloc) return alloc.error();
        return converge(*inst, alloc.value(), Mode::Restart, sd);
      }
      // A reprovision restarts the guest with its new seed (written by converge).
      case Action::Restart: return with_allocation(*inst, had, Mode::Restart, sd);
      case Action::Reprovision: return had ? with_rollback(*inst, *had, false, sd) : create(*inst, sd);
      case Action::GrowDisk: return with_allocation(*inst, had, Mode::Grow, sd);
      case Action::Reimage: return had ? with_rollback(*inst, *had, true, sd) : create(*inst, sd);
      case Action::Start:
      case Action::Stop:
      case Action::Repair: return with_allocation(*inst, had, Mode::Start, sd);
    }
    return Error{"unknown action"};
  }

 private:
  // Grow: start if needed, and tell a running guest its disk grew.
  enum class Mode { Start, Restart, Grow };

  const model::ObservedInstance* observed(const std::string& name) const {
    auto it = observed_.instances.find(name);
    return it == observed_.instances.end() ? nullptr : &it->second;
  }

  Status with_allocation(const model::Instance& inst, const std::optional<model::Allocation>& had, Mode mode,
                         host::Systemd& sd) {
    if (!had) return create(inst, sd);
    return converge(inst, *had, mode, sd);
  }

  Status create(const model::Instance& inst, host::Systemd& sd) {
    // A create that stopped half way resumes with what it had allocated.
    Result<model::Allocation> alloc = Error{"instance " + inst.name + ": no allocation was made for it"};
    const model::ObservedInstance* seen = observed(inst.name);
    const bool resumed = seen && seen->allocation;
    if (resumed) {
      alloc = *seen->allocation;
    } else {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto it = allocated_.find(inst.name); it != allocated_.end()) alloc = it->second;
    }
    if (!alloc) return alloc.error();
    bool booted = false;
    Status s = converge(inst, alloc.value(), Mode::Start, sd, &booted);
    if (s || booted) return s;
    // An earlier run may have booted this guest (its create then failed at
    // the health gate): what is on the host is kept, never rolled back.
    if (resumed) return s;
    // Failed before the guest was started: nothing of this instance is
    // worth keeping, so the host is left as if the create never ran.
    if (auto r = teardown(inst.name, sd, alloc.value().tap); !r)
      return Error{s.error().message + "; rolling back also failed: " + r.error().message};
    return Error{s.error().message + " (rolled back)"};
  }

  // Another image: the VM stopped (its guest powers off, so the data disk
  // is clean), the old root disk removed, then a converge clones the new
  // image's root and boots it with the data disk as it was. A rerun after
  // a kill finds the VM stopped and the root disk gone or new, and does
  // the same.
  // A reprovision, or a reimage (`new_root`: stop the VM, then a fresh
  // clone of the new image's root; the data disk stays), that goes back to
  // what worked when the new one fails: the root disk and seed that last
  // passed a gate are moved aside (rootfs.previous.ext4, seed.previous.img)
  // and the launch record kept, until the new one passes; else they come
  // back, the VM restarts on them and is gated again (docs/apply.md#rollback).
  // The data disk is never touched. A root kept by a run that was killed is
  // the one that worked: the root beside it is an untested clone.
  Status with_rollback(const model::Instance& inst, const model::Allocation& alloc, bool new_root, host::Systemd& sd) {
    const host::InstancePaths paths = host::paths_for(desired_.fleet.host.state_root, inst.name);
    const std::string vm = host::vm_unit(inst.name);
    const model::ObservedInstance* seen = observed(inst.name);
    // Something to go back to: a configuration that passed its gate.
    const bool keep = inst.state == model::RunState::Running && seen && !seen->applied.empty() &&
                      seen->applied_generation.has_value();
    auto in_instance = [&](Error e) { return Error{"instance " + inst.name + ": " + e.message}; };
    std::optional<std::string> launch;
    if (keep) {
      auto l = ports_.state.read_file(inst.name, "launch.json", kMaxLaunchBytes);
      if (!l) return in_instance(l.error());
      launch = l.value();
      auto kept_seed = ports_.disks.seed_digest_of(paths.previous_seed);
      if (!kept_seed) return in_instance(kept_seed.error());
      if (!kept_seed.value())
        if (auto s = ports_.disks.keep(paths.seed, paths.previous_seed); !s) return in_instance(s.error());
    }
    if (new_root) {
      auto stopped = sd.stop(vm, options_.job_deadline);
      if (!stopped) return stopped.error();
      if (stopped.value() != host::JobResult::Done) return Error{unit_job_error("stop", vm, stopped.value())};
      auto kept_root = ports_.disks.size(paths.previous_rootfs);
      if (!kept_root) return in_instance(kept_root.error());
      if (keep && !kept_root.value())
        if (auto s = ports_.disks.keep(paths.rootfs, paths.previous_rootfs); !s) return in_instance(s.error());
      if (auto s = ports_.disks.remove(paths.rootfs); !s) return in_instance(s.error());
    }
    bool booted = false;
    auto tried = converge(inst, alloc, Mode::Restart, sd, &booted);
    if (tried || !keep) return tried;
    // A guest that kept running (the step failed before its restart) still
    // runs what worked: only the files go back, it is not restarted.
    if (!new_root && !booted) {
      if (auto s = ports_.disks.move(paths.previous_seed, paths.seed); !s) return in_instance(s.error());
      return tried;
    }
    const std::string why = without_instance(tried.error().message, inst.name);
    if (auto back = roll_back(inst, alloc, paths, new_root, launch, sd); !back)
      return Error{"instance " + inst.name + ": rollback failed: " + without_instance(back.error().message, inst.name) +
                   " (after: " + why + ")"};
    return Error{"instance " + inst.name + ": rolled back: " + why +
                 " (the previous root and configuration passed the health gate again)"};
  }

  // The kept root disk, seed and launch record back in place, the VM
  // restarted on them and gated on the generation they were applied with.
  Status roll_back(const model::Instance& inst, const model::Allocation& alloc, const host::InstancePaths& paths,
                   bool new_root, const std::optional<std::string>& launch, host::Systemd& sd) {
    const std::string vm = host::vm_unit(inst.name);
    auto stopped = sd.stop(vm, options_.job_deadline);
    if (!stopped) return stopped.error();
    if (stopped.value() != host::JobResult::Done) return Error{unit_job_error("stop", vm, stopped.value())};
    if (new_root)
      if (auto s = ports_.disks.move(paths.previous_rootfs, paths.rootfs); !s) return s;
    if (auto s = ports_.disks.move(paths.previous_seed, paths.seed); !s) return s;
    if (launch) {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto s = ports_.state.write_file(inst.name, "launch.json", *launch, model::instance_file_mode("launch.json"));
          !s)
        return s;
    }
    auto token = ports_.state.read_token(inst.name);
    if (!token) return token.error();
    auto r = sd.restart(vm, options_.job_deadline);
    if (!r) return r.error();
    if (r.value() != host::JobResult::Done) return Error{unit_job_error("restart", vm, r.value())};
    // The guest boots the seed put back, whichever generation that names
    // (a step before this one in the same run may have written it).
    host::HealthTarget target{alloc.host_port, token.value().value_or(""), alloc.ip, ""};
    target.booted = false;
    return ports_.health.wait_started(target, options_.health_deadline, vm_watch(vm, sd));
  }

  static std::string without_instance(const std::string& message, const std::string& name) {
    const std::string prefix = "instance " + name + ": ";
    return message.rfind(prefix, 0) == 0 ? message.substr(prefix.size()) : message;
  }

  // A manifest pin replaces the recorded value; the tap stays.
  Result<model::Allocation> repin(const model::Instance& inst, const std::optional<model::Allocation>& had) {
    if (!had) return Error{"instance " + inst.name + " has no allocation to update"};
    std::lock_guard<std::mutex> lock(mu_);
    host::Taken others;
    for (const auto& [name, i] : observed_.instances)
      if (name != inst.name && i.allocation) others.add(*i.allocation);
    model::NetworkPins pins = inst.network;
    if (!pins.ip) pins.ip = had->ip;
    if (!pins.mac && !inst.network.ip) pins.mac = had->mac;
    if (!pins.host_port) pins.host_port = had->host_port;
    // The instance's own port is in use by its own proxy: not a conflict.
    auto listening = [&](std::uint16_t p) { return p != had->host_port && ports_.listening(p); };
    auto alloc = host::allocate(inst.name, desired_.fleet.host, pins, others, listening);
    if (!alloc) return alloc.error();
    alloc.value().tap = had->tap;
    taken_.add(alloc.value());
    return alloc;
  }

  // Brings one instance to what the manifest says, whatever state it is in:
  // state files, drop-ins, tap, units, run state, health gate, and last the
  // applied record. `booted` (when given) is set once the VM was started.
  Status converge(const model::Instance& inst, const model::Allocation& alloc, Mode mode, host::Systemd& sd,
                  bool* booted = nullptr) {
    const model::Host& h = desired_.fleet.host;
    const std::string vm = host::vm_unit(inst.name);
    const std::string sock = host::proxy_socket_unit(inst.name);
    const host::InstancePaths paths = host::paths_for(h.state_root, inst.name);
    auto data_disk = has_data_disk(paths);
    if (!data_disk) return data_disk.error();
    auto root = ports_.disks.size(paths.rootfs);
    if (!root) return root.error();
    // What this instance is given: without a data disk, the field is not its.
    std::map<std::string, std::string> fields = plan::flatten(inst, h, desired_.secret_digests, desired_.ca_digests);
    if (!data_disk.value()) fields.erase(plan::kDataDiskField);
    host::InstanceRecord rec{inst.name, alloc, model::content_hash(inst), std::nullopt, inst.protect, {}};
    std::string token;
    bool reload = false;
    std::set<std::string> changed;  // units whose drop-ins were rewritten
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto old = ports_.state.read_instance(inst.name);
      if (!old) return old.error();
      // Kept until the new configuration is applied: an empty record would
      // make the next plan a create (and a failed create a rollback).
      if (old.value()) {
        rec.applied = old.value()->applied;
        rec.applied_generation = old.value()->applied_generation;
        // A root cloned before is what it was cloned from: only a new
        // clone (create, replace, reimage) records the image, its paths and
        // its content; any other step keeps what was recorded, so the
        // plan keeps showing the reimage it still needs.
        if (root.value() && !old.value()->applied.empty()) {
          std::erase_if(fields, [](const auto& f) { return plan::is_image_field(f.first); });
          for (const auto& [field, value] : old.value()->applied)
            if (plan::is_image_field(field)) fields[field] = value;
        }
      }
      if (auto s = ports_.state.write_instance(rec); !s) return s;
      auto t = ports_.state.ensure_token(inst.name);
      if (!t) return t.error();
      token = t.value();
      if (auto s = inventory_set(inst.name, host::InventoryEntry{alloc.tap, inst.protect}); !s) return s;

      // This guest's rules are loaded before its tap can exist (and so
      // before its VM starts); an address it had before is forgotten.
      if (auto old_ip = on_host_.find(inst.name); old_ip != on_host_.end() && old_ip->second.ip != alloc.ip)
        if (auto s = ports_.network.delete_neighbour(h.bridge, old_ip->second.ip); !s) return s;
      on_host_.insert_or_assign(inst.name, alloc);
      if (auto s = sync_ruleset(); !s) return s;

      auto launch =
          host::make_launch_record(h, inst, alloc, ports_.vmm, kvm_, observed_.platform.tsc_khz, data_disk.value());
      if (!launch) return launch.error();
      if (auto s = ports_.state.write_file(inst.name, "launch.json", host::to_json(launch.value()),
                                           model::instance_file_mode("launch.json"));
          !s)
        return s;
      // Read by systemd (as root) for the proxy's EnvironmentFile=.
      if (auto s = ports_.state.write_file(inst.name, "proxy.env", host::render_proxy_env(alloc), 0600); !s) return s;

      auto dropins = host::dropins_for(h, inst, alloc);
      if (!dropins) return dropins.error();
      for (const auto& d : dropins.value()) {
        auto current = ports_.unit_files.read_dropin(d.unit, d.name);
        if (!current) return current.error();
        if (current.value() == d.content) continue;
        if (auto s = ports_.unit_files.write_dropin(d.unit, d.name, d.content); !s) return s;
        if (!d.live) changed.insert(d.unit);
        reload = true;
      }
      // The unit's ExecStartPre does this too; doing it here makes the tap
      // and table exist (and be observed) also for a stopped instance.
      if (auto s = host::prepare_host_side(launch.value(), *loaded_, ports_.network); !s) return s;
    }
    // Outside the lock: a first copy of the root disk can take a while.
    const std::string generation = generation_of(fields);
    auto grew = guest_disks(inst, paths, alloc, token, generation, data_disk.value());
    if (!grew) return grew.error();
    {
      // The VM unit's prepare does it too, before every start of the VMM.
      std::lock_guard<std::mutex> lock(mu_);
      if (auto s = ports_.state.own(inst.name, model::vmm_uid(alloc)); !s) return s;
    }

    if (reload)
      if (auto s = sd.daemon_reload(); !s) return s;

    const bool running = inst.state == model::RunState::Running;
    bool restarted_vm = false;
    if (running) {
      if (auto s = sd.enable({vm, sock}); !s) return s;
      // A unit runs its old drop-ins until restarted; the proxy service is
      // socket-activated, so stopping it is enough.
      if (changed.count(host::proxy_service_unit(inst.name)))
        if (auto r = sd.stop(host::proxy_service_unit(inst.name), options_.job_deadline); !r) return r.error();
      for (const auto& [unit, restart] :
           {std::pair{sock, changed.count(sock) > 0}, std::pair{vm, mode == Mode::Restart || changed.count(vm) > 0}}) {
        auto r = restart ? sd.restart(unit, options_.job_deadline) : sd.start(unit, options_.job_deadline);
        if (!r) return r.error();
        if (booted && unit == vm) *booted = true;
        if (r.value() != host::JobResult::Done)
          return Error{unit_job_error(restart ? "restart" : "start", unit, r.value())};
        if (unit == vm) restarted_vm = restart;
      }
      // A guest that was not restarted learns of a larger disk now; one
      // that booted sees it at boot. A grow step notifies even when the file
      // had grown in an earlier, interrupted run.
      if (!restarted_vm && was_running(inst.name)) {
        const host::VmmView view = host::vmm_view(h, inst.name);
        for (const auto& [drive, path, field, size, grown] :
             {std::tuple{host::kRootDrive, view.rootfs, "spec.resources.disk", inst.resources.disk_bytes,
                         grew.value().root},
              std::tuple{host::kDataDrive, view.data, plan::kDataDiskField, inst.resources.data_disk_bytes,
                         grew.value().data}}) {
          if (!grown && !(mode == Mode::Grow && fields.count(field) && changed_since_applied(inst.name, field, fields)))
            continue;
          const std::uint64_t bytes = disk_bytes(size);
          if (auto s = ports_.vmm.notify_disk_grown(view.api_socket, drive, path, bytes, options_.job_deadline); !s)
            return Error{"instance " + inst.name + ": cannot tell the guest its " +
                         (drive == host::kRootDrive ? "disk" : "data disk") + " grew: " + s.error().message};
        }
      }
      // A guest that kept running (a grow, a repair) still runs the seed it
      // booted with; the one written now is read at its next boot.
      host::HealthTarget target{alloc.host_port, token, alloc.ip, generation};
      target.booted = restarted_vm || !was_running(inst.name);
      if (auto s = ports_.health.wait_started(target, options_.health_deadline, vm_watch(vm, sd)); !s)
        return Error{"instance " + inst.name + ": " + s.error().message};
    } else {
      for (const auto& unit : {vm, sock}) {
        auto r = sd.stop(unit, options_.job_deadline);
        if (!r) return r.error();
        if (r.value() != host::JobResult::Done) return Error{unit_job_error("stop", unit, r.value())};
      }
      if (auto s = sd.disable({vm, sock}); !s) return s;
      if (auto s = reset_failed(inst.name, sd); !s) return s;
    }

    // Only now is the configuration applied (a running one proved healthy).
    rec.applied = std::move(fields);
    rec.applied_generation = running ? std::optional<std::string>(generation) : rec.applied_generation;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto s = ports_.state.write_instance(rec); !s) return s;
    }
    // What a rollback would have gone back to is not needed any more.
    auto kept_root = ports_.disks.size(paths.previous_rootfs);
    auto kept_seed = ports_.disks.seed_digest_of(paths.previous_seed);
    if (!kept_root) return Error{"instance " + inst.name + ": " + kept_root.error().message};
    if (!kept_seed) return Error{"instance " + inst.name + ": " + kept_seed.error().message};
    for (const auto& [kept, there] : {std::pair{paths.previous_rootfs, kept_root.value().has_value()},
                                      std::pair{paths.previous_seed, kept_seed.value().has_value()}})
      if (there)
        if (auto s = ports_.disks.remove(kept); !s) return Error{"instance " + inst.name + ": " + s.error().message};
    return {};
  }

  // Whether `field` differs from what the plan found applied.
  bool changed_since_applied(const std::string& name, const std::string& field,
                             const std::map<std::string, std::string>& fields) const {
    const model::ObservedInstance* seen = observed(name);
    if (!seen) return true;
    auto was = seen->applied.find(field);
    return was == seen->applied.end() || was->second != fields.at(field);
  }

  // Whether the plan was made with the VM up (a VM started just now sees
  // its whole disk at boot, and its API socket may not answer yet).
  // The gate's reason to give up on the VM itself: its unit failed (or
  // was stopped), or it restarted kVmRestartsToGiveUp times: a VM that
  // does not stay up never passes (docs/apply.md#the-health-gate).
  static host::GiveUp vm_watch(const std::string& vm, host::Systemd& sd) {
    return [vm, &sd, restarts = 0, restarting = false]() mutable -> std::optional<std::string> {
      auto units = sd.list_units({vm});
      if (!units) return std::nullopt;  // the gate goes on; the bus is not the guest
      auto u = std::find_if(units.value().begin(), units.value().end(),
                            [&](const host::UnitStatus& x) { return x.name == vm; });
      if (u == units.value().end()) return std::nullopt;
      if (u->active_state == "failed") return vm + " failed: the VM does not stay up (its journal says why)";
      if (u->active_state == "inactive") return vm + " was stopped";
      const bool now = u->sub_state == "auto-restart";
      if (now && !restarting && ++restarts >= kVmRestartsToGiveUp)
        return vm + " restarted " + std::to_string(restarts) +
               " times during the gate: the VM does not stay up (its journal says why)";
      restarting = now;
      return std::nullopt;
    };
  }

  bool was_running(const std::string& name) const {
    const model::ObservedInstance* seen = observed(name);
    if (!seen) return false;
    auto it = seen->units.find(host::vm_unit(name));
    return it != seen->units.end() && it->second.active_state == "active" && seen->vm_state == model::VmState::Running;
  }

  // A disk file: the manifest's size rounded up to a whole MiB.
  static std::uint64_t disk_bytes(std::uint64_t size) {
    constexpr std::uint64_t kMiB = 1 << 20;
    return (size + kMiB - 1) / kMiB * kMiB;
  }

  // Whether the instance has a data disk: it has one, or it gets one now
  // with its root disk (a create). An instance created before data disks
  // has a root disk and none (docs/guest.md#the-data-disk).
  Result<bool> has_data_disk(const host::InstancePaths& paths) {
    auto data = ports_.disks.size(paths.data);
    if (!data) return data.error();
    if (data.value()) return true;
    auto root = ports_.disks.size(paths.rootfs);
    if (!root) return root.error();
    return !root.value();
  }

  struct Grown {
    bool root = false;
    bool data = false;
  };

  // The data disk (made empty when missing: the guest formats it), the
  // root disk (cloned from the image when missing) each grown when smaller
  // than the manifest says, and the seed (rewritten when what it should
  // hold differs). Which disks were grown.
  Result<Grown> guest_disks(const model::Instance& inst, const host::InstancePaths& paths,
                            const model::Allocation& alloc, const std::string& token, const std::string& generation,
                            bool data_disk) {
    const model::Host& h = desired_.fleet.host;
    Grown grew;
    // The data disk first: a create stopped between the two leaves a data
    // disk without a root, which the next run still sees as this kind.
    if (data_disk) {
      auto data = grow_or_make(
          paths.data, disk_bytes(inst.resources.data_disk_bytes),
          [&](const std::string& path, std::uint64_t bytes) { return ports_.disks.create_empty(path, bytes); });
      if (!data) return Error{"instance " + inst.name + ": " + data.error().message};
      grew.data = data.value();
    }
    auto root = grow_or_make(paths.rootfs, disk_bytes(inst.resources.disk_bytes),
                             [&](const std::string& path, std::uint64_t bytes) {
                               return ports_.disks.clone(h.images.at(inst.image).rootfs, path, bytes);
                             });
    if (!root) return Error{"instance " + inst.name + ": " + root.error().message};
    grew.root = root.value();

    host::SeedInput in{&h, &inst, alloc, token, {}, std::nullopt, generation, {}, !kvm_};
    for (const auto& [provider, ref] : inst.provider_keys) {
      auto v = ports_.read_secret(ref);
      if (!v) return Error{"instance " + inst.name + ": " + v.error().message};
      in.provider_keys[provider] = v.value();
    }
    if (inst.telegram) {
      auto v = ports_.read_secret(inst.telegram->bot_token);
      if (!v) return Error{"instance " + inst.name + ": " + v.error().message};
      in.telegram_token = v.value();
    }
    auto cas = ca_certificates();
    if (!cas) return Error{"instance " + inst.name + ": " + cas.error().message};
    in.ca_certificates = cas.value();
    const host::SeedFiles seed = host::render_seed(in);
    auto have = ports_.disks.seed_digest_of(paths.seed);
    if (!have) return have.error();
    if (!have.value() || *have.value() != host::seed_digest(seed))
      if (auto s = ports_.disks.write_seed(paths.seed, seed); !s)
        return Error{"instance " + inst.name + ": " + s.error().message};
    return grew;
  }

  // A disk made by `make` when missing, grown when smaller than `bytes`;
  // true when grown.
  template <typename Make>
  Result<bool> grow_or_make(const std::string& path, std::uint64_t bytes, Make make) {
    auto have = ports_.disks.size(path);
    if (!have) return have.error();
    if (!have.value()) {
      if (auto s = make(path, bytes); !s) return s.error();
      return false;
    }
    if (*have.value() >= bytes) return false;
    if (auto s = ports_.disks.grow(path, bytes); !s) return s.error();
    return true;
  }

  // The Host's CA certificates as the guests get them, read again through
  // the same port and checks as when the plan was made: a file changed
  // since would give guests other certificates than the generation says.
  Result<std::string> ca_certificates() {
    std::string bundle;
    for (const auto& path : desired_.fleet.host.ca_certificates) {
      auto content = [&] {
        std::lock_guard<std::mutex> lock(mu_);  // readers need not be thread-safe (a fake records calls)
        return ports_.files.read_file(path, kMaxCertificateFileBytes);
      }();
      if (!content) return Error{"CA certificate " + path + ": " + content.error().message};
      auto pem = certificates_pem(content.value());
      if (!pem) return Error{"CA certificate " + path + " is not a PEM certificate file: " + pem.error().message};
      auto want = desired_.ca_digests.find(path);
      if (want == desired_.ca_digests.end() || want->second != certificates_digest(pem.value()))
        return Error{"CA certificate " + path + " changed since the plan was made; plan again"};
      bundle += pem.value();
    }
    return bundle;
  }

  // Everything of one instance off the host, in the reverse order of
  // creation; each part absent is success, so a rerun finishes the job.
  // The instance's units stopped, disabled, without clawfleet's drop-ins
  // and not failed: nothing of them is left to systemd under this name.
  Status release_units(const std::string& name, host::Systemd& sd) {
    const std::string vm = host::vm_unit(name);
    const std::string sock = host::proxy_socket_unit(name);
    for (const auto& unit : {sock, vm, host::proxy_service_unit(name)}) {
      auto r = sd.stop(unit, options_.job_deadline);
      if (!r) return r.error();
      if (r.value() != host::JobResult::Done) return Error{unit_job_error("stop", unit, r.value())};
    }
    if (auto s = sd.disable({vm, sock}); !s) return s;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [unit, dropin] : host::every_dropin(name))
        if (auto s = ports_.unit_files.remove_dropin(unit, dropin); !s) return s;
    }
    if (auto s = sd.daemon_reload(); !s) return s;
    return reset_failed(name, sd);
  }

  // metadata.previousNames: the old name's units go, then the inventory
  // entry (one write: the new name takes the old one's tap), then the state
  // directory (one rename), and the instance converges as the new name on
  // the old one's allocation, token and disks. Each part is done again, or
  // found done, by a rerun after a kill: the plan stays a rename until the
  // directory has moved, and converging the new name finishes the rest.
  Status rename(const model::Instance& inst, const plan::Step& step, host::Systemd& sd) {
    const std::string from = step.changes.empty() ? "" : step.changes.front().before.value_or("");
    const model::ObservedInstance* seen = observed(from);
    if (from.empty() || !seen || !seen->allocation) return Error{"instance " + inst.name + ": nothing to rename"};
    const model::Allocation alloc = *seen->allocation;
    if (auto s = release_units(from, sd); !s) return s;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto inv = ports_.state.read_inventory();
      if (!inv) return inv.error();
      auto it = inv.value().instances.find(from);
      if (it != inv.value().instances.end() || !inv.value().instances.count(inst.name)) {
        inv.value().instances[inst.name] = host::InventoryEntry{alloc.tap, inst.protect};
        inv.value().instances.erase(from);
        if (auto s = ports_.state.write_inventory(inv.value()); !s) return s;
      }
      if (auto s = ports_.state.rename_instance(from, inst.name); !s) return s;
      on_host_.erase(from);
      on_host_.insert_or_assign(inst.name, alloc);
      taken_.add(alloc);
    }
    return converge(inst, alloc, Mode::Restart, sd);
  }

  Status teardown(const std::string& name, host::Systemd& sd, std::string tap = "") {
    if (auto s = release_units(name, sd); !s) return s;
    std::lock_guard<std::mutex> lock(mu_);
    if (tap.empty()) {
      if (const auto* seen = observed(name)) {
        if (seen->allocation) tap = seen->allocation->tap;
      }
      auto inv = ports_.state.read_inventory();
      if (!inv) return inv.error();
      if (tap.empty() && inv.value().instances.count(name)) tap = inv.value().instances.at(name).tap;
    }
    if (!tap.empty())
      if (auto s = ports_.network.delete_link(tap); !s) return s;
    if (auto it = on_host_.find(name); it != on_host_.end())
      if (auto s = ports_.network.delete_neighbour(desired_.fleet.host.bridge, it->second.ip); !s) return s;
    if (auto s = ports_.state.remove_instance(name); !s) return s;
    if (auto s = inventory_erase(name); !s) return s;
    // Its rules go last: a rerun after a failure above still finds them.
    on_host_.erase(name);
    return sync_ruleset();
  }

  // The ruleset for every instance on the host now, in the state root's
  // file (for `vm prepare`) and in the kernel; each written only when it
  // differs from what this run wrote last. Callers hold mu_.
  Status sync_ruleset() {
    std::string ruleset = ruleset_for(desired_.fleet, on_host_);
    if (loaded_ == ruleset) return {};
    if (auto s = ports_.state.write_ruleset(ruleset); !s) return s;
    auto current = ports_.network.read_ruleset();
    if (!current) return current.error();
    if (current.value() != ruleset)
      if (auto s = ports_.network.replace_ruleset(ruleset); !s) return s;
    loaded_ = std::move(ruleset);
    return {};
  }

  // A VM that clawfleet stopped counts as stopped however its VMM ended
  // (powered off, quit, SIGTERM, or SIGKILL after TimeoutStopSec, which
  // systemd records as "failed"): nothing of it stays in `systemctl --failed`.
  static Status reset_failed(const std::string& name, host::Systemd& sd) {
    for (const auto& unit : {host::vm_unit(name), host::proxy_socket_unit(name), host::proxy_service_unit(name)})
      if (auto s = sd.reset_failed(unit); !s) return s;
    return {};
  }

  // Read-modify-write of the inventory; callers hold mu_.
  // The first instance applied with the host's own resolvers records them
  // with it: from then on they are the guests' default, whatever the host's
  // DHCP says later (plan::choose_dns).
  Status inventory_set(const std::string& name, const host::InventoryEntry& entry) {
    auto inv = ports_.state.read_inventory();
    if (!inv) return inv.error();
    const bool record_dns = desired_.dns.from == plan::DnsFrom::Host && inv.value().default_dns.empty();
    auto it = inv.value().instances.find(name);
    if (it != inv.value().instances.end() && it->second == entry && !record_dns) return {};
    inv.value().instances[name] = entry;
    if (record_dns) inv.value().default_dns = desired_.dns.servers;
    return ports_.state.write_inventory(inv.value());
  }
  Status inventory_erase(const std::string& name) {
    auto inv = ports_.state.read_inventory();
    if (!inv) return inv.error();
    if (!inv.value().instances.erase(name)) return {};
    return ports_.state.write_inventory(inv.value());
  }

  const plan::Desired& desired_;
  const model::Observed& observed_;
  const host::Ports& ports_;
  const ExecOptions& options_;
  const bool kvm_;  // the plan's accelerator (plan::accelerator_for)
  std::mutex mu_;
  host::Taken taken_;
  std::map<std::string, Result<model::Allocation>> allocated_;
  // Every instance with an allocation on the host as this run goes (the
  // ruleset's guests), and the ruleset this run last wrote and loaded.
  std::map<std::string, model::Allocation> on_host_;
  std::optional<std::string> loaded_;
};

}  // namespace

std::string rollout_stopped_reason(const std::string& failed, std::uint32_t max_unavailable) {
  return "the rollout stopped at " + failed + ", which failed (at most " + std::to_string(max_unavailable) +
         " down at once)";
}

bool interrupts(Action action) {
  switch (action) {
    case Action::Reprovision:
    case Action::Restart:
    case Action::Reimage:
    case Action::Replace:
    case Action::UpdateAllocation:
    case Action::Rename: return true;
    case Action::Create:
    case Action::GrowDisk:
    case Action::Start:
    case Action::Stop:
    case Action::Repair:
    case Action::Destroy: return false;
  }
  return false;
}

std::string generation_of(const std::map<std::string, std::string>& flattened) {
  std::string canonical;
  // What systemd applies to the running unit is not the guest's: a change
  // of it must not make the gate wait for a guest that never restarts.
  for (const auto& [k, v] : flattened)
    if (!plan::applies_live(k) && k != plan::kImageDigestField && k != plan::kImageVersionField)
      canonical += k + "=" + v + "\n";
  return "sha256:" + sha256_hex(canonical);
}

std::string generation_for(std::map<std::string, std::string> flattened, const model::ObservedInstance* seen) {
  if (seen && !seen->applied.empty() && !seen->applied.count(plan::kDataDiskField))
    flattened.erase(plan::kDataDiskField);
  return generation_of(flattened);
}

std::vector<StepReport> execute(const plan::Plan& plan, const plan::Desired& desired, const model::Observed& observed,
                                const host::Ports& ports, const ExecOptions& options, const EventSink& on_event) {
  std::vector<StepReport> results(plan.steps.size());
  std::mutex events_mu;
  auto emit = [&](std::size_t i, bool start) {
    std::lock_guard<std::mutex> lock(events_mu);
    if (on_event) on_event(StepEvent{i, &plan.steps[i], start, results[i], "", 0});
  };
  Run run(desired, observed, ports, options, plan.accelerator.kvm);
  run.preallocate(plan);

  // A step runs only when every step it depends on succeeded.
  auto blocked = [&](std::size_t i) -> std::optional<std::string> {
    for (std::size_t d : plan.steps[i].depends_on)
      if (d < results.size() && results[d].outcome != Outcome::Ok)
        return "step " + std::to_string(d) + " it depends on " +
               (results[d].outcome == Outcome::Failed ? "failed" : "did not run");
    return std::nullopt;
  };
  auto finish = [&](std::size_t i, const Status& s) {
    results[i] = s ? StepReport{Outcome::Ok, ""} : StepReport{Outcome::Failed, s.error().message};
    emit(i, false);
  };

  // Checked before each step starts, never during one: a step in flight
  // always finishes (and is journalled).
  auto stopping = [&] { return options.stop && options.stop->load(); };
  // A step blocked by its dependencies, or not begun because the agent
  // stops, is Skipped with why; any other runs between its two events.
  auto run_step = [&](std::size_t i, const std::function<Status()>& step,
                      const std::optional<std::string>& held = std::nullopt) {
    std::optional<std::string> why = blocked(i);
    if (!why && stopping()) why = kStoppingReason;
    if (!why) why = held;
    if (why) {
      results[i] = {Outcome::Skipped, *why};
      emit(i, false);
      return;
    }
    emit(i, true);
    finish(i, step());
  };

  // Host-level steps first, in order; instances group their own steps.
  std::map<std::string, std::vector<std::size_t>> by_instance;
  for (std::size_t i = 0; i < plan.steps.size(); ++i) {
    if (!plan.steps[i].instance.empty()) {
      by_instance[plan.steps[i].instance].push_back(i);
      continue;
    }
    run_step(i, [&] { return run.host_step(); });
  }

  // Each instance's steps, in name order; those that take a running
  // instance down are a rollout: at most `max_down` in flight, the next
  // taken as one ends, none begun once one failed (`halted`).
  struct Group {
    const std::vector<std::size_t>* steps;
    bool takes_down;
  };
  std::deque<Group> queue;
  for (const auto& [_, steps] : by_instance) queue.push_back({&steps, run.takes_down(plan, steps)});
  const std::uint32_t max_down = std::max<std::uint32_t>(
      1, options.max_unavailable ? *options.max_unavailable : model::max_unavailable(desired.fleet.host));
  std::uint32_t down = 0;
  std::optional<std::string> halted = options.rollout_stopped;
  std::mutex queue_mu;
  std::condition_variable queue_cv;
  auto worker = [&] {
    std::unique_ptr<host::Systemd> sd;
    Status connected = {};
    if (auto c = ports.connect_systemd(); c)
      sd = std::move(c.value());
    else
      connected = c.error();
    for (;;) {
      Group group{nullptr, false};
      std::optional<std::string> held;
      {
        std::unique_lock<std::mutex> lock(queue_mu);
        for (;;) {
          if (queue.empty()) return;
          // The first that may begin: any other, or one of the rollout
          // while there is room (or to be skipped, once it stopped).
          auto it = std::find_if(queue.begin(), queue.end(),
                                 [&](const Group& g) { return !g.takes_down || halted || down < max_down; });
          if (it != queue.end()) {
            group = *it;
            queue.erase(it);
            break;
          }
          queue_cv.wait(lock);
        }
        if (group.takes_down) {
          if (halted)
            held = halted;
          else
            ++down;
        }
      }
      bool failed = false;
      for (std::size_t i : *group.steps) {
        run_step(
            i, [&] { return sd ? run.instance_step(plan.steps[i], *sd) : connected; }, held);
        failed = failed || results[i].outcome == Outcome::Failed;
      }
      if (group.takes_down && !held) {
        std::lock_guard<std::mutex> lock(queue_mu);
        --down;
        if (failed && !halted) halted = rollout_stopped_reason(plan.steps[group.steps->front()].instance, max_down);
        queue_cv.notify_all();
      }
    }
  };
  std::size_t workers = std::max<std::size_t>(1, std::min(options.parallelism, queue.size()));
  std::vector<std::thread> threads;
  for (std::size_t w = 1; w < workers; ++w) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  return results;
}

}  // namespace cf::apply
