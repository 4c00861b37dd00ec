#include "apply/lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/sys.h"
#include "core/time.h"
#include "host/state/files.h"

namespace cf::apply {
namespace {

using std::chrono::milliseconds;

// The record is a few dozen bytes; anything longer is not ours.
constexpr std::size_t kMaxRecordBytes = 4096;

bool all_of_chars(const std::string& s, std::size_t max, const char* allowed) {
  return !s.empty() && s.size() <= max && s.find_first_not_of(allowed) == std::string::npos;
}

// "0 s", "0.2 s", "1.25 s".
std::string seconds_text(milliseconds d) {
  auto ms = std::max<long long>(d.count(), 0);
  std::string text = std::to_string(ms / 1000);
  if (ms % 1000) {
    std::string frac = fmt::format("{:03}", ms % 1000);
    frac.erase(frac.find_last_not_of('0') + 1);
    text += "." + frac;
  }
  return text + " s";
}

Result<std::string> read_record(int fd, const std::string& path) {
  std::string buf(kMaxRecordBytes, '\0');
  ssize_t n;
  do n = ::pread(fd, buf.data(), buf.size(), 0);
  while (n < 0 && errno == EINTR);
  if (n < 0) return sys_error("cannot read", path, errno);
  buf.resize(std::size_t(n));
  return buf;
}

Status write_all_at(int fd, const std::string& data) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, off_t(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error{std::strerror(errno)};
    }
    done += std::size_t(n);
  }
  return {};
}

class RealLock : public LockPort {
 public:
  RealLock(std::string path, LockClock clock) : path_(std::move(path)), clock_(std::move(clock)) {
    if (!clock_.now) clock_.now = [] { return std::chrono::system_clock::now(); };
    if (!clock_.monotonic) clock_.monotonic = [] { return std::chrono::steady_clock::now(); };
    if (!clock_.sleep) clock_.sleep = [](milliseconds d) { std::this_thread::sleep_for(d); };
    if (clock_.poll_every <= milliseconds(0)) clock_.poll_every = milliseconds(50);
  }

  const std::string& path() const override { return path_; }

  Result<LockGuard> acquire(const std::string& operation, milliseconds timeout) override {
    if (auto s = host::ensure_dir(dir_of(path_), 0755); !s) return s.error();
    // O_CLOEXEC: a VMM or helper we exec must not inherit (and so keep) the lock.
    int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return sys_error("cannot open", path_, errno);
    auto fail = [&](Error e) {
      ::close(fd);
      return e;
    };
    struct stat st;
    if (::fstat(fd, &st) != 0) return fail(sys_error("cannot stat", path_, errno));
    if (!S_ISREG(st.st_mode)) return fail(Error{"not a regular file: " + path_});
    if ((st.st_mode & 07777) != 0600 && ::fchmod(fd, 0600) != 0) return fail(sys_error("cannot chmod", path_, errno));

    const auto deadline = clock_.monotonic() + timeout;
    while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno == EINTR) continue;
      if (errno != EWOULDBLOCK) return fail(sys_error("cannot lock", path_, errno));
      const auto now = clock_.monotonic();
      if (now >= deadline) return fail(Error{lock_busy_message(path_, read_record(fd, path_), timeout)});
      clock_.sleep(std::min(clock_.poll_every, std::chrono::ceil<milliseconds>(deadline - now)));
    }

    // In place, not write-temp + rename: a rename would put a new inode at
    // the path while waiters hold (and flock) the old one, and two writers
    // would each "hold" the lock on a different file.
    const std::string record = format_lock_record({long(::getpid()), operation, rfc3339(clock_.now())});
    if (::ftruncate(fd, 0) != 0) return fail(sys_error("cannot truncate", path_, errno));
    if (auto s = write_all_at(fd, record); !s) return fail(Error{"cannot write " + path_ + ": " + s.error().message});
    if (::fsync(fd) != 0) return fail(sys_error("cannot sync", path_, errno));

    return LockGuard([fd] {
      // Clear the record while still holding the lock, so an idle lock file
      // reads empty; LOCK_UN before close also releases it for a forked
      // child that shares the open file description.
      (void)!::ftruncate(fd, 0);
      ::flock(fd, LOCK_UN);
      ::close(fd);
    });
  }

 private:
  std::string path_;
  LockClock clock_;
};

}  // namespace

std::unique_ptr<LockPort> lock_at(const std::string& path, LockClock clock) {
  return std::make_unique<RealLock>(path, std::move(clock));
}

std::string format_lock_record(const LockHolder& holder) {
  nlohmann::ordered_json j;
  j["pid"] = holder.pid;
  j["operation"] = holder.operation;
  j["since"] = holder.since;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::optional<LockHolder> parse_lock_record(const std::string& text) {
  try {
    auto j = nlohmann::json::parse(text);
    if (!j.is_object() || !j.contains("pid") || !j["pid"].is_number_integer() || !j.contains("operation") ||
        !j["operation"].is_string() || !j.contains("since") || !j["since"].is_string())
      return std::nullopt;
    LockHolder h{j["pid"].get<long>(), j["operation"].get<std::string>(), j["since"].get<std::string>()};
    // Only what we write: the text ends up in an error message.
    if (h.pid <= 0 || !all_of_chars(h.operation, 32, "abcdefghijklmnopqrstuvwxyz0123456789-") ||
        !all_of_chars(h.since, 40, "0123456789TZ:.+-"))
      return std::nullopt;
    return h;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

std::string describe_holder(const Result<std::string>& record) {
  if (!record) return "holder unknown (" + record.error().message + ")";
  if (record.value().find_first_not_of(" \t\r\n") == std::string::npos)
    return "holder unknown (the lock file is empty)";
  auto h = parse_lock_record(record.value());
  if (!h) return "holder unknown (the lock file does not hold a clawfleet record)";
  return fmt::format("pid {} ({}), since {}", h->pid, h->operation, h->since);
}

std::string lock_busy_message(const std::string& path, const Result<std::string>& record, milliseconds timeout) {
  return fmt::format("another clawfleet holds {}: {}; gave up after {}{}", path, describe_holder(record),
                     seconds_text(timeout),
                     timeout.count() <= 0 ? " (use --lock-timeout to wait)" : " (raise --lock-timeout to wait longer)");
}

}  // namespace cf::apply
