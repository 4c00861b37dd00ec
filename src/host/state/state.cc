#include "host/state/state.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/fs.h"
#include "core/text.h"
#include "host/state/files.h"
#include "host/state/ownership.h"
#include "model/desired.h"
#include "model/instance_dir.h"

namespace cf::host {
namespace {

using nlohmann::json;
constexpr int kFormat = 1;
constexpr std::size_t kMaxStateFileBytes = 1 << 20;

// State files are clawfleet's own; a bad one is reported with its path and
// what is wrong, and never silently replaced.
template <class F>
auto parse(const std::string& text, F&& f) -> decltype(f(json{})) {
  try {
    json j = json::parse(text);
    if (!j.is_object() || j.value("format", 0) != kFormat) return Error{"unknown format (want \"format\": 1)"};
    return f(j);
  } catch (const json::exception& e) {
    return Error{e.what()};
  }
}

class FsStateStore : public StateStore {
 public:
  explicit FsStateStore(std::string root) : root_(std::move(root)) {}

  Result<Inventory> read_inventory() override {
    auto text = read(inventory_path());
    if (!text) return text.error();
    if (!text.value()) return Inventory{};
    auto inv = inventory_from_json(*text.value());
    if (!inv) return Error{"state file " + inventory_path() + ": " + inv.error().message};
    return inv;
  }

  Status write_inventory(const Inventory& inv) override {
    if (auto s = ensure_dir(root_, kStateRootMode); !s) return s;
    // The state root is the agent's too (its status file): only this file's leftovers.
    if (auto s = remove_stale_temp_files(root_, "inventory.json"); !s) return s;
    return write_file_atomic(inventory_path(), to_json(inv), 0600);
  }

  Result<std::optional<InstanceRecord>> read_instance(const std::string& name) override {
    if (!is_dns_label(name)) return Error{"not an instance name: \"" + name + "\""};
    auto text = read(dir(name) + "/instance.json");
    if (!text) return text.error();
    if (!text.value()) return std::optional<InstanceRecord>{};
    auto rec = instance_from_json(*text.value());
    if (!rec) return Error{"state file " + dir(name) + "/instance.json: " + rec.error().message};
    if (rec.value().name != name) {
      // A rename (rename_instance) killed between the directory's rename
      // and the record's rewrite: the directory is the truth. A record of
      // another instance that is still there (a copied directory) is not.
      struct stat st;
      if (!is_dns_label(rec.value().name) || ::lstat(dir(rec.value().name).c_str(), &st) == 0 || errno != ENOENT)
        return Error{"state file " + dir(name) + "/instance.json: names instance \"" + rec.value().name + "\""};
      rec.value().name = name;
    }
    return std::optional<InstanceRecord>{std::move(rec.value())};
  }

  Status write_instance(const InstanceRecord& rec) override {
    if (!is_dns_label(rec.name)) return Error{"not an instance name: \"" + rec.name + "\""};
    if (auto s = ensure_own_dir(root_ + "/instances", kStateRootMode); !s) return s;
    if (auto s = ensure_own_dir(dir(rec.name), model::kInstanceDirMode); !s) return s;
    // A writer killed mid-write (one writer at a time: the lock) left its
    // temp file; the instance's record is written by every step, so that
    // is where it goes.
    if (auto s = remove_stale_temp_files(dir(rec.name)); !s) return s;
    return write_file_atomic(dir(rec.name) + "/instance.json", to_json(rec), 0600);
  }

  Result<std::optional<std::string>> read_token(const std::string& name) override {
    if (!is_dns_label(name)) return Error{"not an instance name: \"" + name + "\""};
    const std::string path = dir(name) + "/token";
    auto existing = read(path);
    if (!existing) return existing.error();
    if (!existing.value()) return std::optional<std::string>{};
    std::string t = *existing.value();
    if (!t.empty() && t.back() == '\n') t.pop_back();
    if (t.size() == 64 && t.find_first_not_of("0123456789abcdef") == std::string::npos)
      return std::optional<std::string>{std::move(t)};
    return Error{"state file " + path + ": not a 64-hex-digit token"};
  }

