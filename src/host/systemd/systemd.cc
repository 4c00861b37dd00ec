// SdBusSystemd: host::Systemd over libsystemd's sd-bus, talking to
// org.freedesktop.systemd1 on the system bus. No systemctl subprocesses,
// no logging, no exceptions: every failure is an Error naming what was
// attempted and carrying the D-Bus error message.
//
// Bus calls per operation:
//   list_units   ListUnitsByPatterns + ListUnitFilesByPatterns (fixed), and
//                one GetAll(org.freedesktop.systemd1.Unit) per *loaded*
//                matching unit, for FragmentPath, DropInPaths and
//                UnitFileState, which neither list returns. Those GetAll
//                calls are pipelined, 64 in flight at a time, so they cost
//                one round trip per 64 units.
//   start/stop/restart  AddMatch(JobRemoved) + Start/Stop/RestartUnit, then
//                wait for the signal of that job.
//   daemon_reload, enable, disable, reset_failed  one call each.
#include "host/systemd/systemd.h"

#include <systemd/sd-bus.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string_view>

#include "host/systemd/systemd_connect.h"

namespace cf::host {
namespace {

using std::chrono::steady_clock;

constexpr const char* kService = "org.freedesktop.systemd1";
constexpr const char* kManagerPath = "/org/freedesktop/systemd1";
constexpr const char* kManager = "org.freedesktop.systemd1.Manager";
constexpr const char* kUnit = "org.freedesktop.systemd1.Unit";
constexpr const char* kProperties = "org.freedesktop.DBus.Properties";
constexpr const char* kDefaultSystemBus = "unix:path=/run/dbus/system_bus_socket";
// Method calls other than job waits: sd-bus's default (25 s).
constexpr std::uint64_t kDefaultTimeout = 0;
// GetAll calls in flight at once in list_units (dbus-daemon allows 128
// pending replies per connection).
constexpr std::size_t kMaxInFlight = 64;

struct BusClose {
  void operator()(sd_bus* b) const { sd_bus_flush_close_unref(b); }
};
struct MessageUnref {
  void operator()(sd_bus_message* m) const { sd_bus_message_unref(m); }
};
struct SlotUnref {
  void operator()(sd_bus_slot* s) const { sd_bus_slot_unref(s); }
};
using BusPtr = std::unique_ptr<sd_bus, BusClose>;
using MessagePtr = std::unique_ptr<sd_bus_message, MessageUnref>;
using SlotPtr = std::unique_ptr<sd_bus_slot, SlotUnref>;

class BusError {
 public:
  BusError() = default;
  BusError(const BusError&) = delete;
  BusError& operator=(const BusError&) = delete;
  ~BusError() { sd_bus_error_free(&e_); }
  sd_bus_error* get() { return &e_; }

