// The agent's own OS side effects, each behind an interface with a real
// adapter (real.h) and a recording fake (tests/fakes/fake_agent.h):
// what wakes the loop (inotify, signals), sd_notify, writing its status and
// metrics files and its log. The host it reconciles comes through
// apply::HostOpener (apply/session.h), opened per reconcile for the Host
// the manifests describe.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace cf::agent {

enum class EventKind {
  ManifestChanged,  // a manifest (or the directory itself) changed
  Reload,           // SIGHUP: reconcile now
  Stop,             // SIGTERM, SIGINT
};

struct Event {
  EventKind kind = EventKind::ManifestChanged;
  std::string detail;  // the file name, or the signal ("SIGTERM")
  bool operator==(const Event&) const = default;
};

class EventSource {
 public:
  virtual ~EventSource() = default;
  // Waits up to `timeout` for events, or until interrupt(); returns what
  // arrived (possibly nothing). An error is fatal to the agent.
  virtual Result<std::vector<Event>> wait(std::chrono::milliseconds timeout) = 0;
  // Makes a wait() in progress (or the next one) return at once. Thread-safe:
  // the reconcile worker calls it when it is done.
  virtual void interrupt() = 0;
};

// sd_notify(3).
class Notifier {
 public:
  virtual ~Notifier() = default;
  virtual void notify(const std::string& assignments) = 0;  // "READY=1\nSTATUS=..."
  // The service manager's WatchdogSec for this process; nullopt when off.
  virtual std::optional<std::chrono::microseconds> watchdog() = 0;
};

class FileWriter {
 public:
  virtual ~FileWriter() = default;
  // Write-temp (in the same directory) + fsync + rename + fsync of the
  // directory: a reader sees the old or the new content, never a part.
  // Creates nothing but the file: the directory must exist.
  virtual Status write_atomic(const std::string& path, const std::string& content, unsigned mode) = 0;
  // The directory (and its parents) with exactly this mode: the state root,
  // which nothing else may have made yet on a host where nothing was applied.
  virtual Status ensure_dir(const std::string& dir, unsigned mode) = 0;
};

enum class Level { Debug, Info, Warning, Error };

// Structured fields go to the journal as INSTANCE=, STEP=, ACTION=.
using Fields = std::map<std::string, std::string>;

class Log {
 public:
  virtual ~Log() = default;
  virtual void write(Level level, const std::string& message, const Fields& fields = {}) = 0;
};

}  // namespace cf::agent
