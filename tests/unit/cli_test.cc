// The clawfleet binary end to end: exit codes, stdout/stderr split, JSON.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fakes/files.h"

namespace {

using cf::testing::slurp;

namespace fs = std::filesystem;

struct Outcome {
  int status = -1;
  std::string out, err;
};

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("clawfleet-cli-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Outcome run(const std::string& args) {
    std::string cmd = std::string(CLAWFLEET_BINARY) + " " + args + " >" + (dir_ / "out").string() + " 2>" +
                      (dir_ / "err").string() + " </dev/null";
    int rc = std::system(cmd.c_str());
    return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, slurp(dir_ / "out"), slurp(dir_ / "err")};
  }

  void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }

  fs::path dir_;
  const std::string src_ = CLAWFLEET_SOURCE_DIR;
};

TEST_F(Cli, ValidateAcceptsTheExamples) {
  auto r = run("validate --manifests " + src_ + "/examples/team");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_NE(r.out.find(" instances, 0 errors\n"), std::string::npos) << r.out;
}

TEST_F(Cli, ValidateReportsErrorsOnStderrAndExits1) {
  write("bad.yaml", "apiVersion: clawfleet.io/v1\nkind: Instance\nmetadata: {name: Bad}\nspec: {}\n");
  auto r = run("validate -f " + (dir_ / "bad.yaml").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, (dir_ / "bad.yaml").string() +
                       ":3:18: error: metadata.name: \"Bad\" is not a DNS label: 1-63 characters of a-z, 0-9 and '-', "
                       "starting and ending with a letter or digit\n");
  EXPECT_EQ(r.out, "0 instances, 1 error\n");
}

TEST_F(Cli, ValidateJson) {
  write("a.yaml",
        "apiVersion: clawfleet.io/v1\nkind: Instance\nmetadata: {name: a}\nspec: {model: ollama/x, skills: [a, a]}\n");
  auto r = run("validate --json --manifests " + dir_.string());
  EXPECT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["format_version"], 1);
  EXPECT_EQ(j["valid"], true);
  EXPECT_EQ(j["instances"], 1);
  EXPECT_EQ(j["warnings"], 1);
  ASSERT_EQ(j["diagnostics"].size(), 1u);
  EXPECT_EQ(j["diagnostics"][0]["severity"], "warning");
  EXPECT_EQ(j["diagnostics"][0]["path"], "spec.skills[1]");
  EXPECT_EQ(j["diagnostics"][0]["line"], 4);
  EXPECT_EQ(j["diagnostics"][0]["column"], 37);
}

TEST_F(Cli, VmHelperSaysWhatIsMissing) {
  auto r = run("vm prepare Bad_Name --state-root " + dir_.string());
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "clawfleet vm prepare: not an instance name: \"Bad_Name\"\n");
  r = run("vm run bot --state-root " + dir_.string());
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(
      r.err,
      "clawfleet vm run: cannot open " + dir_.string() +
          "/instances/bot/launch.json: No such file or directory (has `clawfleet apply` created instance bot?)\n");
  fs::create_directories(dir_ / "instances/bot");
  write("instances/bot/launch.json", "{\"format\": 1, \"name\": \"other\"}");
  r = run("vm stop bot --state-root " + dir_.string());
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err.rfind("clawfleet vm stop: launch record " + dir_.string() + "/instances/bot/launch.json: ", 0), 0u)
      << r.err;
  EXPECT_EQ(run("vm").status, 1);
  EXPECT_EQ(run("vm run").status, 1);
}

TEST_F(Cli, UsageErrorsExit1) {
  EXPECT_EQ(run("").status, 1);
  EXPECT_EQ(run("frobnicate").status, 1);
  EXPECT_EQ(run("validate --manifests a -f b").status, 1);
  EXPECT_EQ(run("--help").status, 0);
  auto v = run("--version");
  EXPECT_EQ(v.status, 0);
}

}  // namespace
