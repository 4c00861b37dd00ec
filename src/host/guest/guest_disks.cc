#include "host/guest/guest_disks.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <vector>

#include "core/sys.h"
#include "host/platform/process.h"
#include "host/state/files.h"
#include "model/instance_dir.h"

namespace cf::host {
namespace {

constexpr std::size_t kMaxToolOutput = 16 * 1024;
constexpr auto kToolTimeout = std::chrono::seconds(60);

// Copies only the data extents of `in` (holes stay holes in `out`).
Status sparse_copy(int in, int out, std::uint64_t size, const std::string& base) {
  auto extents = data_extents(in, size, base);
  if (!extents) return extents.error();
  bool use_copy_range = true;
  std::vector<char> buf(1 << 20);
  for (const Extent& e : extents.value()) {
    off_t from = static_cast<off_t>(e.offset), to = from;
    const off_t hole = static_cast<off_t>(e.offset + e.length);
    while (from < hole) {
      ssize_t n =
          use_copy_range ? ::copy_file_range(in, &from, out, &to, static_cast<std::size_t>(hole - from), 0) : -1;
      if (n < 0 && use_copy_range && errno == EINTR) continue;
      // Across filesystems (overlayfs, older kernels) copy_file_range
      // refuses: copy through a buffer instead.
      if (n < 0 && use_copy_range && (errno == EXDEV || errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL)) {
        use_copy_range = false;
        continue;
      }
      if (n < 0 && use_copy_range) return sys_error("cannot copy", base);
      if (!use_copy_range) {
        n = ::pread(in, buf.data(), std::min<std::size_t>(buf.size(), static_cast<std::size_t>(hole - from)), from);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sys_error("cannot read", base);
        for (ssize_t done = 0; done < n;) {
          ssize_t w = ::pwrite(out, buf.data() + done, static_cast<std::size_t>(n - done), to + done);
          if (w < 0 && errno == EINTR) continue;
          if (w < 0) return sys_error("cannot write a copy of", base);
          done += w;
        }
        from += n;
        to += n;
      }
      if (n == 0) break;
    }
  }
  return {};
}

// Runs argv (no shell) and returns its output; an error with the tail of
// its output when it fails or runs longer than kToolTimeout.
Result<std::string> run_tool(const std::vector<std::string>& argv) {
  auto ran = run_process(argv, kToolTimeout, kMaxToolOutput);
  if (!ran) return ran.error();
  const ProcessResult& r = ran.value();
  auto tail = [&] {
    std::string t = r.output.size() > 2000 ? r.output.substr(r.output.size() - 2000) : r.output;
    while (!t.empty() && (t.back() == '\n' || t.back() == ' ')) t.pop_back();
    return t.empty() ? std::string() : ": " + t;
  };
  if (r.timed_out)
    return Error{argv[0] + " ran longer than " + std::to_string(kToolTimeout.count()) + " s and was killed"};
  if (r.exited && r.exit_status == 127) return Error{argv[0] + " is not installed (Debian package genisoimage)"};
  if (!r.exited || r.exit_status != 0) return Error{argv[0] + " failed (" + describe_end(r) + ")" + tail()};
  return r.output;
}

class RealGuestDisks : public GuestDisks {
 public:
  explicit RealGuestDisks(std::string genisoimage) : genisoimage_(std::move(genisoimage)) {}

  Result<std::optional<std::uint64_t>> size(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      if (errno == ENOENT) return std::optional<std::uint64_t>();
      return sys_error("cannot stat", path);
    }
    if (!S_ISREG(st.st_mode)) return Error{"not a regular file: " + path};
    return std::optional<std::uint64_t>(static_cast<std::uint64_t>(st.st_size));
  }

