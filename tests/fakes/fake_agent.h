// Recording fakes of the agent's ports (src/agent/ports.h) and a fake
// clock; FakeHostOpener hands out sessions on one FakeHost.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "agent/clock.h"
#include "agent/ports.h"
#include "fakes/fake_host.h"
#include "fakes/fake_journal.h"
#include "fakes/fake_session.h"

namespace cf::testing {

class FakeClock : public agent::Clock {
 public:
  agent::SteadyTime now() override {
    std::lock_guard<std::mutex> lock(mu_);
    return steady_;
  }
  agent::WallTime wall() override {
    std::lock_guard<std::mutex> lock(mu_);
    return wall_;
  }
  void advance(std::chrono::milliseconds d) {
    std::lock_guard<std::mutex> lock(mu_);
    steady_ += d;
    wall_ += d;
  }

 private:
  std::mutex mu_;
  agent::SteadyTime steady_{std::chrono::hours(1000)};
  // 2026-01-01T00:00:00Z
  agent::WallTime wall_{std::chrono::seconds(1767225600)};
};

// Events pushed by the test (from any thread); wait() blocks for real, up
// to the timeout asked (at most max_wait), and records each timeout.
class FakeEventSource : public agent::EventSource {
 public:
  void push(agent::Event e) {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(e));
    cv_.notify_all();
  }
  Result<std::vector<agent::Event>> wait(std::chrono::milliseconds timeout) override {
    std::unique_lock<std::mutex> lock(mu_);
    timeouts.push_back(timeout);
    cv_.wait_for(lock, std::min(timeout, max_wait), [&] { return !queue_.empty() || woken_; });
    woken_ = false;
    std::vector<agent::Event> out(queue_.begin(), queue_.end());
    queue_.clear();
    if (!fail.empty()) return Error{fail};
    return out;
  }
  void interrupt() override {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
    cv_.notify_all();
  }
  std::chrono::milliseconds max_wait{std::chrono::milliseconds(20)};
  std::vector<std::chrono::milliseconds> timeouts;
  std::string fail;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<agent::Event> queue_;
  bool woken_ = false;
};

class FakeNotifier : public agent::Notifier {
 public:
  void notify(const std::string& assignments) override {
    std::lock_guard<std::mutex> lock(mu_);
    sent.push_back(assignments);
  }
  std::optional<std::chrono::microseconds> watchdog() override { return watchdog_usec; }
  std::vector<std::string> messages() {
    std::lock_guard<std::mutex> lock(mu_);
    return sent;
  }
  std::optional<std::chrono::microseconds> watchdog_usec;

 private:
  std::mutex mu_;
  std::vector<std::string> sent;
};

class FakeFileWriter : public agent::FileWriter {
 public:
  Status write_atomic(const std::string& path, const std::string& content, unsigned mode) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls.push_back("write " + path + " " + std::to_string(mode));
    if (!fail.empty()) return Error{fail};
    files[path] = content;
    modes[path] = mode;
    return {};
  }
  Status ensure_dir(const std::string& dir, unsigned mode) override {
    std::lock_guard<std::mutex> lock(mu_);
    calls.push_back("ensure_dir " + dir + " " + std::to_string(mode));
    if (!fail.empty()) return Error{fail};
    return {};
  }
  std::map<std::string, std::string> files;
  std::map<std::string, unsigned> modes;
  std::vector<std::string> calls;
  std::string fail;

 private:
  std::mutex mu_;
};

class FakeLog : public agent::Log {
 public:
  void write(agent::Level level, const std::string& message, const agent::Fields& fields) override {
    static const char* const names[] = {"debug", "info", "warning", "error"};
    std::string line = std::string(names[int(level)]) + " " + message;
    for (const auto& [k, v] : fields)
      if (k != "RUN") line += " " + k + "=" + v;
    std::lock_guard<std::mutex> lock(mu_);
    lines.push_back(line);
  }
  std::vector<std::string> all() {
    std::lock_guard<std::mutex> lock(mu_);
    return lines;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines;
};

}  // namespace cf::testing
