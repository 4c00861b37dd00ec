#include "manifest/trust.h"

#include <sys/stat.h>

#include <cstdio>
#include <set>
#include <tuple>

#include "core/text.h"

namespace cf::manifest {
namespace {

// Directories that belong to the system or to other users, with all below
// them: a state root there would mix clawfleet's files with theirs, and
// its images/ could name a file root keeps from everyone (a host key, the
// credential store's key).
constexpr std::string_view kSystemTrees[] = {"/bin",
                                             "/boot",
                                             "/dev",
                                             "/etc",
                                             "/home",
                                             "/lib",
                                             "/lib32",
                                             "/lib64",
                                             "/libx32",
                                             "/proc",
                                             "/root",
                                             "/run",
                                             "/sbin",
                                             "/sys",
                                             "/tmp",
                                             "/usr",
                                             "/var/backups",
                                             "/var/log",
                                             "/var/mail",
                                             "/var/spool",
                                             "/var/tmp",
                                             "/var/lib/private",
                                             "/var/lib/systemd",
                                             "/var/cache/private"};
// Shared parents: fine to hold a state root, never to be one.
constexpr std::string_view kSharedParents[] = {"/",          "/var", "/var/lib", "/var/cache", "/var/opt",
                                               "/var/local", "/srv", "/opt",     "/mnt",       "/media"};

std::string basename_of(const std::string& path) { return path.substr(path.rfind('/') + 1); }
std::string dirname_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string listed(const std::string_view* first, const std::string_view* last) {
  std::string out;
  for (auto it = first; it != last; ++it) out += std::string(out.empty() ? "" : ", ") + std::string(*it);
  return out;
}

}  // namespace

bool is_within(std::string_view path, std::string_view dir) {
  if (dir == "/") return !path.empty() && path[0] == '/';
  return path.substr(0, dir.size()) == dir && (path.size() == dir.size() || path[dir.size()] == '/');
}

namespace {

// Directly in one of kVmmDirectories (`the` names it there), its file name
// starting with `prefix` (`whose` names it there).
std::optional<std::string> program_rule(const std::string& the, const std::string& whose, const std::string& prefix,
                                        const std::string& path) {
  const std::string dir = dirname_of(path);
  bool in_place = false;
  for (auto d : kVmmDirectories) in_place = in_place || dir == d;
  if (!in_place)
    return the + " must lie directly in one of " + listed(std::begin(kVmmDirectories), std::end(kVmmDirectories)) +
           " (only root installs there), got " + path;
  if (basename_of(path).rfind(prefix, 0) != 0) return whose + " file name starts with \"" + prefix + "\", got " + path;
  return std::nullopt;
}

}  // namespace

std::optional<std::string> vmm_binary_rule(model::VmmKind kind, const std::string& path) {
  return program_rule("the VMM", "a " + std::string(model::to_string(kind)) + " VMM's",
                      kind == model::VmmKind::Firecracker ? "firecracker" : "qemu-system-", path);
}

std::optional<std::string> jailer_rule(const std::string& path) {
  return program_rule("the jailer", "the jailer's", "jailer", path);
}

std::optional<std::string> state_root_rule(const std::string& path) {
  for (auto tree : kSystemTrees)
    if (is_within(path, tree))
      return path + " lies in the system directory " + std::string(tree) +
             "; the state root must be a directory of clawfleet's own, such as /var/lib/clawfleet";
  for (auto parent : kSharedParents)
    if (path == parent)
      return path +
             " is a shared system directory; the state root must be a directory of clawfleet's own below "
             "it, such as " +
             (path == "/" ? std::string("/var/lib") : path) + "/clawfleet";
  return std::nullopt;
}

std::optional<std::string> image_rule(const std::string& state_root, const std::string& path) {
  const std::string root = state_root + "/images";
  if (!is_within(path, root) || path == root)
    return path + " is outside the image root " + root +
           "/ (images lie under the state root's images directory; install them there)";
  return std::nullopt;
}

std::optional<std::string> secret_root_rule(const std::string& path) {
  for (auto parent : kSecretRootParents)
    if (is_within(path, parent)) return std::nullopt;
  return path + " is not below " + listed(std::begin(kSecretRootParents), std::end(kSecretRootParents)) +
         " (secret roots hold only what root gives clawfleet)";
}

std::optional<std::string> secret_file_rule(const std::vector<std::string>& roots, const std::string& path) {
  for (const auto& root : roots)
    if (is_within(path, root) && path != root) return std::nullopt;
  return "lies outside the secret roots (" + join(roots, ", ") + "; the Host's spec.secretRoots)";
}

namespace {

std::string octal(unsigned mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
  return buf;
}

// Every directory above `path`, nearest last: "/", "/a", "/a/b".
void add_parents(const std::string& path, std::set<std::string>& out) {
  for (std::size_t slash = path.find('/', 1); slash != std::string::npos; slash = path.find('/', slash + 1))
    out.insert(path.substr(0, slash));
  out.insert("/");
}

// Root alone may change it: owned by root, not writable by group or others.
std::optional<std::string> root_only(const std::string& what, const FileStatus& st) {
  if (st.uid != 0) return what + " is owned by uid " + std::to_string(st.uid) + ", not root";
  if (st.mode & 022) return what + " is writable by group or others (mode " + octal(st.mode) + ")";
  return std::nullopt;
}

}  // namespace

std::optional<std::string> host_file_rule(FileReader& fs, const std::string& path, bool secret) {
  auto real = fs.canonical(path);
  if (!real) return std::nullopt;
  auto st = fs.status(real.value());
  if (!st) return std::nullopt;
  const std::string& file = real.value();
  if (!S_ISREG(st.value().mode)) return file + " is not a regular file";
  if (auto rule = root_only(file, st.value())) return rule;
  if (secret && (st.value().mode & 004))
    return file + " is readable by others (mode " + octal(st.value().mode) + "; chmod o-r it)";
  std::set<std::string> dirs;
  add_parents(path, dirs);
  add_parents(file, dirs);
  for (const auto& dir : dirs) {
    auto d = fs.status(dir);
    if (!d) return d.error().message;
    if (auto rule = root_only("directory " + dir, d.value())) return rule;
  }
  return std::nullopt;
}

std::optional<std::string> host_vmm_file_rule(FileReader& fs, const std::string& path, bool execute,
                                              const std::string& state_root) {
  auto real = fs.canonical(path);
  if (!real) return std::nullopt;
  auto st = fs.status(real.value());
  if (!st) return std::nullopt;
  const std::string& file = real.value();
  const unsigned bit = execute ? 001 : 004;
  if (!(st.value().mode & bit))
    return file + " is not " + (execute ? "executable" : "readable") + " by others (mode " + octal(st.value().mode) +
           "), and the VMM " + (execute ? "runs" : "reads") + " it as a user of its own: chmod o+" +
           (execute ? "x" : "r") + " it";
  std::set<std::string> dirs;
  add_parents(path, dirs);
  add_parents(file, dirs);
  dirs.erase(state_root);
  if (auto root = fs.canonical(state_root)) dirs.erase(root.value());
  for (const auto& dir : dirs) {
    auto d = fs.status(dir);
    if (!d) return d.error().message;
    if (!(d.value().mode & 001))
      return "directory " + dir + " cannot be passed by others (mode " + octal(d.value().mode) +
             "), and the VMM opens " + file + " as a user of its own: chmod o+x it";
  }
  return std::nullopt;
}

std::optional<std::string> host_state_root_rule(FileReader& fs, const std::string& path) {
  auto real = fs.canonical(path);
  if (!real) return std::nullopt;
  std::set<std::string> dirs{real.value()};
  add_parents(path, dirs);
  add_parents(real.value(), dirs);
  for (const auto& dir : dirs) {
    auto d = fs.status(dir);
    if (!d) return d.error().message;
    if (!S_ISDIR(d.value().mode)) return dir + " is not a directory";
    if (auto rule = root_only("directory " + dir, d.value())) return rule;
  }
  return std::nullopt;
}

std::string said_of(const std::string& what, const std::string& path, const std::string& rule) {
  if (rule.rfind(path + " ", 0) == 0) return what + rule.substr(path.size());
  return what + ": " + rule;
}

void check_host_files(const model::Host& host, const std::map<std::string, Location>& origins, const Location& fallback,
                      FileReader& fs, Diagnostics& diags) {
  // The VMM opens the binary, kernels and initrds itself (vmm: read, or
  // run); clawfleet copies the root filesystems as root.
  enum class Vmm { No, Reads, Runs };
  const auto check = [&](const std::string& path, const std::string& field, Vmm vmm) {
    auto at = origins.find(path);
    const Location& where = at == origins.end() ? fallback : at->second;
    if (auto rule = host_file_rule(fs, path, false))
      diags.error(where, field, *rule + "; only root may control what clawfleet runs or boots");
    else if (vmm != Vmm::No)
      if (auto access = host_vmm_file_rule(fs, path, vmm == Vmm::Runs, host.state_root))
        diags.error(where, field, *access);
  };
  if (auto rule = host_state_root_rule(fs, host.state_root)) {
    auto at = origins.find(host.state_root);
    diags.error(at == origins.end() ? fallback : at->second, "spec.stateRoot",
                *rule + "; only root may control where clawfleet keeps instances and images");
  }
  check(host.vmm.binary, "spec.vmm.binary", Vmm::Runs);
  if (!host.vmm.jailer.empty()) {
    // Root runs it, so only root's rule.
    check(host.vmm.jailer, "spec.vmm.jailer", Vmm::No);
    // The jailer names the chroot after the real file's name, and clawfleet
    // lays the chroot out before it starts (host/vmm/jail.h).
    if (auto real = fs.canonical(host.vmm.binary); real && basename_of(real.value()) != basename_of(host.vmm.binary)) {
      auto at = origins.find(host.vmm.binary);
      diags.error(at == origins.end() ? fallback : at->second, "spec.vmm.binary",
                  host.vmm.binary + " is a link to " + real.value() +
                      ", and the jailer names its chroot after the file it copies: name the file itself");
    }
  }
  std::set<std::string> seen;
  for (const auto& [name, image] : host.images)
    for (const auto& [key, path, vmm] : {std::tuple<const char*, std::string, Vmm>{"kernel", image.kernel, Vmm::Reads},
                                         {"rootfs", image.rootfs, Vmm::No},
                                         {"initrd", image.initrd.value_or(""), Vmm::Reads}})
      if (!path.empty() && seen.insert(path).second) check(path, "spec.images." + name + "." + key, vmm);
}

}  // namespace cf::manifest
