#include "apply/journal.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>
#include "core/time.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "fakes/fake_journal.h"
#include "fakes/files.h"

namespace cf::apply {
namespace {

using cf::testing::mode_of;
using cf::testing::slurp;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

void append_raw(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::app) << text; }

std::chrono::system_clock::time_point noon() {
  return std::chrono::sys_days{std::chrono::year{2026} / 11 / 23} + 12h + 123ms;
}

JournalRecord start(std::size_t seq, const std::string& instance, const std::string& action,
                    const std::string& run = "r1") {
  return {"", run, seq, instance, action, JournalEvent::Start, std::nullopt, ""};
}
JournalRecord end(std::size_t seq, const std::string& instance, const std::string& action, Outcome result,
                  const std::string& error = "", const std::string& run = "r1") {
  return {"", run, seq, instance, action, JournalEvent::End, result, error};
}
JournalRecord stamped(JournalRecord r, const std::string& time = "2026-11-23T12:00:00.123Z") {
  r.time = time;
  return r;
}

class JournalFile : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("cf-journal-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    state_ = root_ / "state";
    path_ = state_ / kJournalFile;
  }
  void TearDown() override { fs::remove_all(root_); }

  std::unique_ptr<apply::Journal> journal(std::size_t max_bytes = kDefaultJournalMaxBytes) {
    JournalOptions o;
    o.max_bytes = max_bytes;
    o.now = noon;
    return journal_at(state_.string(), o);
  }

  fs::path root_, state_, path_;
};

TEST_F(JournalFile, ExactLineFormat) {
  EXPECT_EQ(
      to_journal_line(stamped(start(3, "bot", "create", "9f2c4e1a7b3d5f60"))),
      R"({"time":"2026-11-23T12:00:00.123Z","run":"9f2c4e1a7b3d5f60","seq":3,"instance":"bot","action":"create","event":"start"})");
  EXPECT_EQ(
      to_journal_line(stamped(end(3, "bot", "create", Outcome::Ok))),
      R"({"time":"2026-11-23T12:00:00.123Z","run":"r1","seq":3,"instance":"bot","action":"create","event":"end","result":"ok"})");
  EXPECT_EQ(
      to_journal_line(stamped(end(0, "", "repair", Outcome::Failed, "cannot create bridge clawfleet0: File exists"))),
      R"({"time":"2026-11-23T12:00:00.123Z","run":"r1","seq":0,"instance":"","action":"repair","event":"end","result":"failed","error":"cannot create bridge clawfleet0: File exists"})");
  EXPECT_EQ(
      to_journal_line(stamped(end(4, "bot", "start", Outcome::Skipped))),
      R"({"time":"2026-11-23T12:00:00.123Z","run":"r1","seq":4,"instance":"bot","action":"start","event":"end","result":"skipped"})");
}

TEST_F(JournalFile, AppendThenReadRoundTrip) {
  auto j = journal();
  std::vector<JournalRecord> written = {start(0, "", "repair"), end(0, "", "repair", Outcome::Ok),
                                        start(1, "bot", "create"),
                                        end(1, "bot", "create", Outcome::Failed, "health gate: /ready timed out")};
  for (const auto& r : written) ASSERT_TRUE(j->append(r).ok());
  auto read = j->read(100);
  ASSERT_TRUE(read.ok()) << read.error().message;
  std::vector<JournalRecord> expected;
  for (const auto& r : written) expected.push_back(stamped(r));
  EXPECT_EQ(read.value().records, expected);
  EXPECT_EQ(read.value().skipped, 0u);
  EXPECT_FALSE(read.value().torn_tail);
  EXPECT_EQ(read_journal(path_.string(), 100).value().records, expected);
  // The state root is made when missing, 0711; the journal is 0600.
  EXPECT_EQ(mode_of(state_), 0711u);
  EXPECT_EQ(mode_of(path_), 0600u);
}

