#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <filesystem>
#include <fstream>

#include "fakes/fake_systemd.h"
#include "fakes/files.h"
#include "host/systemd/systemd.h"

namespace cf::host {
namespace {

using cf::testing::mode_of;

namespace fs = std::filesystem;
using cf::testing::FakeSystemd;
using cf::testing::TempUnitDir;
using std::chrono::milliseconds;

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(JobResult, ToStringIsSystemdsResultString) {
  EXPECT_STREQ(to_string(JobResult::Done), "done");
  EXPECT_STREQ(to_string(JobResult::Canceled), "canceled");
  EXPECT_STREQ(to_string(JobResult::Timeout), "timeout");
  EXPECT_STREQ(to_string(JobResult::Failed), "failed");
  EXPECT_STREQ(to_string(JobResult::Dependency), "dependency");
  EXPECT_STREQ(to_string(JobResult::Skipped), "skipped");
}

// --- FakeSystemd ---------------------------------------------------------

UnitStatus vm_template() {
  return {"clawfleet-vm@.service", "", "inactive", "dead", "disabled", "/etc/systemd/system/clawfleet-vm@.service", {}};
}

TEST(FakeSystemd, RecordsEveryCallInOrder) {
  FakeSystemd sd;
  sd.set_unit(vm_template());
  ASSERT_TRUE(sd.daemon_reload());
  ASSERT_TRUE(sd.start("clawfleet-vm@bot.service", milliseconds(5000)));
  EXPECT_FALSE(sd.enable({"clawfleet-vm@bot.service", "clawfleet.service"}));  // clawfleet.service is unknown
  ASSERT_TRUE(sd.list_units({"clawfleet-*", "other.service"}));
  ASSERT_TRUE(sd.restart("clawfleet-vm@bot.service", milliseconds(10)));
  ASSERT_TRUE(sd.stop("clawfleet-vm@bot.service", milliseconds(45000)));
  ASSERT_TRUE(sd.disable({"clawfleet-vm@bot.service"}));
  EXPECT_EQ(sd.calls, (std::vector<std::string>{
                          "daemon_reload",
                          "start clawfleet-vm@bot.service 5000ms",
                          "enable clawfleet-vm@bot.service clawfleet.service",
                          "list_units clawfleet-* other.service",
                          "restart clawfleet-vm@bot.service 10ms",
                          "stop clawfleet-vm@bot.service 45000ms",
                          "disable clawfleet-vm@bot.service",
                      }));
}

TEST(FakeSystemd, JobsChangeStatesAndInstantiateTemplates) {
  FakeSystemd sd;
  sd.set_unit(vm_template());
  auto r = sd.start("clawfleet-vm@bot.service", milliseconds(100));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r.value(), JobResult::Done);
  auto units = sd.list_units({"clawfleet-vm@*"});
  ASSERT_TRUE(units);
  ASSERT_EQ(units->size(), 2u);
  EXPECT_EQ(units.value()[1], (UnitStatus{"clawfleet-vm@bot.service",
                                          "loaded",
                                          "active",
                                          "running",
                                          "disabled",
                                          "/etc/systemd/system/clawfleet-vm@.service",
                                          {}}));

  ASSERT_TRUE(sd.enable({"clawfleet-vm@bot.service"}));
  EXPECT_EQ(sd.unit("clawfleet-vm@bot.service")->unit_file_state, "enabled");
  ASSERT_TRUE(sd.stop("clawfleet-vm@bot.service", milliseconds(100)));
  EXPECT_EQ(sd.unit("clawfleet-vm@bot.service")->active_state, "inactive");
  EXPECT_EQ(sd.unit("clawfleet-vm@bot.service")->sub_state, "dead");
  ASSERT_TRUE(sd.disable({"clawfleet-vm@bot.service"}));
  EXPECT_EQ(sd.unit("clawfleet-vm@bot.service")->unit_file_state, "disabled");
}

TEST(FakeSystemd, ConfigurableJobResult) {
  FakeSystemd sd;
  sd.set_unit(vm_template());
  sd.job_result = JobResult::Failed;
  auto r = sd.start("clawfleet-vm@bot.service", milliseconds(100));
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value(), JobResult::Failed);
  EXPECT_EQ(sd.unit("clawfleet-vm@bot.service")->active_state, "failed");
  sd.job_result = JobResult::Timeout;
  EXPECT_EQ(sd.restart("clawfleet-vm@bot.service", milliseconds(100)).value(), JobResult::Timeout);
}

TEST(FakeSystemd, ErrorsReadLikeSystemds) {
  FakeSystemd sd;
  auto r = sd.start("clawfleet-vm@bot.service", milliseconds(100));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "cannot start clawfleet-vm@bot.service: Unit clawfleet-vm@bot.service not found.");
  auto e = sd.enable({"a.service", "b.service"});
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().message, "cannot enable a.service, b.service: Unit file a.service does not exist.");
}

