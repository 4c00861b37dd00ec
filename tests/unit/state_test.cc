#include "host/state/state.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "fakes/files.h"
#include "host/state/files.h"

namespace cf::host {
namespace {

using cf::testing::mode_of;

namespace fs = std::filesystem;

class State : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("cf-state-" + std::to_string(::getpid()));
    fs::remove_all(root_);
    store_ = state_store_at(root_.string());
  }
  void TearDown() override { fs::remove_all(root_); }

  InstanceRecord record(const std::string& name) {
    return InstanceRecord{
        name,
        Allocation{parse_ipv4("172.29.0.2").value(), parse_mac("06:fc:ac:1d:00:02").value(), 18900, "cf0123456789abc"},
        "sha256:abc",
        std::nullopt,
        true,
        {{"spec.model", "ollama/qwen3"}, {"spec.resources.vcpus", "2"}}};
  }

  fs::path root_;
  std::unique_ptr<StateStore> store_;
};

TEST_F(State, AbsentStateIsEmpty) {
  EXPECT_EQ(store_->read_inventory().value(), Inventory{});
  EXPECT_FALSE(store_->read_instance("bot").value());
  EXPECT_TRUE(store_->instance_dirs().value().empty());
  EXPECT_FALSE(store_->inspect("bot").value().exists);
  EXPECT_TRUE(store_->remove_instance("bot").ok());
}

TEST_F(State, InstanceRoundTripWithModes) {
  InstanceRecord rec = record("bot");
  rec.applied_generation = "g-7";
  ASSERT_TRUE(store_->write_instance(rec).ok());
  EXPECT_EQ(store_->read_instance("bot").value(), rec);
  EXPECT_EQ(mode_of(root_ / "instances"), 0711u);
  EXPECT_EQ(mode_of(root_ / "instances/bot"), 0710u);
  EXPECT_EQ(mode_of(root_ / "instances/bot/instance.json"), 0600u);
  EXPECT_EQ(store_->instance_dirs().value(), std::vector<std::string>{"bot"});
  auto info = store_->inspect("bot").value();
  EXPECT_TRUE(info.exists);
  EXPECT_EQ(info.mode, 0710u);
  EXPECT_EQ(info.files, (std::map<std::string, mode_t>{{"instance.json", 0600}}));
}

TEST_F(State, InventoryRoundTrip) {
  Inventory inv;
  inv.instances["a"] = {"cfaaaa", false};
  inv.instances["b"] = {"cfbbbb", true};
  ASSERT_TRUE(store_->write_inventory(inv).ok());
  EXPECT_EQ(store_->read_inventory().value(), inv);
  EXPECT_EQ(mode_of(root_ / "inventory.json"), 0600u);
}

// clawfleet never changes the mode of a directory it did not create: an
// operator's existing state root keeps its own; what clawfleet owns below
// it (instances/, an instance's directory) gets its mode back.
TEST_F(State, AnExistingStateRootKeepsItsModeClawfleetsDirectoriesDoNot) {
  fs::create_directories(root_ / "instances/bot");
  ::chmod(root_.c_str(), 0750);
  ::chmod((root_ / "instances").c_str(), 0755);
  ::chmod((root_ / "instances/bot").c_str(), 0755);
  ASSERT_TRUE(store_->write_inventory(Inventory{}).ok());
  ASSERT_TRUE(store_->ensure_token("bot").ok());
  EXPECT_EQ(mode_of(root_), 0750u);
  EXPECT_EQ(mode_of(root_ / "instances"), 0711u);
  EXPECT_EQ(mode_of(root_ / "instances/bot"), 0710u);
  // Missing, it is made 0711 (each VMM passes through it).
  fs::remove_all(root_);
  ASSERT_TRUE(store_->write_inventory(Inventory{}).ok());
  EXPECT_EQ(mode_of(root_), 0711u);
}

TEST_F(State, TokenIsMadeOnceAndKeptSecret) {
  auto t1 = store_->ensure_token("bot");
  ASSERT_TRUE(t1.ok()) << t1.error().message;
  EXPECT_EQ(t1.value().size(), 64u);
  EXPECT_EQ(store_->ensure_token("bot").value(), t1.value());
  EXPECT_EQ(mode_of(root_ / "instances/bot/token"), 0600u);
  EXPECT_NE(state_store_at((root_ / "other").string())->ensure_token("bot").value(), t1.value());
}

TEST_F(State, BadStateFilesAreReportedNotReplaced) {
  ASSERT_TRUE(ensure_dir((root_ / "instances/bot").string(), 0700).ok());
  std::ofstream(root_ / "instances/bot/instance.json") << "{\"format\": 2}";
  EXPECT_EQ(store_->read_instance("bot").error().message,
            "state file " + (root_ / "instances/bot/instance.json").string() + ": unknown format (want \"format\": 1)");
  std::ofstream(root_ / "inventory.json") << "{not json";
  EXPECT_NE(store_->read_inventory().error().message.find("state file " + (root_ / "inventory.json").string() + ": "),
            std::string::npos);
  std::ofstream(root_ / "instances/bot/token") << "short\n";
  EXPECT_EQ(store_->ensure_token("bot").error().message,
            "state file " + (root_ / "instances/bot/token").string() + ": not a 64-hex-digit token");
}

