#include "host/backup/archive.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <zstd.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "core/sha256.h"
#include "core/sys.h"

namespace cf::host {
namespace {

constexpr std::size_t kChunk = 1 << 20;
// A file system hands out extents of at least a block; more than this many
// is not a disk clawfleet made.
constexpr std::uint64_t kMaxExtents = 1u << 24;
constexpr int kCompressionLevel = 3;

std::string hex(const std::array<std::uint8_t, 32>& d) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (auto b : d) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}
std::uint64_t get_u64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// Compresses everything written to it into `fd`, hashing what it was given.
class Deflater {
 public:
  Deflater(int fd, std::string path) : fd_(fd), path_(std::move(path)), ctx_(ZSTD_createCCtx()), out_(kChunk) {
    ZSTD_CCtx_setParameter(ctx_, ZSTD_c_compressionLevel, kCompressionLevel);
    ZSTD_CCtx_setParameter(ctx_, ZSTD_c_checksumFlag, 1);
  }
  ~Deflater() { ZSTD_freeCCtx(ctx_); }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  Status write(std::string_view data) {
    sha_.update(data);
    return pump(data, ZSTD_e_continue);
  }
  // The checksum line, then the end of the frame.
  Status finish() {
    const std::string line = nlohmann::json{{"sha256", hex(sha_.finish())}}.dump() + "\n";
    return pump(line, ZSTD_e_end);
  }

 private:
  Status pump(std::string_view data, ZSTD_EndDirective mode) {
    ZSTD_inBuffer in{data.data(), data.size(), 0};
    for (;;) {
      ZSTD_outBuffer out{out_.data(), out_.size(), 0};
      const std::size_t left = ZSTD_compressStream2(ctx_, &out, &in, mode);
      if (ZSTD_isError(left)) return Error{"cannot compress " + path_ + ": " + ZSTD_getErrorName(left)};
      if (out.pos > 0)
        if (auto s = write_all(fd_, std::string(out_.data(), out.pos), path_); !s) return s;
      if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size) return {};
    }
  }

  int fd_;
  std::string path_;
  ZSTD_CCtx* ctx_;
  std::vector<char> out_;
  Sha256 sha_;
};

// The decompressed bytes of an archive, read on demand, hashed as they are
// consumed until the checksum line.
class Inflater {
 public:
  Inflater(int fd, std::string path) : fd_(fd), path_(std::move(path)), ctx_(ZSTD_createDCtx()), in_(kChunk) {}
  ~Inflater() { ZSTD_freeDCtx(ctx_); }
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Exactly n bytes, or an error (a truncated archive).
  Status read(char* dst, std::size_t n) {
    while (n > 0) {
      if (pos_ == buf_.size())
        if (auto s = fill(); !s) return s;
      const std::size_t take = std::min(n, buf_.size() - pos_);
      std::memcpy(dst, buf_.data() + pos_, take);
      sha_.update(std::string_view(buf_.data() + pos_, take));
      pos_ += take;
      dst += take;
      n -= take;
    }
    return {};
  }
  // One line without its '\n', at most kMaxArchiveLine bytes.
  Result<std::string> line() {
    std::string out;
    for (char c = 0;;) {
      if (auto s = read(&c, 1); !s) return s.error();
      if (c == '\n') return out;
      if (out.size() == kMaxArchiveLine)
        return Error{"a line longer than " + std::to_string(kMaxArchiveLine) + " bytes"};
      out += c;
    }
  }
  // The digest of what was read so far.
  std::string digest_so_far() const {
    Sha256 copy = sha_;
    return hex(copy.finish());
  }
  // True when the frame ended (its checksum verified) with nothing after
  // it, neither decompressed nor compressed.
  Result<bool> at_end() {
    if (pos_ < buf_.size()) return false;
    auto s = fill();
    if (s) return false;
    if (eof_ && frame_done_) return true;
    return s.error();
  }

