// The real event source on a temporary directory: inotify events for
// manifests, editor files ignored, the directory replaced (symlink swap,
// deleted and made again) is watched anew, SIGHUP and SIGTERM through the
// signalfd, interrupt() from another thread.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "agent/real.h"

namespace cf::agent {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono;

TEST(AgentIgnoredNames, EditorAndToolFiles) {
  for (const char* name : {".fleet.yaml.swp", ".#fleet.yaml", "#fleet.yaml#", "fleet.yaml~", "fleet.yaml.swp",
                           "fleet.yaml.swx", "fleet.yaml.tmp", "4913", ".hidden.yaml", "fleet.yaml.dpkg-new"})
    EXPECT_TRUE(ignored_name(name)) << name;
  for (const char* name : {"fleet.yaml", "bots.yml", "README.md", "4914"}) EXPECT_FALSE(ignored_name(name)) << name;
}

class AgentRealEvents : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cf-agent-events-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    sigset_t none;
    sigemptyset(&none);
    ::pthread_sigmask(SIG_BLOCK, &none, &saved_);
  }
  void TearDown() override {
    source_.reset();
    // Drop what the test raised, then give the test process its mask back.
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGHUP, SIGTERM, SIGINT}) sigaddset(&set, sig);
    timespec zero{0, 0};
    while (::sigtimedwait(&set, nullptr, &zero) > 0) {}
    ::pthread_sigmask(SIG_SETMASK, &saved_, nullptr);
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  void watch(const std::string& dir) {
    auto s = watch_manifests({dir});
    ASSERT_TRUE(s) << s.error().message;
    source_ = std::move(s.value());
  }
  // Everything that arrives within `quiet` of the last event.
  std::vector<Event> drain(milliseconds quiet = milliseconds(100)) {
    std::vector<Event> all;
    for (;;) {
      auto got = source_->wait(quiet);
      EXPECT_TRUE(got);
      if (!got || got.value().empty()) return all;
      all.insert(all.end(), got.value().begin(), got.value().end());
    }
  }
  static void write(const fs::path& p, const std::string& text = "x: 1\n") { std::ofstream(p) << text; }

  fs::path root_;
  sigset_t saved_;
  std::unique_ptr<EventSource> source_;
};

TEST_F(AgentRealEvents, ManifestWritesCountEditorFilesDoNot) {
  fs::create_directory(root_ / "etc");
  watch((root_ / "etc").string());
  write(root_ / "etc/.fleet.yaml.swp");
  write(root_ / "etc/4913");
  write(root_ / "etc/fleet.yaml~");
  EXPECT_EQ(drain(), std::vector<Event>{});
  write(root_ / "etc/fleet.yaml");
  auto events = drain();
  ASSERT_FALSE(events.empty());
  for (const auto& e : events) EXPECT_EQ(e, (Event{EventKind::ManifestChanged, (root_ / "etc/fleet.yaml").string()}));
  fs::rename(root_ / "etc/fleet.yaml", root_ / "etc/other.yaml");
  EXPECT_EQ(drain().size(), 2u);  // moved from, moved to
  fs::remove(root_ / "etc/other.yaml");
  EXPECT_EQ(drain(), (std::vector<Event>{{EventKind::ManifestChanged, (root_ / "etc/other.yaml").string()}}));
}

// `ln -sfn v2 etc`: the path names another directory from then on.
TEST_F(AgentRealEvents, ASymlinkSwapIsFollowed) {
  fs::create_directory(root_ / "v1");
  fs::create_directory(root_ / "v2");
  fs::create_directory_symlink("v1", root_ / "etc");
  watch((root_ / "etc").string());
  fs::create_directory_symlink("v2", root_ / "etc.new");
  fs::rename(root_ / "etc.new", root_ / "etc");
  auto events = drain();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events[0].detail, (root_ / "etc").string() + " replaced");
  write(root_ / "v1/old.yaml");
  EXPECT_EQ(drain(), std::vector<Event>{});
  write(root_ / "v2/new.yaml");
  EXPECT_FALSE(drain().empty());
}

// A git checkout that removes the directory and makes it again.
TEST_F(AgentRealEvents, ADirectoryDeletedAndMadeAgainIsWatchedAgain) {
  fs::create_directory(root_ / "etc");
  write(root_ / "etc/a.yaml");
  watch((root_ / "etc").string());
  fs::remove_all(root_ / "etc");
  EXPECT_FALSE(drain().empty());
  fs::create_directory(root_ / "etc");
  EXPECT_FALSE(drain().empty());
  write(root_ / "etc/b.yaml");
  auto events = drain();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().detail, (root_ / "etc/b.yaml").string());
}

