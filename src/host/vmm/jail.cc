#include "host/vmm/jail.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <functional>
#include <set>

#include "core/sys.h"
#include "core/text.h"
#include "host/vmm/launch.h"

namespace cf::host {
namespace {

namespace fs = std::filesystem;

// What the VMM writes in its root and keeps across starts.
const std::set<std::string> kKept = {"vmm.log", "metrics.json"};

bool is_within(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/';
}

// `dir`, created when missing, with exactly this owner and mode; never a link.
Status own_dir(const std::string& dir, uid_t uid, gid_t gid, mode_t mode) {
  if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) return sys_error("cannot create directory", dir);
  struct stat st;
  if (::lstat(dir.c_str(), &st) != 0) return sys_error("cannot inspect", dir);
  if (!S_ISDIR(st.st_mode)) return Error{dir + " is not a directory"};
  if ((st.st_uid != uid || st.st_gid != gid) && ::lchown(dir.c_str(), uid, gid) != 0)
    return sys_error("cannot chown", dir);
  if ((st.st_mode & 07777) != mode && ::chmod(dir.c_str(), mode) != 0) return sys_error("cannot chmod", dir);
  return {};
}

// Removes every entry of `dir` but `keep` (links are removed, never followed).
Status clear_dir(const std::string& dir, const std::function<bool(const fs::directory_entry&)>& keep) {
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (keep(*it)) continue;
    fs::remove_all(it->path(), ec);
    if (ec) return Error{"cannot remove " + it->path().string() + ": " + ec.message()};
  }
  if (ec) return Error{"cannot list " + dir + ": " + ec.message()};
  return {};
}

}  // namespace

std::string Jail::inside(const std::string& host_path) const {
  for (const auto& [from, to] : links)
    if (from == host_path) return to;
  if (is_within(host_path, root)) return host_path.substr(root.size());
  return host_path;
}

std::string jail_root(const std::string& state_root, const std::string& vmm_binary, const std::string& instance) {
  // The jailer's own layout: <base>/<file name of the VMM>/<id>/root.
  return paths_for(state_root, instance).dir + "/jail/" + base_of(vmm_binary) + "/" + instance + "/root";
}

std::string jail_root(const model::Host& host, const std::string& instance) {
  if (host.vmm.kind != model::VmmKind::Firecracker || host.vmm.jailer.empty()) return "";
  return jail_root(host.state_root, host.vmm.binary, instance);
}

Jail jail_for(const model::Host& host, const model::Instance& instance, bool data_disk) {
  const InstancePaths p = paths_for(host.state_root, instance.name);
  Jail j{p.dir + "/jail", jail_root(host, instance.name), {}};
  const model::Image& image = host.images.at(instance.image);
  j.links = {{image.kernel, "/kernel"}};
  if (image.initrd && !image.initrd->empty()) j.links.emplace_back(*image.initrd, "/initrd");
  j.links.insert(j.links.end(), {{p.rootfs, kJailRootfs}, {p.seed, "/seed.img"}});
  if (data_disk) j.links.emplace_back(p.data, kJailData);
  j.links.emplace_back(p.vmm_config, "/vmm-config.json");
  return j;
}

Status check_jail(const Jail& j, const std::string& instance_dir) {
  if (j.base != instance_dir + "/jail" || !is_clean_absolute_path(j.root) || !is_within(j.root, j.base))
    return Error{"jail: base or root is not the instance's"};
  for (const auto& [from, to] : j.links) {
    const std::string name = to.empty() ? "" : to.substr(1);
    if (!is_clean_absolute_path(from) || to.empty() || to[0] != '/' || name.empty() ||
        name.find('/') != std::string::npos || name == "." || name == ".." || kKept.count(name) || name == "dev" ||
        name == "run")
      return Error{"jail: link \"" + from + "\" -> \"" + to + "\" is malformed"};
  }
  return {};
}

Status prepare_jail(const Jail& j, std::uint32_t uid) {
  const std::string instance_dir = dir_of(j.base);
  if (auto s = check_jail(j, instance_dir); !s) return s;
  // base/<VMM file name>/<instance>: each root's, passable by the group;
  // what an older layout left beside them (another VMM file name) goes.
  std::vector<std::string> chain;
  for (std::string d = dir_of(j.root); d != instance_dir; d = dir_of(d)) chain.insert(chain.begin(), d);
  for (std::size_t i = 0; i < chain.size(); ++i) {
    if (auto s = own_dir(chain[i], 0, uid, 0710); !s) return s;
    const std::string next = i + 1 < chain.size() ? chain[i + 1] : j.root;
    if (auto s = clear_dir(chain[i], [&](const fs::directory_entry& e) { return e.path() == next; }); !s) return s;
  }
  // Root's until the jailer gives it to the VMM's user.
  if (auto s = own_dir(j.root, 0, 0, 0700); !s) return s;
  if (auto s = clear_dir(j.root,
                         [](const fs::directory_entry& e) {
                           std::error_code ec;
                           return kKept.count(e.path().filename()) &&
                                  e.symlink_status(ec).type() == fs::file_type::regular;
                         });
      !s)
    return s;
  for (const auto& [from, to] : j.links) {
    const std::string target = j.root + to;
    if (::linkat(AT_FDCWD, from.c_str(), AT_FDCWD, target.c_str(), AT_SYMLINK_FOLLOW) == 0) continue;
    // The instance's own files are on the jail's filesystem; an image may
    // not be (a mount of its own below the image root): a copy serves.
    if (errno != EXDEV || is_within(from, instance_dir))
      return sys_error("cannot link " + from + " into the jail as", target);
    std::error_code ec;
    fs::copy_file(from, target, ec);
    if (!ec) fs::permissions(target, fs::perms(0644), ec);
    if (ec) return Error{"cannot copy " + from + " into the jail as " + target + ": " + ec.message()};
  }
  return {};
}

}  // namespace cf::host
