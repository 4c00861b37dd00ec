#include "apply/journal.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/sys.h"
#include "core/text.h"
#include "core/time.h"
#include "host/state/files.h"
#include "host/state/ownership.h"

namespace cf::apply {
namespace {

// A journal is two generations of at most a few MiB; reading keeps to the
// tail of a file someone made bigger.
constexpr off_t kMaxReadBytes = 16 * 1024 * 1024;

// Creates the file (0600) and makes its directory entry durable. O_RDWR,
// not O_WRONLY: append() reads the last byte to find a torn line.
Result<int> create_journal(const std::string& dir, const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 && errno == EEXIST) fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return sys_error("cannot create", path, errno);
  if (::fchmod(fd, 0600) != 0) {
    Error e = sys_error("cannot chmod", path, errno);
    ::close(fd);
    return e;
  }
  if (auto s = fsync_dir(dir); !s) {
    ::close(fd);
    return s.error();
  }
  return fd;
}

class RealJournal : public Journal {
 public:
  RealJournal(std::string root, JournalOptions options)
      : root_(std::move(root)), path_(root_ + "/" + kJournalFile), options_(std::move(options)) {
    if (!options_.now) options_.now = [] { return std::chrono::system_clock::now(); };
  }

  Status append(JournalRecord rec) override {
    if ((rec.event == JournalEvent::Start) != !rec.result)
      return Error{"journal: a start record has no result and an end record has one"};
    if (rec.result != Outcome::Failed && !rec.error.empty())
      return Error{"journal: only a failed end record carries an error"};
    std::lock_guard<std::mutex> hold(mu_);
    rec.time = rfc3339_millis(options_.now());
    rec.error = cut(std::move(rec.error), kMaxJournalErrorBytes);
    std::string line = to_journal_line(rec) + "\n";

    // Opened per append rather than kept: a kept descriptor would go on
    // writing to journal.jsonl.1 after another process rotated the file.
    auto fd = open_journal();
    if (!fd) return fd.error();
    int f = fd.value();
    struct stat st;
    if (::fstat(f, &st) != 0) return close_with(f, sys_error("cannot stat", path_, errno));
    if (st.st_size > 0 && std::size_t(st.st_size) + line.size() > options_.max_bytes) {
      ::close(f);
      const std::string old = path_ + ".1";
      if (::rename(path_.c_str(), old.c_str()) != 0) return sys_error("cannot rename " + path_ + " to", old, errno);
      if (auto s = fsync_dir(root_); !s) return s;
      auto created = create_journal(root_, path_);
      if (!created) return created.error();
      f = created.value();
      st.st_size = 0;
    }
    if (st.st_size > 0) {
      // A crash mid-write leaves a line without its newline; end it, so the
      // torn line stays one malformed line instead of swallowing this one.
      char last = '\n';
      if (::pread(f, &last, 1, st.st_size - 1) == 1 && last != '\n') line = "\n" + line;
    }
    if (auto s = write_all(f, line, path_); !s) return close_with(f, s.error());
    if (::fdatasync(f) != 0) return close_with(f, sys_error("cannot sync", path_, errno));
    if (::close(f) != 0) return sys_error("cannot close", path_, errno);
    return {};
  }

  Result<JournalRead> read(std::size_t max_records) override {
    std::lock_guard<std::mutex> hold(mu_);
    return read_journal(path_, max_records);
  }

 private:
  static Error close_with(int fd, Error e) {
    ::close(fd);
    return e;
  }

  Result<int> open_journal() {
    int fd = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
      struct stat st;
      if (::fstat(fd, &st) == 0 && (st.st_mode & 07777) != 0600 && ::fchmod(fd, 0600) != 0)
        return close_with(fd, sys_error("cannot chmod", path_, errno));
      return fd;
    }
    if (errno != ENOENT) return sys_error("cannot open", path_, errno);
    struct stat st;
    if (::stat(root_.c_str(), &st) != 0)
      if (auto s = host::ensure_dir(root_, host::kStateRootMode); !s) return s.error();
    return create_journal(root_, path_);
  }

  const std::string root_;
  const std::string path_;
  JournalOptions options_;
  std::mutex mu_;
};

// Lines of the file's tail; `complete` is false when the file does not end
// with a newline (its last line is then possibly torn).
Status read_lines(const std::string& path, std::vector<std::string>& lines, bool& complete, bool& absent) {
  absent = false;
  complete = true;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) {
      absent = true;
      return {};
    }
    return sys_error("cannot open", path, errno);
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    Error e = sys_error("cannot stat", path, errno);
    ::close(fd);
    return e;
  }
  const off_t start = st.st_size > kMaxReadBytes ? st.st_size - kMaxReadBytes : 0;
  std::string data(std::size_t(st.st_size - start), '\0');
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pread(fd, data.data() + done, data.size() - done, start + off_t(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Error e = sys_error("cannot read", path, errno);
      ::close(fd);
      return e;
    }
    if (n == 0) break;
    done += std::size_t(n);
  }
  ::close(fd);
  data.resize(done);
  std::size_t pos = 0;
  // Reading from the middle: the first partial line is not a record.
  if (start > 0) pos = data.find('\n') == std::string::npos ? data.size() : data.find('\n') + 1;
  while (pos < data.size()) {
    auto nl = data.find('\n', pos);
    if (nl == std::string::npos) {
      lines.push_back(data.substr(pos));
      complete = false;
      break;
    }
    lines.push_back(data.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return {};
}

}  // namespace

