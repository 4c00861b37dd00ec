// The NoCloud seed: rendered text (exact), and the real adapter's image
// read back with isoinfo; the root disk clone and grow on a temp dir.
#include "host/guest/seed.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/text.h"
#include "host/guest/guest_disks.h"

namespace cf::host {
namespace {

namespace fs = std::filesystem;

struct Fixture {
  model::Host host;
  model::Instance inst;
  SeedInput in;
  Fixture() {
    host.subnet = Cidr{Ipv4{0x0a2a0000}, 24};  // 10.42.0.0/24
    host.gateway = Ipv4{0x0a2a0001};
    inst.name = "bot";
    inst.model = "openai/gpt-5.5";
    inst.skills = {"github", "tmux"};
    in = SeedInput{&host,
                   &inst,
                   model::Allocation{Ipv4{0x0a2a0002}, Mac{{0x06, 0xfc, 0, 0x2a, 0, 2}}, 18900, "cf-bot"},
                   "0123abcd",
                   {{"openai", "sk-1"}, {"open-router", "or-2"}},
                   std::nullopt,
                   "sha256:feed",
                   ""};
  }
};

TEST(Base64, Rfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

TEST(Seed, MetaDataAndNetworkConfig) {
  Fixture f;
  SeedFiles s = render_seed(f.in);
  EXPECT_EQ(s.meta_data, "instance-id: cf-feed\nlocal-hostname: bot\n");
  EXPECT_EQ(s.network_config,
            "version: 2\nethernets:\n  eth0:\n    match:\n      macaddress: \"06:fc:00:2a:00:02\"\n    set-name: eth0\n"
            "    addresses: [\"10.42.0.2/24\"]\n    routes:\n      - to: 0.0.0.0/0\n        via: \"10.42.0.1\"\n");
}

TEST(Seed, UserDataWritesConfigEnvAndGeneration) {
  Fixture f;
  SeedFiles s = render_seed(f.in);
  ASSERT_EQ(s.user_data.rfind("#cloud-config\nwrite_files:\n", 0), 0u) << s.user_data;
  // No secret appears in clear text: contents are base64.
  EXPECT_EQ(s.user_data.find("sk-1"), std::string::npos);
  EXPECT_EQ(s.user_data.find("0123abcd"), std::string::npos);
  EXPECT_NE(s.user_data.find(
                "  - path: /etc/openclaw/gateway.env\n    owner: \"openclaw:openclaw\"\n    permissions: \"0600\"\n"
                "    encoding: b64\n    content: " +
                base64_encode("OPEN_ROUTER_API_KEY=or-2\nOPENAI_API_KEY=sk-1\n")),
            std::string::npos)
      << s.user_data;
  EXPECT_NE(s.user_data.find("  - path: /etc/openclaw/generation\n    owner: \"root:root\"\n    permissions: \"0644\"\n"
                             "    encoding: b64\n    content: " +
                             base64_encode("sha256:feed\n") + "\n"),
            std::string::npos);
}

TEST(Seed, OpenClawConfig) {
  Fixture f;
  auto c = nlohmann::json::parse(render_openclaw_config(f.in));
  EXPECT_EQ(c["gateway"]["mode"], "local");
  EXPECT_EQ(c["gateway"]["bind"], "lan");
  EXPECT_EQ(c["gateway"]["port"], 18789);
  EXPECT_EQ(c["gateway"]["auth"], (nlohmann::json{{"mode", "token"}, {"token", "0123abcd"}}));
  EXPECT_EQ(c["agents"]["defaults"]["model"]["primary"], "openai/gpt-5.5");
  EXPECT_EQ(c["skills"]["allowBundled"], (nlohmann::json{"github", "tmux"}));
  EXPECT_EQ(c["update"]["checkOnStart"], false);
  EXPECT_EQ(c["logging"], (nlohmann::json{{"file", "/var/lib/openclaw/logs/gateway.log"}, {"consoleLevel", "warn"}}));
  EXPECT_FALSE(c.contains("channels"));
  EXPECT_FALSE(c.contains("plugins"));
  EXPECT_FALSE(c["models"].contains("providers"));
  EXPECT_FALSE(c["skills"].contains("entries"));
}

// openai/* stays on OpenClaw's own runtime (no Codex plugin to install at
// start); other providers get no runtime entry.
TEST(Seed, OpenAiModelsArePinnedToOpenClawsRuntime) {
  Fixture f;
  auto c = nlohmann::json::parse(render_openclaw_config(f.in));
  EXPECT_EQ(c["agents"]["defaults"]["models"],
            (nlohmann::json{{"openai/gpt-5.5", {{"agentRuntime", {{"id", "openclaw"}}}}}}));
  f.inst.model = "anthropic/claude-sonnet-4-6";
  c = nlohmann::json::parse(render_openclaw_config(f.in));
  EXPECT_FALSE(c["agents"]["defaults"].contains("models"));
}

// spec.chatCompletions: OpenClaw's own switch, and nothing without it.
TEST(Seed, ChatCompletionsEndpointOnlyWhenAsked) {
  Fixture f;
  EXPECT_FALSE(nlohmann::json::parse(render_openclaw_config(f.in))["gateway"].contains("http"));
  f.inst.chat_completions = true;
  auto c = nlohmann::json::parse(render_openclaw_config(f.in));
  EXPECT_EQ(c["gateway"]["http"], (nlohmann::json{{"endpoints", {{"chatCompletions", {{"enabled", true}}}}}}));
}

// spec.browser: on by default, on the image's Chromium, headless; off says so.
TEST(Seed, BrowserSwitch) {
  Fixture f;
  auto c = nlohmann::json::parse(render_openclaw_config(f.in));
  EXPECT_EQ(c["browser"],
            (nlohmann::json{{"enabled", true}, {"executablePath", "/usr/bin/chromium"}, {"headless", true}}));
  EXPECT_FALSE(c.contains("plugins"));
  f.inst.browser = false;
  c = nlohmann::json::parse(render_openclaw_config(f.in));
  EXPECT_EQ(c["browser"], (nlohmann::json{{"enabled", false}}));
  EXPECT_EQ(c["plugins"], (nlohmann::json{{"entries", {{"browser", {{"enabled", false}}}}}}));
}

// coding-agent's SKILL.md requires skills.entries.coding-agent.enabled.
TEST(Seed, CodingAgentIsEnabledWhenListed) {
  Fixture f;
  f.inst.skills = {"coding-agent", "github"};
  auto c = nlohmann::json::parse(render_openclaw_config(f.in));
  EXPECT_EQ(c["skills"]["entries"], (nlohmann::json{{"coding-agent", {{"enabled", true}}}}));
}

TEST(Seed, TelegramOnlyWhenConfiguredWithAllowlist) {
  Fixture f;
  f.inst.telegram = model::Telegram{model::SecretRef{model::SecretSource::File, "/t"}, {42, 7}, std::nullopt};
  f.in.telegram_token = "123:abc";
  auto c = nlohmann::json::parse(render_openclaw_config(f.in));
  EXPECT_EQ(c["channels"]["telegram"], (nlohmann::json{{"enabled", true},
                                                       {"botToken", "123:abc"},
                                                       {"dmPolicy", "allowlist"},
                                                       {"groupPolicy", "disabled"},
                                                       {"allowFrom", {42, 7}}}));
  EXPECT_EQ(c["plugins"]["entries"]["telegram"]["enabled"], true);
  f.inst.telegram.reset();
  f.in.telegram_token.reset();
  EXPECT_EQ(render_openclaw_config(f.in).find("telegram"), std::string::npos);
}

TEST(Seed, MinimaxGetsItsProviderBlock) {
  Fixture f;
  f.inst.model = "minimax/MiniMax-M2";
  auto c = nlohmann::json::parse(render_openclaw_config(f.in));
  EXPECT_EQ(c["models"]["providers"]["minimax"]["api"], "anthropic-messages");
}

// spec.providerBaseUrls and spec.telegram.apiRoot: overlays on OpenClaw's
// bundled provider and channel, under the keys its config reference names.
TEST(Seed, CustomEndpoints) {
  Fixture f;
  f.inst.model = "minimax/MiniMax-M2";
  f.inst.provider_base_urls = {{"anthropic", "https://llm-gw.example/anthropic"},
                               {"minimax", "http://10.0.0.5:4000/minimax"}};
  f.inst.telegram =
      model::Telegram{model::SecretRef{model::SecretSource::File, "/t"}, {42}, "https://tg-api.example:8081"};
  f.in.telegram_token = "123:abc";
  auto c = nlohmann::json::parse(render_openclaw_config(f.in));
  EXPECT_EQ(
      c["models"]["providers"],
      (nlohmann::json{{"anthropic", {{"baseUrl", "https://llm-gw.example/anthropic"}}},
                      {"minimax", {{"baseUrl", "http://10.0.0.5:4000/minimax"}, {"api", "anthropic-messages"}}}}));
  EXPECT_EQ(c["channels"]["telegram"]["apiRoot"], "https://tg-api.example:8081");
}

// Under emulation the primary model's provider gets the longer request
// timeout, beside an overlay it already has; a provider OpenClaw does not
// bundle gets none (an overlay without baseUrl would be refused), and
// under KVM nothing is set.
TEST(Seed, EmulatedGuestsWaitLonger) {
  Fixture f;
  f.in.emulated = true;
  auto c = nlohmann::json::parse(render_openclaw_config(f.in));
  EXPECT_EQ(c["models"]["providers"], (nlohmann::json{{"openai", {{"timeoutSeconds", 1800}}}}));
  EXPECT_EQ(c["diagnostics"], (nlohmann::json{{"enabled", false}}));
  EXPECT_EQ(render_gateway_env(f.in), "OPEN_ROUTER_API_KEY=or-2\nOPENAI_API_KEY=sk-1\nCLAWFLEET_TIMEOUT_SCALE=30\n");
  f.inst.model = "anthropic/claude-sonnet-4-6";
  f.inst.provider_base_urls = {{"anthropic", "https://llm-gw.example/anthropic"}};
  c = nlohmann::json::parse(render_openclaw_config(f.in));
  EXPECT_EQ(
      c["models"]["providers"],
      (nlohmann::json{{"anthropic", {{"baseUrl", "https://llm-gw.example/anthropic"}, {"timeoutSeconds", 1800}}}}));
  f.inst.model = "open-router/some-model";
  f.inst.provider_base_urls.clear();
  EXPECT_FALSE(nlohmann::json::parse(render_openclaw_config(f.in))["models"].contains("providers"));
  f.in.emulated = false;
  f.inst.model = "openai/gpt-5.5";
  c = nlohmann::json::parse(render_openclaw_config(f.in));
  EXPECT_FALSE(c["models"].contains("providers"));
  EXPECT_FALSE(c.contains("diagnostics"));
  EXPECT_EQ(render_gateway_env(f.in).find("CLAWFLEET_TIMEOUT_SCALE"), std::string::npos);
}

// The operator's CAs: in the local CA directory for cloud-init's ca_certs
// (update-ca-certificates) and named by NODE_EXTRA_CA_CERTS for Node;
// without any, the file is still written so that removing the last CA
// removes its trust.
TEST(Seed, CaCertificatesReachTheTrustStoreAndNode) {
  Fixture f;
  const std::string pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  const std::string entry =
      "  - path: /usr/local/share/ca-certificates/clawfleet.crt\n    owner: \"root:root\"\n    permissions: "
      "\"0644\"\n    encoding: b64\n    content: ";
  const std::string tail = "ca_certs:\n  remove_defaults: false\n";
  SeedFiles none = render_seed(f.in);
  EXPECT_NE(none.user_data.find(entry + base64_encode("# clawfleet: no operator CA certificates\n") + "\n" + tail),
            std::string::npos)
      << none.user_data;
  EXPECT_EQ(render_gateway_env(f.in), "OPEN_ROUTER_API_KEY=or-2\nOPENAI_API_KEY=sk-1\n");
  f.in.ca_certificates = pem;
  SeedFiles some = render_seed(f.in);
  EXPECT_NE(some.user_data.find(entry + base64_encode(pem) + "\n" + tail), std::string::npos) << some.user_data;
  EXPECT_EQ(render_gateway_env(f.in),
            "OPEN_ROUTER_API_KEY=or-2\nOPENAI_API_KEY=sk-1\n"
            "NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/clawfleet.crt\n");
  EXPECT_NE(seed_digest(none), seed_digest(some));
}

TEST(Seed, DigestChangesWithAnyFile) {
  Fixture f;
  SeedFiles a = render_seed(f.in);
  f.in.provider_keys["openai"] = "sk-2";
  SeedFiles b = render_seed(f.in);
  EXPECT_NE(seed_digest(a), seed_digest(b));
  EXPECT_EQ(seed_digest(a), seed_digest(render_seed(Fixture().in)));
}

class TempDir {
 public:
  TempDir() {
    char t[] = "/tmp/cf-seed-test-XXXXXX";
    path = ::mkdtemp(t);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string path;
};

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  ::pclose(p);
  return out;
}

TEST(RealGuestDisks, SeedIsACidataIsoWithTheThreeFiles) {
  if (std::system("command -v genisoimage >/dev/null && command -v isoinfo >/dev/null") != 0)
    GTEST_SKIP() << "genisoimage/isoinfo not installed (apt-get install genisoimage)";
  TempDir d;
  Fixture f;
  auto disks = real_guest_disks();
  const std::string seed = d.path + "/seed.img";
  auto none = disks->seed_digest_of(seed);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none.value());
  SeedFiles files = render_seed(f.in);
  ASSERT_TRUE(disks->write_seed(seed, files));
  struct stat st;
  ASSERT_EQ(::stat(seed.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);  // the VMM's group reads it (model/instance_dir.h)
  EXPECT_NE(run("isoinfo -d -i " + seed).find("Volume id: cidata"), std::string::npos);
  EXPECT_EQ(run("isoinfo -R -x /meta-data -i " + seed), files.meta_data);
  EXPECT_EQ(run("isoinfo -R -x /user-data -i " + seed), files.user_data);
  EXPECT_EQ(run("isoinfo -R -x /network-config -i " + seed), files.network_config);
  auto digest = disks->seed_digest_of(seed);
  ASSERT_TRUE(digest && digest.value());
  EXPECT_EQ(*digest.value(), seed_digest(files));
  // Nothing but the seed and its digest: the sources (secrets) are gone.
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(d.path)) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"seed.img", "seed.img.digest"}));
  // A new seed over one the VMM's group reads keeps that group (a VM that
  // starts meanwhile opens it as that group).
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown(seed.c_str(), 0, 64123), 0);
    files.meta_data += "# again\n";
    ASSERT_TRUE(disks->write_seed(seed, files));
    ASSERT_EQ(::stat(seed.c_str(), &st), 0);
    EXPECT_EQ(st.st_gid, 64123u);
    EXPECT_EQ(st.st_mode & 0777, 0640u);
  }
}

