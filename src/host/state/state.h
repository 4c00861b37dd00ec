// clawfleet's own state on disk, under the Host's state root:
//
//   <root>/inventory.json                 what clawfleet owns (0600), the
//                                         guests' recorded default DNS
//   <root>/instances/<name>/              0700, one per instance
//   <root>/instances/<name>/instance.json allocations, applied generation;
//                                         the ownership marker (0600)
//   <root>/instances/<name>/token         gateway token, 64 hex (0600)
//   <root>/ruleset.nft                    the nftables ruleset every VM
//                                         unit loads (0600)
//
// Every write is atomic (host/state/files.h). Fake: tests/fakes/fake_state_store.h.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/net.h"
#include "core/result.h"
#include "host/network/allocator.h"

namespace cf::host {

struct InstanceRecord {
  std::string name;
  Allocation allocation;
  std::string desired_hash;                       // model::content_hash of what was last applied
  std::optional<std::string> applied_generation;  // recorded only after the health gate passed
  bool protect = false;
  // plan::flatten of what was last applied: field path -> display value
  // (secrets only as digests), so the next plan can show before -> after.
  std::map<std::string, std::string> applied;
  bool operator==(const InstanceRecord&) const = default;
};

// Only instances listed here are ever destroyed by clawfleet; `protect`
// survives the removal of the manifest.
struct InventoryEntry {
  std::string tap;
  bool protect = false;
  bool operator==(const InventoryEntry&) const = default;
};

struct Inventory {
  std::map<std::string, InventoryEntry> instances;
  // The guests' default resolvers ("defaultDns"), taken from the host when
  // the first instance was applied without spec.dns and kept, so a DHCP
  // change on the host does not reprovision the fleet; empty: not taken yet.
  std::vector<Ipv4> default_dns;
  bool operator==(const Inventory&) const = default;
};

struct DirInfo {
  bool exists = false;
  mode_t mode = 0;  // permission bits of the directory
  uid_t uid = 0;
  std::map<std::string, mode_t> files;  // regular files directly inside, with permission bits
  bool operator==(const DirInfo&) const = default;
};

class StateStore {
 public:
  virtual ~StateStore() = default;
  // An absent inventory is an empty one.
  virtual Result<Inventory> read_inventory() = 0;
  virtual Status write_inventory(const Inventory& inv) = 0;
  virtual Result<std::optional<InstanceRecord>> read_instance(const std::string& name) = 0;
  // Creates the instance directory (model::kInstanceDirMode) when missing.
  virtual Status write_instance(const InstanceRecord& rec) = 0;
  // The gateway token, generated once (256 random bits) and kept.
  virtual Result<std::string> ensure_token(const std::string& name) = 0;
  // The token when there is one (nullopt: never generated); never creates it.
  virtual Result<std::optional<std::string>> read_token(const std::string& name) = 0;
  // Another file of the instance's directory (launch.json, proxy.env),
  // written atomically with mode; the directory must exist. `file` is a
  // plain name, never a path.
  virtual Status write_file(const std::string& name, const std::string& file, const std::string& content,
                            mode_t mode) = 0;
  // A file written by write_file, whole; nullopt when there is none
  // (anything but a regular file is an error); at most max_bytes.
  virtual Result<std::optional<std::string>> read_file(const std::string& name, const std::string& file,
                                                       std::size_t max_bytes) = 0;
  // Gives the instance's VMM, running as `uid`, what it needs and no more
  // (host/state/ownership.h); the directory must exist.
  virtual Status own(const std::string& name, std::uint32_t uid) = 0;
  virtual Result<DirInfo> inspect(const std::string& name) = 0;
  // Names of instance directories that hold an instance.json marker.
  virtual Result<std::vector<std::string>> instance_dirs() = 0;
  // Removes the instance's directory and everything in it; absent is success.
  virtual Status remove_instance(const std::string& name) = 0;
  // Renames the instance's directory `from` to `to` (rename(2): all or
  // nothing, never over another) and rewrites its record to name `to`;
  // done again when `from` is gone and `to` is there. Until the rewrite,
  // read_instance(to) takes a record naming a gone `from` as `to`'s.
  virtual Status rename_instance(const std::string& from, const std::string& to) = 0;
  // The ruleset (host::render_ruleset) for every instance on the host, the
  // one `vm prepare` loads after a reboot; atomic, 0600.
  virtual Status write_ruleset(const std::string& ruleset) = 0;
};

std::unique_ptr<StateStore> state_store_at(const std::string& root);
std::string ruleset_path(const std::string& root);  // <root>/ruleset.nft
// The most a ruleset file may hold: ≈ 0.5 KiB a guest, for the largest subnet.
inline constexpr std::size_t kMaxRulesetBytes = 64 << 20;

// JSON forms of the state files, exposed for tests and `status`.
std::string to_json(const InstanceRecord& rec);
Result<InstanceRecord> instance_from_json(const std::string& text);
std::string to_json(const Inventory& inv);
Result<Inventory> inventory_from_json(const std::string& text);

}  // namespace cf::host
