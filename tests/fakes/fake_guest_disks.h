// In-memory host::GuestDisks: file sizes by path, seeds by path, and every
// call recorded ("clone /img/rootfs.ext4 /s/bot/rootfs.ext4 10737418240",
// "grow /s/bot/rootfs.ext4 21474836480", "write_seed /s/bot/seed.img").
// `bases` lists the image files that exist; fail() makes one call fail.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "host/guest/guest_disks.h"

namespace cf::testing {

class FakeGuestDisks : public host::GuestDisks {
 public:
  Result<std::optional<std::uint64_t>> size(const std::string& path) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = sizes.find(path);
    if (it == sizes.end()) return std::optional<std::uint64_t>();
    return std::optional<std::uint64_t>(it->second);
  }
  Status clone(const std::string& base, const std::string& dest, std::uint64_t bytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto e = record("clone " + base + " " + dest + " " + std::to_string(bytes))) return *e;
    if (!any_base && !bases.count(base))
      return Error{"cannot open the image's rootfs " + base + ": No such file or directory"};
    sizes[dest] = bytes;
    return {};
  }
  Status create_empty(const std::string& dest, std::uint64_t bytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto e = record("create_empty " + dest + " " + std::to_string(bytes))) return *e;
    sizes[dest] = bytes;
    return {};
  }
  Status remove(const std::string& path) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto e = record("remove " + path)) return *e;
    sizes.erase(path);
    seeds.erase(path);
    return {};
  }
  Status keep(const std::string& path, const std::string& kept) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto e = record("keep " + path + " " + kept)) return *e;
    sizes.erase(kept);
    seeds.erase(kept);
    if (auto it = sizes.find(path); it != sizes.end()) sizes[kept] = it->second;
    if (auto it = seeds.find(path); it != seeds.end()) seeds[kept] = it->second;
    return {};
  }
  Status move(const std::string& from, const std::string& to) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto e = record("move " + from + " " + to)) return *e;
    if (!sizes.count(from) && !seeds.count(from)) return {};
    sizes.erase(to);
    seeds.erase(to);
    if (auto it = sizes.find(from); it != sizes.end()) {
      sizes[to] = it->second;
      sizes.erase(it);
    }
    if (auto it = seeds.find(from); it != seeds.end()) {
      seeds[to] = it->second;
      seeds.erase(it);
    }
    return {};
  }
  Status grow(const std::string& path, std::uint64_t bytes) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto e = record("grow " + path + " " + std::to_string(bytes))) return *e;
    sizes[path] = bytes;
    return {};
  }
  Result<std::optional<std::string>> seed_digest_of(const std::string& path) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = seeds.find(path);
    if (it == seeds.end()) return std::optional<std::string>();
    return std::optional<std::string>(host::seed_digest(it->second));
  }
  Status write_seed(const std::string& path, const host::SeedFiles& files) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto e = record("write_seed " + path)) return *e;
    seeds[path] = files;
    return {};
  }
  // The files of an instance's directory (".../instances/<name>/...") go
  // with it (teardown).
  void forget_instance(const std::string& name) {
    std::lock_guard<std::mutex> lock(mu_);
    auto in_dir = [&](const auto& kv) { return kv.first.find("/instances/" + name + "/") != std::string::npos; };
    std::erase_if(sizes, in_dir);
    std::erase_if(seeds, in_dir);
  }
  // The disks of an instance whose directory was renamed.
  void rename_instance(const std::string& from, const std::string& to) {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string a = "/instances/" + from + "/", b = "/instances/" + to + "/";
    auto move = [&](auto& m) {
      std::remove_reference_t<decltype(m)> out;
      for (auto& [path, v] : m) {
        auto at = path.find(a);
        out[at == std::string::npos ? path : path.substr(0, at) + b + path.substr(at + a.size())] = v;
      }
      m = std::move(out);
    };
    move(sizes);
    move(seeds);
  }
  void fail(const std::string& call, std::string message) {
    std::lock_guard<std::mutex> lock(mu_);
    if (message.empty())
      failures_.erase(call);
    else
      failures_[call] = std::move(message);
  }

  bool any_base = true;  // every base image exists unless listed in `bases` with any_base false
  std::map<std::string, bool> bases;
  std::map<std::string, std::uint64_t> sizes;
  std::map<std::string, host::SeedFiles> seeds;
  std::vector<std::string> calls;

 private:
  std::optional<Error> record(std::string call) {
    calls.push_back(call);
    if (auto it = failures_.find(call); it != failures_.end()) return Error{it->second};
    return std::nullopt;
  }
  std::mutex mu_;
  std::map<std::string, std::string> failures_;
};

}  // namespace cf::testing
