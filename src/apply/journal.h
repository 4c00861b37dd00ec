// The apply journal: an append-only, fsync'd record of each step's start and
// end, <stateRoot>/journal.jsonl (0600), one JSON object per line:
//
//   {"time":"2026-11-23T12:00:00.123Z","run":"9f2c4e1a7b3d5f60","seq":3,
//    "instance":"bot","action":"create","event":"end","result":"failed",
//    "error":"cannot start clawfleet-vm@bot.service: ..."}
//
// After a crash the next run re-observes the host (observation wins over the
// journal); the journal says what was interrupted, for `clawfleet status`
// and for humans. When the file would grow past a limit (4 MiB) it is renamed
// to journal.jsonl.1 first; one old generation is kept.
//
// Secrets: every field is a name, a closed-set word or a number, except
// `error`. Callers must never put a secret value into an error message (the
// host ports already name secrets by reference only). See docs/apply.md#journal.
// Fake: tests/fakes/fake_journal.h.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "apply/outcome.h"
#include "core/result.h"

namespace cf::apply {

inline constexpr const char* kJournalFile = "journal.jsonl";
inline constexpr std::size_t kDefaultJournalMaxBytes = 4 * 1024 * 1024;
// Longer error messages are cut (with "...") so one record stays one line of
// bounded size.
inline constexpr std::size_t kMaxJournalErrorBytes = 2048;

enum class JournalEvent { Start, End };

struct JournalRecord {
  std::string time;      // RFC 3339 UTC with ms; stamped by append()
  std::string run;       // run id (new_run_id())
  std::size_t seq = 0;   // step index in the run's plan
  std::string instance;  // "" for host steps
  std::string action;    // plan::to_string(Action): "create", "destroy", ...
  JournalEvent event = JournalEvent::Start;
  std::optional<Outcome> result;  // end records only
  std::string error;              // failed end records only; never a secret value
  bool operator==(const JournalRecord&) const = default;
};

struct JournalRead {
  std::vector<JournalRecord> records;  // oldest first
  std::size_t skipped = 0;             // malformed or torn lines, not returned
  bool torn_tail = false;              // the newest line was cut short (a crash mid-write)
};

class Journal {
 public:
  virtual ~Journal() = default;
  // Stamps rec.time, appends one line and syncs it before returning.
  // Thread-safe: parallel instance workers share one journal.
  virtual Status append(JournalRecord rec) = 0;
  // The last max_records records of the current and the previous generation.
  virtual Result<JournalRead> read(std::size_t max_records) = 0;
};

struct JournalOptions {
  std::size_t max_bytes = kDefaultJournalMaxBytes;
  std::function<std::chrono::system_clock::time_point()> now;  // empty: the real clock
};

// The journal at <state_root>/journal.jsonl; the state root is created
// (0700) on the first append when missing.
std::unique_ptr<Journal> journal_at(const std::string& state_root, JournalOptions options = {});

// 16 lowercase hex digits from getrandom (time and pid if that fails).
std::string new_run_id();

// Reads path.1 (if present) and then path; returns their last max_records
// records. Malformed lines and a torn last line are skipped and counted,
// never an error; an absent file is an empty journal.
Result<JournalRead> read_journal(const std::string& path, std::size_t max_records);

// One line, without the newline; parse_journal_line is its inverse.
std::string to_journal_line(const JournalRecord& rec);
std::optional<JournalRecord> parse_journal_line(const std::string& line);

const char* to_string(JournalEvent e);  // "start", "end"

// A step as the journal tells it: its last record.
struct LastStep {
  std::string run;
  std::size_t seq = 0;
  std::string action;
  std::string time;                // of the step's last record
  std::optional<Outcome> outcome;  // nullopt: a start with no end
  bool running = false;            // no end yet, and its run is the active one (still going)
  std::string error;               // when Failed
  bool operator==(const LastStep&) const = default;
};
// "ok", "failed", "skipped"; without an outcome "running", else
// "interrupted" (the writer died).
const char* state_text(const LastStep& s);
bool failed_or_interrupted(const LastStep& s);

// What the record says of its step; a start without an end is running
// when its run is `active_run`.
LastStep step_of(const JournalRecord& rec, const std::string& active_run);

// Per instance ("" for host steps), the last step in the records (file
// order), as step_of tells it.
std::map<std::string, LastStep> last_steps(const std::vector<JournalRecord>& records,
                                           const std::string& active_run = "");

}  // namespace cf::apply
