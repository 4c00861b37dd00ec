// In-memory StateStore that records every call.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "host/state.h"

namespace cf::testing {

class FakeStateStore : public host::StateStore {
 public:
  Result<host::Inventory> read_inventory() override {
    calls.push_back("read_inventory");
    return inventory;
  }
  Status write_inventory(const host::Inventory& inv) override {
    calls.push_back("write_inventory");
    if (fail_writes) return Error{"injected failure: write_inventory"};
    inventory = inv;
    return {};
  }
  Result<std::optional<host::InstanceRecord>> read_instance(const std::string& name) override {
    calls.push_back("read_instance " + name);
    auto it = records.find(name);
    if (it == records.end()) return std::optional<host::InstanceRecord>{};
    return std::optional<host::InstanceRecord>{it->second};
  }
  Status write_instance(const host::InstanceRecord& rec) override {
    calls.push_back("write_instance " + rec.name);
    if (fail_writes) return Error{"injected failure: write_instance " + rec.name};
    records[rec.name] = rec;
    dirs[rec.name].exists = true;
    dirs[rec.name].mode = 0700;
    dirs[rec.name].files["instance.json"] = 0600;
    return {};
  }
  Result<std::string> ensure_token(const std::string& name) override {
    calls.push_back("ensure_token " + name);
    auto [it, fresh] = tokens.emplace(name, std::string(64, 'a' + char(tokens.size() % 6)));
    if (fresh) dirs[name].files["token"] = 0600;
    return it->second;
  }
  Result<host::DirInfo> inspect(const std::string& name) override {
    calls.push_back("inspect " + name);
    auto it = dirs.find(name);
    return it == dirs.end() ? host::DirInfo{} : it->second;
  }
  Result<std::vector<std::string>> instance_dirs() override {
    calls.push_back("instance_dirs");
    std::vector<std::string> out;
    for (const auto& [name, _] : records) out.push_back(name);
    return out;
  }
  Status remove_instance(const std::string& name) override {
    calls.push_back("remove_instance " + name);
    records.erase(name), tokens.erase(name), dirs.erase(name);
    return {};
  }

  host::Inventory inventory;
  std::map<std::string, host::InstanceRecord> records;
  std::map<std::string, std::string> tokens;
  std::map<std::string, host::DirInfo> dirs;
  bool fail_writes = false;
  std::vector<std::string> calls;
};

}  // namespace cf::testing