 private:
  Status fill() {
    buf_.resize(kChunk);
    for (;;) {
      // A full output buffer may leave output in the decoder: ask again
      // before reading more.
      if (in_pos_ == in_len_ && !eof_ && !pending_) {
        ssize_t n = ::read(fd_, in_.data(), in_.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return sys_error("cannot read", path_);
        in_len_ = static_cast<std::size_t>(n);
        in_pos_ = 0;
        eof_ = n == 0;
      }
      if (in_pos_ == in_len_ && eof_ && !pending_) {
        buf_.clear();
        pos_ = 0;
        return Error{frame_done_ ? "it ends early" : "it is truncated (its compressed stream ends early)"};
      }
      if (frame_done_) return Error{"it has bytes after its end"};
      ZSTD_inBuffer in{in_.data(), in_len_, in_pos_};
      ZSTD_outBuffer out{buf_.data(), buf_.size(), 0};
      const std::size_t r = ZSTD_decompressStream(ctx_, &out, &in);
      if (ZSTD_isError(r)) return Error{std::string("its compressed stream is damaged: ") + ZSTD_getErrorName(r)};
      in_pos_ = in.pos;
      pending_ = r != 0 && out.pos == out.size;
      if (r == 0) frame_done_ = true;  // the frame ended and its checksum matched
      if (out.pos > 0) {
        buf_.resize(out.pos);
        pos_ = 0;
        return {};
      }
    }
  }

  int fd_;
  std::string path_;
  ZSTD_DCtx* ctx_;
  std::vector<char> in_;
  std::size_t in_pos_ = 0, in_len_ = 0;
  bool eof_ = false, frame_done_ = false, pending_ = false;
  std::vector<char> buf_;
  std::size_t pos_ = 0;
  Sha256 sha_;
};

Status pwrite_all(int fd, const char* p, std::size_t n, std::uint64_t at, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(at));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return sys_error("cannot write", path);
    p += w;
    at += static_cast<std::uint64_t>(w);
    n -= static_cast<std::size_t>(w);
  }
  return {};
}

Status pread_all(int fd, char* p, std::size_t n, std::uint64_t at, const std::string& path) {
  while (n > 0) {
    ssize_t r = ::pread(fd, p, n, static_cast<off_t>(at));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return sys_error("cannot read", path);
    if (r == 0) return Error{path + " became shorter while it was read"};
    p += r;
    at += static_cast<std::uint64_t>(r);
    n -= static_cast<std::size_t>(r);
  }
  return {};
}

// One file into the archive: its header, then its bytes (of a sparse one,
// its extents).
Status write_member(Deflater& z, const ArchiveFile& f) {
  Fd fd(::open(f.path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (fd.get() < 0) return sys_error("cannot open", f.path);
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return sys_error("cannot stat", f.path);
  if (!S_ISREG(st.st_mode)) return Error{f.path + " is not a regular file"};
  const std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
  std::vector<Extent> extents{{0, size}};
  if (f.sparse) {
    auto e = data_extents(fd.get(), size, f.path);
    if (!e) return e.error();
    extents = e.value();
  }
  std::uint64_t data = 0;
  for (const auto& e : extents) data += e.length;
  nlohmann::json head{{"file", f.name}, {"size", size}};
  if (f.sparse) {
    head["extents"] = extents.size();
    head["dataBytes"] = data;
  }
  if (auto s = z.write(head.dump() + "\n"); !s) return s;
  std::string buf;
  for (const auto& e : extents) {
    if (f.sparse) {
      std::string where;
      put_u64(where, e.offset);
      put_u64(where, e.length);
      if (auto s = z.write(where); !s) return s;
    }
    for (std::uint64_t at = e.offset; at < e.offset + e.length;) {
      buf.resize(static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, e.offset + e.length - at)));
      if (auto s = pread_all(fd.get(), buf.data(), buf.size(), at, f.path); !s) return s;
      if (auto s = z.write(buf); !s) return s;
      at += buf.size();
    }
  }
  return {};
}

