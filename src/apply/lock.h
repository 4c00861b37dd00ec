// The one-writer lock shared by `clawfleet apply` and the agent: flock(2)
// on /run/clawfleet/lock (0600, directory 0755). The holder writes who it is
// into the file, so a second writer can say who is in the way:
//
//   {"pid":4242,"operation":"apply","since":"2026-11-23T12:00:00Z"}
//
// The record is informational only: the flock is the lock. A record left by
// a process that died means nothing, because the kernel drops a dead
// process's flock. Fake: tests/fakes/fake_lock.h. See docs/apply.md#lock.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "core/result.h"

namespace cf::apply {

inline constexpr const char* kDefaultLockPath = "/run/clawfleet/lock";

// Held while alive; destroying it (or release()) gives the lock up. Movable,
// not copyable. A default-constructed guard holds nothing.
class LockGuard {
 public:
  LockGuard() = default;
  explicit LockGuard(std::function<void()> release) : release_(std::move(release)) {}
  LockGuard(LockGuard&& other) noexcept : release_(std::exchange(other.release_, nullptr)) {}
  LockGuard& operator=(LockGuard&& other) noexcept {
    if (this != &other) {
      release();
      release_ = std::exchange(other.release_, nullptr);
    }
    return *this;
  }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;
  ~LockGuard() { release(); }

  bool held() const { return static_cast<bool>(release_); }
  void release() {
    if (auto r = std::exchange(release_, nullptr)) r();
  }

 private:
  std::function<void()> release_;
};

class LockPort {
 public:
  virtual ~LockPort() = default;
  // Takes the lock for `operation` ("apply", "agent"). timeout 0 fails at
  // once when another writer holds it; otherwise polls until the deadline.
  // The error names the holder (lock_busy_message).
  virtual Result<LockGuard> acquire(const std::string& operation, std::chrono::milliseconds timeout) = 0;
  virtual const std::string& path() const = 0;
};

// Time for the real lock; an empty member means the real clock.
struct LockClock {
  std::function<std::chrono::system_clock::time_point()> now;        // written as "since"
  std::function<std::chrono::steady_clock::time_point()> monotonic;  // deadlines
  std::function<void(std::chrono::milliseconds)> sleep;
  std::chrono::milliseconds poll_every{50};
};

std::unique_ptr<LockPort> lock_at(const std::string& path, LockClock clock = {});

// The holder record, as written into the lock file.
struct LockHolder {
  long pid = 0;
  std::string operation;
  std::string since;  // RFC 3339 UTC, seconds
  bool operator==(const LockHolder&) const = default;
};

// One JSON line with a trailing newline.
std::string format_lock_record(const LockHolder& holder);
// nullopt when the text is empty or not a well-formed record.
std::optional<LockHolder> parse_lock_record(const std::string& text);

// "pid 4242 (apply), since 2026-11-23T12:00:00Z", or "holder unknown (...)"
// saying why: the file is empty, malformed, or could not be read.
std::string describe_holder(const Result<std::string>& record);

// The error for a lock that could not be taken, shared by the real lock and
// its fake so both say exactly the same thing:
// "another clawfleet holds PATH: HOLDER; gave up after 0 s (use --lock-timeout to wait)".
std::string lock_busy_message(const std::string& path, const Result<std::string>& record,
                              std::chrono::milliseconds timeout);

}  // namespace cf::apply
