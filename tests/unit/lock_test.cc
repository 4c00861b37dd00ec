#include "apply/lock.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "core/time.h"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fakes/fake_lock.h"
#include "fakes/files.h"

namespace cf::apply {
namespace {

using cf::testing::mode_of;
using cf::testing::slurp;

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using std::chrono::milliseconds;

std::chrono::system_clock::time_point at_noon() {
  return std::chrono::sys_days{std::chrono::year{2026} / 11 / 23} + 12h;
}

LockClock fixed_clock() {
  LockClock c;
  c.now = at_noon;
  return c;
}

// A second writer is another process: flock belongs to the open file
// description, and each process opens its own.
class Lock : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("cf-lock-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    path_ = (root_ / "run/clawfleet/lock").string();
  }
  void TearDown() override {
    release_child();
    fs::remove_all(root_);
  }

  // Forks a child that takes the lock (op "apply", since noon) and holds it
  // until release_child(), or for hold_for when given; returns once it holds.
  void hold_in_child(std::optional<milliseconds> hold_for = std::nullopt) {
    int ready[2], release[2];
    ASSERT_EQ(::pipe(ready), 0);
    ASSERT_EQ(::pipe(release), 0);
    child_ = ::fork();
    ASSERT_GE(child_, 0);
    if (child_ == 0) {
      ::close(ready[0]);
      ::close(release[1]);
      auto guard = lock_at(path_, fixed_clock())->acquire("apply", 0ms);
      char c = guard ? 'L' : 'E';
      (void)!::write(ready[1], &c, 1);
      if (hold_for) {
        ::usleep(useconds_t(hold_for->count() * 1000));
        if (guard) guard.value().release();
      } else {
        (void)!::read(release[0], &c, 1);  // EOF when the parent lets go
      }
      ::_exit(0);
    }
    ::close(ready[1]);
    ::close(release[0]);
    release_fd_ = release[1];
    char c = 0;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    ::close(ready[0]);
    ASSERT_EQ(c, 'L');
  }

  void release_child() {
    if (release_fd_ >= 0) ::close(release_fd_);
    release_fd_ = -1;
    if (child_ > 0) ::waitpid(child_, nullptr, 0);
    child_ = -1;
  }

  std::string busy(const std::string& holder, const std::string& gave_up) {
    return "another clawfleet holds " + path_ + ": " + holder + "; gave up after " + gave_up;
  }