TEST_F(State, InstanceNamesAreCheckedSoPathsStayInside) {
  EXPECT_EQ(store_->remove_instance("../etc").error().message, "not an instance name: \"../etc\"");
  EXPECT_FALSE(store_->read_instance("a/b").ok());
  EXPECT_FALSE(store_->ensure_token("..").ok());
}

// kill -9 during a write of instance.json leaves its temp file; the next
// write of the record (every step writes it) removes it.
TEST_F(State, WritingTheRecordRemovesAKilledWritersTempFile) {
  ASSERT_TRUE(store_->write_instance(record("bot")).ok());
  std::ofstream(root_ / "instances/bot/.instance.json.cf-tmp.717") << "torn";
  ASSERT_TRUE(store_->write_instance(record("bot")).ok());
  EXPECT_FALSE(fs::exists(root_ / "instances/bot/.instance.json.cf-tmp.717"));
  EXPECT_TRUE(fs::exists(root_ / "instances/bot/instance.json"));
}

TEST_F(State, WritingTheInventoryRemovesOnlyItsOwnLeftovers) {
  ASSERT_TRUE(store_->write_inventory(Inventory{}).ok());
  std::ofstream(root_ / ".inventory.json.cf-tmp.717") << "torn";
  std::ofstream(root_ / ".agent-status.json.cf-tmp.718") << "the agent's, being written";
  ASSERT_TRUE(store_->write_inventory(Inventory{}).ok());
  EXPECT_FALSE(fs::exists(root_ / ".inventory.json.cf-tmp.717"));
  EXPECT_TRUE(fs::exists(root_ / ".agent-status.json.cf-tmp.718"));
}

TEST_F(State, RemoveInstanceRemovesEverything) {
  ASSERT_TRUE(store_->write_instance(record("bot")).ok());
  ASSERT_TRUE(store_->ensure_token("bot").ok());
  std::ofstream(root_ / "instances/bot/rootfs.ext4") << "disk";
  ASSERT_TRUE(store_->remove_instance("bot").ok());
  EXPECT_FALSE(fs::exists(root_ / "instances/bot"));
  EXPECT_TRUE(store_->instance_dirs().value().empty());
}

// metadata.previousNames: the directory moves in one rename(2) and its
// record is rewritten to name the new instance; a rename killed between the
// two leaves a record the directory's name wins over, which a copied
// directory (its original still there) does not get.
TEST_F(State, RenameMovesTheDirectoryAndItsRecordAndCanBeRepeated) {
  ASSERT_TRUE(store_->write_instance(record("alpha")).ok());
  ASSERT_TRUE(store_->ensure_token("alpha").ok());
  const std::string token = *store_->read_token("alpha").value();
  ASSERT_TRUE(store_->rename_instance("alpha", "omega").ok());
  EXPECT_FALSE(fs::exists(root_ / "instances/alpha"));
  EXPECT_EQ(store_->read_instance("omega").value(), record("omega"));
  EXPECT_EQ(*store_->read_token("omega").value(), token);
  EXPECT_TRUE(store_->rename_instance("alpha", "omega").ok());  // done before

  fs::rename(root_ / "instances/omega", root_ / "instances/moved");  // as if killed after the rename
  EXPECT_EQ(store_->read_instance("moved").value(), record("moved"));
  ASSERT_TRUE(store_->rename_instance("omega", "moved").ok());
  EXPECT_EQ(store_->read_instance("moved").value(), record("moved"));
  std::ifstream in(root_ / "instances/moved/instance.json");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(text.find("\"moved\""), std::string::npos) << text;

  ASSERT_TRUE(store_->write_instance(record("copy")).ok());
  fs::copy_file(root_ / "instances/moved/instance.json", root_ / "instances/copy/instance.json",
                fs::copy_options::overwrite_existing);
  EXPECT_EQ(store_->read_instance("copy").error().message,
            "state file " + (root_ / "instances/copy").string() + "/instance.json: names instance \"moved\"");

  EXPECT_FALSE(store_->rename_instance("gone", "other").ok());
  EXPECT_FALSE(store_->rename_instance("copy", "moved").ok());  // never over another instance
  EXPECT_TRUE(fs::exists(root_ / "instances/copy"));
}