TEST(FakeSystemd, InjectedFailure) {
  FakeSystemd sd;
  sd.fail("daemon_reload", "cannot reload systemd: Access denied");
  auto s = sd.daemon_reload();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "cannot reload systemd: Access denied");
  sd.fail("daemon_reload", "");
  EXPECT_TRUE(sd.daemon_reload());
  EXPECT_EQ(sd.calls, (std::vector<std::string>{"daemon_reload", "daemon_reload"}));
}

TEST(FakeSystemd, ListMatchesShellPatterns) {
  FakeSystemd sd;
  sd.set_unit(
      {"clawfleet.service", "loaded", "active", "running", "enabled", "/etc/systemd/system/clawfleet.service", {}});
  sd.set_unit({"clawfleet-proxy@a.socket", "loaded", "active", "listening", "disabled", "", {}});
  sd.set_unit({"ssh.service", "loaded", "active", "running", "enabled", "", {}});
  auto units = sd.list_units({"clawfleet-*"});
  ASSERT_TRUE(units);
  ASSERT_EQ(units->size(), 1u);
  EXPECT_EQ(units.value()[0].name, "clawfleet-proxy@a.socket");
  EXPECT_EQ(sd.list_units({"*.service"})->size(), 2u);
}

// --- unit_files_in ---------------------------------------------------------

TEST(UnitFiles, WriteReadRemove) {
  TempUnitDir t;
  ASSERT_FALSE(t.dir.empty());
  auto absent = t.files->read("clawfleet-vm@.service");
  ASSERT_TRUE(absent) << absent.error().message;
  EXPECT_FALSE(absent->has_value());

  ASSERT_TRUE(t.files->write("clawfleet-vm@.service", "[Service]\nExecStart=/bin/true\n"));
  EXPECT_EQ(mode_of(t.dir + "/clawfleet-vm@.service"), 0644u);
  auto got = t.files->read("clawfleet-vm@.service");
  ASSERT_TRUE(got);
  EXPECT_EQ(got.value(), std::optional<std::string>("[Service]\nExecStart=/bin/true\n"));
  ASSERT_TRUE(t.files->write("clawfleet-vm@.service", "replaced\n"));
  EXPECT_EQ(t.files->read("clawfleet-vm@.service").value(), std::optional<std::string>("replaced\n"));
  EXPECT_EQ(entries(t.dir), std::vector<std::string>{"clawfleet-vm@.service"});  // no temp file left

  ASSERT_TRUE(t.files->remove("clawfleet-vm@.service"));
  EXPECT_TRUE(entries(t.dir).empty());
  EXPECT_TRUE(t.files->remove("clawfleet-vm@.service"));  // absent is success
}

TEST(UnitFiles, DropinsLiveInDotDAndTheLastTakesTheDirectory) {
  TempUnitDir t;
  const std::string d = t.dir + "/clawfleet-proxy@bot.socket.d";
  ASSERT_TRUE(
      t.files->write_dropin("clawfleet-proxy@bot.socket", "listen", "[Socket]\nListenStream=127.0.0.1:18900\n"));
  ASSERT_TRUE(t.files->write_dropin("clawfleet-proxy@bot.socket", "50-limits", "[Socket]\nBacklog=16\n"));
  EXPECT_EQ(mode_of(d), 0755u);
  EXPECT_EQ(mode_of(d + "/listen.conf"), 0644u);
  EXPECT_EQ(entries(d), (std::vector<std::string>{"50-limits.conf", "listen.conf"}));
  EXPECT_EQ(t.files->read_dropin("clawfleet-proxy@bot.socket", "listen").value(),
            std::optional<std::string>("[Socket]\nListenStream=127.0.0.1:18900\n"));
  EXPECT_FALSE(t.files->read_dropin("clawfleet-proxy@bot.socket", "other").value().has_value());

  ASSERT_TRUE(t.files->remove_dropin("clawfleet-proxy@bot.socket", "listen"));
  EXPECT_EQ(entries(d), std::vector<std::string>{"50-limits.conf"});
  ASSERT_TRUE(t.files->remove_dropin("clawfleet-proxy@bot.socket", "50-limits"));
  EXPECT_FALSE(fs::exists(d));
  EXPECT_TRUE(t.files->remove_dropin("clawfleet-proxy@bot.socket", "50-limits"));  // absent is success
  EXPECT_TRUE(entries(t.dir).empty());
}

TEST(UnitFiles, ForeignFilesKeepTheDropinDirectory) {
  TempUnitDir t;
  const std::string d = t.dir + "/clawfleet.service.d";
  ASSERT_TRUE(t.files->write_dropin("clawfleet.service", "ours", "x\n"));
  std::ofstream(d + "/admin.conf") << "y\n";
  ASSERT_TRUE(t.files->remove_dropin("clawfleet.service", "ours"));
  EXPECT_EQ(entries(d), std::vector<std::string>{"admin.conf"});
}