 private:
  sd_bus_error e_ = SD_BUS_ERROR_NULL;
};

// "<what>: <D-Bus error message>", or strerror when the error carries none.
Error fail(const std::string& what, int r, const sd_bus_error* e = nullptr) {
  if (e && e->message && *e->message) return Error{what + ": " + e->message};
  return Error{what + ": " + std::strerror(r < 0 ? -r : r)};
}

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

int append_strings(sd_bus_message* m, const std::vector<std::string>& items) {
  int r = sd_bus_message_open_container(m, 'a', "s");
  if (r < 0) return r;
  for (const auto& s : items)
    if ((r = sd_bus_message_append_basic(m, 's', s.c_str())) < 0) return r;
  return sd_bus_message_close_container(m);
}

int read_strings(sd_bus_message* m, std::vector<std::string>& out) {
  int r = sd_bus_message_enter_container(m, 'a', "s");
  if (r < 0) return r;
  const char* s = nullptr;
  while ((r = sd_bus_message_read_basic(m, 's', &s)) > 0) out.emplace_back(s);
  if (r < 0) return r;
  return sd_bus_message_exit_container(m);
}

std::string base_name(std::string_view path) {
  auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::optional<JobResult> parse_job_result(std::string_view s) {
  if (s == "done") return JobResult::Done;
  if (s == "canceled") return JobResult::Canceled;
  if (s == "timeout") return JobResult::Timeout;
  if (s == "failed") return JobResult::Failed;
  if (s == "dependency") return JobResult::Dependency;
  if (s == "skipped") return JobResult::Skipped;
  return std::nullopt;
}

// The properties of one loaded unit that the lists do not carry.
struct UnitDetails {
  bool done = false;
  bool vanished = false;  // unloaded between the listing and the query
  std::string error;
  std::string fragment_path;
  std::vector<std::string> dropin_paths;
  std::string unit_file_state;
};

int parse_unit_properties(sd_bus_message* m, UnitDetails& d) {
  int r = sd_bus_message_enter_container(m, 'a', "{sv}");
  if (r < 0) return r;
  while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
    const char* key = nullptr;
    if ((r = sd_bus_message_read_basic(m, 's', &key)) < 0) return r;
    std::string_view k = key;
    if (k == "FragmentPath" || k == "UnitFileState") {
      const char* v = nullptr;
      if ((r = sd_bus_message_read(m, "v", "s", &v)) < 0) return r;
      (k == "FragmentPath" ? d.fragment_path : d.unit_file_state) = v;
    } else if (k == "DropInPaths") {
      if ((r = sd_bus_message_enter_container(m, 'v', "as")) < 0) return r;
      if ((r = read_strings(m, d.dropin_paths)) < 0) return r;
      if ((r = sd_bus_message_exit_container(m)) < 0) return r;
    } else if ((r = sd_bus_message_skip(m, "v")) < 0) {
      return r;
    }
    if ((r = sd_bus_message_exit_container(m)) < 0) return r;
  }
  if (r < 0) return r;
  return sd_bus_message_exit_container(m);
}

int on_unit_properties(sd_bus_message* m, void* userdata, sd_bus_error*) {
  auto* d = static_cast<UnitDetails*>(userdata);
  d->done = true;
  if (const sd_bus_error* e = sd_bus_message_get_error(m)) {
    if (sd_bus_error_has_names(e, "org.freedesktop.DBus.Error.UnknownObject", "org.freedesktop.systemd1.NoSuchUnit"))
      d->vanished = true;
    else
      d->error = e->message ? e->message : e->name;
    return 0;
  }
  int r = parse_unit_properties(m, *d);
  if (r < 0) d->error = std::string("cannot parse the reply: ") + std::strerror(-r);
  return 0;
}

// JobRemoved signals seen while waiting, by job object path.
struct JobWatch {
  std::map<std::string, std::string> removed;
};

int on_job_removed(sd_bus_message* m, void* userdata, sd_bus_error*) {
  auto* w = static_cast<JobWatch*>(userdata);
  std::uint32_t id = 0;
  const char *path = nullptr, *unit = nullptr, *result = nullptr;
  if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0) return 0;
  w->removed[path] = result;
  return 0;
}

class SdBusSystemd : public Systemd {
 public:
  explicit SdBusSystemd(BusPtr bus) : bus_(std::move(bus)) {}