TEST_F(JournalFile, EveryAppendIsACompleteLine) {
  auto j = journal();
  for (std::size_t i = 0; i < 20; ++i) {
    ASSERT_TRUE(j->append(start(i, "bot", "restart")).ok());
    // What a crash right after append() returns would leave on disk.
    std::string text = slurp(path_);
    ASSERT_FALSE(text.empty());
    EXPECT_EQ(text.back(), '\n');
    std::istringstream lines(text);
    std::size_t n = 0;
    for (std::string line; std::getline(lines, line); ++n) EXPECT_TRUE(parse_journal_line(line)) << line;
    EXPECT_EQ(n, i + 1);
  }
}

TEST_F(JournalFile, AbsentJournalIsEmpty) {
  auto read = journal()->read(10);
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_TRUE(read.value().records.empty());
  EXPECT_EQ(read.value().skipped, 0u);
  EXPECT_FALSE(fs::exists(state_));  // reading creates nothing
}

TEST_F(JournalFile, TornLastLineIsSkippedAndCountedThenSealedByTheNextAppend) {
  auto j = journal();
  ASSERT_TRUE(j->append(start(1, "bot", "create")).ok());
  ASSERT_TRUE(j->append(end(1, "bot", "create", Outcome::Ok)).ok());
  append_raw(path_, R"({"time":"2026-11-23T12:00:00.123Z","run":"r1","seq":2,"inst)");  // crash mid-write

  auto read = j->read(10).value();
  EXPECT_EQ(read.records, (std::vector<JournalRecord>{stamped(start(1, "bot", "create")),
                                                      stamped(end(1, "bot", "create", Outcome::Ok))}));
  EXPECT_EQ(read.skipped, 1u);
  EXPECT_TRUE(read.torn_tail);

  // The next append ends the torn line first, so it does not swallow the record.
  ASSERT_TRUE(j->append(start(2, "bot", "start", "r2")).ok());
  read = j->read(10).value();
  ASSERT_EQ(read.records.size(), 3u);
  EXPECT_EQ(read.records.back(), stamped(start(2, "bot", "start", "r2")));
  EXPECT_EQ(read.skipped, 1u);
  EXPECT_FALSE(read.torn_tail);
}

TEST_F(JournalFile, MalformedLinesAreSkippedAndCounted) {
  fs::create_directories(state_);
  auto good = to_journal_line(stamped(start(1, "bot", "create")));
  append_raw(path_,
             good + "\n" + "not json\n" + "[1,2]\n" +
                 R"({"time":"t","run":"r","seq":1,"instance":"bot","action":"create","event":"middle"})"
                 "\n" +
                 R"({"time":"t","run":"r","seq":1,"instance":"bot","action":"create","event":"start","result":"ok"})"
                 "\n" +
                 R"({"time":"t","run":"r","seq":-1,"instance":"bot","action":"create","event":"start"})"
                 "\n" +
                 R"({"time":"t","run":"r","seq":1,"instance":"bot","action":"create","event":"end","result":"maybe"})"
                 "\n" +
                 "\n" + good + "\n");
  auto read = read_journal(path_.string(), 10);
  ASSERT_TRUE(read.ok()) << read.error().message;
  EXPECT_EQ(read.value().records.size(), 2u);
  EXPECT_EQ(read.value().skipped, 6u);
  EXPECT_FALSE(read.value().torn_tail);
}

TEST_F(JournalFile, ReadReturnsTheLastRecords) {
  auto j = journal();
  for (std::size_t i = 0; i < 10; ++i) ASSERT_TRUE(j->append(start(i, "bot", "repair")).ok());
  auto read = j->read(3).value();
  ASSERT_EQ(read.records.size(), 3u);
  EXPECT_EQ(read.records[0].seq, 7u);
  EXPECT_EQ(read.records[2].seq, 9u);
}

