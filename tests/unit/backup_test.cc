// backup_instance and restore_instance (apply/backup.h) on the fake host:
// what they read and refuse, and the order of the file work they ask of
// the Backups port.
#include "apply/backup.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fakes/fake_backups.h"
#include "fakes/fake_host.h"
#include "fakes/fleets.h"

namespace cf::apply {
namespace {

using cf::testing::FakeBackups;
using cf::testing::FakeHost;
using cf::testing::fleet_of;
using cf::testing::instance_yaml;

constexpr const char* kDir = "/var/lib/clawfleet/instances/bot";
const std::string kToken(64, 'c');

class Backup : public ::testing::Test {
 protected:
  void SetUp() override {
    fleet_ = fleet_of(instance_yaml("bot", "  resources: {dataDisk: 2GiB}\n"));
    host::InstanceRecord rec;
    rec.name = "bot";
    rec.applied_generation = "g7";
    rec.applied = {{"spec.image", "default"}, {"host.image.version", "v3"}, {"spec.model", "ollama/qwen3"}};
    host_.state.records["bot"] = rec;
    host_.state.tokens["bot"] = kToken;
    host_.disks.sizes[std::string(kDir) + "/data.img"] = 2ull << 30;
  }
  void running(const std::string& state) {
    host_.systemd.set_unit({model::vm_unit("bot"), "loaded", state, "running", "static", "", {}});
  }
  Result<BackupReport> backup(const std::string& name = "bot") {
    return backup_instance(fleet_.host, host_.ports(), backups_, {name, "/root/bot.b", "2026-12-07T12:00:00Z", "0.9"});
  }
  Result<RestoreReport> restore(const std::string& name = "bot") {
    return restore_instance(fleet_, host_.ports(), backups_, {name, "/root/bot.b"});
  }
  std::string error_of(const Result<BackupReport>& r) { return r ? "ok" : r.error().message; }
  std::string error_of(const Result<RestoreReport>& r) { return r ? "ok" : r.error().message; }

  model::Fleet fleet_;
  FakeHost host_;
  FakeBackups backups_;
};

TEST_F(Backup, AStoppedInstanceIsArchivedAsItIs) {
  running("inactive");
  auto r = backup();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r.value().snapshot);
  EXPECT_EQ(r.value().disk_bytes, 2ull << 30);
  EXPECT_EQ(backups_.calls,
            (std::vector<std::string>{
                "discard /var/lib/clawfleet/instances/bot/data.img.backup",
                "write_archive /root/bot.b instance.json=/var/lib/clawfleet/instances/bot/instance.json "
                "token=/var/lib/clawfleet/instances/bot/token "
                "data.img=/var/lib/clawfleet/instances/bot/data.img (sparse)"}));
  EXPECT_EQ(nlohmann::json::parse(backups_.abouts.at(0)), (nlohmann::json{{"instance", "bot"},
                                                                          {"createdAt", "2026-12-07T12:00:00Z"},
                                                                          {"consistency", "stopped"},
                                                                          {"clawfleet", "0.9"},
                                                                          {"dataDiskBytes", 2ull << 30},
                                                                          {"generation", "g7"},
                                                                          {"spec.image", "default"},
                                                                          {"host.image.version", "v3"}}));
}

TEST_F(Backup, ARunningInstanceIsArchivedFromASnapshotRemovedAfter) {
  for (const char* state : {"active", "activating", "deactivating"}) {
    backups_.calls.clear();
    running(state);
    auto r = backup();
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r.value().snapshot);
    EXPECT_EQ(backups_.calls,
              (std::vector<std::string>{
                  "discard /var/lib/clawfleet/instances/bot/data.img.backup",
                  "snapshot /var/lib/clawfleet/instances/bot/data.img "
                  "/var/lib/clawfleet/instances/bot/data.img.backup",
                  "write_archive /root/bot.b instance.json=/var/lib/clawfleet/instances/bot/instance.json "
                  "token=/var/lib/clawfleet/instances/bot/token "
                  "data.img=/var/lib/clawfleet/instances/bot/data.img.backup (sparse)",
                  "discard /var/lib/clawfleet/instances/bot/data.img.backup"}))
        << state;
    EXPECT_EQ(nlohmann::json::parse(backups_.abouts.back()).at("consistency"), "crash-consistent");
  }
  // The snapshot goes also when the archive could not be written.
  backups_.calls.clear();
  backups_.failures
      ["write_archive /root/bot.b instance.json=/var/lib/clawfleet/instances/bot/instance.json "
       "token=/var/lib/clawfleet/instances/bot/token "
       "data.img=/var/lib/clawfleet/instances/bot/data.img.backup (sparse)"] = "cannot write /root/bot.b";
  EXPECT_EQ(error_of(backup()), "cannot write /root/bot.b");
  EXPECT_EQ(backups_.calls.back(), "discard /var/lib/clawfleet/instances/bot/data.img.backup");
}