  // No patterns means every unit (systemd's semantics for an empty list).
  Result<std::vector<UnitStatus>> list_units(const std::vector<std::string>& patterns) override {
    const std::string what =
        patterns.empty() ? std::string("cannot list units") : "cannot list units matching " + join(patterns, " ");
    std::map<std::string, UnitStatus> units;
    std::map<std::string, std::string> object_paths;

    // 1. Units the manager has loaded (any state).
    {
      auto reply = call("ListUnitsByPatterns", what, [&](sd_bus_message* m) {
        int r = append_strings(m, {});
        return r < 0 ? r : append_strings(m, patterns);
      });
      if (!reply) return reply.error();
      sd_bus_message* m = reply->get();
      int r = sd_bus_message_enter_container(m, 'a', "(ssssssouso)");
      if (r < 0) return fail(what + ": cannot parse ListUnitsByPatterns reply", r);
      const char *name, *description, *load, *active, *sub, *following, *object, *job_type, *job_path;
      std::uint32_t job_id;
      while ((r = sd_bus_message_read(m, "(ssssssouso)", &name, &description, &load, &active, &sub, &following, &object,
                                      &job_id, &job_type, &job_path)) > 0) {
        UnitStatus& u = units[name];
        u.name = name;
        u.load_state = load;
        u.active_state = active;
        u.sub_state = sub;
        object_paths[name] = object;
      }
      if (r < 0) return fail(what + ": cannot parse ListUnitsByPatterns reply", r);
    }

    // 2. Unit files, loaded or not. A unit known only from its file is not
    // loaded: load_state stays "", and it is inactive/dead.
    std::map<std::string, std::string> file_states;
    {
      auto reply = call("ListUnitFilesByPatterns", what, [&](sd_bus_message* m) {
        int r = append_strings(m, {});
        return r < 0 ? r : append_strings(m, patterns);
      });
      if (!reply) return reply.error();
      sd_bus_message* m = reply->get();
      int r = sd_bus_message_enter_container(m, 'a', "(ss)");
      if (r < 0) return fail(what + ": cannot parse ListUnitFilesByPatterns reply", r);
      const char *path, *state;
      while ((r = sd_bus_message_read(m, "(ss)", &path, &state)) > 0) {
        std::string name = base_name(path);
        file_states[name] = state;
        UnitStatus& u = units[name];
        if (u.name.empty()) {
          u.name = name;
          u.active_state = "inactive";
          u.sub_state = "dead";
          u.fragment_path = path;
        }
      }
      if (r < 0) return fail(what + ": cannot parse ListUnitFilesByPatterns reply", r);
    }

    // 3. Per loaded unit (not "not-found"): one GetAll, pipelined: up to
    // kMaxInFlight are sent before their replies are awaited (dbus-daemon
    // refuses a connection more than 128 pending replies by default). The
    // slots are declared after the details they point into, so they are
    // released first.
    std::vector<std::string> names;
    for (const auto& [name, path] : object_paths)
      if (units[name].load_state != "not-found") names.push_back(name);
    std::vector<UnitDetails> details(names.size());
    std::vector<SlotPtr> slots;
    auto send = [&](std::size_t i) -> int {
      sd_bus_message* raw = nullptr;
      int r = sd_bus_message_new_method_call(bus_.get(), &raw, kService, object_paths[names[i]].c_str(), kProperties,
                                             "GetAll");
      MessagePtr m(raw);
      if (r >= 0) r = sd_bus_message_append(m.get(), "s", kUnit);
      sd_bus_slot* slot = nullptr;
      if (r >= 0) r = sd_bus_call_async(bus_.get(), &slot, m.get(), on_unit_properties, &details[i], kDefaultTimeout);
      if (r >= 0) slots.emplace_back(slot);
      return r;
    };
    std::size_t sent = 0;
    for (std::size_t i = 0; i < details.size(); ++i) {
      for (; sent < details.size() && sent < i + kMaxInFlight; ++sent)
        if (int r = send(sent); r < 0) return fail(what + ": cannot query " + names[sent], r);
      while (!details[i].done) {
        int r = sd_bus_process(bus_.get(), nullptr);
        if (r < 0) return fail(what + ": cannot query " + names[i], r);
        if (r > 0) continue;
        // sd-bus wakes up for the calls' own timeouts.
        r = sd_bus_wait(bus_.get(), UINT64_MAX);
        if (r < 0 && r != -EINTR) return fail(what + ": cannot query " + names[i], r);
      }
      if (!details[i].error.empty()) return Error{what + ": cannot query " + names[i] + ": " + details[i].error};
      // A unit garbage-collected meanwhile keeps what the listing said.
      if (details[i].vanished) continue;
      UnitStatus& u = units[names[i]];
      u.fragment_path = details[i].fragment_path;
      u.dropin_paths = details[i].dropin_paths;
      u.unit_file_state = details[i].unit_file_state;
    }

    // The file listing's state wins where there is one (e.g. templates).
    std::vector<UnitStatus> out;
    out.reserve(units.size());
    for (auto& [name, u] : units) {
      if (auto it = file_states.find(name); it != file_states.end()) u.unit_file_state = it->second;
      out.push_back(std::move(u));
    }
    return out;
  }

  Status daemon_reload() override {
    auto reply = call("Reload", "cannot reload systemd", [](sd_bus_message*) { return 0; });
    if (!reply) return reply.error();
    return {};
  }