std::unique_ptr<Journal> journal_at(const std::string& state_root, JournalOptions options) {
  return std::make_unique<RealJournal>(state_root, std::move(options));
}

std::string new_run_id() {
  unsigned char bytes[8];
  if (::getrandom(bytes, sizeof bytes, 0) == sizeof bytes) {
    std::string out;
    for (unsigned char b : bytes) out += fmt::format("{:02x}", b);
    return out;
  }
  // Unique enough for telling runs apart in one journal.
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  return fmt::format("{:08x}{:08x}", std::uint32_t(secs.count()), std::uint32_t(::getpid()));
}

Result<JournalRead> read_journal(const std::string& path, std::size_t max_records) {
  JournalRead out;
  for (const std::string& file : {path + ".1", path}) {
    std::vector<std::string> lines;
    bool complete = true, absent = false;
    if (auto s = read_lines(file, lines, complete, absent); !s) return s.error();
    for (std::size_t i = 0; i < lines.size(); ++i) {
      if (lines[i].empty()) continue;
      auto rec = parse_journal_line(lines[i]);
      if (rec) {
        out.records.push_back(std::move(*rec));
        continue;
      }
      ++out.skipped;
      if (file == path && !complete && i + 1 == lines.size()) out.torn_tail = true;
    }
  }
  if (out.records.size() > max_records)
    out.records.erase(out.records.begin(), out.records.end() - std::ptrdiff_t(max_records));
  return out;
}

std::string to_journal_line(const JournalRecord& rec) {
  nlohmann::ordered_json j;
  j["time"] = rec.time;
  j["run"] = rec.run;
  j["seq"] = rec.seq;
  j["instance"] = rec.instance;
  j["action"] = rec.action;
  j["event"] = to_string(rec.event);
  if (rec.result) j["result"] = to_string(*rec.result);
  if (rec.result == Outcome::Failed) j["error"] = rec.error;
  // replace: an error message with invalid UTF-8 must not make the step unrecordable.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<JournalRecord> parse_journal_line(const std::string& line) {
  try {
    auto j = nlohmann::json::parse(line);
    if (!j.is_object()) return std::nullopt;
    auto str = [&](const char* key) -> std::optional<std::string> {
      auto it = j.find(key);
      if (it == j.end() || !it->is_string()) return std::nullopt;
      return it->get<std::string>();
    };
    auto time = str("time"), run = str("run"), instance = str("instance"), action = str("action"), event = str("event");
    auto seq = j.find("seq");
    if (!time || !run || !instance || !action || !event || seq == j.end() || !seq->is_number_unsigned())
      return std::nullopt;
    JournalRecord rec{*time, *run, seq->get<std::size_t>(), *instance, *action, JournalEvent::Start, std::nullopt, ""};
    if (*event == "start") {
      if (j.contains("result")) return std::nullopt;
    } else if (*event == "end") {
      rec.event = JournalEvent::End;
      auto result = str("result");
      rec.result = result ? outcome_from(*result) : std::nullopt;
      if (!rec.result) return std::nullopt;
      if (rec.result == Outcome::Failed) rec.error = str("error").value_or("");
    } else {
      return std::nullopt;
    }
    return rec;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

const char* to_string(JournalEvent e) { return e == JournalEvent::Start ? "start" : "end"; }

const char* to_string(Outcome o) {
  switch (o) {
    case Outcome::Ok: return "ok";
    case Outcome::Failed: return "failed";
    case Outcome::Skipped: return "skipped";
  }
  return "unknown";
}

std::optional<Outcome> outcome_from(const std::string& s) {
  for (Outcome o : {Outcome::Ok, Outcome::Failed, Outcome::Skipped})
    if (s == to_string(o)) return o;
  return std::nullopt;
}

const char* state_text(const LastStep& s) {
  if (s.outcome) return to_string(*s.outcome);
  return s.running ? "running" : "interrupted";
}

bool failed_or_interrupted(const LastStep& s) { return s.outcome == Outcome::Failed || (!s.outcome && !s.running); }

LastStep step_of(const JournalRecord& rec, const std::string& active_run) {
  LastStep step{rec.run, rec.seq, rec.action, rec.time, rec.result, false, ""};
  if (!rec.result) step.running = !active_run.empty() && rec.run == active_run;
  if (rec.result == Outcome::Failed) step.error = rec.error;
  return step;
}

std::map<std::string, LastStep> last_steps(const std::vector<JournalRecord>& records, const std::string& active_run) {
  std::map<std::string, LastStep> out;
  for (const auto& rec : records) out[rec.instance] = step_of(rec, active_run);
  return out;
}

}  // namespace cf::apply