  fs::path root_;
  std::string path_;
  pid_t child_ = -1;
  int release_fd_ = -1;
};

TEST_F(Lock, AcquireWritesHolderRecordAndReleaseClearsIt) {
  auto lock = lock_at(path_, fixed_clock());
  {
    auto guard = lock->acquire("apply", 0ms);
    ASSERT_TRUE(guard.ok()) << guard.error().message;
    EXPECT_TRUE(guard.value().held());
    EXPECT_EQ(slurp(path_), "{\"pid\":" + std::to_string(::getpid()) +
                                ",\"operation\":\"apply\",\"since\":\"2026-11-23T12:00:00Z\"}\n");
    EXPECT_EQ(mode_of(path_), 0600u);
    EXPECT_EQ(mode_of(root_ / "run/clawfleet"), 0755u);
  }
  EXPECT_EQ(slurp(path_), "");
  // Released: it can be taken again, by another operation.
  auto again = lock->acquire("agent", 0ms);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_NE(slurp(path_).find("\"operation\":\"agent\""), std::string::npos);
}

TEST_F(Lock, FixesTheModeOfAnExistingLockFile) {
  fs::create_directories(root_ / "run/clawfleet");
  std::ofstream(path_) << "";
  fs::permissions(path_, fs::perms(0644));
  auto guard = lock_at(path_)->acquire("apply", 0ms);
  ASSERT_TRUE(guard.ok()) << guard.error().message;
  EXPECT_EQ(mode_of(path_), 0600u);
}

TEST_F(Lock, DescriptorIsCloseOnExec) {
  auto guard = lock_at(path_)->acquire("apply", 0ms);
  ASSERT_TRUE(guard.ok()) << guard.error().message;
  int found = 0;
  for (const auto& e : fs::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    if (fs::read_symlink(e.path(), ec) != fs::path(path_)) continue;
    ++found;
    EXPECT_TRUE(::fcntl(std::stoi(e.path().filename()), F_GETFD) & FD_CLOEXEC);
  }
  EXPECT_EQ(found, 1);
}

TEST_F(Lock, SecondWriterFailsAtOnceNamingTheHolder) {
  hold_in_child();
  auto start = std::chrono::steady_clock::now();
  auto r = lock_at(path_, fixed_clock())->acquire("apply", 0ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, busy("pid " + std::to_string(child_) + " (apply), since 2026-11-23T12:00:00Z",
                                    "0 s (use --lock-timeout to wait)"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

TEST_F(Lock, WaiterGetsTheLockWhenTheHolderReleasesWithinTheTimeout) {
  hold_in_child(150ms);
  auto start = std::chrono::steady_clock::now();
  auto r = lock_at(path_, fixed_clock())->acquire("agent", 5000ms);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_NE(slurp(path_).find("\"pid\":" + std::to_string(::getpid())), std::string::npos);
}

TEST_F(Lock, WaiterGivesUpAtTheDeadlineNamingTheHolder) {
  hold_in_child();
  auto start = std::chrono::steady_clock::now();
  auto r = lock_at(path_, fixed_clock())->acquire("apply", 200ms);
  ASSERT_FALSE(r.ok());
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
  EXPECT_EQ(r.error().message, busy("pid " + std::to_string(child_) + " (apply), since 2026-11-23T12:00:00Z",
                                    "0.2 s (raise --lock-timeout to wait longer)"));
}

TEST_F(Lock, PollsAtTheIntervalUntilTheDeadlineWithAnInjectedClock) {
  hold_in_child();
  auto t = std::chrono::steady_clock::time_point{};
  std::vector<long> sleeps;
  LockClock clock = fixed_clock();
  clock.monotonic = [&] { return t; };
  clock.sleep = [&](milliseconds d) {
    sleeps.push_back(long(d.count()));
    t += d;
  };
  clock.poll_every = 50ms;
  auto r = lock_at(path_, clock)->acquire("apply", 120ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(sleeps, (std::vector<long>{50, 50, 20}));
  EXPECT_EQ(r.error().message, busy("pid " + std::to_string(child_) + " (apply), since 2026-11-23T12:00:00Z",
                                    "0.12 s (raise --lock-timeout to wait longer)"));
}

TEST_F(Lock, StaleRecordOfADeadProcessDoesNotBlock) {
  // The child takes the lock and dies without releasing it (no destructor
  // runs after _exit): its record stays, its flock goes with it.
  pid_t dead = ::fork();
  ASSERT_GE(dead, 0);
  if (dead == 0) {
    auto guard = lock_at(path_, fixed_clock())->acquire("apply", 0ms);
    ::_exit(guard ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(dead, &status, 0), dead);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(slurp(path_), format_lock_record({long(dead), "apply", "2026-11-23T12:00:00Z"}));

  auto r = lock_at(path_, fixed_clock())->acquire("agent", 0ms);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(slurp(path_), format_lock_record({long(::getpid()), "agent", "2026-11-23T12:00:00Z"}));
}

// A holder between flock and writing its record, or a foreign file.
TEST_F(Lock, UnreadableOrEmptyRecordSaysHolderUnknown) {
  fs::create_directories(root_ / "run/clawfleet");
  int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX), 0);  // another open file description in this process
  auto lock = lock_at(path_, fixed_clock());

  auto r = lock->acquire("apply", 0ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, busy("holder unknown (the lock file is empty)", "0 s (use --lock-timeout to wait)"));

  ASSERT_EQ(::pwrite(fd, "garbage\x1b[31m\n", 13, 0), 13);
  r = lock->acquire("apply", 0ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, busy("holder unknown (the lock file does not hold a clawfleet record)",
                                    "0 s (use --lock-timeout to wait)"));
  ::close(fd);
  EXPECT_TRUE(lock->acquire("apply", 0ms).ok());
}

TEST(LockRecord, ParsesOnlyWhatClawfleetWrites) {
  LockHolder h{4242, "apply", "2026-11-23T12:00:00Z"};
  EXPECT_EQ(format_lock_record(h), "{\"pid\":4242,\"operation\":\"apply\",\"since\":\"2026-11-23T12:00:00Z\"}\n");
  EXPECT_EQ(parse_lock_record(format_lock_record(h)), h);
  EXPECT_FALSE(parse_lock_record(""));
  EXPECT_FALSE(parse_lock_record("{\"pid\":4242,\"operation\":\"apply\"}"));
  EXPECT_FALSE(parse_lock_record("{\"pid\":-1,\"operation\":\"apply\",\"since\":\"2026-11-23T12:00:00Z\"}"));
  EXPECT_FALSE(parse_lock_record("{\"pid\":1,\"operation\":\"a\\u001b[2J\",\"since\":\"2026-11-23T12:00:00Z\"}"));
  EXPECT_FALSE(parse_lock_record("{\"pid\":1,\"operation\":\"apply\",\"since\":\"yesterday\"}"));
  EXPECT_FALSE(parse_lock_record("{\"pid\":4242,\"operation\":\"apply\",\"since\":\"2026-11-23T12:00:0"));
}

TEST(LockRecord, BusyMessages) {
  const std::string rec = format_lock_record({4242, "apply", "2026-11-23T12:00:00Z"});
  EXPECT_EQ(lock_busy_message("/run/clawfleet/lock", rec, 0ms),
            "another clawfleet holds /run/clawfleet/lock: pid 4242 (apply), since 2026-11-23T12:00:00Z; "
            "gave up after 0 s (use --lock-timeout to wait)");
  EXPECT_EQ(lock_busy_message("/run/clawfleet/lock", rec, 1500ms),
            "another clawfleet holds /run/clawfleet/lock: pid 4242 (apply), since 2026-11-23T12:00:00Z; "
            "gave up after 1.5 s (raise --lock-timeout to wait longer)");
  EXPECT_EQ(
      lock_busy_message("/run/clawfleet/lock", Error{"cannot read /run/clawfleet/lock: Input/output error"}, 2000ms),
      "another clawfleet holds /run/clawfleet/lock: holder unknown (cannot read /run/clawfleet/lock: "
      "Input/output error); gave up after 2 s (raise --lock-timeout to wait longer)");
  EXPECT_EQ(rfc3339(at_noon() + 999ms), "2026-11-23T12:00:00Z");
}

TEST(LockGuard, MovesAndReleasesOnce) {
  int released = 0;
  {
    LockGuard a([&] { ++released; });
    LockGuard b(std::move(a));
    EXPECT_FALSE(a.held());
    EXPECT_TRUE(b.held());
    LockGuard c;
    EXPECT_FALSE(c.held());
    c = std::move(b);
    EXPECT_EQ(released, 0);
    c = LockGuard([&] { released += 10; });  // the old lock is released first
    EXPECT_EQ(released, 1);
  }
  EXPECT_EQ(released, 11);
}

TEST(FakeLockPort, RecordsCallsAndSimulatesAHolder) {
  cf::testing::FakeLock lock;
  lock.simulate_holder({4242, "agent", "2026-11-23T12:00:00Z"}, 300ms);
  auto r = lock.acquire("apply", 0ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "another clawfleet holds /run/clawfleet/lock: pid 4242 (agent), since 2026-11-23T12:00:00Z; "
            "gave up after 0 s (use --lock-timeout to wait)");
  {
    auto g = lock.acquire("apply", 500ms);  // the holder leaves after 300 ms
    ASSERT_TRUE(g.ok()) << g.error().message;
    EXPECT_EQ(lock.held_by, "apply");
    EXPECT_FALSE(lock.acquire("agent", 0ms).ok());  // one writer, even in one process
  }
  EXPECT_FALSE(lock.held_by);
  EXPECT_EQ(lock.calls, (std::vector<std::string>{"acquire apply timeout=0ms", "acquire apply timeout=500ms",
                                                  "acquire agent timeout=0ms", "release apply"}));
}

}  // namespace
}  // namespace cf::apply