TEST(Files, AtomicWriteLeavesNoTempFileAndExactMode) {
  auto dir = fs::temp_directory_path() / ("cf-files-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  ASSERT_TRUE(ensure_dir((dir / "a/b").string(), 0700).ok());
  EXPECT_EQ(mode_of(dir / "a"), 0755u);
  EXPECT_EQ(mode_of(dir / "a/b"), 0700u);
  ::umask(0077);
  ASSERT_TRUE(write_file_atomic((dir / "a/b/f").string(), "one", 0644).ok());
  ::umask(0022);
  EXPECT_EQ(mode_of(dir / "a/b/f"), 0644u);
  ASSERT_TRUE(write_file_atomic((dir / "a/b/f").string(), "two", 0600).ok());
  std::ifstream in(dir / "a/b/f");
  std::string content((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(content, "two");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir / "a/b"), fs::directory_iterator()), 1);
  // A crashed writer's temp file is cleaned up by the next run.
  std::ofstream(dir / "a/b/.f.cf-tmp.12345") << "torn";
  ASSERT_TRUE(remove_stale_temp_files((dir / "a/b").string()).ok());
  EXPECT_FALSE(fs::exists(dir / "a/b/.f.cf-tmp.12345"));
  EXPECT_TRUE(fs::exists(dir / "a/b/f"));
  EXPECT_TRUE(remove_file((dir / "a/b/f").string()).ok());
  EXPECT_TRUE(remove_file((dir / "a/b/f").string()).ok());
  EXPECT_EQ(write_file_atomic((dir / "missing/f").string(), "x", 0600).error().message,
            "cannot create " + (dir / "missing/.f.cf-tmp.").string() + std::to_string(::getpid()) +
                ": No such file or directory");
  fs::remove_all(dir);
}

// A VM that starts while its launch record is rewritten reads it as its
// VMM's group: a replaced file keeps its group; a new one has the writer's.
TEST(Files, AReplacedFileKeepsItsGroup) {
  if (::geteuid() != 0) GTEST_SKIP() << "giving a file another group needs root";
  auto dir = fs::temp_directory_path() / ("cf-files-group-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  ASSERT_TRUE(ensure_dir(dir.string(), 0700).ok());
  const std::string f = (dir / "launch.json").string();
  ASSERT_TRUE(write_file_atomic(f, "one", 0640).ok());
  struct stat st;
  ASSERT_EQ(::stat(f.c_str(), &st), 0);
  EXPECT_EQ(st.st_gid, ::getegid());
  ASSERT_EQ(::chown(f.c_str(), 0, 64123), 0);
  ASSERT_TRUE(write_file_atomic(f, "two", 0640).ok());
  ASSERT_EQ(::stat(f.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_gid, 64123u);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cf::host

#include "fakes/fake_state_store.h"

namespace cf::host {
namespace {

TEST_F(State, InstanceFilesAreWrittenAtomicallyWithTheirMode) {
  ASSERT_TRUE(store_->write_instance(record("bot")).ok());
  ASSERT_TRUE(store_->write_file("bot", "launch.json", "{}\n", 0600));
  ASSERT_TRUE(store_->write_file("bot", "proxy.env", "CLAWFLEET_GUEST=172.29.0.2:18789\n", 0644));
  EXPECT_EQ(mode_of(root_ / "instances/bot/launch.json"), 0600u);
  EXPECT_EQ(mode_of(root_ / "instances/bot/proxy.env"), 0644u);
  EXPECT_EQ(store_->inspect("bot").value().files,
            (std::map<std::string, mode_t>{{"instance.json", 0600}, {"launch.json", 0600}, {"proxy.env", 0644}}));
  for (const char* bad : {"../inventory.json", "a/b", "", "..", "instance.json"}) {
    auto s = store_->write_file("bot", bad, "x", 0600);
    ASSERT_FALSE(s) << bad;
    EXPECT_EQ(s.error().message, std::string("not a file clawfleet writes in an instance directory: \"") + bad + "\"");
  }
  EXPECT_EQ(store_->write_file("Bot", "x", "x", 0600).error().message, "not an instance name: \"Bot\"");
}

TEST(FakeStateStore, BehavesLikeTheRealOneAndRecordsCalls) {
  testing::FakeStateStore fake;
  InstanceRecord rec{"bot", {}, "sha256:x", std::nullopt, false, {}};
  ASSERT_TRUE(fake.write_instance(rec).ok());
  EXPECT_EQ(fake.read_instance("bot").value(), rec);
  auto token = fake.ensure_token("bot").value();
  EXPECT_EQ(fake.ensure_token("bot").value(), token);
  EXPECT_EQ(fake.inspect("bot").value().files,
            (std::map<std::string, mode_t>{{"instance.json", 0600}, {"token", 0600}}));
  ASSERT_TRUE(fake.remove_instance("bot").ok());
  EXPECT_FALSE(fake.read_instance("bot").value());
  fake.fail_writes = true;
  EXPECT_EQ(fake.write_instance(rec).error().message, "injected failure: write_instance bot");
  EXPECT_EQ(fake.calls, (std::vector<std::string>{"write_instance bot", "read_instance bot", "ensure_token bot",
                                                  "ensure_token bot", "inspect bot", "remove_instance bot",
                                                  "read_instance bot", "write_instance bot"}));
}

}  // namespace
}  // namespace cf::host