  Result<std::string> ensure_token(const std::string& name) override {
    auto existing = read_token(name);
    if (!existing) return existing.error();
    if (existing.value()) return *existing.value();
    const std::string path = dir(name) + "/token";
    unsigned char bytes[32];
    if (::getrandom(bytes, sizeof bytes, 0) != sizeof bytes)
      return Error{std::string("cannot get random bytes: ") + std::strerror(errno)};
    std::string token;
    for (unsigned char b : bytes) token += "0123456789abcdef"[b >> 4], token += "0123456789abcdef"[b & 15];
    if (auto s = ensure_own_dir(root_ + "/instances", kStateRootMode); !s) return s.error();
    if (auto s = ensure_own_dir(dir(name), model::kInstanceDirMode); !s) return s.error();
    if (auto s = write_file_atomic(path, token + "\n", 0600); !s) return s.error();
    return token;
  }

  Status write_file(const std::string& name, const std::string& file, const std::string& content,
                    mode_t mode) override {
    if (!is_dns_label(name)) return Error{"not an instance name: \"" + name + "\""};
    if (file.empty() || file.find('/') != std::string::npos || file == "." || file == ".." || file == "instance.json")
      return Error{"not a file clawfleet writes in an instance directory: \"" + file + "\""};
    return write_file_atomic(dir(name) + "/" + file, content, mode);
  }

  Result<std::optional<std::string>> read_file(const std::string& name, const std::string& file,
                                               std::size_t max_bytes) override {
    if (!is_dns_label(name)) return Error{"not an instance name: \"" + name + "\""};
    if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..")
      return Error{"not a file of an instance directory: \"" + file + "\""};
    return read_file_if_exists(dir(name) + "/" + file, max_bytes);
  }

  Status own(const std::string& name, std::uint32_t uid) override { return own_instance_dir(root_, name, uid); }

  Result<DirInfo> inspect(const std::string& name) override {
    if (!is_dns_label(name)) return Error{"not an instance name: \"" + name + "\""};
    DirInfo info;
    struct stat st;
    if (::lstat(dir(name).c_str(), &st) != 0) {
      if (errno == ENOENT) return info;
      return Error{"cannot inspect " + dir(name) + ": " + std::strerror(errno)};
    }
    if (!S_ISDIR(st.st_mode)) return Error{dir(name) + " is not a directory"};
    info.exists = true;
    info.mode = st.st_mode & 07777;
    info.uid = st.st_uid;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir(name), ec)) {
      struct stat fst;
      if (::lstat(e.path().c_str(), &fst) == 0 && S_ISREG(fst.st_mode))
        info.files[e.path().filename().string()] = fst.st_mode & 07777;
    }
    if (ec) return Error{"cannot list " + dir(name) + ": " + ec.message()};
    return info;
  }

  Result<std::vector<std::string>> instance_dirs() override {
    std::vector<std::string> out;
    std::error_code ec;
    const std::string base = root_ + "/instances";
    if (!std::filesystem::exists(base, ec)) return out;
    for (const auto& e : std::filesystem::directory_iterator(base, ec)) {
      std::string name = e.path().filename().string();
      if (is_dns_label(name) && std::filesystem::is_regular_file(e.path() / "instance.json")) out.push_back(name);
    }
    if (ec) return Error{"cannot list " + base + ": " + ec.message()};
    std::sort(out.begin(), out.end());
    return out;
  }

  Status write_ruleset(const std::string& ruleset) override {
    if (auto s = ensure_dir(root_, kStateRootMode); !s) return s;
    if (auto s = remove_stale_temp_files(root_, "ruleset.nft"); !s) return s;
    return write_file_atomic(ruleset_path(root_), ruleset, 0600);
  }

  Status rename_instance(const std::string& from, const std::string& to) override {
    if (!is_dns_label(from) || !is_dns_label(to))
      return Error{"not an instance name: \"" + from + "\" or \"" + to + "\""};
    struct stat st;
    const bool done = ::lstat(dir(from).c_str(), &st) != 0 && errno == ENOENT && ::lstat(dir(to).c_str(), &st) == 0;
    if (!done) {
      if (::renameat2(AT_FDCWD, dir(from).c_str(), AT_FDCWD, dir(to).c_str(), RENAME_NOREPLACE) != 0)
        return sys_error("cannot rename " + dir(from) + " to", dir(to));
      if (auto s = fsync_dir(root_ + "/instances"); !s) return s;
    }
    // The record names its instance: read_instance takes the directory's
    // name until this rewrite, which a rerun does again.
    auto text = read(dir(to) + "/instance.json");
    if (!text) return text.error();
    if (!text.value()) return {};
    auto rec = instance_from_json(*text.value());
    if (!rec) return Error{"state file " + dir(to) + "/instance.json: " + rec.error().message};
    if (rec.value().name == to) return {};
    rec.value().name = to;
    return write_instance(rec.value());
  }