TEST_F(JournalFile, RotatesAtTheLimitKeepingOneOldGeneration) {
  const std::size_t limit = 1000;
  auto j = journal(limit);
  const std::size_t n = 40;  // ~10 lines per generation: several rotations
  for (std::size_t i = 0; i < n; ++i) ASSERT_TRUE(j->append(start(i, "bot", "repair")).ok());

  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(state_)) names.insert(e.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{"journal.jsonl", "journal.jsonl.1"}));
  EXPECT_LE(fs::file_size(path_), limit);
  EXPECT_LE(fs::file_size(state_ / "journal.jsonl.1"), limit);
  EXPECT_GT(fs::file_size(state_ / "journal.jsonl.1"), limit / 2);
  EXPECT_EQ(mode_of(path_), 0600u);
  EXPECT_EQ(mode_of(state_ / "journal.jsonl.1"), 0600u);

  // Both generations are read, oldest first, contiguous up to the newest;
  // older generations are gone.
  auto read = j->read(n).value();
  EXPECT_EQ(read.skipped, 0u);
  ASSERT_GT(read.records.size(), 1u);
  ASSERT_LT(read.records.size(), n);
  for (std::size_t i = 0; i < read.records.size(); ++i) EXPECT_EQ(read.records[i].seq, n - read.records.size() + i);
}

TEST_F(JournalFile, ConcurrentAppendsFromWorkersStayWholeLines) {
  auto j = journal(2048);  // and rotate while they race
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w)
    workers.emplace_back([&, w] {
      for (std::size_t i = 0; i < 20; ++i) ASSERT_TRUE(j->append(start(i, "vm" + std::to_string(w), "create")).ok());
    });
  for (auto& t : workers) t.join();
  auto read = j->read(1000).value();
  EXPECT_EQ(read.skipped, 0u);
  EXPECT_FALSE(read.torn_tail);
  EXPECT_GT(read.records.size(), 0u);
}

TEST_F(JournalFile, RejectsInconsistentRecords) {
  auto j = journal();
  auto r = j->append({"", "r1", 1, "bot", "create", JournalEvent::Start, Outcome::Ok, ""});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "journal: a start record has no result and an end record has one");
  r = j->append({"", "r1", 1, "bot", "create", JournalEvent::End, std::nullopt, ""});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "journal: a start record has no result and an end record has one");
  r = j->append(end(1, "bot", "create", Outcome::Ok, "oops"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "journal: only a failed end record carries an error");
  EXPECT_FALSE(fs::exists(path_));
}

// Secrets stay out because there is nowhere to put one: every field is a
// closed-set word, a number, a name or a run id, except "error".
TEST_F(JournalFile, NoFreeFormFieldOtherThanError) {
  auto j = journal();
  ASSERT_TRUE(j->append(start(1, "bot", "create", "0123456789abcdef")).ok());
  ASSERT_TRUE(j->append(end(1, "bot", "create", Outcome::Failed, "boom", "0123456789abcdef")).ok());
  ASSERT_TRUE(j->append(end(2, "", "repair", Outcome::Skipped, "", "0123456789abcdef")).ok());
  const std::set<std::string> allowed = {"time", "run", "seq", "instance", "action", "event", "result", "error"};
  std::istringstream lines(slurp(path_));
  for (std::string line; std::getline(lines, line);) {
    auto obj = nlohmann::json::parse(line);
    for (const auto& [key, value] : obj.items()) {
      EXPECT_TRUE(allowed.count(key)) << key;
      if (key == "event") {
        EXPECT_TRUE(value == "start" || value == "end");
      } else if (key == "result") {
        EXPECT_TRUE(value == "ok" || value == "failed" || value == "skipped");
      } else if (key == "error") {
        EXPECT_EQ(obj["result"], "failed");
      }
    }
  }
}