  Result<JobResult> start(const std::string& unit, std::chrono::milliseconds deadline) override {
    return run_job("StartUnit", "start", unit, deadline);
  }
  Result<JobResult> stop(const std::string& unit, std::chrono::milliseconds deadline) override {
    return run_job("StopUnit", "stop", unit, deadline);
  }
  Result<JobResult> restart(const std::string& unit, std::chrono::milliseconds deadline) override {
    return run_job("RestartUnit", "restart", unit, deadline);
  }

  // Both change symlinks only; the caller reloads (daemon_reload) after.
  Status enable(const std::vector<std::string>& units) override {
    const std::string what = "cannot enable " + join(units, ", ");
    auto reply = call("EnableUnitFiles", what, [&](sd_bus_message* m) {
      int r = append_strings(m, units);
      return r < 0 ? r : sd_bus_message_append(m, "bb", 0 /* runtime */, 1 /* force */);
    });
    if (!reply) return reply.error();
    int carries_install_info = 0;
    int r = sd_bus_message_read(reply->get(), "b", &carries_install_info);
    if (r < 0) return fail(what + ": cannot parse EnableUnitFiles reply", r);
    if (!carries_install_info) return Error{what + ": no [Install] section to enable"};
    return {};
  }

  Status disable(const std::vector<std::string>& units) override {
    const std::string what = "cannot disable " + join(units, ", ");
    auto reply = call("DisableUnitFiles", what, [&](sd_bus_message* m) {
      int r = append_strings(m, units);
      return r < 0 ? r : sd_bus_message_append(m, "b", 0 /* runtime */);
    });
    if (!reply) return reply.error();
    return {};
  }

  Status reset_failed(const std::string& unit) override {
    const std::string what = "cannot reset the failed state of " + unit;
    sd_bus_message* raw = nullptr;
    int r = sd_bus_message_new_method_call(bus_.get(), &raw, kService, kManagerPath, kManager, "ResetFailedUnit");
    MessagePtr m(raw);
    if (r >= 0) r = sd_bus_message_append(m.get(), "s", unit.c_str());
    if (r < 0) return fail(what, r);
    BusError error;
    sd_bus_message* reply = nullptr;
    r = sd_bus_call(bus_.get(), m.get(), kDefaultTimeout, error.get(), &reply);
    MessagePtr owned(reply);
    // Nothing to reset: the unit is not loaded (already collected).
    if (r < 0 && sd_bus_error_has_name(error.get(), "org.freedesktop.systemd1.NoSuchUnit")) return {};
    if (r < 0) return fail(what, r, error.get());
    return {};
  }

 private:
  // Calls a Manager method; fill appends the arguments.
  // `unknown_unit`, when given, is set for systemd's NoSuchUnit error.
  template <class Fill>
  Result<MessagePtr> call(const char* method, const std::string& what, Fill fill,
                          std::uint64_t timeout_usec = kDefaultTimeout, bool* unknown_unit = nullptr) {
    sd_bus_message* raw = nullptr;
    int r = sd_bus_message_new_method_call(bus_.get(), &raw, kService, kManagerPath, kManager, method);
    MessagePtr m(raw);
    if (r >= 0) r = fill(m.get());
    if (r < 0) return fail(what, r);
    BusError error;
    sd_bus_message* reply = nullptr;
    r = sd_bus_call(bus_.get(), m.get(), timeout_usec, error.get(), &reply);
    if (r < 0 && unknown_unit)
      *unknown_unit = sd_bus_error_has_name(error.get(), "org.freedesktop.systemd1.NoSuchUnit");
    if (r < 0) return fail(what, r, error.get());
    return MessagePtr(reply);
  }