  Status remove_instance(const std::string& name) override {
    // The name check keeps remove_all inside <root>/instances.
    if (!is_dns_label(name)) return Error{"not an instance name: \"" + name + "\""};
    std::error_code ec;
    std::filesystem::remove_all(dir(name), ec);
    if (ec) return Error{"cannot remove " + dir(name) + ": " + ec.message()};
    return {};
  }

 private:
  std::string inventory_path() const { return root_ + "/inventory.json"; }
  std::string dir(const std::string& name) const { return root_ + "/instances/" + name; }

  // nullopt content when the file does not exist.
  Result<std::optional<std::string>> read(const std::string& path) {
    return read_file_if_exists(path, kMaxStateFileBytes);
  }

  std::string root_;
};

}  // namespace

std::string ruleset_path(const std::string& root) { return root + "/ruleset.nft"; }

std::string to_json(const InstanceRecord& rec) {
  json j{{"format", kFormat},
         {"name", rec.name},
         {"allocation",
          {{"ip", to_string(rec.allocation.ip)},
           {"mac", to_string(rec.allocation.mac)},
           {"hostPort", rec.allocation.host_port},
           {"tap", rec.allocation.tap}}},
         {"desiredHash", rec.desired_hash},
         {"appliedGeneration", rec.applied_generation ? json(*rec.applied_generation) : json(nullptr)},
         {"protect", rec.protect},
         {"applied", rec.applied}};
  return j.dump(2) + "\n";
}

Result<InstanceRecord> instance_from_json(const std::string& text) {
  return parse(text, [](const json& j) -> Result<InstanceRecord> {
    InstanceRecord rec;
    rec.name = j.at("name").get<std::string>();
    const json& a = j.at("allocation");
    auto ip = parse_ipv4(a.at("ip").get<std::string>());
    auto mac = parse_mac(a.at("mac").get<std::string>());
    if (!ip) return Error{"allocation.ip: " + ip.error().message};
    if (!mac) return Error{"allocation.mac: " + mac.error().message};
    rec.allocation =
        Allocation{ip.value(), mac.value(), a.at("hostPort").get<std::uint16_t>(), a.at("tap").get<std::string>()};
    rec.desired_hash = j.at("desiredHash").get<std::string>();
    if (!j.at("appliedGeneration").is_null()) rec.applied_generation = j.at("appliedGeneration").get<std::string>();
    rec.protect = j.at("protect").get<bool>();
    rec.applied = j.value("applied", std::map<std::string, std::string>{});
    if (!is_dns_label(rec.name)) return Error{"name: not a DNS label"};
    return rec;
  });
}

std::string to_json(const Inventory& inv) {
  json instances = json::object();
  for (const auto& [name, e] : inv.instances) instances[name] = {{"tap", e.tap}, {"protect", e.protect}};
  json j{{"format", kFormat}, {"instances", instances}};
  // Absent until taken, so an inventory without it reads the same in
  // clawfleets that predate it.
  if (!inv.default_dns.empty()) {
    json dns = json::array();
    for (Ipv4 a : inv.default_dns) dns.push_back(to_string(a));
    j["defaultDns"] = dns;
  }
  return j.dump(2) + "\n";
}

Result<Inventory> inventory_from_json(const std::string& text) {
  return parse(text, [](const json& j) -> Result<Inventory> {
    Inventory inv;
    for (const auto& [name, e] : j.at("instances").items()) {
      if (!is_dns_label(name)) return Error{"instances: \"" + name + "\" is not an instance name"};
      inv.instances[name] = InventoryEntry{e.at("tap").get<std::string>(), e.at("protect").get<bool>()};
    }
    if (j.contains("defaultDns")) {
      const json& dns = j.at("defaultDns");
      if (!dns.is_array() || dns.empty() || dns.size() > model::kMaxDnsServers)
        return Error{"defaultDns: want 1-" + std::to_string(model::kMaxDnsServers) + " IPv4 addresses"};
      for (const auto& a : dns) {
        auto ip = parse_ipv4(a.get<std::string>());
        if (!ip) return Error{"defaultDns: " + ip.error().message};
        inv.default_dns.push_back(ip.value());
      }
    }
    return inv;
  });
}

std::unique_ptr<StateStore> state_store_at(const std::string& root) { return std::make_unique<FsStateStore>(root); }

}  // namespace cf::host