TEST_F(JournalFile, LongOrInvalidErrorMessagesAreBoundedAndRecorded) {
  auto j = journal();
  ASSERT_TRUE(j->append(end(1, "bot", "create", Outcome::Failed, std::string(10000, 'x'))).ok());
  ASSERT_TRUE(j->append(end(2, "bot", "create", Outcome::Failed, "bad \xff\xfe bytes\nand a newline")).ok());
  auto read = j->read(10).value();
  ASSERT_EQ(read.records.size(), 2u);
  EXPECT_EQ(read.records[0].error, std::string(kMaxJournalErrorBytes - 3, 'x') + "...");
  EXPECT_EQ(read.records[1].error, "bad \xEF\xBF\xBD\xEF\xBF\xBD bytes\nand a newline");
  const std::string text = slurp(path_);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);  // one line each
}

TEST(JournalSteps, LastStepPerInstanceWithInterruptedStarts) {
  std::vector<JournalRecord> recs = {
      stamped(start(0, "", "repair", "r1")),
      stamped(end(0, "", "repair", Outcome::Ok, "", "r1")),
      stamped(start(1, "bot", "create", "r1")),
      stamped(start(2, "web", "create", "r1")),
      stamped(end(1, "bot", "create", Outcome::Failed, "health gate: /ready timed out after 60 s", "r1")),
      stamped(end(2, "web", "create", Outcome::Ok, "", "r1")),
      stamped(start(3, "web", "restart", "r1")),  // the writer died here
      stamped(start(0, "db", "start", "r2")),
      stamped(end(0, "db", "start", Outcome::Skipped, "", "r2")),
      stamped(start(1, "bot", "replace", "r2"), "2026-11-23T12:05:00.000Z"),
  };
  const std::string t = "2026-11-23T12:00:00.123Z";
  auto steps = last_steps(recs);
  EXPECT_EQ(steps, (std::map<std::string, LastStep>{
                       {"", {"r1", 0, "repair", t, Outcome::Ok, false, ""}},
                       {"bot", {"r2", 1, "replace", "2026-11-23T12:05:00.000Z", std::nullopt, false, ""}},
                       {"db", {"r2", 0, "start", t, Outcome::Skipped, false, ""}},
                       {"web", {"r1", 3, "restart", t, std::nullopt, false, ""}},
                   }));
  // The failure is what the instance shows until a later step ends.
  recs.pop_back();
  EXPECT_EQ(last_steps(recs)["bot"],
            (LastStep{"r1", 1, "create", t, Outcome::Failed, false, "health gate: /ready timed out after 60 s"}));
  // The caller's own run is still going: its open step is running.
  recs.push_back(stamped(start(1, "bot", "replace", "r2")));
  steps = last_steps(recs, "r2");
  EXPECT_STREQ(state_text(steps["bot"]), "running");
  EXPECT_STREQ(state_text(steps["web"]), "interrupted");
  EXPECT_STREQ(state_text(LastStep{"r", 0, "create", "", Outcome::Skipped, false, ""}), "skipped");
}

TEST(JournalRunId, SixteenHexDigitsAndFresh) {
  auto a = new_run_id(), b = new_run_id();
  EXPECT_EQ(a.size(), 16u);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(a, b);
  EXPECT_EQ(rfc3339_millis(noon()), "2026-11-23T12:00:00.123Z");
}

TEST(FakeJournalPort, RecordsAppends) {
  cf::testing::FakeJournal j;
  ASSERT_TRUE(j.append(start(1, "bot", "create")).ok());
  ASSERT_TRUE(j.append(end(1, "bot", "create", Outcome::Ok)).ok());
  EXPECT_EQ(j.calls, (std::vector<std::string>{"append 1 bot create start", "append 1 bot create end ok"}));
  EXPECT_EQ(j.read(1).value().records,
            (std::vector<JournalRecord>{stamped(end(1, "bot", "create", Outcome::Ok), "2026-01-01T00:00:00.000Z")}));
  j.fail_appends = true;
  EXPECT_EQ(j.append(start(2, "", "repair")).error().message, "injected failure: journal append");
}

}  // namespace
}  // namespace cf::apply