TEST_F(Backup, IsRefusedWithWhyAndHow) {
  running("active");
  backups_.failures
      ["snapshot /var/lib/clawfleet/instances/bot/data.img "
       "/var/lib/clawfleet/instances/bot/data.img.backup"] =
      "the filesystem of /var/lib/clawfleet/instances/bot cannot reflink (Operation not supported)";
  EXPECT_EQ(error_of(backup()),
            "bot is running, and its data disk cannot be snapshotted while it runs: the filesystem of "
            "/var/lib/clawfleet/instances/bot cannot reflink (Operation not supported); stop it first (spec.state: "
            "stopped, then clawfleet apply) and back it up stopped");
  EXPECT_EQ(backups_.calls.size(), 2u) << "nothing was written";
  EXPECT_EQ(error_of(backup("other")),
            "other is not on this host (no /var/lib/clawfleet/instances/other/instance.json)");
  EXPECT_EQ(error_of(backup("../bot")), "an instance name is a DNS label (lower-case letters, digits, -)");
  host_.disks.sizes.clear();
  EXPECT_EQ(error_of(backup()),
            "bot has no data disk: it was created before data disks and keeps its state on its root disk "
            "(docs/guest.md#the-data-disk), which a backup does not hold");
}

TEST_F(Backup, ARestoreChecksTheWholeArchiveBeforeItIsRenamedIntoPlace) {
  host_.state.records.clear();
  host_.state.tokens.clear();
  backups_.free = 10ull << 30;
  backups_.contents = {R"({"instance":"old-bot","createdAt":"2026-12-01T00:00:00Z","consistency":"stopped"})",
                       {{"data.img", 2ull << 30}, {"token", 65}, {"instance.json", 300}},
                       5 << 20,
                       {{"token", kToken + "\n"}, {"instance.json", "{}"}}};
  auto r = restore();
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r.value().from, "old-bot");
  EXPECT_EQ(r.value().created_at, "2026-12-01T00:00:00Z");
  EXPECT_EQ(r.value().consistency, "stopped");
  EXPECT_EQ(r.value().disk_bytes, 2ull << 30);
  EXPECT_EQ(r.value().data_bytes, 5u << 20);
  const std::string staging = "/var/lib/clawfleet/instances/.restore-bot";
  EXPECT_EQ(backups_.calls,
            (std::vector<std::string>{"free_bytes /var/lib/clawfleet", "discard " + staging,
                                      "read_archive /root/bot.b " + staging, "discard " + staging + "/instance.json",
                                      "install " + staging + " " + kDir}));
  // Only the files a backup holds, the data disk no larger than the
  // manifest's, all of them within the free space less a reserve.
  EXPECT_EQ(backups_.last_limits.files, (std::map<std::string, std::uint64_t>{
                                            {"data.img", 2ull << 30}, {"instance.json", 1 << 20}, {"token", 4096}}));
  EXPECT_EQ(backups_.last_limits.max_data_bytes, (10ull << 30) - kRestoreFreeReserve);

  // A bad token, or no data disk: refused, and what was read is discarded.
  for (auto texts :
       {std::map<std::string, std::string>{{"token", "not a token"}}, std::map<std::string, std::string>{}}) {
    backups_.calls.clear();
    backups_.contents.texts = texts;
    EXPECT_EQ(error_of(restore()),
              "/root/bot.b is not a backup clawfleet can restore: it holds no gateway token (64 hex "
              "digits)");
    EXPECT_EQ(backups_.calls.back(), "discard " + staging);
  }
  backups_.contents.texts = {{"token", kToken}};
  backups_.contents.files.erase("data.img");
  EXPECT_EQ(error_of(restore()), "/root/bot.b is not a backup clawfleet can restore: it holds no data disk");
  backups_.calls.clear();
  backups_.failures["read_archive /root/bot.b " + staging] = "/root/bot.b is not a backup clawfleet can restore: x";
  EXPECT_EQ(error_of(restore()), "/root/bot.b is not a backup clawfleet can restore: x");
  EXPECT_EQ(backups_.calls.back(), "discard " + staging);
}