// Kept for a rollback and brought back (docs/apply.md#rollback): a hard
// link, so the running VM keeps its file while a new one is written; back
// over the new one with its digest, also when none was ever written (both
// names one file, where rename(2) alone does nothing).
TEST(RealGuestDisks, AKeptSeedComesBackWithItsDigest) {
  TempDir d;
  auto disks = real_guest_disks();
  auto put = [&](const std::string& name, const std::string& text) { std::ofstream(d.path + "/" + name) << text; };
  auto read = [&](const std::string& name) {
    std::ifstream in(d.path + "/" + name);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  auto names = [&] {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(d.path)) out.push_back(e.path().filename());
    std::sort(out.begin(), out.end());
    return out;
  };
  const std::string seed = d.path + "/seed.img", kept = d.path + "/seed.previous.img";
  put("seed.img", "old seed");
  put("seed.img.digest", "sha256:old\n");
  ASSERT_TRUE(disks->keep(seed, kept));
  EXPECT_EQ(read("seed.previous.img"), "old seed");
  EXPECT_EQ(read("seed.previous.img.digest"), "sha256:old\n");
  // Never replaced: both names are one file.
  ASSERT_TRUE(disks->move(kept, seed));
  EXPECT_EQ(names(), (std::vector<std::string>{"seed.img", "seed.img.digest"}));
  EXPECT_EQ(read("seed.img"), "old seed");
  // Replaced (atomically, as write_seed does), then brought back.
  ASSERT_TRUE(disks->keep(seed, kept));
  put("new", "new seed");
  fs::rename(d.path + "/new", seed);
  put("new", "sha256:new\n");
  fs::rename(d.path + "/new", seed + ".digest");
  EXPECT_EQ(read("seed.previous.img"), "old seed");
  ASSERT_TRUE(disks->move(kept, seed));
  EXPECT_EQ(names(), (std::vector<std::string>{"seed.img", "seed.img.digest"}));
  EXPECT_EQ(read("seed.img"), "old seed");
  EXPECT_EQ(read("seed.img.digest"), "sha256:old\n");
  // Nothing kept: nothing moves.
  ASSERT_TRUE(disks->move(kept, seed));
  EXPECT_EQ(read("seed.img"), "old seed");
  // A root disk has no digest; remove takes a seed's with it.
  put("rootfs.ext4", "root");
  ASSERT_TRUE(disks->keep(d.path + "/rootfs.ext4", d.path + "/rootfs.previous.ext4"));
  ASSERT_TRUE(disks->remove(seed));
  ASSERT_TRUE(disks->remove(d.path + "/rootfs.ext4"));
  EXPECT_EQ(names(), (std::vector<std::string>{"rootfs.previous.ext4"}));
  EXPECT_FALSE(disks->keep(seed, d.path + "/elsewhere/seed.img"));
}

