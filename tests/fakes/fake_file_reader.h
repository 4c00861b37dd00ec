// In-memory FileReader that records every call (ninja's VirtualFileSystem).
#pragma once

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

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
  // A directory entry that is not a regular file (a subdirectory, a socket).
  void other(const std::string& path) {
    others_.insert(path);
    dirs_.insert(path.substr(0, path.rfind('/')));
  }

  Result<std::vector<DirEntry>> list_dir(const std::string& dir) override {
    calls.push_back("list_dir " + dir);
    if (!dirs_.count(dir)) return Error{"cannot open directory " + dir + ": No such file or directory"};
    std::vector<DirEntry> out;
    for (const auto& [path, _] : files_)
      if (path.substr(0, path.rfind('/')) == dir) out.push_back({path.substr(path.rfind('/') + 1), true});
    for (const auto& path : others_)
      if (path.substr(0, path.rfind('/')) == dir) out.push_back({path.substr(path.rfind('/') + 1), false});
    // Reverse order: callers must sort, not trust the listing.
    std::reverse(out.begin(), out.end());
    return out;
  }

  Result<std::string> read_file(const std::string& path, std::size_t max_bytes) override {
    calls.push_back("read_file " + path);
    auto it = files_.find(path);
    if (it == files_.end()) return Error{"cannot open " + path + ": No such file or directory"};
    if (it->second.size() > max_bytes)
      return Error{path + ": file is larger than the limit of " + std::to_string(max_bytes) + " bytes"};
    return it->second;
  }

  std::vector<std::string> calls;

 private:
  std::map<std::string, std::string> files_;
  std::set<std::string> dirs_;
  std::set<std::string> others_;
};

}  // namespace cf::testing
