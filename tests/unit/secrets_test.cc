#include "manifest/secrets.h"

#include <gtest/gtest.h>

#include <map>

#include "fakes/fake_file_reader.h"
#include "fakes/fleets.h"
#include "manifest/desired_state.h"

namespace cf::manifest {
namespace {

using model::SecretRef;
using model::SecretSource;

class FakeEnvironment : public Environment {
 public:
  std::map<std::string, std::string> vars;
  std::optional<std::string> get(const std::string& name) const override {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  }
};

class Secrets : public ::testing::Test {
 protected:
  testing::FakeFileReader fs;
  FakeEnvironment env;
};

TEST_F(Secrets, FileWithOneTrailingNewlineRemoved) {
  fs.file("/etc/clawfleet/secrets/token", "123:abc\n");
  EXPECT_EQ(read_secret({SecretSource::File, "/etc/clawfleet/secrets/token"}, fs, env).value(), "123:abc");
}

TEST_F(Secrets, MissingEmptyAndMultiLineFiles) {
  EXPECT_EQ(
      read_secret({SecretSource::File, "/etc/clawfleet/secrets/none"}, fs, env).error().message,
      "secret file /etc/clawfleet/secrets/none: cannot open /etc/clawfleet/secrets/none: No such file or directory");
  fs.file("/etc/clawfleet/secrets/empty", "\n");
  EXPECT_EQ(read_secret({SecretSource::File, "/etc/clawfleet/secrets/empty"}, fs, env).error().message,
            "secret file /etc/clawfleet/secrets/empty is empty");
  fs.file("/etc/clawfleet/secrets/two", "a\nb\n");
  EXPECT_EQ(read_secret({SecretSource::File, "/etc/clawfleet/secrets/two"}, fs, env).error().message,
            "secret file /etc/clawfleet/secrets/two holds a line break or NUL byte; a secret must be one line");
  fs.file("/etc/clawfleet/secrets/big", std::string(kMaxSecretBytes + 1, 'x'));
  EXPECT_EQ(read_secret({SecretSource::File, "/etc/clawfleet/secrets/big"}, fs, env).error().message,
            "secret file /etc/clawfleet/secrets/big: file is larger than the limit of 65536 bytes");
}

TEST_F(Secrets, EnvironmentVariables) {
  env.vars["KEY"] = "sk-1";
  EXPECT_EQ(read_secret({SecretSource::Env, "KEY"}, fs, env).value(), "sk-1");
  EXPECT_EQ(read_secret({SecretSource::Env, "NOPE"}, fs, env).error().message,
            "secret env NOPE: the variable is not set in clawfleet's environment");
  env.vars["EMPTY"] = "";
  EXPECT_EQ(read_secret({SecretSource::Env, "EMPTY"}, fs, env).error().message, "secret env EMPTY is empty");
}

TEST_F(Secrets, SystemdCredentials) {
  EXPECT_EQ(read_secret({SecretSource::Credential, "k"}, fs, env).error().message,
            "secret credential k: $CREDENTIALS_DIRECTORY is not set; run under a unit with LoadCredential=k:PATH");
  env.vars["CREDENTIALS_DIRECTORY"] = "/run/credentials/clawfleet.service";
  fs.file("/run/credentials/clawfleet.service/k", "sk-2");
  EXPECT_EQ(read_secret({SecretSource::Credential, "k"}, fs, env).value(), "sk-2");
  EXPECT_EQ(read_secret({SecretSource::Credential, "other"}, fs, env).error().message,
            "secret credential other: cannot open /run/credentials/clawfleet.service/other: No such file or directory");
}

TEST_F(Secrets, DigestIsShortAndNeverTheValue) {
  EXPECT_EQ(secret_digest("abc"), "sha256:ba7816bf8f01");
  EXPECT_NE(secret_digest("abc"), secret_digest("abd"));
}

TEST_F(Secrets, CheckSecretsReportsAtTheInstanceAndReadsEachOnce) {
  auto r = load({{"m.yaml", R"(apiVersion: clawfleet.io/v1
kind: Instance
metadata: {name: a}
spec:
  model: anthropic/x
  providerKeys: {anthropic: {file: /etc/clawfleet/secrets/shared}}
  telegram: {botToken: {env: TG}, allowFrom: [1]}
---
apiVersion: clawfleet.io/v1
kind: Instance
metadata: {name: b}
spec:
  model: anthropic/x
  providerKeys: {anthropic: {file: /etc/clawfleet/secrets/shared}}
)"}});
  ASSERT_FALSE(r.diagnostics.has_errors());
  check_secrets(r, fs, env);
  std::vector<std::string> got;
  for (const auto& d : r.diagnostics.all()) got.push_back(format(d));
  EXPECT_EQ(
      got,
      (std::vector<std::string>{
          "m.yaml:3:18: error: spec.telegram.botToken: secret env TG: the variable is not set in clawfleet's environment",
          "m.yaml:3:18: error: spec.providerKeys.anthropic: secret file /etc/clawfleet/secrets/shared: cannot open /etc/clawfleet/secrets/shared: No such file or directory",
          "m.yaml:11:18: error: spec.providerKeys.anthropic: secret file /etc/clawfleet/secrets/shared: cannot open /etc/clawfleet/secrets/shared: No such file or directory",
      }));
  EXPECT_EQ(fs.calls, (std::vector<std::string>{"canonical /etc/clawfleet/secrets/shared",
                                                "read_file /etc/clawfleet/secrets/shared"}));
}

TEST(ReadDigests, KeepsDigestsAndSaysWhichSecretsCouldNotBeRead) {
  testing::FakeFileReader fs;
  struct NoEnv : Environment {
    std::optional<std::string> get(const std::string&) const override { return std::nullopt; }
  } env;
  using testing::fleet_of, testing::instance_yaml;
  auto fleet = fleet_of(
      instance_yaml("a", "  providerKeys:\n    openai: {file: /etc/clawfleet/secrets/openai}\n") +
      instance_yaml("b",
                    "  providerKeys:\n    openai: {file: /etc/clawfleet/secrets/openai}\n    anthropic: {env: KEY}\n"));
  fs.file("/etc/clawfleet/secrets/openai", "sk-value\n");
  Digests d = read_digests(fleet, fs, env);
  EXPECT_EQ(d.digests, (std::map<model::SecretRef, std::string>{
                           {{model::SecretSource::File, "/etc/clawfleet/secrets/openai"}, secret_digest("sk-value")}}));
  EXPECT_EQ(d.problems,
            std::vector<std::string>{"instance b: secret env KEY: the variable is not set in clawfleet's environment"});
  EXPECT_EQ(fs.calls,
            (std::vector<std::string>{"canonical /etc/clawfleet/secrets/openai",
                                      "read_file /etc/clawfleet/secrets/openai"}));  // checked, then read, once
}

// The same bot token under two references (one file with a trailing
// newline, one without) is found by digest when the desired state is
// loaded, and by validate --check-secrets; the token is never shown.
TEST_F(Secrets, TwoInstancesWithOneBotTokenAreAnErrorNamingBoth) {
  const std::string yaml =
      std::string(testing::kTestHost) +
      testing::instance_yaml("a",
                             "  telegram: {botToken: {file: /etc/clawfleet/secrets/a.telegram}, allowFrom: [1]}\n") +
      testing::instance_yaml("b",
                             "  telegram: {botToken: {file: /etc/clawfleet/secrets/b.telegram}, allowFrom: [1]}\n") +
      testing::instance_yaml("c", "  telegram: {botToken: {env: TG}, allowFrom: [1]}\n");
  fs.file("/m/fleet.yaml", yaml);
  fs.file("/etc/clawfleet/secrets/a.telegram", "123:SECRETVALUE\n");
  fs.file("/etc/clawfleet/secrets/b.telegram", "123:SECRETVALUE");
  env.vars["TG"] = "456:OTHER";
  const std::string want =
      "m.yaml:18:18: error: spec.telegram.botToken: secret file /etc/clawfleet/secrets/b.telegram holds the same bot token (" +
      secret_digest("123:SECRETVALUE") +
      ") as secret file /etc/clawfleet/secrets/a.telegram of instance \"a\"; a bot serves one instance (two gateways polling one bot get "
      "409 Conflict from Telegram for ever); give each instance its own bot";

  LoadedDesired d = load_desired(fs, env, SourceSpec{"", {"/m/fleet.yaml"}});
  std::vector<std::string> got;
  for (const auto& diag : d.diagnostics.all()) got.push_back(format(diag));
  std::string text = want;
  text.replace(0, 6, "/m/fleet.yaml");
  EXPECT_EQ(got, std::vector<std::string>{text});
  EXPECT_FALSE(d.complete());
  EXPECT_TRUE(d.secret_problems.empty());

  auto r = load({{"m.yaml", yaml}});
  ASSERT_FALSE(r.diagnostics.has_errors());
  check_secrets(r, fs, env);
  got.clear();
  for (const auto& diag : r.diagnostics.all()) got.push_back(format(diag));
  EXPECT_EQ(got, std::vector<std::string>{want});
  EXPECT_EQ(want.find("SECRETVALUE"), std::string::npos);
}

}  // namespace
}  // namespace cf::manifest