// Reads one file's bytes from the archive into `dirfd`/name.
Status read_member(Inflater& z, int dirfd, const std::string& into, const std::string& name, const nlohmann::json& head,
                   std::uint64_t max_size, std::uint64_t& data_left) {
  const std::string path = into + "/" + name;
  const auto number = [&](const char* key) -> Result<std::uint64_t> {
    if (!head.contains(key) || !head[key].is_number_unsigned()) return Error{name + ": no \"" + key + "\""};
    return head[key].get<std::uint64_t>();
  };
  auto size = number("size");
  if (!size) return size.error();
  if (size.value() > max_size)
    return Error{name + " is " + std::to_string(size.value()) + " bytes, more than the " + std::to_string(max_size) +
                 " it may have"};
  const bool sparse = head.contains("extents");
  std::uint64_t count = 1, data = size.value();
  if (sparse) {
    auto c = number("extents");
    auto d = number("dataBytes");
    if (!c) return c.error();
    if (!d) return d.error();
    count = c.value();
    data = d.value();
    if (count > kMaxExtents) return Error{name + ": more than " + std::to_string(kMaxExtents) + " extents"};
  }
  if (data > data_left)
    return Error{name + " holds " + std::to_string(data) + " bytes of data, more than the " +
                 std::to_string(data_left) + " this restore may write"};
  data_left -= data;
  Fd fd(::openat(dirfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (fd.get() < 0) return sys_error("cannot create", path);
  if (::ftruncate(fd.get(), static_cast<off_t>(size.value())) != 0) return sys_error("cannot size", path);
  std::uint64_t end = 0, total = 0;
  std::vector<char> buf;
  for (std::uint64_t i = 0; i < count; ++i) {
    std::uint64_t offset = 0, length = size.value();
    if (sparse) {
      char where[16];
      if (auto s = z.read(where, sizeof where); !s) return s;
      offset = get_u64(where);
      length = get_u64(where + 8);
      // In order, apart, inside the file (no sum can wrap: both are below size).
      if (offset < end || offset > size.value() || length > size.value() - offset || length == 0)
        return Error{name + ": extent " + std::to_string(i) + " is out of order or outside the file"};
      end = offset + length;
    }
    if ((total += length) > data) return Error{name + ": its extents hold more than its dataBytes"};
    for (std::uint64_t at = offset; at < offset + length;) {
      buf.resize(static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, offset + length - at)));
      if (auto s = z.read(buf.data(), buf.size()); !s) return s;
      if (auto s = pwrite_all(fd.get(), buf.data(), buf.size(), at, path); !s) return s;
      at += buf.size();
    }
  }
  if (total != data) return Error{name + ": its extents hold less than its dataBytes"};
  if (::fsync(fd.get()) != 0) return sys_error("cannot sync", path);
  return {};
}

// A file just read into `dirfd`, whole (it is small).
Result<std::string> read_small(int dirfd, const std::string& name, const std::string& into) {
  Fd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) return sys_error("cannot open", into + "/" + name);
  std::string out(kMaxArchiveLine + 1, '\0');
  std::size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(fd.get(), out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error("cannot read", into + "/" + name);
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return out;
}

