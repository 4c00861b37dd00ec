// The real Clock, Notifier, FileWriter and Log.
#include "agent/real.h"

#include <fcntl.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <sys/uio.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "core/text.h"
#include "host/state/files.h"

namespace cf::agent {
namespace {

class RealClock : public Clock {
 public:
  SteadyTime now() override { return std::chrono::steady_clock::now(); }
  WallTime wall() override { return std::chrono::system_clock::now(); }
};

class SystemdNotifier : public Notifier {
 public:
  void notify(const std::string& assignments) override { ::sd_notify(0, assignments.c_str()); }
  std::optional<std::chrono::microseconds> watchdog() override {
    uint64_t usec = 0;
    if (::sd_watchdog_enabled(0, &usec) > 0 && usec > 0) return std::chrono::microseconds(usec);
    return std::nullopt;
  }
};

// The host's writer, so the agent's files are written like every other
// file clawfleet owns (and a crashed write's temp file is one that
// host::remove_stale_temp_files knows).
class RealFileWriter : public FileWriter {
 public:
  Status write_atomic(const std::string& path, const std::string& content, unsigned mode) override {
    return host::write_file_atomic(path, content, static_cast<mode_t>(mode));
  }
  Status ensure_dir(const std::string& dir, unsigned mode) override {
    return host::ensure_dir(dir, static_cast<mode_t>(mode));
  }
};

// Whether stderr is the journal: systemd sets JOURNAL_STREAM to the
// "device:inode" of the stream it connected (systemd.exec(5)).
bool stderr_is_journal() {
  const char* env = std::getenv("JOURNAL_STREAM");
  if (!env) return false;
  struct stat st;
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(env, "%llu:%llu", &dev, &ino) != 2) return false;
  return dev == st.st_dev && ino == st.st_ino;
}

spdlog::level::level_enum to_spdlog(Level l) {
  switch (l) {
    case Level::Debug: return spdlog::level::debug;
    case Level::Info: return spdlog::level::info;
    case Level::Warning: return spdlog::level::warn;
    case Level::Error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

int priority(Level l) {
  switch (l) {
    case Level::Debug: return 7;
    case Level::Info: return 6;
    case Level::Warning: return 4;
    case Level::Error: return 3;
  }
  return 6;
}

class SpdLog : public Log {
 public:
  SpdLog(bool journal, bool debug) : journal_(journal), debug_(debug) {
    spdlog::sink_ptr sink;
    if (journal)
      sink = std::make_shared<spdlog::sinks::systemd_sink_mt>("clawfleet");
    else
      sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    logger_ = std::make_shared<spdlog::logger>("clawfleet", sink);
    // The journal stamps and labels each entry itself.
    logger_->set_pattern(journal ? "%v" : "%Y-%m-%dT%H:%M:%S.%e %l %v");
    logger_->set_level(debug ? spdlog::level::debug : spdlog::level::info);
    logger_->flush_on(spdlog::level::debug);
  }

  void write(Level level, const std::string& raw, const Fields& raw_fields) override {
    if (level == Level::Debug && !debug_) return;
    // Names, reasons and errors carry text from manifests, guests, VMMs and
    // systemd: escaped here, once, so no control character reaches a
    // terminal that shows the log (journalctl prints a message holding one
    // as "[N bytes blob data]" unless --all, and then raw).
    const std::string message = printable(raw);
    Fields fields;
    for (const auto& [k, v] : raw_fields) fields.emplace(k, printable(v));
    if (fields.empty()) {
      logger_->log(to_spdlog(level), "{}", message);
      return;
    }
    if (!journal_) {
      std::string tail;
      for (const auto& [k, v] : fields) tail += (tail.empty() ? "" : " ") + k + "=" + v;
      logger_->log(to_spdlog(level), "{} [{}]", message, tail);
      return;
    }
    // spdlog 1.10's journald sink has no custom fields: send them directly.
    std::vector<std::string> items = {"MESSAGE=" + message, "PRIORITY=" + std::to_string(priority(level)),
                                      "SYSLOG_IDENTIFIER=clawfleet"};
    for (const auto& [k, v] : fields) items.push_back(k + "=" + v);
    std::vector<iovec> iov;
    for (auto& s : items) iov.push_back(iovec{s.data(), s.size()});
    std::lock_guard<std::mutex> lock(mu_);
    ::sd_journal_sendv(iov.data(), int(iov.size()));
  }

 private:
  bool journal_;
  bool debug_;
  std::shared_ptr<spdlog::logger> logger_;
  std::mutex mu_;
};

}  // namespace

std::unique_ptr<Clock> real_clock() { return std::make_unique<RealClock>(); }
std::unique_ptr<Notifier> systemd_notifier() { return std::make_unique<SystemdNotifier>(); }
std::unique_ptr<FileWriter> real_file_writer() { return std::make_unique<RealFileWriter>(); }
std::unique_ptr<Log> journal_or_stderr_log(bool debug) { return std::make_unique<SpdLog>(stderr_is_journal(), debug); }

}  // namespace cf::agent