  Status clone(const std::string& base, const std::string& dest, std::uint64_t bytes) override {
    if (auto s = remove_stale_temp_files(dir_of(dest)); !s) return s;
    Fd in(::open(base.c_str(), O_RDONLY | O_CLOEXEC));
    if (in.get() < 0) return sys_error("cannot open the image's rootfs", base);
    struct stat st;
    if (::fstat(in.get(), &st) != 0) return sys_error("cannot stat", base);
    if (!S_ISREG(st.st_mode)) return Error{"the image's rootfs is not a regular file: " + base};
    const auto base_size = static_cast<std::uint64_t>(st.st_size);
    if (base_size > bytes)
      return Error{"the image's rootfs " + base + " (" + std::to_string(base_size) +
                   " bytes) is larger than the instance's disk (" + std::to_string(bytes) + " bytes)"};
    const std::string tmp = temp_path_for(dest);
    Fd out;
    if (auto s = open_temp(tmp, dest, out); !s) return s;
    auto fail = [&](Error e) {
      ::unlink(tmp.c_str());
      return e;
    };
    // A reflink shares the base's blocks (XFS, Btrfs); elsewhere a sparse copy.
    if (::ioctl(out.get(), FICLONE, in.get()) != 0) {
      if (errno != EOPNOTSUPP && errno != EXDEV && errno != EINVAL && errno != ENOTTY && errno != EPERM)
        return fail(sys_error("cannot clone " + base + " to", tmp));
      if (auto s = sparse_copy(in.get(), out.get(), base_size, base); !s) return fail(s.error());
    }
    return finish(out, tmp, dest, bytes);
  }

  Status create_empty(const std::string& dest, std::uint64_t bytes) override {
    if (auto s = remove_stale_temp_files(dir_of(dest)); !s) return s;
    const std::string tmp = temp_path_for(dest);
    Fd out;
    if (auto s = open_temp(tmp, dest, out); !s) return s;
    return finish(out, tmp, dest, bytes);
  }

  Status remove(const std::string& path) override {
    for (const std::string& p : {path, digest_path(path)})
      if (::unlink(p.c_str()) != 0 && errno != ENOENT) return sys_error("cannot remove", p);
    return sync_dir(dir_of(path));
  }

  Status keep(const std::string& path, const std::string& kept) override {
    if (dir_of(path) != dir_of(kept)) return Error{"cannot keep " + path + " in another directory: " + kept};
    for (const auto& [from, to] : {std::pair{digest_path(path), digest_path(kept)}, std::pair{path, kept}}) {
      if (::unlink(to.c_str()) != 0 && errno != ENOENT) return sys_error("cannot remove", to);
      if (::link(from.c_str(), to.c_str()) != 0 && errno != ENOENT) return sys_error("cannot keep " + from + " as", to);
    }
    return sync_dir(dir_of(kept));
  }

  Status move(const std::string& from, const std::string& to) override {
    if (dir_of(from) != dir_of(to)) return Error{"cannot move " + from + " to another directory: " + to};
    // The digest first: a kill between the two leaves a seed without its
    // record, which is written again, never one with another's.
    auto moved = rename_over(digest_path(from), digest_path(to));
    if (!moved) return moved.error();
    if (!moved.value())
      if (::unlink(digest_path(to).c_str()) != 0 && errno != ENOENT) return sys_error("cannot remove", digest_path(to));
    if (auto s = rename_over(from, to); !s) return s.error();
    return sync_dir(dir_of(to));
  }

  // rename(2), also when both names are links to one file (kept and never
  // replaced), where rename does nothing; false when `from` does not exist.
  static Result<bool> rename_over(const std::string& from, const std::string& to) {
    struct stat a, b;
    if (::stat(from.c_str(), &a) != 0) {
      if (errno == ENOENT) return false;
      return sys_error("cannot stat", from);
    }
    if (::stat(to.c_str(), &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
      if (::unlink(from.c_str()) != 0) return sys_error("cannot remove", from);
      return true;
    }
    if (::rename(from.c_str(), to.c_str()) != 0) return sys_error("cannot rename", from);
    return true;
  }

  Status grow(const std::string& path, std::uint64_t bytes) override {
    auto current = size(path);
    if (!current) return current.error();
    if (!current.value()) return Error{"cannot grow " + path + ": it does not exist"};
    if (*current.value() > bytes)
      return Error{"cannot shrink " + path + " from " + std::to_string(*current.value()) + " to " +
                   std::to_string(bytes) + " bytes"};
    if (*current.value() == bytes) return {};
    Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW));
    if (fd.get() < 0) return sys_error("cannot open", path);
    if (::ftruncate(fd.get(), static_cast<off_t>(bytes)) != 0) return sys_error("cannot grow", path);
    if (::fsync(fd.get()) != 0) return sys_error("cannot sync", path);
    return {};
  }

