// Loader tests: exact diagnostic text, line and column, as ninja tests its
// parser errors.
#include <gtest/gtest.h>

#include "manifest/defaults.h"
#include "manifest/limits.h"
#include "manifest/loader.h"

namespace cf::manifest {
namespace {

std::vector<std::string> diags(const std::vector<SourceFile>& files) {
  std::vector<std::string> out;
  auto r = load(files);
  for (const auto& d : r.diagnostics.all()) out.push_back(format(d));
  return out;
}

std::vector<std::string> diags(const std::string& yaml) { return diags({{"m.yaml", yaml}}); }

const char* kHeader = "apiVersion: clawfleet.io/v1\nkind: Instance\nmetadata:\n  name: bot\n";

// An Instance document with `spec` lines appended (spec starts on line 6).
std::string instance(const std::string& spec_body) {
  return std::string(kHeader) + "spec:\n  providerKeys: {openai: {env: OPENAI_API_KEY}}\n" + spec_body;
}

TEST(Load, MinimalInstanceGetsEveryDefault) {
  auto r = load({{"m.yaml", instance("")}});
  ASSERT_FALSE(r.diagnostics.has_errors()) << format(r.diagnostics.all()[0]);
  ASSERT_EQ(r.fleet.instances.size(), 1u);
  const auto& i = r.fleet.instances[0];
  EXPECT_EQ(i.name, "bot");
  EXPECT_EQ(i.model, "openai/gpt-5.5");
  EXPECT_EQ(i.skills, (std::vector<std::string>{"coding-agent", "github", "skill-creator", "tmux"}));
  EXPECT_EQ(i.image, "default");
  EXPECT_EQ(i.resources.vcpus, 2);
  EXPECT_EQ(i.resources.memory_mib, 2048u);
  EXPECT_EQ(i.resources.disk_bytes, 10ull << 30);
  EXPECT_FALSE(i.telegram);
  EXPECT_EQ(i.state, model::RunState::Running);
  EXPECT_FALSE(i.protect);
  EXPECT_EQ(r.fleet.host, default_host());
  EXPECT_EQ(to_string(r.fleet.host.subnet), "172.29.0.0/24");
  EXPECT_EQ(to_string(r.fleet.host.gateway), "172.29.0.1");
  EXPECT_EQ(r.origins.at("bot"), (Location{"m.yaml", 4, 9}));
}

TEST(Load, FullInstance) {
  auto r = load({{"m.yaml", std::string(kHeader) + R"(  labels: {team: support, tier: ""}
spec:
  model: anthropic/claude-opus-4-6
  skills: [tmux, github]
  resources: {vcpus: 4, memoryMiB: 4096, disk: 20GiB}
  telegram:
    botToken: {file: /etc/clawfleet/secrets/bot.telegram}
    allowFrom: [42, 7]
  providerKeys:
    anthropic: {credential: anthropic-api-key}
    openai: {env: OPENAI_API_KEY}
  state: stopped
  protect: true
  network: {hostPort: 18999, ip: 172.29.0.10, mac: "06:fc:00:00:00:0a"}
)"}});
  ASSERT_FALSE(r.diagnostics.has_errors()) << format(r.diagnostics.all()[0]);
  const auto& i = r.fleet.instances.at(0);
  EXPECT_EQ(i.labels, (std::map<std::string, std::string>{{"team", "support"}, {"tier", ""}}));
  EXPECT_EQ(i.model, "anthropic/claude-opus-4-6");
  EXPECT_EQ(i.skills, (std::vector<std::string>{"github", "tmux"}));
  EXPECT_EQ(i.resources,
            (model::Resources{4, 4096, 20ull << 30, 8ull << 30, std::nullopt, std::nullopt, std::nullopt}));
  ASSERT_TRUE(i.telegram);
  EXPECT_EQ(i.telegram->bot_token,
            (model::SecretRef{model::SecretSource::File, "/etc/clawfleet/secrets/bot.telegram"}));
  EXPECT_EQ(i.telegram->allow_from, (std::vector<std::int64_t>{7, 42}));
  EXPECT_EQ(i.provider_keys.at("anthropic"), (model::SecretRef{model::SecretSource::Credential, "anthropic-api-key"}));
  EXPECT_EQ(i.provider_keys.at("openai"), (model::SecretRef{model::SecretSource::Env, "OPENAI_API_KEY"}));
  EXPECT_EQ(i.state, model::RunState::Stopped);
  EXPECT_TRUE(i.protect);
  EXPECT_EQ(i.network.host_port, 18999);
  EXPECT_EQ(to_string(*i.network.ip), "172.29.0.10");
  EXPECT_EQ(to_string(*i.network.mac), "06:fc:00:00:00:0a");
}

TEST(Load, EveryErrorOfEveryFileAtOnce) {
  auto d = diags(
      {{"a.yaml", instance("  resources: {vcpus: 0}\n")}, {"b.yaml", instance("  state: paused\n  protect: yes\n")}});
  EXPECT_EQ(d, (std::vector<std::string>{
                   "a.yaml:7:22: error: spec.resources.vcpus: must be between 1 and 32, got 0",
                   "b.yaml:4:9: error: metadata.name: instance \"bot\" is already defined at a.yaml:4:9",
                   "b.yaml:7:10: error: spec.state: must be one of running, stopped; got the string \"paused\"",
                   "b.yaml:8:12: error: spec.protect: must be true or false, got the string \"yes\"",
               }));
}

TEST(Load, UnknownFieldsAreErrorsWithASuggestion) {
  EXPECT_EQ(diags(instance("  resources: {cpus: 2}\n  modle: x/y\n  colour: red\n")),
            (std::vector<std::string>{
                "m.yaml:7:15: error: spec.resources.cpus: unknown field; did you mean \"vcpus\"?",
                "m.yaml:8:3: error: spec.modle: unknown field; did you mean \"model\"?",
                "m.yaml:9:3: error: spec.colour: unknown field",
            }));
  EXPECT_EQ(diags("apiVersion: clawfleet.io/v1\nkind: Host\nspce: {}\n"),
            (std::vector<std::string>{"m.yaml:3:1: error: spce: unknown field; did you mean \"spec\"?"}));
}

TEST(Load, DuplicateKeys) {
  EXPECT_EQ(diags(instance("  state: running\n  state: stopped\n")),
            (std::vector<std::string>{"m.yaml:8:3: error: spec.state: duplicate key; first written at line 7"}));
}

TEST(Load, DocumentShape) {
  EXPECT_EQ(
      diags("- a\n- b\n"),
      (std::vector<std::string>{
          "m.yaml:1:1: error: a document must be a mapping with apiVersion, kind, metadata and spec; got a list"}));
  EXPECT_EQ(
      diags("kind: Instance\nmetadata: {name: a}\nspec: {model: ollama/x}\n"),
      (std::vector<std::string>{"m.yaml:1:1: error: apiVersion: required field is missing (want clawfleet.io/v1)"}));
  EXPECT_EQ(
      diags("apiVersion: clawfleet.io/v2\nkind: Host\n"),
      (std::vector<std::string>{
          "m.yaml:1:13: error: apiVersion: unsupported version \"clawfleet.io/v2\"; this clawfleet reads clawfleet.io/v1"}));
  EXPECT_EQ(diags("apiVersion: clawfleet.io/v1\nkind: Gateway\n"),
            (std::vector<std::string>{
                "m.yaml:2:7: error: kind: must be one of Instance, Defaults, Host; got the string \"Gateway\""}));
  EXPECT_EQ(diags("apiVersion: clawfleet.io/v1\nmetadata: {name: a}\n"),
            (std::vector<std::string>{
                "m.yaml:1:1: error: kind: required field is missing (want Instance, Defaults or Host)"}));
  EXPECT_EQ(diags("apiVersion: clawfleet.io/v1\nkind: Instance\nspec: {}\n"),
            (std::vector<std::string>{
                "m.yaml:1:1: error: metadata: required field is missing (an Instance needs metadata.name)"}));
  EXPECT_EQ(diags("apiVersion: clawfleet.io/v1\nkind: Instance\nmetadata:\n  labels: {}\nspec: {}\n"),
            (std::vector<std::string>{"m.yaml:4:3: error: metadata.name: required field is missing"}));
}

TEST(Load, YamlSyntaxErrorNamesThePlace) {
  EXPECT_EQ(diags({{"a.yaml", "a: [1,\nb: 2"}, {"b.yaml", instance("  state: nope\n")}}),
            (std::vector<std::string>{
                "a.yaml:2:1: error: invalid YAML: end of sequence flow not found",
                "b.yaml:7:10: error: spec.state: must be one of running, stopped; got the string \"nope\"",
            }));
}

// yaml-cpp 0.7's LoadAll loops forever on these (found by the fuzzer).
TEST(Load, StreamsThatHangYamlCppAreRefused) {
  for (const char* text : {",", " ,", ",a", "\",\",", "a: b\n---\n,\n"}) {
    auto d = diags(text);
    ASSERT_EQ(d.size(), 1u) << text;
    EXPECT_NE(d[0].find(": error: invalid YAML: "), std::string::npos) << d[0];
  }
  EXPECT_EQ(diags(","), (std::vector<std::string>{"m.yaml:1:1: error: invalid YAML: unexpected token"}));
}

TEST(Load, EmptyDocumentsAreSkipped) {
  auto r = load({{"m.yaml", "# nothing\n---\n" + instance("") + "---\n# trailing\n"}});
  EXPECT_FALSE(r.diagnostics.has_errors());
  EXPECT_EQ(r.documents, 1u);
  EXPECT_EQ(r.fleet.instances.size(), 1u);
}

TEST(Load, Names) {
  auto name = [](const std::string& n) {
    return diags("apiVersion: clawfleet.io/v1\nkind: Instance\nmetadata:\n  name: " + n +
                 "\nspec: {providerKeys: {openai: {env: K}}}\n");
  };
  EXPECT_EQ(
      name("Support"),
      (std::vector<std::string>{
          "m.yaml:4:9: error: metadata.name: \"Support\" is not a DNS label: 1-63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit"}));
  EXPECT_EQ(name("-bot").size(), 1u);
  EXPECT_EQ(name(std::string(64, 'a')).size(), 1u);
  EXPECT_TRUE(name(std::string(63, 'a')).empty());
  EXPECT_TRUE(name("\"42\"").empty());
  EXPECT_EQ(
      name("42"),
      (std::vector<std::string>{
          "m.yaml:4:9: error: metadata.name: must be a string, got the integer 42 (quote it to make it a string)"}));
}

TEST(Load, NamesAreUniqueAcrossFiles) {
  EXPECT_EQ(diags({{"a.yaml", instance("")}, {"b.yaml", "# x\n" + instance("")}}),
            (std::vector<std::string>{
                "b.yaml:5:9: error: metadata.name: instance \"bot\" is already defined at a.yaml:4:9"}));
}

TEST(Load, Labels) {
  EXPECT_EQ(
      diags(std::string(kHeader) +
            "  labels: {\"bad key\": x, ok: \"has space\", n: 1}\nspec: {providerKeys: {openai: {env: K}}}\n"),
      (std::vector<std::string>{
          "m.yaml:5:12: error: metadata.labels.bad key: label keys are 1-63 characters of A-Z, a-z, 0-9, '-', '_' and '.', starting and ending with a letter or digit",
          "m.yaml:5:30: error: metadata.labels.ok: label values are empty or 1-63 characters of A-Z, a-z, 0-9, '-', '_' and '.', starting and ending with a letter or digit",
          "m.yaml:5:46: error: metadata.labels.n: must be a string, got the integer 1 (quote it to make it a string)",
      }));
}

TEST(Load, Model) {
  EXPECT_EQ(
      diags(instance("  model: gpt\n")),
      (std::vector<std::string>{
          "m.yaml:7:10: error: spec.model: \"gpt\" is not provider/model (e.g. anthropic/claude-opus-4-6): provider of a-z, 0-9 and '-', at most 128 characters in all"}));
  EXPECT_TRUE(diags(instance("  model: openrouter/meta-llama/llama-3.1:free\n")).empty());
  EXPECT_TRUE(diags(instance("  model: ollama/qwen3\n")).empty());
}

TEST(Load, ProviderKeyRule) {
  std::string no_keys = std::string(kHeader) + "spec:\n  model: anthropic/claude-opus-4-6\n";
  EXPECT_EQ(
      diags(no_keys),
      (std::vector<std::string>{
          "m.yaml:6:10: error: spec.model: model \"anthropic/claude-opus-4-6\" needs an API key: set spec.providerKeys.anthropic in this Instance or in Defaults"}));
  // The built-in default model needs the openai key.
  EXPECT_EQ(
      diags(std::string(kHeader) + "spec: {}\n"),
      (std::vector<std::string>{
          "m.yaml:4:9: error: spec.model: model \"openai/gpt-5.5\" needs an API key: set spec.providerKeys.openai in this Instance or in Defaults (the built-in default)"}));
  // A key from Defaults satisfies it.
  EXPECT_TRUE(
      diags({{"d.yaml",
              "apiVersion: clawfleet.io/v1\nkind: Defaults\nspec:\n  providerKeys: {anthropic: {credential: k}}\n"},
             {"m.yaml", no_keys}})
          .empty());
  // A model from Defaults is blamed on the instance, pointing at Defaults.
  EXPECT_EQ(
      diags({{"d.yaml", "apiVersion: clawfleet.io/v1\nkind: Defaults\nspec:\n  model: minimax/m2\n"},
             {"m.yaml", std::string(kHeader) + "spec: {}\n"}}),
      (std::vector<std::string>{
          "m.yaml:4:9: error: spec.model: model \"minimax/m2\" needs an API key: set spec.providerKeys.minimax in this Instance or in Defaults (the value comes from Defaults at d.yaml:4:10)"}));
}

// spec.chatCompletions: off unless asked, from Defaults too; only a boolean.
TEST(Load, ChatCompletions) {
  auto r = load({{"m.yaml", instance("")}});
  ASSERT_FALSE(r.diagnostics.has_errors());
  EXPECT_FALSE(r.fleet.instances[0].chat_completions);
  EXPECT_EQ(model::canonical_json(r.fleet.instances[0]).find("chatCompletions"), std::string::npos);
  r = load({{"m.yaml", instance("  chatCompletions: true\n")}});
  ASSERT_FALSE(r.diagnostics.has_errors());
  EXPECT_TRUE(r.fleet.instances[0].chat_completions);
  EXPECT_EQ(diags(instance("  chatCompletions: yes please\n")),
            (std::vector<std::string>{
                "m.yaml:7:20: error: spec.chatCompletions: must be true or false, got the string \"yes please\""}));
}

// spec.browser: on unless turned off, from Defaults too; recorded only
// when off, so instances recorded before the field keep their hash.
TEST(Load, Browser) {
  auto r = load({{"m.yaml", instance("")}});
  ASSERT_FALSE(r.diagnostics.has_errors());
  EXPECT_TRUE(r.fleet.instances[0].browser);
  EXPECT_EQ(model::canonical_json(r.fleet.instances[0]).find("browser"), std::string::npos);
  r = load(
      {{"d.yaml", "apiVersion: clawfleet.io/v1\nkind: Defaults\nspec:\n  browser: false\n"}, {"m.yaml", instance("")}});
  ASSERT_FALSE(r.diagnostics.has_errors());
  EXPECT_FALSE(r.fleet.instances[0].browser);
  EXPECT_NE(model::canonical_json(r.fleet.instances[0]).find("\"browser\":false"), std::string::npos);
  EXPECT_EQ(diags(instance("  browser: chromium\n")),
            (std::vector<std::string>{
                "m.yaml:7:12: error: spec.browser: must be true or false, got the string \"chromium\""}));
}

TEST(Load, Skills) {
  auto r = load({{"m.yaml", instance("  skills: [tmux, github, tmux]\n")}});
  EXPECT_FALSE(r.diagnostics.has_errors());
  ASSERT_EQ(r.diagnostics.all().size(), 1u);
  EXPECT_EQ(format(r.diagnostics.all()[0]),
            "m.yaml:7:26: warning: spec.skills[2]: \"tmux\" is listed twice; the repeat is ignored");
  EXPECT_EQ(r.fleet.instances[0].skills, (std::vector<std::string>{"github", "tmux"}));
  EXPECT_EQ(
      diags(instance("  skills: [Git]\n")),
      (std::vector<std::string>{
          "m.yaml:7:12: error: spec.skills[0]: \"Git\" is not a skill name: 1-64 characters of a-z, 0-9 and '-', starting with a letter or digit"}));
  EXPECT_EQ(diags(instance("  skills: github\n")),
            (std::vector<std::string>{"m.yaml:7:11: error: spec.skills: must be a list, got the string \"github\""}));
  EXPECT_TRUE(diags(instance("  skills: []\n")).empty());
}

// A rate in bits per second, Mbit or Gbit; none is no limit.
TEST(Load, Bandwidth) {
  auto r = load({{"m.yaml", instance("  resources: {bandwidth: 50Mbit}\n")}});
  ASSERT_FALSE(r.diagnostics.has_errors()) << format(r.diagnostics.all()[0]);
  EXPECT_EQ(r.fleet.instances.at(0).resources.bandwidth_bps, 50'000'000u);
  EXPECT_EQ(
      load({{"m.yaml", instance("  resources: {bandwidth: 2Gbit}\n")}}).fleet.instances.at(0).resources.bandwidth_bps,
      2'000'000'000u);
  EXPECT_FALSE(load({{"m.yaml", instance("")}}).fleet.instances.at(0).resources.bandwidth_bps);
  EXPECT_EQ(
      diags(instance("  resources: {bandwidth: 50MB}\n")),
      (std::vector<std::string>{"m.yaml:7:26: error: spec.resources.bandwidth: must be a rate such as 50Mbit or 1Gbit "
                                "(bits per second, each direction), got the string \"50MB\""}));
  EXPECT_EQ(diags(instance("  resources: {bandwidth: 0Mbit}\n")),
            (std::vector<std::string>{
                "m.yaml:7:26: error: spec.resources.bandwidth: must be between 1Mbit and 100Gbit, got 0Mbit"}));
  EXPECT_EQ(diags(instance("  resources: {bandwidth: 101Gbit}\n")),
            (std::vector<std::string>{
                "m.yaml:7:26: error: spec.resources.bandwidth: must be between 1Mbit and 100Gbit, got 101Gbit"}));
}

// The VM unit's CPU quota (percent of one host CPU, at most 100% per vCPU)
// and IO weight; unset, systemd's defaults.
TEST(Load, CpuQuotaAndIoWeight) {
  auto r = load({{"m.yaml", instance("  resources: {vcpus: 2, cpuQuota: 150%, ioWeight: 500}\n")}});
  ASSERT_FALSE(r.diagnostics.has_errors()) << format(r.diagnostics.all()[0]);
  EXPECT_EQ(r.fleet.instances.at(0).resources.cpu_quota_percent, 150);
  EXPECT_EQ(r.fleet.instances.at(0).resources.io_weight, 500);
  const auto unset = load({{"m.yaml", instance("")}}).fleet.instances.at(0).resources;
  EXPECT_FALSE(unset.cpu_quota_percent);
  EXPECT_FALSE(unset.io_weight);
  EXPECT_EQ(diags(instance("  resources: {cpuQuota: 50}\n")),
            (std::vector<std::string>{"m.yaml:7:25: error: spec.resources.cpuQuota: must be a percentage of one host "
                                      "CPU such as 50% or 150%, got the integer 50"}));
  for (const char* bad : {"0%", "1.5%", "-5%", "100000%", "50 %"})
    EXPECT_EQ(diags(instance(std::string("  resources: {cpuQuota: \"") + bad + "\"}\n")).size(), 1u) << bad;
  EXPECT_EQ(diags(instance("  resources: {vcpus: 2, cpuQuota: 201%}\n")),
            (std::vector<std::string>{"m.yaml:7:35: error: spec.resources.cpuQuota: 201% is more than 2 vCPUs can "
                                      "use: at most 200%"}));
  EXPECT_EQ(
      diags(instance("  resources: {ioWeight: 0}\n")),
      (std::vector<std::string>{"m.yaml:7:25: error: spec.resources.ioWeight: must be between 1 and 10000, got 0"}));
}

TEST(Load, Resources) {
  EXPECT_EQ(diags(instance("  resources: {vcpus: 33, memoryMiB: 64, disk: 20}\n")),
            (std::vector<std::string>{
                "m.yaml:7:22: error: spec.resources.vcpus: must be between 1 and 32, got 33",
                "m.yaml:7:37: error: spec.resources.memoryMiB: must be between 128 and 1048576, got 64",
                "m.yaml:7:47: error: spec.resources.disk: size needs a unit (e.g. 20GiB): a bare number is ambiguous",
            }));
  EXPECT_EQ(diags(instance("  resources:\n    vcpus: \"4\"\n    disk: 512MiB\n")),
            (std::vector<std::string>{
                "m.yaml:8:12: error: spec.resources.vcpus: must be an integer between 1 and 32, got the string \"4\"",
                "m.yaml:9:11: error: spec.resources.disk: must be between 1GiB and 64TiB, got 512MiB",
            }));
  EXPECT_EQ(diags(instance("  resources:\n    vcpus:\n")),
            (std::vector<std::string>{
                "m.yaml:8:5: error: spec.resources.vcpus: must be an integer between 1 and 32, got null"}));
  EXPECT_EQ(diags(instance("  resources: {vcpus: 99999999999999999999}\n")),
            (std::vector<std::string>{
                "m.yaml:7:22: error: spec.resources.vcpus: must be between 1 and 32, got 99999999999999999999"}));
}

TEST(Load, SecretsAreReferencesAndInlineValuesAreNeverPrinted) {
  auto d = diags(std::string(kHeader) + "spec:\n  providerKeys:\n    openai: sk-live-SECRET\n");
  // The key is named, if wrongly: no cascading "needs an API key" error.
  ASSERT_EQ(
      d,
      (std::vector<std::string>{
          "m.yaml:7:13: error: spec.providerKeys.openai: inline secret values are not allowed (the value is not shown); write a reference: {file: /etc/clawfleet/secrets/NAME}, {env: VARIABLE} or {credential: NAME}",
      }));
  for (const auto& line : d) EXPECT_EQ(line.find("SECRET"), std::string::npos);
  // Tokens pasted where a name or a key belongs are not echoed either.
  for (const char* ref : {"{env: sk-SECRET}", "{file: sk-SECRET}", "{credential: \"sk SECRET\"}", "{123:SECRET}",
                          "{file: /a, SECRET: x}", "[SECRET]"}) {
    auto lines = diags(instance(std::string("  telegram: {botToken: ") + ref + ", allowFrom: [1]}\n"));
    ASSERT_EQ(lines.size(), 1u) << ref;
    EXPECT_EQ(lines[0].find("SECRET"), std::string::npos) << lines[0];
  }
  EXPECT_EQ(
      diags(instance("  telegram: {botToken: {file: a, env: B}, allowFrom: [1]}\n")),
      (std::vector<std::string>{
          "m.yaml:7:24: error: spec.telegram.botToken: a secret reference has exactly one of file, env or credential"}));
  EXPECT_EQ(
      diags(instance("  telegram: {botToken: {value: SECRET}, allowFrom: [1]}\n")),
      (std::vector<std::string>{
          "m.yaml:7:25: error: spec.telegram.botToken: unknown key in a secret reference (it is not shown); write {file: /etc/clawfleet/secrets/NAME}, {env: VARIABLE} or {credential: NAME}"}));
  EXPECT_EQ(
      diags(instance("  telegram: {botToken: {file: secrets/t}, allowFrom: [1]}\n")),
      (std::vector<std::string>{
          "m.yaml:7:31: error: spec.telegram.botToken.file: must be an absolute path without \".\" or \"..\" components or control characters (the value is not shown)"}));
  EXPECT_EQ(
      diags(instance("  telegram: {botToken: {env: 1X}, allowFrom: [1]}\n")),
      (std::vector<std::string>{
          "m.yaml:7:30: error: spec.telegram.botToken.env: must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*, at most 255 bytes) (the value is not shown)"}));
  EXPECT_EQ(
      diags(instance("  telegram: {botToken: {credential: ..}, allowFrom: [1]}\n")),
      (std::vector<std::string>{
          "m.yaml:7:37: error: spec.telegram.botToken.credential: must be a credential name (A-Z, a-z, 0-9, '_', '.' and '-', at most 255 bytes, not . or ..) (the value is not shown)"}));
  EXPECT_EQ(
      diags(instance("  telegram: {botToken: [a], allowFrom: [1]}\n")),
      (std::vector<std::string>{
          "m.yaml:7:24: error: spec.telegram.botToken: must be a secret reference: {file: /etc/clawfleet/secrets/NAME}, {env: VARIABLE} or {credential: NAME}, got a list"}));
}

TEST(Load, Telegram) {
  EXPECT_EQ(
      diags(instance("  telegram: {botToken: {env: T}}\n")),
      (std::vector<std::string>{
          "m.yaml:7:13: error: spec.telegram.allowFrom: required field is missing (Telegram needs both botToken and allowFrom)"}));
  EXPECT_EQ(
      diags(instance("  telegram: {allowFrom: [1]}\n")),
      (std::vector<std::string>{
          "m.yaml:7:13: error: spec.telegram.botToken: required field is missing (Telegram needs both botToken and allowFrom)"}));
  EXPECT_EQ(
      diags(instance("  telegram: {botToken: {env: T}, allowFrom: []}\n")),
      (std::vector<std::string>{
          "m.yaml:7:45: error: spec.telegram.allowFrom: must list at least one Telegram user id: only these users may message the bot"}));
  EXPECT_EQ(
      diags(instance("  telegram: {botToken: {env: T}, allowFrom: [alice, 0]}\n")),
      (std::vector<std::string>{
          "m.yaml:7:46: error: spec.telegram.allowFrom[0]: must be an integer between 1 and 9007199254740991, got the string \"alice\"",
          "m.yaml:7:53: error: spec.telegram.allowFrom[1]: must be between 1 and 9007199254740991, got 0",
      }));
  auto r = load({{"m.yaml", instance("  telegram: {botToken: {env: T}, allowFrom: [5, 5]}\n")}});
  EXPECT_FALSE(r.diagnostics.has_errors());
  EXPECT_EQ(format(r.diagnostics.all().at(0)),
            "m.yaml:7:49: warning: spec.telegram.allowFrom[1]: user 5 is listed twice; the repeat is ignored");
}

// Two gateways polling one bot get 409 Conflict for ever: the same
// reference twice is refused without reading it (same content under two
// references: secrets_test.cc).
TEST(Load, ABotTokenServesOneInstance) {
  std::string a =
      "apiVersion: clawfleet.io/v1\nkind: Instance\nmetadata: {name: a}\nspec:\n  providerKeys: {openai: {env: K}}\n  telegram: {botToken: {file: /etc/clawfleet/secrets/bot}, allowFrom: [1]}\n";
  std::string b = a;
  b.replace(b.find("name: a"), 7, "name: b");
  EXPECT_EQ(
      diags({{"a.yaml", a}, {"b.yaml", b}}),
      (std::vector<std::string>{
          "b.yaml:6:24: error: spec.telegram.botToken: secret file /etc/clawfleet/secrets/bot is also the bot token of instance \"a\" at a.yaml:6:24; a bot serves one instance (two gateways polling one bot get 409 Conflict from Telegram for ever); give each instance its own bot"}));
}

TEST(Load, CustomEndpoints) {
  auto r = load(
      {{"m.yaml", instance("  providerBaseUrls: {openai: \"https://llm-gw.example:8443/v1\"}\n"
                           "  telegram: {botToken: {env: T}, allowFrom: [1], apiRoot: \"http://[fd00::5]:8081\"}\n")}});
  ASSERT_FALSE(r.diagnostics.has_errors()) << format(r.diagnostics.all()[0]);
  const model::Instance& i = r.fleet.instances.at(0);
  EXPECT_EQ(i.provider_base_urls, (std::map<std::string, std::string>{{"openai", "https://llm-gw.example:8443/v1"}}));
  EXPECT_EQ(i.telegram->api_root, "http://[fd00::5]:8081");

  EXPECT_EQ(
      diags(instance(
          "  providerBaseUrls:\n"
          "    openai: ftp://gw/v1\n"
          "    anthropic: \"https://user:pw@gw/v1\"\n"
          "    minimax: \"https://gw:0/x\"\n"
          "    groq: https://gw/v1\n"
          "  telegram: {botToken: {env: T}, allowFrom: [1], apiRoot: \"https://api.telegram.org/bot123:abc\"}\n")),
      (std::vector<std::string>{
          "m.yaml:8:13: error: spec.providerBaseUrls.openai: must be an http:// or https:// URL, got \"ftp://gw/v1\"",
          "m.yaml:9:16: error: spec.providerBaseUrls.anthropic: must be a URL without user:password@ (the value is not shown); keys belong in spec.providerKeys",
          "m.yaml:10:14: error: spec.providerBaseUrls.minimax: must be an http:// or https:// URL whose port is between 1 and 65535, got \"https://gw:0/x\"",
          "m.yaml:11:5: error: spec.providerBaseUrls.groq: \"groq\" is not a provider whose base URL clawfleet sets (anthropic, minimax, openai)",
          "m.yaml:12:59: error: spec.telegram.apiRoot: must be the Bot API root only, without /bot<TOKEN> (the value is not shown), e.g. https://telegram-bot-api.internal:8081",
      }));
  EXPECT_EQ(
      diags(instance("  providerBaseUrls: {openai: \"https://gw/v1?x=1\"}\n")),
      (std::vector<std::string>{
          "m.yaml:7:30: error: spec.providerBaseUrls.openai: must be a URL without a query (?) or fragment (#), got \"https://gw/v1?x=1\""}));
  EXPECT_EQ(
      diags(instance("  providerBaseUrls: {openai: \"https:// gw\"}\n")),
      (std::vector<std::string>{
          "m.yaml:7:30: error: spec.providerBaseUrls.openai: must be an http:// or https:// URL of printable ASCII without spaces (percent-encode the rest), got \"https:// gw\""}));
  EXPECT_EQ(
      diags(instance("  providerBaseUrls: {openai: \"https://" + std::string(2048, 'a') + "\"}\n")),
      (std::vector<std::string>{
          "m.yaml:7:30: error: spec.providerBaseUrls.openai: must be a URL of at most 2048 bytes, got \"https://" +
          std::string(56, 'a') + "\""}));
}

// Defaults may point the whole fleet at an LLM gateway; an Instance's URL
// wins for a provider both name.
TEST(Load, ProviderBaseUrlsMergeKeyByKey) {
  auto r = load(
      {{"m.yaml",
        "apiVersion: clawfleet.io/v1\nkind: Defaults\nspec:\n  providerBaseUrls: {openai: \"https://a/v1\", anthropic: \"https://a/anthropic\"}\n---\n" +
            instance("  providerBaseUrls: {openai: \"https://b/v1\"}\n")}});
  ASSERT_FALSE(r.diagnostics.has_errors()) << format(r.diagnostics.all()[0]);
  EXPECT_EQ(r.fleet.instances.at(0).provider_base_urls,
            (std::map<std::string, std::string>{{"anthropic", "https://a/anthropic"}, {"openai", "https://b/v1"}}));
}

TEST(Load, Network) {
  EXPECT_EQ(
      diags(instance("  network: {hostPort: 80, ip: 172.29.0.300, mac: \"01:00:5e:00:00:01\"}\n")),
      (std::vector<std::string>{
          "m.yaml:7:23: error: spec.network.hostPort: must be between 1024 and 65535, got 80",
          "m.yaml:7:31: error: spec.network.ip: not an IPv4 address (want a.b.c.d), got \"172.29.0.300\"",
          "m.yaml:7:50: error: spec.network.mac: 01:00:5e:00:00:01 is a multicast address; a NIC needs a unicast one (first octet even)",
      }));
  EXPECT_EQ(
      diags(instance("  network: {ip: 10.0.0.5}\n")),
      (std::vector<std::string>{"m.yaml:7:17: error: spec.network.ip: 10.0.0.5 is outside the subnet 172.29.0.0/24"}));
  EXPECT_EQ(
      diags(instance("  network: {ip: 172.29.0.1}\n")),
      (std::vector<std::string>{"m.yaml:7:17: error: spec.network.ip: 172.29.0.1 is the gateway of 172.29.0.0/24"}));
  EXPECT_EQ(diags(instance("  network: {ip: 172.29.0.255}\n")),
            (std::vector<std::string>{
                "m.yaml:7:17: error: spec.network.ip: 172.29.0.255 is the broadcast address of 172.29.0.0/24"}));
}

TEST(Load, PinnedValuesAreUnique) {
  std::string a =
      "apiVersion: clawfleet.io/v1\nkind: Instance\nmetadata: {name: a}\nspec:\n  providerKeys: {openai: {env: K}}\n  network: {hostPort: 20000, ip: 172.29.0.9, mac: \"02:00:00:00:00:01\"}\n";
  std::string b = a;
  b.replace(b.find("name: a"), 7, "name: b");
  EXPECT_EQ(
      diags({{"a.yaml", a}, {"b.yaml", b}}),
      (std::vector<std::string>{
          "b.yaml:6:23: error: spec.network.hostPort: port 20000 is already pinned by instance \"a\" at a.yaml:6:23",
          "b.yaml:6:34: error: spec.network.ip: address 172.29.0.9 is already pinned by instance \"a\" at a.yaml:6:34",
          "b.yaml:6:51: error: spec.network.mac: MAC 02:00:00:00:00:01 is already pinned by instance \"a\" at a.yaml:6:51",
      }));
}

TEST(Load, DefaultsMergeFieldByField) {
  auto r = load(
      {{"d.yaml", R"(apiVersion: clawfleet.io/v1
kind: Defaults
metadata: {name: team}
spec:
  model: anthropic/claude-sonnet-4-5
  skills: [github]
  resources: {vcpus: 4, disk: 40G}
  providerKeys:
    anthropic: {credential: shared-anthropic}
    openai: {credential: shared-openai}
  state: stopped
  protect: true
)"},
       {"m.yaml",
        std::string(kHeader) +
            "spec:\n  resources: {memoryMiB: 1024}\n  providerKeys: {anthropic: {file: /etc/clawfleet/secrets/k}}\n"}});
  ASSERT_FALSE(r.diagnostics.has_errors()) << format(r.diagnostics.all()[0]);
  const auto& i = r.fleet.instances.at(0);
  EXPECT_EQ(i.model, "anthropic/claude-sonnet-4-5");
  EXPECT_EQ(i.skills, std::vector<std::string>{"github"});
  EXPECT_EQ(i.resources,
            (model::Resources{4, 1024, 40ull << 30, 8ull << 30, std::nullopt, std::nullopt, std::nullopt}));
  EXPECT_EQ(i.provider_keys.at("anthropic"), (model::SecretRef{model::SecretSource::File, "/etc/clawfleet/secrets/k"}));
  EXPECT_EQ(i.provider_keys.at("openai"), (model::SecretRef{model::SecretSource::Credential, "shared-openai"}));
  EXPECT_EQ(i.state, model::RunState::Stopped);
  EXPECT_TRUE(i.protect);
}

TEST(Load, DefaultsMayNotHoldPerInstanceFields) {
  EXPECT_EQ(
      diags("apiVersion: clawfleet.io/v1\nkind: Defaults\nspec:\n  telegram: {}\n  network: {}\n"),
      (std::vector<std::string>{
          "m.yaml:4:3: error: spec.telegram: not allowed in Defaults: a Telegram bot serves one instance; set it in that Instance",
          "m.yaml:5:3: error: spec.network: not allowed in Defaults: addresses and ports are per instance; set them in that Instance",
      }));
}

TEST(Load, AtMostOneHostAndOneDefaults) {
  std::string host = "apiVersion: clawfleet.io/v1\nkind: Host\n";
  std::string defaults = "apiVersion: clawfleet.io/v1\nkind: Defaults\n";
  EXPECT_EQ(
      diags({{"a.yaml", host + "---\n" + defaults}, {"b.yaml", defaults + "---\n" + host}}),
      (std::vector<std::string>{
          "b.yaml:1:1: error: kind: a second Defaults document; the first is at a.yaml:4:1 (at most one per fleet)",
          "b.yaml:4:1: error: kind: a second Host document; the first is at a.yaml:1:1 (at most one per fleet)",
      }));
}

TEST(Load, HostFields) {
  auto r = load({{"h.yaml", R"(apiVersion: clawfleet.io/v1
kind: Host
spec:
  bridge: fcbr1
  subnet: 10.42.8.0/24
  ports: {first: 20000, last: 20099}
  vmm: {kind: qemu, smt: true}
  images:
    default: {kernel: /srv/clawfleet/images/default/vmlinuz, rootfs: /srv/clawfleet/images/default/rootfs.ext4, initrd: /srv/clawfleet/images/default/initrd.img}
    next: {kernel: /srv/clawfleet/images/next/vmlinuz, rootfs: /srv/clawfleet/images/next/rootfs.ext4}
  egress: deny
  dns: [192.0.2.53, 10.42.8.1]
  stateRoot: /srv/clawfleet
  limits: {vcpus: 8, memoryMiB: 16384}
)"}});
  ASSERT_FALSE(r.diagnostics.has_errors()) << format(r.diagnostics.all()[0]);
  const auto& h = r.fleet.host;
  EXPECT_EQ(h.bridge, "fcbr1");
  EXPECT_EQ(to_string(h.subnet), "10.42.8.0/24");
  EXPECT_EQ(to_string(h.gateway), "10.42.8.1");
  EXPECT_EQ(h.port_first, 20000);
  EXPECT_EQ(h.port_last, 20099);
  EXPECT_EQ(h.vmm.kind, model::VmmKind::Qemu);
  EXPECT_EQ(h.vmm.binary, "/usr/bin/qemu-system-x86_64");
  EXPECT_TRUE(h.vmm.smt);
  EXPECT_EQ(h.images.size(), 2u);
  EXPECT_EQ(h.images.at("default").initrd, "/srv/clawfleet/images/default/initrd.img");
  EXPECT_EQ(h.egress, model::Egress::Deny);
  // In the order written: the first is asked first; the gateway is allowed.
  EXPECT_EQ(h.dns, (std::vector<Ipv4>{parse_ipv4("192.0.2.53").value(), parse_ipv4("10.42.8.1").value()}));
  EXPECT_EQ(h.state_root, "/srv/clawfleet");
  EXPECT_EQ(h.max_vcpus, 8);
  EXPECT_EQ(h.max_memory_mib, 16384u);
}

// spec.liveness.failAfter: the agent's alone; default 5 minutes under
// KVM, 15 under TCG.
TEST(Load, LivenessFailAfter) {
  auto fail_after = [](const std::string& spec) {
    auto r = load({{"h.yaml", "apiVersion: clawfleet.io/v1\nkind: Host\nspec:\n" + spec}});
    EXPECT_FALSE(r.diagnostics.has_errors()) << spec << ": " << format(r.diagnostics.all()[0]);
    return model::fail_after_ms(r.fleet.host.liveness, true);
  };
  EXPECT_EQ(fail_after("  bridge: cfbr0\n"), 300000);
  EXPECT_EQ(fail_after("  liveness: {}\n"), 300000);
  EXPECT_EQ(model::fail_after_ms({}, false), 900000);
  EXPECT_EQ(model::fail_after_ms({std::int64_t{600000}}, false), 600000);
  EXPECT_EQ(fail_after("  liveness: {failAfter: 10m}\n"), 600000);
  EXPECT_EQ(fail_after("  liveness: {failAfter: 90s}\n"), 90000);
  EXPECT_EQ(fail_after("  liveness: {failAfter: 120}\n"), 120000);  // seconds
  EXPECT_EQ(fail_after("  liveness: {failAfter: 24h}\n"), 86400000);
  EXPECT_EQ(fail_after("  liveness: {failAfter: 30000ms}\n"), 30000);
  EXPECT_EQ(fail_after("  liveness: {failAfter: off}\n"), 0);
  EXPECT_EQ(fail_after("  liveness: {failAfter: 0}\n"), 0);
  // Unset, it is not written into the canonical form: fleets keep their hash.
  auto r = load({{"h.yaml", "apiVersion: clawfleet.io/v1\nkind: Host\nspec: {liveness: {}}\n"}});
  EXPECT_EQ(model::canonical_json(r.fleet.host).find("liveness"), std::string::npos);
  r = load({{"h.yaml", "apiVersion: clawfleet.io/v1\nkind: Host\nspec: {liveness: {failAfter: off}}\n"}});
  EXPECT_NE(model::canonical_json(r.fleet.host).find(R"("liveness":{"failAfterMs":0})"), std::string::npos);
}

// spec.rollout.maxUnavailable: 1 unless said; 1 to the most instances.
TEST(Load, PreviousNames) {
  const auto two = [](const std::string& a, const std::string& b) {
    return std::string("apiVersion: clawfleet.io/v1\nkind: Instance\nmetadata: {name: bot, previousNames: ") + a +
           "}\nspec: {model: ollama/qwen3}\n---\napiVersion: clawfleet.io/v1\nkind: Instance\nmetadata: {name: " +
           "other, previousNames: " + b + "}\nspec: {model: ollama/qwen3}\n";
  };
  auto r = load({{"m.yaml", two("[old, older, old]", "[]")}});
  ASSERT_FALSE(r.diagnostics.has_errors()) << format(r.diagnostics.all()[0]);
  EXPECT_EQ(r.fleet.find("bot")->previous_names, (std::vector<std::string>{"old", "older"}));
  // What the guest sees does not change with a previous name.
  auto plain = load({{"m.yaml", two("[]", "[]")}});
  EXPECT_EQ(model::content_hash(*r.fleet.find("bot")), model::content_hash(*plain.fleet.find("bot")));
  EXPECT_EQ(
      diags(two("[bot]", "[]")),
      (std::vector<std::string>{"m.yaml:3:39: error: metadata.previousNames: \"bot\" is this instance's own name"}));
  EXPECT_EQ(diags(two("[other]", "[]")),
            (std::vector<std::string>{"m.yaml:3:39: error: metadata.previousNames: \"other\" is the name of the "
                                      "instance at m.yaml:8:18: a previous name must be nobody's now"}));
  EXPECT_EQ(diags(two("[old]", "[old]")),
            (std::vector<std::string>{"m.yaml:8:41: error: metadata.previousNames: \"old\" is a previous name of "
                                      "instance \"bot\" too, at m.yaml:3:39"}));
  EXPECT_EQ(
      diags(two("[Old_1]", "[]")),
      (std::vector<std::string>{"m.yaml:3:39: error: metadata.previousNames[0]: \"Old_1\" is not a DNS label: "
                                "1-63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit"}));
}

TEST(Load, RolloutMaxUnavailable) {
  auto max = [](const std::string& spec) {
    auto r = load({{"h.yaml", "apiVersion: clawfleet.io/v1\nkind: Host\nspec:\n" + spec}});
    EXPECT_FALSE(r.diagnostics.has_errors()) << spec << ": " << format(r.diagnostics.all()[0]);
    return model::max_unavailable(r.fleet.host);
  };
  EXPECT_EQ(max("  bridge: cfbr0\n"), 1u);
  EXPECT_EQ(max("  rollout: {}\n"), 1u);
  EXPECT_EQ(max("  rollout: {maxUnavailable: 3}\n"), 3u);
  EXPECT_EQ(max("  rollout: {maxUnavailable: 4096}\n"), 4096u);
  auto r = load({{"h.yaml", "apiVersion: clawfleet.io/v1\nkind: Host\nspec: {rollout: {}}\n"}});
  EXPECT_EQ(model::canonical_json(r.fleet.host).find("rollout"), std::string::npos);
  r = load({{"h.yaml", "apiVersion: clawfleet.io/v1\nkind: Host\nspec: {rollout: {maxUnavailable: 2}}\n"}});
  EXPECT_NE(model::canonical_json(r.fleet.host).find(R"("rollout":{"maxUnavailable":2})"), std::string::npos);

  auto host = [](const std::string& spec) { return diags("apiVersion: clawfleet.io/v1\nkind: Host\nspec:\n" + spec); };
  EXPECT_EQ(
      host("  rollout: {maxUnavailable: 0}\n"),
      (std::vector<std::string>{"m.yaml:4:29: error: spec.rollout.maxUnavailable: must be between 1 and 4096, got 0"}));
  EXPECT_EQ(host("  rollout: {maxUnavailable: 25%}\n"),
            (std::vector<std::string>{"m.yaml:4:29: error: spec.rollout.maxUnavailable: must be an integer between 1 "
                                      "and 4096, got the string \"25%\""}));
  EXPECT_EQ(host("  rollout: {maxSurge: 1}\n"),
            (std::vector<std::string>{"m.yaml:4:13: error: spec.rollout.maxSurge: unknown field"}));
}

TEST(Load, LivenessErrors) {
  auto host = [](const std::string& spec) { return diags("apiVersion: clawfleet.io/v1\nkind: Host\nspec:\n" + spec); };
  EXPECT_EQ(host("  liveness: {failAfter: 10s}\n"),
            (std::vector<std::string>{
                "m.yaml:4:25: error: spec.liveness.failAfter: must be between 30s and 24h (or off), got 10s"}));
  EXPECT_EQ(host("  liveness: {failAfter: 25h}\n"),
            (std::vector<std::string>{
                "m.yaml:4:25: error: spec.liveness.failAfter: must be between 30s and 24h (or off), got 25h"}));
  EXPECT_EQ(host("  liveness: {failAfter: 0s}\n"),
            (std::vector<std::string>{
                "m.yaml:4:25: error: spec.liveness.failAfter: must be between 30s and 24h (or off), got 0s"}));
  EXPECT_EQ(host("  liveness: {failAfter: 5 minutes}\n"),
            (std::vector<std::string>{"m.yaml:4:25: error: spec.liveness.failAfter: \"5 minutes\" is not a duration "
                                      "such as 90s, 5m or 1h, or off"}));
  EXPECT_EQ(host("  liveness: {failAfter: [5m]}\n"),
            (std::vector<std::string>{"m.yaml:4:25: error: spec.liveness.failAfter: must be a duration such as 90s, "
                                      "5m or 1h, or off, got a list"}));
  EXPECT_EQ(host("  liveness: {enabled: false}\n"),
            (std::vector<std::string>{"m.yaml:4:14: error: spec.liveness.enabled: unknown field"}));
}

TEST(Load, DefaultImagesFollowTheStateRoot) {
  auto r = load({{"h.yaml", "apiVersion: clawfleet.io/v1\nkind: Host\nspec: {stateRoot: /srv/cf}\n"}});
  EXPECT_EQ(r.fleet.host.images.at("default").rootfs, "/srv/cf/images/default/rootfs.ext4");
}

TEST(Load, HostErrors) {
  auto host = [](const std::string& spec) { return diags("apiVersion: clawfleet.io/v1\nkind: Host\nspec:\n" + spec); };
  EXPECT_EQ(
      host("  bridge: clawfleet-bridge0\n"),
      (std::vector<std::string>{
          "m.yaml:4:11: error: spec.bridge: \"clawfleet-bridge0\" is not an interface name: 1-15 bytes of A-Z, a-z, 0-9, '_', '.' and '-'"}));
  EXPECT_EQ(host("  subnet: 10.0.0.0/30\n"),
            (std::vector<std::string>{"m.yaml:4:11: error: spec.subnet: prefix must be between /16 and /29, got /30"}));
  EXPECT_EQ(host("  subnet: 10.1.2.3/24\n"),
            (std::vector<std::string>{
                "m.yaml:4:11: error: spec.subnet: 10.1.2.3/24 has host bits set; did you mean 10.1.2.0/24?"}));
  EXPECT_EQ(
      host("  gateway: 10.9.9.1\n"),
      (std::vector<std::string>{"m.yaml:4:12: error: spec.gateway: 10.9.9.1 is outside the subnet 172.29.0.0/24"}));
  EXPECT_EQ(host("  gateway: 172.29.0.0\n"),
            (std::vector<std::string>{
                "m.yaml:4:12: error: spec.gateway: 172.29.0.0 is the network address of 172.29.0.0/24"}));
  EXPECT_EQ(host("  ports: {first: 30000}\n"),
            (std::vector<std::string>{"m.yaml:4:18: error: spec.ports: first (30000) is greater than last (19899)"}));
  EXPECT_EQ(
      host("  vmm: {kind: cloud-hypervisor, binary: fc}\n"),
      (std::vector<std::string>{
          "m.yaml:4:15: error: spec.vmm.kind: must be one of firecracker, qemu; got the string \"cloud-hypervisor\"",
          "m.yaml:4:41: error: spec.vmm.binary: must be an absolute path without \".\" or \"..\" components or control characters, got \"fc\"",
      }));
  EXPECT_EQ(host("  images: {default: {kernel: /k}}\n"),
            (std::vector<std::string>{"m.yaml:4:21: error: spec.images.default.rootfs: required field is missing"}));
  EXPECT_EQ(host("  images: {}\n"),
            (std::vector<std::string>{"m.yaml:4:11: error: spec.images: must name at least one image"}));
  EXPECT_EQ(host("  egress: maybe\n"),
            (std::vector<std::string>{
                "m.yaml:4:11: error: spec.egress: must be one of deny, internet, allow; got the string \"maybe\""}));
}

TEST(Load, InstanceRulesThatDependOnTheHost) {
  std::string host =
      "apiVersion: clawfleet.io/v1\nkind: Host\nspec:\n  vmm: {smt: true}\n  limits: {vcpus: 4, memoryMiB: 4096}\n  images: {base: {kernel: /var/lib/clawfleet/images/base/k, rootfs: /var/lib/clawfleet/images/base/r}}\n";
  EXPECT_EQ(
      diags({{"h.yaml", host}, {"m.yaml", instance("  image: base\n  resources: {vcpus: 3, memoryMiB: 8192}\n")}}),
      (std::vector<std::string>{
          "m.yaml:8:22: error: spec.resources.vcpus: 3 vCPUs: must be 1 or even when the Host's spec.vmm.smt is true",
          "m.yaml:8:36: error: spec.resources.memoryMiB: 8192 MiB is above the Host's spec.limits.memoryMiB (4096)",
      }));
  EXPECT_EQ(
      diags({{"h.yaml", host}, {"m.yaml", instance("")}}),
      (std::vector<std::string>{
          "m.yaml:4:9: error: spec.image: no image \"default\" in the Host's spec.images (it has: base) (the built-in default)"}));
}

TEST(Load, CapacityOfSubnetAndPortRange) {
  std::string host =
      "apiVersion: clawfleet.io/v1\nkind: Host\nspec:\n  subnet: 10.7.0.0/29\n  ports: {first: 20000, last: 20005}\n";
  std::vector<SourceFile> files{{"h.yaml", host}};
  std::string all;
  for (int i = 0; i < 6; ++i)
    all += "---\napiVersion: clawfleet.io/v1\nkind: Instance\nmetadata: {name: b" + std::to_string(i) +
           "}\nspec: {providerKeys: {openai: {env: K}}" + (i == 0 ? ", network: {hostPort: 20001}" : "") + "}\n";
  files.push_back({"m.yaml", all});
  EXPECT_EQ(diags(files),
            (std::vector<std::string>{
                "h.yaml:4:11: error: spec.subnet: 10.7.0.0/29 has room for 5 guests, but the fleet has 6 instances",
            }));
  files[0].content = host.replace(host.find("20005"), 5, "20004");
  EXPECT_EQ(diags(files),
            (std::vector<std::string>{
                "h.yaml:4:11: error: spec.subnet: 10.7.0.0/29 has room for 5 guests, but the fleet has 6 instances",
                "h.yaml:5:18: error: spec.ports: 20000-20004 has room for 4 ports, but 5 instances need one",
            }));
}

// Each instance's tap is a port of the Host's one bridge, of which Linux
// allows 1023: the 1024th would fail an apply halfway ("Exchange full").
TEST(Load, AFleetLargerThanABridgeIsRefused) {
  std::vector<SourceFile> files{{"h.yaml",
                                 "apiVersion: clawfleet.io/v1\nkind: Host\nspec:\n  bridge: cfbr0\n"
                                 "  subnet: 10.7.0.0/21\n  ports: {first: 20000, last: 21999}\n"}};
  auto instances = [&](int first, int count) {
    std::string all;
    for (int i = first; i < first + count; ++i)
      all += "---\napiVersion: clawfleet.io/v1\nkind: Instance\nmetadata: {name: b" + std::to_string(i) +
             "}\nspec: {providerKeys: {openai: {env: K}}}\n";
    return all;
  };
  files.push_back({"a.yaml", instances(0, 512)});
  files.push_back({"b.yaml", instances(512, 511)});
  EXPECT_EQ(diags(files), std::vector<std::string>{});
  files[2].content = instances(512, 512);
  EXPECT_EQ(diags(files), (std::vector<std::string>{"h.yaml:4:11: error: spec.bridge: a Linux bridge has at most 1023 "
                                                    "ports, one for each instance's tap, but the fleet has 1024 "
                                                    "instances"}));
}

TEST(Load, StringsAreCheckedForControlCharactersAndUtf8) {
  EXPECT_EQ(
      diags(instance("  model: \"openai/a\\tb\"\n")),
      (std::vector<std::string>{"m.yaml:7:10: error: spec.model: must not contain control characters or line breaks"}));
  EXPECT_EQ(diags(instance("  model: \"openai/\xff\"\n")),
            (std::vector<std::string>{"m.yaml:7:10: error: spec.model: is not valid UTF-8"}));
}

TEST(Load, LimitsOnWhatUsersControl) {
  std::string big(kMaxFileBytes + 1, '#');
  EXPECT_EQ(diags({{"big.yaml", big}}),
            (std::vector<std::string>{"big.yaml: error: file is larger than the limit of 1048576 bytes"}));
  std::string many;
  for (std::size_t i = 0; i <= kMaxDocumentsPerFile; ++i) many += "---\napiVersion: clawfleet.io/v1\nkind: Host\n";
  EXPECT_EQ(diags({{"many.yaml", many}}),
            (std::vector<std::string>{"many.yaml: error: more than 1024 documents in one file"}));
  std::string skills = "  skills: [";
  for (std::size_t i = 0; i <= kMaxSkills; ++i) skills += "s" + std::to_string(i) + ",";
  skills.back() = ']';
  EXPECT_EQ(diags(instance(skills + "\n")),
            (std::vector<std::string>{"m.yaml:7:11: error: spec.skills: at most 128 entries, got 129"}));
}

}  // namespace
}  // namespace cf::manifest