TEST_F(AgentRealEvents, AMissingDirectoryIsWaitedFor) {
  watch((root_ / "etc").string());
  fs::create_directory(root_ / "etc");
  EXPECT_FALSE(drain().empty());
  write(root_ / "etc/a.yaml");
  EXPECT_FALSE(drain().empty());
}

TEST_F(AgentRealEvents, SignalsAndInterrupt) {
  fs::create_directory(root_ / "etc");
  watch((root_ / "etc").string());
  ASSERT_EQ(::raise(SIGHUP), 0);
  EXPECT_EQ(drain(), (std::vector<Event>{{EventKind::Reload, "SIGHUP"}}));
  ASSERT_EQ(::raise(SIGTERM), 0);
  EXPECT_EQ(drain(), (std::vector<Event>{{EventKind::Stop, "SIGTERM"}}));

  const auto t0 = steady_clock::now();
  std::thread t([&] {
    std::this_thread::sleep_for(milliseconds(50));
    source_->interrupt();
  });
  auto got = source_->wait(seconds(10));
  t.join();
  ASSERT_TRUE(got);
  EXPECT_TRUE(got.value().empty());
  EXPECT_LT(steady_clock::now() - t0, seconds(5));
}

// `-f FILE…`: each file through its directory, each directory once; a
// bare file name is in the working directory (it was watched as if it
// were a directory, so an editor's rename-over went unnoticed).
TEST(AgentManifestDirectories, TheDirectoryOrEachFilesDirectory) {
  EXPECT_EQ(manifest_directories("/etc/clawfleet", {}), std::vector<std::string>{"/etc/clawfleet"});
  EXPECT_EQ(manifest_directories("/etc/clawfleet", {"fleet.yaml"}), std::vector<std::string>{"."});
  EXPECT_EQ(manifest_directories("/etc/clawfleet",
                                 {"/etc/a/x.yaml", "/etc/a/y.yaml", "/srv/b.yaml", "/top.yaml", "c/d.yaml"}),
            (std::vector<std::string>{"/etc/a", "/srv", "/", "c"}));
}

// Files in two directories, one the parent of the other: a rename-over in
// either is seen (the shared inotify descriptor keeps both masks).
TEST_F(AgentRealEvents, EachFilesDirectoryIsWatched) {
  fs::create_directories(root_ / "etc/sub");
  auto s =
      watch_manifests(manifest_directories("", {(root_ / "etc/sub/a.yaml").string(), (root_ / "etc/b.yaml").string()}));
  ASSERT_TRUE(s) << s.error().message;
  source_ = std::move(s.value());
  write(root_ / "etc/sub/.a.yaml.tmp");
  fs::rename(root_ / "etc/sub/.a.yaml.tmp", root_ / "etc/sub/a.yaml");
  auto events = drain();
  EXPECT_NE(
      std::find(events.begin(), events.end(), Event{EventKind::ManifestChanged, (root_ / "etc/sub/a.yaml").string()}),
      events.end());
  write(root_ / "etc/.b.yaml.tmp");
  fs::rename(root_ / "etc/.b.yaml.tmp", root_ / "etc/b.yaml");
  events = drain();
  EXPECT_NE(std::find(events.begin(), events.end(), Event{EventKind::ManifestChanged, (root_ / "etc/b.yaml").string()}),
            events.end());
}

// The agent's files are written by the host's writer: exact mode, no temp
// file left, a temp name the stale-temp cleanup knows, no directory made
// but the one asked for.
TEST_F(AgentRealEvents, TheRealFileWriterIsTheHostsAtomicWriter) {
  auto writer = real_file_writer();
  const fs::path state = root_ / "state";
  auto missing = writer->write_atomic((state / "agent-status.json").string(), "{}\n", 0644);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find((state / ".agent-status.json.cf-tmp.").string()), std::string::npos)
      << missing.error().message;
  EXPECT_FALSE(fs::exists(state));

  ASSERT_TRUE(writer->ensure_dir(state.string(), 0700));
  EXPECT_EQ(fs::status(state).permissions(), fs::perms::owner_all);
  ASSERT_TRUE(writer->write_atomic((state / "agent-status.json").string(), "{}\n", 0644));
  EXPECT_EQ(fs::status(state / "agent-status.json").permissions(),
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(state)) names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"agent-status.json"});
}

TEST_F(AgentRealEvents, AMissingParentIsAnError) {
  auto s = watch_manifests({(root_ / "no/such").string()});
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "cannot watch " + (root_ / "no").string() + ": No such file or directory");
}

}  // namespace
}  // namespace cf::agent