  Result<std::optional<std::string>> seed_digest_of(const std::string& path) override {
    auto seed = size(path);
    if (!seed) return seed.error();
    if (!seed.value()) return std::optional<std::string>();
    Fd fd(::open(digest_path(path).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (fd.get() < 0) {
      if (errno == ENOENT) return std::optional<std::string>();
      return sys_error("cannot open", digest_path(path));
    }
    char buf[128];
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) return sys_error("cannot read", digest_path(path));
    std::string d(buf, static_cast<std::size_t>(n));
    while (!d.empty() && d.back() == '\n') d.pop_back();
    return std::optional<std::string>(d);
  }

  Status write_seed(const std::string& path, const SeedFiles& files) override {
    const std::string dir = dir_of(path);
    if (auto s = remove_stale_temp_files(dir); !s) return s;
    const std::pair<const char*, const std::string*> parts[] = {
        {"meta-data", &files.meta_data}, {"user-data", &files.user_data}, {"network-config", &files.network_config}};
    std::vector<std::string> sources;
    auto cleanup = [&] {
      for (const auto& s : sources) ::unlink(s.c_str());
    };
    std::vector<std::string> argv = {genisoimage_, "-quiet",  "-output", temp_path_for(path), "-volid",
                                     "cidata",     "-joliet", "-rock",   "-graft-points"};
    for (const auto& [name, content] : parts) {
      // Beside the seed, in the instance's directory, root's alone (0600):
      // they hold secrets.
      const std::string src = temp_path_for(dir + "/" + name);
      sources.push_back(src);
      if (auto s = write_file_atomic(src, *content, 0600); !s) {
        cleanup();
        return s;
      }
      argv.push_back(std::string(name) + "=" + src);
    }
    auto ran = run_tool(argv);
    cleanup();
    if (!ran) {
      ::unlink(temp_path_for(path).c_str());
      return Error{"cannot write the seed " + path + ": " + ran.error().message};
    }
    // genisoimage creates its output with the umask's mode: set it and the
    // group of the seed it replaces (the VMM's may read it) before the
    // rename makes it visible.
    {
      Fd out(::open(temp_path_for(path).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
      Status set = out.get() < 0 ? Status{sys_error("cannot open", temp_path_for(path))} : Status{};
      if (set && ::fchmod(out.get(), model::instance_file_mode(base_of(path))) != 0)
        set = sys_error("cannot chmod", temp_path_for(path));
      if (set) set = keep_group_of(out.get(), temp_path_for(path), path);
      if (!set) {
        ::unlink(temp_path_for(path).c_str());
        return set;
      }
    }
    if (::rename(temp_path_for(path).c_str(), path.c_str()) != 0) {
      Error e = sys_error("cannot rename " + temp_path_for(path) + " to", path);
      ::unlink(temp_path_for(path).c_str());
      return e;
    }
    return write_file_atomic(digest_path(path), seed_digest(files) + "\n", 0600);
  }

 private:
  // dest's temporary file, new, with dest's mode (the VMM's group may write
  // a disk: model/instance_dir.h).
  static Status open_temp(const std::string& tmp, const std::string& dest, Fd& out) {
    const mode_t mode = model::instance_file_mode(base_of(dest));
    out.reset(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode));
    if (out.get() < 0) return sys_error("cannot create", tmp);
    if (::fchmod(out.get(), mode) != 0) {
      Error e = sys_error("cannot chmod", tmp);
      ::unlink(tmp.c_str());
      return e;
    }
    return {};
  }

  // The temporary file `tmp` sized to `bytes`, synced and renamed to dest:
  // dest exists only complete. `tmp` is removed on failure.
  static Status finish(Fd& out, const std::string& tmp, const std::string& dest, std::uint64_t bytes) {
    auto fail = [&](Error e) {
      ::unlink(tmp.c_str());
      return e;
    };
    if (::ftruncate(out.get(), static_cast<off_t>(bytes)) != 0) return fail(sys_error("cannot grow", tmp));
    if (::fsync(out.get()) != 0) return fail(sys_error("cannot sync", tmp));
    if (::close(out.release()) != 0) return fail(sys_error("cannot close", tmp));
    if (::rename(tmp.c_str(), dest.c_str()) != 0) return fail(sys_error("cannot rename " + tmp + " to", dest));
    return sync_dir(dir_of(dest));
  }
  static std::string digest_path(const std::string& seed) { return seed + ".digest"; }

  static Status sync_dir(const std::string& dir) {
    Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0) return sys_error("cannot open directory", dir);
    if (::fsync(fd.get()) != 0) return sys_error("cannot sync directory", dir);
    return {};
  }

  std::string genisoimage_;
};

}  // namespace

std::unique_ptr<GuestDisks> real_guest_disks(std::string genisoimage) {
  return std::make_unique<RealGuestDisks>(std::move(genisoimage));
}

}  // namespace cf::host