// A writer killed mid-write left its temp file in the directory: the last
// drop-in still takes the directory with it.
TEST(UnitFiles, AKilledWritersTempFileDoesNotKeepTheDropinDirectory) {
  TempUnitDir t;
  const std::string d = t.dir + "/clawfleet-proxy@bot.socket.d";
  ASSERT_TRUE(t.files->write_dropin("clawfleet-proxy@bot.socket", "listen", "x\n"));
  std::ofstream(d + "/.listen.conf.cf-tmp.4242") << "torn";
  ASSERT_TRUE(t.files->remove_dropin("clawfleet-proxy@bot.socket", "listen"));
  EXPECT_FALSE(fs::exists(d));
}

TEST(UnitFiles, InvalidUnitNames) {
  TempUnitDir t;
  auto err = [&](const std::string& unit) {
    auto s = t.files->write(unit, "x");
    return s ? std::string("ok") : s.error().message;
  };
  EXPECT_EQ(err(""), "invalid unit name \"\": must not be empty");
  EXPECT_EQ(err("../evil.service"), "invalid unit name \"../evil.service\": must not contain '/'");
  EXPECT_EQ(err("a..service"), "invalid unit name \"a..service\": must not contain '..'");
  EXPECT_EQ(err("a b.service"), "invalid unit name \"a b.service\": only letters, digits and \":-_.\\@\" are allowed");
  EXPECT_EQ(err("clawfleet"),
            "invalid unit name \"clawfleet\": must end in .service, .socket, .timer, .target, .path, .mount, "
            ".automount, .swap, .slice or .scope");
  EXPECT_EQ(err(".service"), "invalid unit name \".service\": must start with a letter, digit, ':', '-', '_' or '\\'");
  EXPECT_EQ(err("@.service"),
            "invalid unit name \"@.service\": must start with a letter, digit, ':', '-', '_' or '\\'");
  EXPECT_EQ(err(std::string(248, 'a') + ".service"),
            "invalid unit name \"" + std::string(248, 'a') + ".service\": must be at most 255 characters");
  EXPECT_EQ(err("clawfleet-vm@bot.service"), "ok");
  EXPECT_EQ(err("clawfleet-proxy@bot.socket"), "ok");
  EXPECT_EQ(err("clawfleet-gc.timer"), "ok");

  auto r = t.files->read("a/b.service");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "invalid unit name \"a/b.service\": must not contain '/'");
  EXPECT_EQ(t.files->remove("x").error().message,
            "invalid unit name \"x\": must end in .service, .socket, .timer, .target, .path, .mount, .automount, "
            ".swap, .slice or .scope");
  EXPECT_EQ(entries(t.dir),
            (std::vector<std::string>{"clawfleet-gc.timer", "clawfleet-proxy@bot.socket", "clawfleet-vm@bot.service"}));
}

TEST(UnitFiles, InvalidDropinNames) {
  TempUnitDir t;
  auto err = [&](const std::string& unit, const std::string& name) {
    auto s = t.files->write_dropin(unit, name, "x");
    return s ? std::string("ok") : s.error().message;
  };
  EXPECT_EQ(err("a.service", ""), "invalid drop-in name \"\" for a.service: must not be empty");
  EXPECT_EQ(err("a.service", "../../x"), "invalid drop-in name \"../../x\" for a.service: must not contain '/'");
  EXPECT_EQ(err("a.service", "x..y"), "invalid drop-in name \"x..y\" for a.service: must not contain '..'");
  EXPECT_EQ(err("a.service", ".hidden"), "invalid drop-in name \".hidden\" for a.service: must not start with '.'");
  EXPECT_EQ(err("a.service", "a b"),
            "invalid drop-in name \"a b\" for a.service: only letters, digits and \"-_.@\" are allowed");
  EXPECT_EQ(err("a", "listen"),
            "invalid unit name \"a\": must end in .service, .socket, .timer, .target, .path, .mount, .automount, "
            ".swap, .slice or .scope");
  EXPECT_EQ(t.files->read_dropin("a.service", "x/y").error().message,
            "invalid drop-in name \"x/y\" for a.service: must not contain '/'");
  EXPECT_EQ(t.files->remove_dropin("a.service", "").error().message,
            "invalid drop-in name \"\" for a.service: must not be empty");
  EXPECT_TRUE(entries(t.dir).empty());
}

TEST(UnitFiles, MissingDirectoryIsAnErrorWithThePath) {
  auto files = unit_files_in("/tmp/cf-units-does-not-exist-" + std::to_string(::getpid()) + "/");
  auto s = files->write("a.service", "x");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "cannot create /tmp/cf-units-does-not-exist-" + std::to_string(::getpid()) +
                                   "/.a.service.cf-tmp." + std::to_string(::getpid()) + ": No such file or directory");
  EXPECT_FALSE(files->read("a.service").value().has_value());
}

}  // namespace
}  // namespace cf::host
