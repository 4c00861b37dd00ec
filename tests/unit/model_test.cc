// The desired model is a value: equality, canonical JSON and content hashes
// depend on what the manifests mean, not on how they are written.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "manifest/loader.h"
#include "model/desired.h"

namespace cf::model {
namespace {

const char* kA = R"(apiVersion: clawfleet.io/v1
kind: Instance
metadata: {name: a, labels: {team: x, env: prod}}
spec:
  model: anthropic/claude-opus-4-6
  skills: [tmux, github]
  resources: {vcpus: 2, memoryMiB: 4096, disk: 20GiB}
  providerKeys: {anthropic: {credential: k}}
)";

// The same instance, keys and lists reordered, the size in another unit.
const char* kAReordered = R"(kind: Instance
spec:
  providerKeys: {anthropic: {credential: k}}
  resources: {disk: 20480MiB, memoryMiB: 4096, vcpus: 2}
  skills: [github, tmux, github]
  model: anthropic/claude-opus-4-6
metadata: {labels: {env: prod, team: x}, name: a}
apiVersion: clawfleet.io/v1
)";

const char* kB = R"(apiVersion: clawfleet.io/v1
kind: Instance
metadata: {name: b}
spec: {model: ollama/qwen3}
)";

Fleet fleet(const std::vector<manifest::SourceFile>& files) {
  auto r = manifest::load(files);
  EXPECT_FALSE(r.diagnostics.has_errors());
  return r.fleet;
}

TEST(Model, ReorderingKeysListsAndFilesChangesNothing) {
  Fleet f1 = fleet({{"1.yaml", kA}, {"2.yaml", kB}});
  Fleet f2 = fleet({{"x.yaml", kB}, {"y.yaml", kAReordered}});
  Fleet f3 = fleet({{"all.yaml", std::string(kB) + "---\n" + kA}});
  EXPECT_EQ(f1, f2);
  EXPECT_EQ(f1, f3);
  EXPECT_EQ(canonical_json(f1), canonical_json(f2));
  EXPECT_EQ(content_hash(f1), content_hash(f2));
  EXPECT_EQ(content_hash(*f1.find("a")), content_hash(*f2.find("a")));
}

TEST(Model, AnyChangeOfMeaningChangesTheHash) {
  Fleet base = fleet({{"1.yaml", kA}});
  const std::string h = content_hash(base.instances[0]);
  Instance i = base.instances[0];
  i.resources.vcpus = 4;
  EXPECT_NE(content_hash(i), h);
  i = base.instances[0];
  i.provider_keys["anthropic"].name = "other";
  EXPECT_NE(content_hash(i), h);
  i = base.instances[0];
  i.labels["team"] = "y";
  EXPECT_NE(content_hash(i), h);
  i = base.instances[0];
  i.telegram = Telegram{{SecretSource::Env, "T"}, {1}, std::nullopt};
  EXPECT_NE(content_hash(i), h);
  EXPECT_NE(i, base.instances[0]);
  const std::string with_telegram = content_hash(i);
  i.telegram->api_root = "https://tg-api.example";
  EXPECT_NE(content_hash(i), with_telegram);
  i = base.instances[0];
  i.provider_base_urls["anthropic"] = "https://llm-gw.example/anthropic";
  EXPECT_NE(content_hash(i), h);
}

TEST(Model, CanonicalJsonIsSortedCompactAndComplete) {
  Fleet f = fleet({{"1.yaml", kA}});
  std::string j = canonical_json(f.instances[0]);
  EXPECT_EQ(
      j,
      R"({"image":"default","labels":{"env":"prod","team":"x"},"model":"anthropic/claude-opus-4-6","name":"a",)"
      R"("network":{},"protect":false,"providerKeys":{"anthropic":{"credential":"k"}},)"
      R"("resources":{"dataDiskBytes":8589934592,"diskBytes":21474836480,"memoryMiB":4096,"vcpus":2},"skills":["github","tmux"],)"
      R"("state":"running","telegram":null})");
  EXPECT_EQ(content_hash(f.instances[0]).substr(0, 7), "sha256:");
  EXPECT_EQ(content_hash(f.instances[0]).size(), 7u + 64u);
  auto host = nlohmann::json::parse(canonical_json(f.host));
  EXPECT_EQ(host["subnet"], "172.29.0.0/24");
  EXPECT_EQ(host["vmm"]["binary"], "/usr/local/bin/firecracker");
  EXPECT_EQ(host["dns"], nlohmann::json::array());  // unset: the host's default, resolved at plan time
}

TEST(Model, FindUsesTheSortedOrder) {
  Fleet f = fleet({{"1.yaml", kB}, {"2.yaml", kA}});
  ASSERT_EQ(f.instances.size(), 2u);
  EXPECT_EQ(f.instances[0].name, "a");
  EXPECT_NE(f.find("b"), nullptr);
  EXPECT_EQ(f.find("c"), nullptr);
}

}  // namespace
}  // namespace cf::model
