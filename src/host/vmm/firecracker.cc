// Firecracker: the whole VM in one --config-file (it boots at once), and its
// HTTP API on a unix socket for state (GET /) and graceful shutdown
// (PUT /actions SendCtrlAltDel).
#include <cctype>
#include <nlohmann/json.hpp>

#include "host/http/unix_http.h"
#include "host/vmm/vmm_backends.h"

namespace cf::host {
namespace {

using nlohmann::json;

// Firecracker's recommended guest arguments: serial console, reboot via the
// keyboard controller (so the VMM exits on guest reboot), no PCI probing.
constexpr const char* kBootArgs = "console=ttyS0 reboot=k panic=1 pci=off";

std::string boot_args(const VmSpec& spec) {
  std::string args = kBootArgs;
  if (!spec.kernel_args.empty()) args += " " + spec.kernel_args;
  return args;
}

// A path as the VMM opens it: inside its jail when it has one.
std::string seen(const VmSpec& spec, const std::string& path) { return spec.jail ? spec.jail->inside(path) : path; }

json config(const VmSpec& spec) {
  json boot = {{"kernel_image_path", seen(spec, spec.image.kernel)}, {"boot_args", boot_args(spec)}};
  if (spec.image.initrd && !spec.image.initrd->empty()) boot["initrd_path"] = seen(spec, *spec.image.initrd);
  // The root device comes first (/dev/vda), then the others in order.
  json drives = json::array({
      {{"drive_id", kRootDrive},
       {"path_on_host", seen(spec, spec.rootfs_path)},
       {"is_root_device", true},
       {"is_read_only", false}},
      {{"drive_id", kSeedDrive},
       {"path_on_host", seen(spec, spec.seed_path)},
       {"is_root_device", false},
       {"is_read_only", true}},
  });
  if (!spec.data_path.empty())
    drives.push_back({{"drive_id", kDataDrive},
                      {"path_on_host", seen(spec, spec.data_path)},
                      {"is_root_device", false},
                      {"is_read_only", false}});
  json c = {
      {"boot-source", boot},
      {"drives", drives},
      {"network-interfaces",
       json::array({{{"iface_id", "eth0"}, {"host_dev_name", spec.tap}, {"guest_mac", to_string(spec.mac)}}})},
      {"machine-config", {{"vcpu_count", spec.vcpus}, {"mem_size_mib", spec.memory_mib}, {"smt", spec.smt}}},
  };
  if (!spec.log_path.empty())
    c["logger"] = {{"log_path", seen(spec, spec.log_path)},
                   {"level", "Warning"},
                   {"show_level", true},
                   {"show_log_origin", false}};
  if (!spec.metrics_path.empty()) c["metrics"] = {{"metrics_path", seen(spec, spec.metrics_path)}};
  return c;
}

// "400: <fault_message>" from an error reply, or the raw body (shortened).
std::string fault(const HttpReply& r) {
  std::string text;
  try {
    json j = json::parse(r.body);
    if (j.is_object() && j.contains("fault_message") && j["fault_message"].is_string())
      text = j["fault_message"].get<std::string>();
  } catch (const json::exception&) {}
  if (text.empty()) text = r.body.size() > 200 ? r.body.substr(0, 200) + "..." : r.body;
  return std::to_string(r.status) + (text.empty() ? "" : ": " + text);
}

class Firecracker final : public Vmm {
 public:
  Result<std::vector<std::pair<std::string, std::string>>> files(const VmSpec& spec) const override {
    if (spec.config_path.empty()) return Error{"instance " + spec.name + ": firecracker needs a config path"};
    try {
      return std::vector<std::pair<std::string, std::string>>{{spec.config_path, config(spec).dump(2) + "\n"}};
    } catch (const json::exception& e) {  // e.g. a path that is not UTF-8
      return Error{"instance " + spec.name + ": cannot render the firecracker config: " + e.what()};
    }
  }

