// The clawfleet binary end to end: exit codes, stdout/stderr split, JSON.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <iostream>

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
  void TearDown() override {
    fs::remove_all(dir_);
    if (!secret_root_.empty()) fs::remove_all(made_run_dir_ ? secret_root_.parent_path() : secret_root_);
  }

  Outcome run(const std::string& args) {
    // timeout(1): a verb that hangs fails the test (exit 124) instead of hanging it.
    std::string cmd = "timeout 30 " + std::string(CLAWFLEET_BINARY) + " " + args + " >" + (dir_ / "out").string() +
                      " 2>" + (dir_ / "err").string() + " </dev/null";
    const auto t0 = std::chrono::steady_clock::now();
    int rc = std::system(cmd.c_str());
    last_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, slurp(dir_ / "out"), slurp(dir_ / "err")};
  }

  void write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }

  // A secret root of this test's own under /run/clawfleet (root only; ""
  // when it cannot be made), removed at TearDown.
  fs::path secret_root() {
    const fs::path root = "/run/clawfleet/cli-test-" + std::to_string(::getpid());
    made_run_dir_ = !fs::exists(root.parent_path());
    std::error_code ec;
    fs::create_directories(root, ec);
    if (ec) return {};
    ::chmod(root.c_str(), 0700);
    secret_root_ = root;
    return root;
  }
  // A Host with that root and an Instance whose Anthropic key is its `key`.
  static std::string keyed_instance(const fs::path& root) {
    return "apiVersion: clawfleet.io/v1\nkind: Host\nspec: {secretRoots: [" + root.string() +
           "]}\n---\napiVersion: clawfleet.io/v1\nkind: Instance\nmetadata: {name: a}\nspec:\n"
           "  model: anthropic/claude-sonnet-4-5\n  providerKeys: {anthropic: {file: " +
           (root / "key").string() + "}}\n";
  }

  fs::path dir_;
  fs::path secret_root_;
  bool made_run_dir_ = false;
  double last_seconds_ = 0;  // how long the last run() took
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

// A manifest committed as a symlink to a file elsewhere on the host: refused
// unread, so not a byte of that file reaches the output.
TEST_F(Cli, AManifestSymlinkOutOfTheDirectoryQuotesNothing) {
  fs::create_directories(dir_ / "m");
  write("root-only.yaml", "apiVersion: clawfleet.io/v1\nkind: TOPSECRET-4711\n");
  fs::permissions(dir_ / "root-only.yaml", fs::perms::owner_read | fs::perms::owner_write);
  fs::create_symlink(dir_ / "root-only.yaml", dir_ / "m/a.yaml");
  auto r = run("validate --manifests " + (dir_ / "m").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, (dir_ / "m/a.yaml").string() + ": error: a symlink to " + (dir_ / "root-only.yaml").string() +
                       ", outside " + fs::canonical(dir_ / "m").string() +
                       " (a manifest that is a symlink must point inside its directory)\n");
  EXPECT_EQ((r.out + r.err).find("TOPSECRET"), std::string::npos);
}

// A FIFO where a manifest or a secret belongs is refused at once, never
// waited on (the agent would hang holding the lock).
TEST_F(Cli, FifosFailAtOnce) {
  fs::create_directories(dir_ / "m");
  ASSERT_EQ(::mkfifo((dir_ / "m/a.yaml").c_str(), 0600), 0);
  auto r = run("validate --manifests " + (dir_ / "m").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, (dir_ / "m/a.yaml").string() +
                       ": error: a FIFO, not a regular file (every *.yaml and *.yml here is read as a manifest)\n");
  EXPECT_LT(last_seconds_, 1.0);
  r = run("validate -f " + (dir_ / "m/a.yaml").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, (dir_ / "m/a.yaml").string() + ": error: not a regular file\n");
  EXPECT_LT(last_seconds_, 1.0);

  // A secret must lie under a secret root: one of /run/clawfleet's.
  fs::remove(dir_ / "m/a.yaml");
  const fs::path root = secret_root();
  if (root.empty()) GTEST_SKIP() << "cannot make a secret root under /run/clawfleet (not root?)";
  ASSERT_EQ(::mkfifo((root / "key").c_str(), 0600), 0);
  write("m/a.yaml", keyed_instance(root));
  r = run("plan --manifests " + (dir_ / "m").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "clawfleet plan: instance a: secret file " + (root / "key").string() + " is not a regular file\n");
  EXPECT_EQ(r.out, "");
  EXPECT_LT(last_seconds_, 1.0);
}