  Result<JobResult> run_job(const char* method, const char* verb, const std::string& unit,
                            std::chrono::milliseconds deadline) {
    const std::string what = std::string("cannot ") + verb + " " + unit;
    const auto end = steady_clock::now() + deadline;
    auto timed_out = [&] {
      return Error{what + ": the job did not finish within " + std::to_string(deadline.count()) + " ms"};
    };
    auto remaining_usec = [&]() -> std::uint64_t {
      auto left = std::chrono::duration_cast<std::chrono::microseconds>(end - steady_clock::now()).count();
      return left > 0 ? std::uint64_t(left) : 0;
    };

    // Subscribe before queueing the job, or a fast job's JobRemoved could
    // come and go unseen. systemd sends JobRemoved to the client that
    // queued the job even without Manager.Subscribe.
    JobWatch watch;
    sd_bus_slot* raw_slot = nullptr;
    int r = sd_bus_match_signal(bus_.get(), &raw_slot, kService, kManagerPath, kManager, "JobRemoved", on_job_removed,
                                &watch);
    SlotPtr slot(raw_slot);
    if (r < 0) return fail(what + ": cannot subscribe to JobRemoved", r);

    std::uint64_t usec = remaining_usec();
    if (usec == 0) return timed_out();
    bool unknown_unit = false;
    auto reply = call(
        method, what, [&](sd_bus_message* m) { return sd_bus_message_append(m, "ss", unit.c_str(), "replace"); }, usec,
        &unknown_unit);
    if (!reply) {
      // StopUnit finds only units in memory ("Unit … not loaded."): one
      // that is not (its drop-ins gone, collected) is not running.
      if (unknown_unit && std::string_view(method) == "StopUnit") return JobResult::Done;
      if (remaining_usec() == 0) return timed_out();
      return reply.error();
    }
    const char* job = nullptr;
    r = sd_bus_message_read(reply->get(), "o", &job);
    if (r < 0) return fail(what + ": cannot parse the " + method + " reply", r);
    const std::string job_path = job;

    for (;;) {
      if (auto it = watch.removed.find(job_path); it != watch.removed.end()) {
        if (auto result = parse_job_result(it->second)) return *result;
        return Error{what + ": the job finished with the unknown result \"" + it->second + "\""};
      }
      r = sd_bus_process(bus_.get(), nullptr);
      if (r < 0) return fail(what + ": cannot wait for " + job_path, r);
      if (r > 0) continue;
      usec = remaining_usec();
      if (usec == 0) return timed_out();
      r = sd_bus_wait(bus_.get(), usec);
      if (r < 0 && r != -EINTR) return fail(what + ": cannot wait for " + job_path, r);
    }
  }

  BusPtr bus_;
};

}  // namespace

const char* to_string(JobResult r) {
  switch (r) {
    case JobResult::Done: return "done";
    case JobResult::Canceled: return "canceled";
    case JobResult::Timeout: return "timeout";
    case JobResult::Failed: return "failed";
    case JobResult::Dependency: return "dependency";
    case JobResult::Skipped: return "skipped";
  }
  return "unknown";
}

// sd-bus authenticates a new connection lazily, at its first call; the bus
// daemon drops one still unauthenticated after its auth_timeout (dbus-daemon:
// 30 s). An executor worker connects, then clones a disk for longer than
// that before its first call: wait for the Hello reply (the unique name)
// here, so an idle connection is a live one.
static int wait_until_running(sd_bus* bus) {
  const char* unique = nullptr;
  return sd_bus_get_unique_name(bus, &unique);
}

Result<std::unique_ptr<Systemd>> connect_systemd() {
  sd_bus* raw = nullptr;
  int r = sd_bus_open_system(&raw);
  BusPtr bus(raw);
  if (r >= 0) r = wait_until_running(bus.get());
  if (r < 0) {
    const char* address = std::getenv("DBUS_SYSTEM_BUS_ADDRESS");
    return fail(std::string("cannot connect to the system bus at ") + (address ? address : kDefaultSystemBus), r);
  }
  return std::unique_ptr<Systemd>(new SdBusSystemd(std::move(bus)));
}

Result<std::unique_ptr<Systemd>> connect_systemd(const std::string& address) {
  const std::string what = "cannot connect to the bus at " + address;
  sd_bus* raw = nullptr;
  int r = sd_bus_new(&raw);
  BusPtr bus(raw);
  if (r < 0) return fail(what, r);
  if ((r = sd_bus_set_address(bus.get(), address.c_str())) < 0) return fail(what, r);
  if ((r = sd_bus_set_bus_client(bus.get(), 1)) < 0) return fail(what, r);
  if ((r = sd_bus_start(bus.get())) < 0) return fail(what, r);
  if ((r = wait_until_running(bus.get())) < 0) return fail(what, r);
  return std::unique_ptr<Systemd>(new SdBusSystemd(std::move(bus)));
}

}  // namespace cf::host