  // The logger and metrics are in the config file, so no --log-path,
  // --level or --metrics-path here: Firecracker configures its logger once
  // and refuses a second configuration. --id names the VM in its logs and in
  // GET / (Firecracker allows alphanumerics and hyphens, at most 64).
  //
  // Under the jailer (which passes --id itself), the VMM's arguments follow
  // "--" and name its jail's paths. --cgroup-version 1 and no --cgroup: the
  // jailer then touches no cgroup (with 2 it would move itself into
  // /sys/fs/cgroup/<VMM file name> where that exists, out of the unit's
  // cgroup and its limits, which are the VM's).
  std::vector<std::string> argv(const VmSpec& spec) const override {
    if (spec.jail) {
      const std::string uid = std::to_string(spec.uid);
      return {spec.jailer,
              "--id",
              spec.name,
              "--exec-file",
              spec.binary,
              "--uid",
              uid,
              "--gid",
              uid,
              "--chroot-base-dir",
              spec.jail->base,
              "--cgroup-version",
              "1",
              "--",
              "--api-sock",
              seen(spec, spec.api_socket),
              "--config-file",
              seen(spec, spec.config_path)};
    }
    std::vector<std::string> a = {spec.binary, "--api-sock", spec.api_socket, "--config-file", spec.config_path};
    if (valid_id(spec.name)) {
      a.push_back("--id");
      a.push_back(spec.name);
    }
    return a;
  }

  Result<VmState> state(const std::string& api_socket, std::chrono::milliseconds timeout) override {
    auto r = unix_http(api_socket, "GET", "/", "", timeout);
    if (!r) return error(api_socket, r.error().message);
    if (!r.value()) return VmState::Absent;
    const HttpReply& reply = *r.value();
    if (reply.status != 200) return error(api_socket, "GET / answered " + fault(reply));
    try {
      json j = json::parse(reply.body);
      std::string s = j.at("state").get<std::string>();
      if (s == "Running") return VmState::Running;
      if (s == "Paused") return VmState::Paused;
      if (s == "Not started") return VmState::NotStarted;
      return VmState::Unknown;
    } catch (const json::exception& e) {
      return error(api_socket, std::string("GET / answered no state: ") + e.what());
    }
  }

  Status request_shutdown(const std::string& api_socket, std::chrono::milliseconds timeout) override {
    static const std::string body = json{{"action_type", "SendCtrlAltDel"}}.dump();
    auto r = unix_http(api_socket, "PUT", "/actions", body, timeout);
    if (!r) return error(api_socket, r.error().message);
    if (!r.value()) return error(api_socket, "nothing listens (the VM is not running)");
    if (r.value()->status != 204) return error(api_socket, "PUT /actions answered " + fault(*r.value()));
    return {};
  }

  // Firecracker's API has no request that ends the process; SIGTERM does.
  Result<bool> quit(const std::string&, std::chrono::milliseconds) override { return false; }

  Status notify_disk_grown(const std::string& api_socket, const std::string& drive, const std::string& path,
                           std::uint64_t, std::chrono::milliseconds timeout) override {
    // Firecracker re-reads the backing file's size when the drive's path is patched.
    const std::string body = json{{"drive_id", drive}, {"path_on_host", path}}.dump();
    auto r = unix_http(api_socket, "PATCH", "/drives/" + drive, body, timeout);
    if (!r) return error(api_socket, r.error().message);
    if (!r.value()) return error(api_socket, "nothing listens (the VM is not running)");
    if (r.value()->status != 204) return error(api_socket, "PATCH /drives/" + drive + " answered " + fault(*r.value()));
    return {};
  }

 private:
  static Error error(const std::string& socket, const std::string& message) {
    return Error{"firecracker API " + socket + ": " + message};
  }
  static bool valid_id(const std::string& s) {
    if (s.empty() || s.size() > 64) return false;
    for (char ch : s)
      if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-')) return false;
    return true;
  }
};

}  // namespace

std::unique_ptr<Vmm> make_firecracker_vmm() { return std::make_unique<Firecracker>(); }

}  // namespace cf::host