// A secret file others can read is refused before it is read: its value
// shows nowhere.
TEST_F(Cli, ASecretOthersCanReadIsRefusedUnread) {
  const fs::path root = secret_root();
  if (root.empty()) GTEST_SKIP() << "cannot make a secret root under /run/clawfleet (not root?)";
  std::ofstream(root / "key") << "sk-ant-VISIBLE\n";
  ::chmod((root / "key").c_str(), 0644);
  fs::create_directories(dir_ / "m");
  write("m/a.yaml", keyed_instance(root));
  auto r = run("plan --manifests " + (dir_ / "m").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, "clawfleet plan: instance a: secret file " + (root / "key").string() +
                       " is readable by others (mode 0644; chmod o-r it)\n");
  EXPECT_EQ((r.out + r.err).find("VISIBLE"), std::string::npos);
  ::chmod((root / "key").c_str(), 0600);
  r = run("validate --manifests " + (dir_ / "m").string());
  EXPECT_EQ(r.status, 0) << r.err;
}

// Bytes from outside reach the terminal escaped in every verb: here a
// manifest whose file name carries an escape sequence (a committer chose
// it), in validate's, plan's and apply's diagnostics.
TEST_F(Cli, AnEscapeSequenceFromOutsideIsShownEscaped) {
  fs::create_directories(dir_ / "m");
  const std::string name = "\x1b]0;owned\x07\x1b[2Jbad.yaml";
  write("m/" + name, "apiVersion: clawfleet.io/v1\nkind: Instance\nmetadata: {name: Bad}\nspec: {}\n");
  const std::string shown = (dir_ / "m").string() + "/\\x1b]0;owned\\x07\\x1b[2Jbad.yaml:3:18: error: metadata.name";
  for (const std::string& verb :
       std::vector<std::string>{"validate", "plan", "apply --lock-file " + (dir_ / "lock").string()}) {
    auto r = run(verb + " --manifests " + (dir_ / "m").string());
    EXPECT_EQ(r.status, 1) << verb;
    EXPECT_EQ(r.err.rfind(shown, 0), 0u) << verb << ": " << r.err;
    EXPECT_EQ((r.out + r.err).find('\x1b'), std::string::npos) << verb;
    EXPECT_EQ((r.out + r.err).find('\x07'), std::string::npos) << verb;
  }
}

// A manifest that is not a regular file makes the set incomplete: plan
// refuses it rather than destroy the instances that file held.
TEST_F(Cli, ADanglingManifestPlansNothing) {
  fs::create_directories(dir_ / "m");
  write("m/a.yaml", "apiVersion: clawfleet.io/v1\nkind: Instance\nmetadata: {name: a}\nspec: {model: ollama/x}\n");
  fs::create_symlink(dir_ / "m/gone/b.yaml", dir_ / "m/b.yaml");
  auto r = run("plan --manifests " + (dir_ / "m").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, (dir_ / "m/b.yaml").string() +
                       ": error: a dangling symlink, not a regular file (every *.yaml and *.yml here is read as a "
                       "manifest)\nclawfleet plan: the manifests have errors; nothing was planned\n");
  EXPECT_EQ(r.out, "");
}

// Over the set's byte budget: refused after reading 16 MiB, unparsed.
TEST_F(Cli, AnOverBudgetSetFailsFast) {
  fs::create_directories(dir_ / "m");
  const std::string mib((1 << 20) - 1, '#');
  for (int i = 10; i < 60; ++i) write("m/" + std::to_string(i) + ".yaml", mib + "\n");
  auto r = run("validate --manifests " + (dir_ / "m").string());
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.err, (dir_ / "m/26.yaml").string() +
                       ": error: the manifests up to this file hold more than 16777216 bytes, the limit of a set; none "
                       "is parsed\n");
  std::cerr << "[ budget ] 50 files of 1 MiB refused in " << last_seconds_ << " s\n";
}

TEST_F(Cli, UsageErrorsExit1) {
  EXPECT_EQ(run("").status, 1);
  EXPECT_EQ(run("frobnicate").status, 1);
  EXPECT_EQ(run("validate --manifests a -f b").status, 1);
  auto zero = run("apply --max-unavailable 0");
  EXPECT_EQ(zero.status, 1);
  EXPECT_NE(zero.err.find("--max-unavailable: Value 0 not in range 1 to 4096"), std::string::npos) << zero.err;
  EXPECT_EQ(run("apply --max-unavailable two").status, 1);
  EXPECT_EQ(run("--help").status, 0);
  auto v = run("--version");
  EXPECT_EQ(v.status, 0);
}

}  // namespace