class RealBackups : public Backups {
 public:
  Status snapshot(const std::string& path, const std::string& dest) override {
    Fd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (in.get() < 0) return sys_error("cannot open", path);
    Fd out(::open(dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (out.get() < 0) return sys_error("cannot create", dest);
    if (::ioctl(out.get(), FICLONE, in.get()) != 0) {
      const int err = errno;
      ::unlink(dest.c_str());
      if (err == EOPNOTSUPP || err == EXDEV || err == EINVAL || err == ENOTTY)
        return Error{"the filesystem of " + dir_of(path) + " cannot reflink (" + errno_text(err) + ")"};
      return sys_error("cannot reflink " + path + " to", dest, err);
    }
    return {};
  }

  Status write_archive(const std::string& out, const std::string& about,
                       const std::vector<ArchiveFile>& files) override {
    struct stat st;
    if (::lstat(out.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) return Error{out + " exists and is not a regular file"};
    std::string tmp = dir_of(out) + "/." + base_of(out) + ".XXXXXX";
    Fd fd(::mkostemp(tmp.data(), O_CLOEXEC));
    if (fd.get() < 0) return sys_error("cannot create a file beside", out);
    const auto fail = [&](Error e) {
      ::unlink(tmp.c_str());
      return e;
    };
    if (::fchmod(fd.get(), 0600) != 0) return fail(sys_error("cannot chmod", tmp));
    Deflater z(fd.get(), tmp);
    if (auto s = z.write(std::string(kArchiveMagic) + "\n" + about + "\n"); !s) return fail(s.error());
    for (const auto& f : files)
      if (auto s = write_member(z, f); !s) return fail(s.error());
    if (auto s = z.finish(); !s) return fail(s.error());
    if (::fsync(fd.get()) != 0) return fail(sys_error("cannot sync", tmp));
    if (::rename(tmp.c_str(), out.c_str()) != 0) return fail(sys_error("cannot rename " + tmp + " to", out));
    return fsync_dir(dir_of(out));
  }

  Result<ArchiveContents> read_archive(const std::string& archive, const std::string& into,
                                       const ArchiveLimits& limits) override {
    // O_NONBLOCK: a FIFO given as the archive is refused, never waited on.
    Fd fd(::open(archive.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (fd.get() < 0) return sys_error("cannot open", archive);
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return sys_error("cannot stat", archive);
    if (!S_ISREG(st.st_mode)) return Error{archive + " is not a regular file"};
    if (::mkdir(into.c_str(), 0700) != 0) return sys_error("cannot make the directory", into);
    Fd dir(::open(into.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    if (dir.get() < 0) return sys_error("cannot open", into);
    auto refused = [&](const std::string& why) {
      return Error{archive + " is not a backup clawfleet can restore: " + why};
    };

    Inflater z(fd.get(), archive);
    ArchiveContents got;
    auto magic = z.line();
    if (!magic) return refused(magic.error().message);
    if (magic.value() != kArchiveMagic) return refused("it does not start with \"" + std::string(kArchiveMagic) + "\"");
    auto about = z.line();
    if (!about) return refused(about.error().message);
    if (!nlohmann::json::accept(about.value())) return refused("its about line is not JSON");
    got.about = about.value();
    std::uint64_t data_left = limits.max_data_bytes;
    for (;;) {
      const std::string before = z.digest_so_far();  // what the checksum line sums
      auto line = z.line();
      if (!line) return refused(line.error().message);
      auto head = nlohmann::json::parse(line.value(), nullptr, false);
      if (!head.is_object()) return refused("a header is not a JSON object");
      if (head.contains("sha256")) {
        const std::string want = head["sha256"].is_string() ? head["sha256"].get<std::string>() : "";
        if (want != before) return refused("its checksum does not match (it is damaged)");
        break;
      }
      if (!head.contains("file") || !head["file"].is_string()) return refused("a header names no file");
      const std::string name = head["file"].get<std::string>();
      const auto limit = limits.files.find(name);
      if (limit == limits.files.end())
        return refused("it holds \"" + name.substr(0, 64) + "\", which a backup never does");
      if (got.files.count(name)) return refused("it holds " + name + " twice");
      if (auto s = read_member(z, dir.get(), into, name, head, limit->second, data_left); !s)
        return refused(s.error().message);
      got.files[name] = head["size"].get<std::uint64_t>();
      if (got.files[name] <= kMaxArchiveLine) {
        auto text = read_small(dir.get(), name, into);
        if (!text) return text.error();
        got.texts[name] = text.value();
      }
    }
    auto end = z.at_end();
    if (!end) return refused(end.error().message);
    if (!end.value()) return refused("it has bytes after its checksum");
    got.data_bytes = limits.max_data_bytes - data_left;
    if (::fsync(dir.get()) != 0) return sys_error("cannot sync", into);
    return got;
  }

  Result<std::uint64_t> free_bytes(const std::string& dir) override {
    struct statvfs vfs;
    if (::statvfs(dir.c_str(), &vfs) != 0) return sys_error("cannot statvfs", dir);
    return static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize;
  }

  Status install(const std::string& from, const std::string& to) override {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0)
      return sys_error("cannot rename " + from + " to", to);
    return fsync_dir(dir_of(to));
  }

  Status replace(const std::string& from, const std::string& to) override {
    // What the instance's file was is what its VMM's user may do with it
    // (the data disk is 0660, its group the VMM's): the new one is the same.
    struct stat old;
    const bool there = ::lstat(to.c_str(), &old) == 0;
    if (!there && errno != ENOENT) return sys_error("cannot inspect", to);
    if (there && S_ISREG(old.st_mode)) {
      Fd fd(::open(from.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (fd.get() < 0) return sys_error("cannot open", from);
      if (::fchown(fd.get(), old.st_uid, old.st_gid) != 0) return sys_error("cannot chown", from);
      if (::fchmod(fd.get(), old.st_mode & 07777) != 0) return sys_error("cannot chmod", from);
    }
    if (::rename(from.c_str(), to.c_str()) != 0) return sys_error("cannot rename " + from + " to", to);
    return fsync_dir(dir_of(to));
  }

  Status discard(const std::string& path) override {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return errno == ENOENT ? Status{} : sys_error("cannot stat", path);
    if (S_ISDIR(st.st_mode)) {
      DIR* d = ::opendir(path.c_str());
      if (!d) return sys_error("cannot open", path);
      std::vector<std::string> names;
      while (auto* e = ::readdir(d))
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) names.push_back(e->d_name);
      ::closedir(d);
      for (const auto& n : names)
        if (::unlinkat(AT_FDCWD, (path + "/" + n).c_str(), 0) != 0 && errno != ENOENT)
          return sys_error("cannot remove", path + "/" + n);
      if (::rmdir(path.c_str()) != 0) return sys_error("cannot remove", path);
    } else if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return sys_error("cannot remove", path);
    }
    return fsync_dir(dir_of(path));
  }
};

}  // namespace

std::unique_ptr<Backups> real_backups() { return std::make_unique<RealBackups>(); }

}  // namespace cf::host