TEST(RealGuestDisks, MissingToolIsNamed) {
  TempDir d;
  Fixture f;
  auto s = real_guest_disks("/nonexistent/genisoimage")->write_seed(d.path + "/seed.img", render_seed(f.in));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "cannot write the seed " + d.path +
                                   "/seed.img: /nonexistent/genisoimage is not installed (Debian package genisoimage)");
  EXPECT_TRUE(fs::is_empty(d.path));
}

TEST(RealGuestDisks, CloneIsSparseGrownAndPrivate) {
  TempDir d;
  const std::string base = d.path + "/base.ext4";
  {
    std::ofstream out(base, std::ios::binary);
    out << "head";
    out.seekp(8 << 20);
    out << "tail";
  }
  auto disks = real_guest_disks();
  const std::string disk = d.path + "/rootfs.ext4";
  ASSERT_TRUE(disks->clone(base, disk, 64 << 20));
  auto size = disks->size(disk);
  ASSERT_TRUE(size && size.value());
  EXPECT_EQ(*size.value(), std::uint64_t(64) << 20);
  struct stat st;
  ASSERT_EQ(::stat(disk.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);     // the VMM's group writes it
  EXPECT_LT(st.st_blocks * 512, 4 << 20);  // holes stayed holes
  std::ifstream in(disk, std::ios::binary);
  std::string head(4, 0), tail(4, 0);
  in.read(head.data(), 4);
  in.seekg(8 << 20);
  in.read(tail.data(), 4);
  EXPECT_EQ(head, "head");
  EXPECT_EQ(tail, "tail");

  ASSERT_TRUE(disks->grow(disk, 128 << 20));
  EXPECT_EQ(*disks->size(disk).value(), std::uint64_t(128) << 20);
  auto shrink = disks->grow(disk, 1 << 20);
  ASSERT_FALSE(shrink);
  EXPECT_EQ(shrink.error().message, "cannot shrink " + disk + " from 134217728 to 1048576 bytes");
  auto small = disks->clone(base, d.path + "/small.ext4", 1 << 20);
  ASSERT_FALSE(small);
  EXPECT_EQ(small.error().message,
            "the image's rootfs " + base + " (8388612 bytes) is larger than the instance's disk (1048576 bytes)");
  auto missing = disks->clone(d.path + "/nope", d.path + "/x", 1 << 20);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "cannot open the image's rootfs " + d.path + "/nope: No such file or directory");
}

}  // namespace
}  // namespace cf::host
