// In-memory FileReader that records every call (ninja's VirtualFileSystem).
#pragma once

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <sys/stat.h>

#include "core/fs.h"

namespace cf::testing {

class FakeFileReader : public FileReader {
 public:
  // Adds a regular file; its directory exists from then on.
  void file(const std::string& path, std::string content) {
    files_[path] = std::move(content);
    dirs_.insert(path.substr(0, path.rfind('/')));
  }
  void dir(const std::string& path) { dirs_.insert(path); }
  // Removes a file (its directory stays, as on a disk).
  void remove(const std::string& path) { files_.erase(path); }
  bool has(const std::string& path) const { return files_.count(path) > 0; }
  // Every file whose path starts with prefix.
  std::vector<std::string> under(const std::string& prefix) const {
    std::vector<std::string> out;
    for (const auto& [path, _] : files_)
      if (path.rfind(prefix, 0) == 0) out.push_back(path);
    return out;
  }
  // A directory entry that is not a regular file, as DirEntry::type says.
  void other(const std::string& path, std::string type = "a directory") {
    others_[path] = std::move(type);
    dirs_.insert(path.substr(0, path.rfind('/')));
  }
  // A symlink at `path` to the absolute path `target` (a file, a directory,
  // or nothing: dangling).
  void link(const std::string& path, const std::string& target) {
    links_[path] = target;
    dirs_.insert(path.substr(0, path.rfind('/')));
  }

  Result<std::vector<DirEntry>> list_dir(const std::string& dir) override {
    calls.push_back("list_dir " + dir);
    const std::string real = resolve(dir);
    if (!dirs_.count(real)) return Error{"cannot open directory " + dir + ": No such file or directory"};
    std::vector<DirEntry> out;
    for_children(files_, real, [&](const std::string& name, const auto&) { out.push_back({name, true, false, ""}); });
    for_children(others_, real, [&](const std::string& name, const auto& entry) {
      out.push_back({name, false, false, entry.second});
    });
    for_children(links_, real, [&](const std::string& name, const auto& entry) {
      const std::string target = resolve(entry.first);
      DirEntry e{name, files_.count(target) > 0, true, ""};
      if (!e.regular)
        e.type = others_.count(target) ? others_[target] : dirs_.count(target) ? "a directory" : "a dangling symlink";
      out.push_back(std::move(e));
    });
    // Reverse order: callers must sort, not trust the listing.
    std::reverse(out.begin(), out.end());
    return out;
  }

  Result<std::string> read_file(const std::string& path, std::size_t max_bytes) override {
    calls.push_back("read_file " + path);
    auto it = files_.find(resolve(path));
    if (it == files_.end()) return Error{"cannot open " + path + ": No such file or directory"};
    if (it->second.size() > max_bytes)
      return Error{path + ": file is larger than the limit of " + std::to_string(max_bytes) + " bytes"};
    return it->second;
  }

  Result<std::string> canonical(const std::string& path) override {
    calls.push_back("canonical " + path);
    const std::string real = resolve(path);
    if (!files_.count(real) && !dirs_.count(real) && !others_.count(real))
      return Error{"cannot resolve " + path + ": No such file or directory"};
    return real;
  }

  // status(): files are root's 0600, directories root's 0755, unless set here.
  void mode(const std::string& path, unsigned uid, unsigned permissions) { modes_[path] = {uid, permissions}; }
  // status(): a file's size is its content's, its mtime 0, unless set here.
  void stat_as(const std::string& path, std::uint64_t size, std::int64_t mtime_ns) { stats_[path] = {size, mtime_ns}; }
  Result<FileStatus> status(const std::string& path) override {
    const std::string real = resolve(path);
    unsigned type = 0, permissions = 0600;
    if (files_.count(real)) {
      type = S_IFREG;
    } else if (others_.count(real)) {
      type = others_.at(real) == "a FIFO" ? S_IFIFO : S_IFDIR;
      permissions = 0755;
    } else if (real == "/" || dirs_.count(real) || has_below(real)) {
      type = S_IFDIR;
      permissions = 0755;
    } else {
      return Error{"cannot stat " + path + ": No such file or directory"};
    }
    FileStatus st{0, type | permissions, 0, 0};
    if (auto it = modes_.find(real); it != modes_.end()) st = {it->second.first, type | it->second.second, 0, 0};
    if (auto f = files_.find(real); f != files_.end()) st.size = f->second.size();
    if (auto s = stats_.find(real); s != stats_.end()) std::tie(st.size, st.mtime_ns) = s->second;
    return st;
  }

  std::vector<std::string> calls;

 private:
  std::map<std::string, std::pair<unsigned, unsigned>> modes_;           // path -> uid, permissions
  std::map<std::string, std::pair<std::uint64_t, std::int64_t>> stats_;  // path -> size, mtime
  // Sorted keys: what lies below `dir` starts at the first key from
  // "dir/" on (logarithmic, so the fake is not what a benchmark at
  // thousands of instances measures).
  template <class Keys>
  static bool any_below(const Keys& keys, const std::string& dir) {
    const std::string prefix = dir + "/";
    auto it = keys.lower_bound(prefix);
    return it != keys.end() && key_of(*it).compare(0, prefix.size(), prefix) == 0;
  }
  bool has_below(const std::string& dir) const { return any_below(files_, dir) || any_below(dirs_, dir); }
  static const std::string& key_of(const std::string& k) { return k; }
  template <class V>
  static const std::string& key_of(const std::pair<const std::string, V>& e) {
    return e.first;
  }
  // Calls f(name, entry) for each key directly in `dir`.
  template <class Map, class F>
  static void for_children(const Map& m, const std::string& dir, F&& f) {
    const std::string prefix = dir + "/";
    for (auto it = m.lower_bound(prefix); it != m.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
      if (it->first.find('/', prefix.size()) == std::string::npos) f(it->first.substr(prefix.size()), *it);
  }

  std::map<std::string, std::string> files_;
  std::set<std::string> dirs_;
  std::map<std::string, std::string> others_;  // path -> DirEntry::type
  std::map<std::string, std::string> links_;   // path -> target

  // `path` with every symlink among its leading components replaced.
  std::string resolve(std::string path) const {
    for (int hops = 0; hops < 40; ++hops) {
      bool replaced = false;
      for (const auto& [link, target] : links_)
        if (path == link || path.rfind(link + "/", 0) == 0) {
          path = target + path.substr(link.size());
          replaced = true;
          break;
        }
      if (!replaced) break;
    }
    return path;
  }
};

}  // namespace cf::testing
