// In-memory StateStore that records every call.
#pragma once

#include <functional>

#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "host/state/state.h"
#include "model/instance_dir.h"

namespace cf::testing {

class FakeStateStore : public host::StateStore {
 public:
  Result<host::Inventory> read_inventory() override {
    calls.push_back("read_inventory");
    return inventory;
  }
  Status write_inventory(const host::Inventory& inv) override {
    calls.push_back("write_inventory");
    if (fail_writes || failing.count("write_inventory")) return Error{"injected failure: write_inventory"};
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
    dirs[rec.name].mode = model::kInstanceDirMode;
    dirs[rec.name].files["instance.json"] = 0600;
    return {};
  }
  Result<std::string> ensure_token(const std::string& name) override {
    calls.push_back("ensure_token " + name);
    auto [it, fresh] = tokens.emplace(name, std::string(64, 'a' + char(tokens.size() % 6)));
    if (fresh) {
      dirs[name].exists = true;
      dirs[name].mode = model::kInstanceDirMode;
      dirs[name].files["token"] = 0600;
    }
    return it->second;
  }
  Result<std::optional<std::string>> read_token(const std::string& name) override {
    calls.push_back("read_token " + name);
    auto it = tokens.find(name);
    return it == tokens.end() ? std::optional<std::string>{} : std::optional<std::string>{it->second};
  }
  Status write_file(const std::string& name, const std::string& file, const std::string& content,
                    mode_t mode) override {
    calls.push_back("write_file " + name + " " + file);
    if (fail_writes) return Error{"injected failure: write_file " + name + " " + file};
    if (!dirs.count(name) || !dirs[name].exists)
      return Error{"cannot create /fake/instances/" + name + "/" + file + ": No such file or directory"};
    files[name + "/" + file] = content;
    dirs[name].files[file] = mode;
    return {};
  }
  Result<std::optional<std::string>> read_file(const std::string& name, const std::string& file, std::size_t) override {
    calls.push_back("read_file " + name + " " + file);
    auto it = files.find(name + "/" + file);
    if (it == files.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  Status own(const std::string& name, std::uint32_t uid) override {
    calls.push_back("own " + name + " " + std::to_string(uid));
    if (!dirs.count(name) || !dirs[name].exists)
      return Error{"cannot inspect /fake/instances/" + name + ": No such file or directory"};
    dirs[name].mode = model::kInstanceDirMode;
    for (auto& [file, mode] : dirs[name].files) mode = model::instance_file_mode(file);
    owners[name] = uid;
    return {};
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
  Status rename_instance(const std::string& from, const std::string& to) override {
    calls.push_back("rename_instance " + from + " " + to);
    if (fail_writes || failing.count("rename_instance")) return Error{"injected failure: rename_instance " + from};
    if (!records.count(from) && !dirs.count(from) && (records.count(to) || dirs.count(to))) return {};
    if (records.count(to) || dirs.count(to)) return Error{"cannot rename " + from + " to " + to + ": File exists"};
    if (auto r = records.extract(from)) {
      r.key() = to;
      r.mapped().name = to;
      records.insert(std::move(r));
    }
    if (auto t = tokens.extract(from)) {
      t.key() = to;
      tokens.insert(std::move(t));
    }
    if (auto d = dirs.extract(from)) {
      d.key() = to;
      dirs.insert(std::move(d));
    }
    std::map<std::string, std::string> moved;
    for (auto it = files.begin(); it != files.end();)
      if (it->first.rfind(from + "/", 0) == 0) {
        moved[to + it->first.substr(from.size())] = it->second;
        it = files.erase(it);
      } else {
        ++it;
      }
    files.merge(moved);
    if (on_rename) on_rename(from, to);
    return {};
  }

  Status remove_instance(const std::string& name) override {
    calls.push_back("remove_instance " + name);
    if (on_remove) on_remove(name);
    records.erase(name), tokens.erase(name), dirs.erase(name);
    for (auto it = files.begin(); it != files.end();)
      it = it->first.rfind(name + "/", 0) == 0 ? files.erase(it) : std::next(it);
    return {};
  }

  Status write_ruleset(const std::string& text) override {
    calls.push_back("write_ruleset");
    if (fail_writes) return Error{"injected failure: write_ruleset"};
    ruleset = text;
    return {};
  }

  std::function<void(const std::string&)> on_remove;                      // called by remove_instance
  std::function<void(const std::string&, const std::string&)> on_rename;  // called by rename_instance
  std::optional<std::string> ruleset;                                     // what write_ruleset wrote
  host::Inventory inventory;
  std::map<std::string, host::InstanceRecord> records;
  std::map<std::string, std::string> tokens;
  std::map<std::string, host::DirInfo> dirs;
  std::map<std::string, std::string> files;     // "<name>/<file>" -> content
  std::map<std::string, std::uint32_t> owners;  // instance -> the uid own() gave its directory
  bool fail_writes = false;
  std::set<std::string> failing;  // methods that fail (rename_instance, write_inventory)
  std::vector<std::string> calls;
};

}  // namespace cf::testing