TEST_F(Backup, ARestoreNeedsTheInstanceInAManifestAndNotOnTheHostUnlessToldToReplace) {
  EXPECT_EQ(error_of(restore()),
            "bot exists on this host: a restore recreates a destroyed instance, or replaces this "
            "one's data with --replace (what it has now is lost)");
  const std::string unfinished =
      ": a restore recreates a destroyed instance; apply first, to finish or undo what is "
      "there";
  host_.state.records.clear();
  host_.state.inventory.instances["bot"] = {"cf-tap-1", false};
  EXPECT_EQ(error_of(restore()),
            "bot exists on this host (in /var/lib/clawfleet/inventory.json, without its directory)" + unfinished);
  host_.state.inventory.instances.clear();
  host_.state.dirs["bot"].exists = true;
  EXPECT_EQ(error_of(restore()),
            "bot exists on this host (/var/lib/clawfleet/instances/bot is there, without its record)" + unfinished);
  EXPECT_EQ(error_of(restore("stranger")),
            "stranger is in no manifest: a restore brings back an instance's data, and its manifest says what the "
            "instance is");
  EXPECT_TRUE(backups_.calls.empty());
}

TEST_F(Backup, ARestoreThatReplacesStopsTheGuestFirst) {
  backups_.contents = {
      R"({"instance":"bot"})", {{"data.img", 2ull << 30}, {"token", 65}}, 1 << 20, {{"token", kToken}}};
  host_.systemd.set_unit({model::vm_unit("bot"), "loaded", "active", "running", "static", "", {}});
  RestoreRequest req{"bot", "/root/bot.b", true, false, std::chrono::seconds(7)};
  auto r = restore_instance(fleet_, host_.ports(), backups_, req);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r.value().replaced);
  const std::string staging = "/var/lib/clawfleet/instances/.restore-bot";
  EXPECT_EQ(backups_.calls,
            (std::vector<std::string>{"free_bytes /var/lib/clawfleet", "discard " + staging,
                                      "read_archive /root/bot.b " + staging, "discard " + staging + "/instance.json",
                                      "replace " + staging + "/data.img " + kDir + "/data.img",
                                      "replace " + staging + "/token " + kDir + "/token", "discard " + staging}));
  EXPECT_EQ(host_.systemd.unit(model::vm_unit("bot"))->active_state, "inactive");
  // A guest that does not stop keeps its data.
  backups_.calls.clear();
  host_.systemd.fail("stop " + model::vm_unit("bot") + " 7000ms", "the stop job timed out");
  EXPECT_EQ(error_of(restore_instance(fleet_, host_.ports(), backups_, req)), "the stop job timed out");
  EXPECT_EQ(backups_.calls.back(), "discard " + staging);
  // Protected: only with --allow-destroy.
  host_.state.records["bot"].protect = true;
  EXPECT_EQ(error_of(restore_instance(fleet_, host_.ports(), backups_, req)),
            "bot is protected, and --replace loses its data disk: rerun with --allow-destroy");
}

}  // namespace
}  // namespace cf::apply
