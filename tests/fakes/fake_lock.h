// In-memory LockPort that records every call and can simulate another
// holder, with the real lock's exact error text (apply::lock_busy_message).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "apply/lock.h"

namespace cf::testing {

class FakeLock : public apply::LockPort {
 public:
  explicit FakeLock(std::string path = apply::kDefaultLockPath) : path_(std::move(path)) {}

  // Another process holds the lock, with this record in the file ("" for an
  // empty file). With leaves_after, it lets go after that long: an acquire
  // whose timeout reaches that far succeeds.
  void simulate_holder(const apply::LockHolder& holder,
                       std::optional<std::chrono::milliseconds> leaves_after = std::nullopt) {
    simulate_record(apply::format_lock_record(holder), leaves_after);
  }
  void simulate_record(std::string record, std::optional<std::chrono::milliseconds> leaves_after = std::nullopt) {
    other_record = std::move(record);
    other_leaves_after = leaves_after;
  }

  Result<apply::LockGuard> acquire(const std::string& operation, std::chrono::milliseconds timeout) override {
    calls.push_back("acquire " + operation + " timeout=" + std::to_string(timeout.count()) + "ms");
    if (other_record && !(other_leaves_after && *other_leaves_after <= timeout))
      return Error{apply::lock_busy_message(path_, *other_record, timeout)};
    other_record.reset();
    // Like two open file descriptions in one process: a second acquire
    // while held conflicts too.
    if (held_by)
      return Error{apply::lock_busy_message(path_, apply::format_lock_record({own_pid, *held_by, since}), timeout)};
    held_by = operation;
    return apply::LockGuard([this, operation] {
      calls.push_back("release " + operation);
      held_by.reset();
    });
  }
  const std::string& path() const override { return path_; }

  std::optional<std::string> other_record;
  std::optional<std::chrono::milliseconds> other_leaves_after;
  std::optional<std::string> held_by;  // the operation holding it in this process
  long own_pid = 1000;
  std::string since = "2026-01-01T00:00:00Z";
  std::vector<std::string> calls;

 private:
  std::string path_;
};

}  // namespace cf::testing
