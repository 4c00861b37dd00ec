// The planner: every action and every reason, as exact text; the prune
// guards; determinism; and cost_of against docs/manifest.md's "change
// costs" column, so the reference and the code cannot drift apart.
#include "plan/plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "manifest/loader.h"
#include "manifest/secrets.h"

namespace cf::plan {
namespace {

const std::string kTable = "sha256:table";

std::string listen_dropin(const std::string& name) {
  return "/etc/systemd/system/clawfleet-proxy@" + name + ".socket.d/listen.conf";
}

std::string instance_yaml(const std::string& name) {
  return R"(---
apiVersion: clawfleet.io/v1
kind: Instance
metadata: {name: )" +
         name + R"(, labels: {team: support}}
spec:
  model: anthropic/claude-sonnet-4-5
  skills: [tmux, github]
  telegram:
    botToken: {file: /etc/clawfleet/secrets/)" +
         name + R"(.telegram}
    allowFrom: [42]
  providerKeys:
    anthropic: {env: ANTHROPIC_API_KEY}
)";
}

model::Fleet load_fleet(const std::vector<std::string>& names) {
  std::string yaml = R"(apiVersion: clawfleet.io/v1
kind: Host
spec:
  bridge: cfbr0
  subnet: 10.80.0.0/24
  stateRoot: /srv/cf
  images:
    default: {kernel: /srv/cf/images/vmlinux, rootfs: /srv/cf/images/rootfs.ext4}
    v2: {kernel: /srv/cf/images/v2/vmlinux, rootfs: /srv/cf/images/v2/rootfs.ext4}
)";
  for (const auto& n : names) yaml += instance_yaml(n);
  auto r = manifest::load({{"m.yaml", yaml}});
  EXPECT_FALSE(r.diagnostics.has_errors()) << format(r.diagnostics.all().at(0));
  return r.fleet;
}

model::SecretRef token_ref(const std::string& name) {
  return {model::SecretSource::File, "/etc/clawfleet/secrets/" + name + ".telegram"};
}
const model::SecretRef kAnthropic{model::SecretSource::Env, "ANTHROPIC_API_KEY"};

// A desired fleet and a host on which it has been applied in full; each
// test changes one thing.
struct World {
  Desired d;
  model::Observed o;

  explicit World(const std::vector<std::string>& names = {"bot"}) {
    d.fleet = load_fleet(names);
    d.table_hash = kTable;
    d.secret_digests[kAnthropic] = manifest::secret_digest("sk-ant-secret");
    for (const auto& name : names) {
      d.secret_digests[token_ref(name)] = manifest::secret_digest("123:tg-secret-" + name);
      d.dropin_hashes[name][listen_dropin(name)] = "sha256:listen-" + name;
    }
    const model::Host& h = d.fleet.host;
    o.bridge = {true, true, {Cidr{h.gateway, h.subnet.prefix}}};
    o.table_hash = kTable;
    o.ip_forward = true;
    for (std::size_t n = 0; n < d.fleet.instances.size(); ++n) apply(d.fleet.instances[n], n);
  }

  void apply(const model::Instance& i, std::size_t n) {
    const model::Host& h = d.fleet.host;
    model::ObservedInstance& oi = o.instances[i.name];
    oi.in_inventory = true;
    oi.protect = i.protect;
    oi.allocation = model::Allocation{Ipv4{h.subnet.network.value + std::uint32_t(n + 2)},
                                      parse_mac("06:fc:0a:50:00:0" + std::to_string(n + 2)).value(),
                                      std::uint16_t(18900 + n), "cf" + i.name};
    oi.desired_hash = model::content_hash(i);
    oi.applied_generation = "g1";
    oi.dir = {true, 0710, 0, {{"instance.json", 0600}, {"token", 0600}}};
    oi.units["clawfleet-vm@" + i.name + ".service"] = {"loaded", "active", "running", "enabled", "", "", {}};
    oi.units["clawfleet-proxy@" + i.name + ".socket"] = {
        "loaded", "active", "listening", "enabled", "", "", {{listen_dropin(i.name), "sha256:listen-" + i.name}}};
    oi.tap = {true, h.bridge, true, true, "clawfleet:" + i.name};
    oi.vm_state = model::VmState::Running;
    oi.applied = flatten(i, h, d.secret_digests, d.ca_digests);
  }

  model::Instance& want(const std::string& name = "bot") {
    for (auto& i : d.fleet.instances)
      if (i.name == name) return i;
    throw std::runtime_error("no desired instance " + name);
  }
  model::ObservedInstance& have(const std::string& name = "bot") { return o.instances.at(name); }
  // As an instance created before data disks: its record lacks the field.
  void without_data_disk(const std::string& name = "bot") { have(name).applied.erase("spec.resources.dataDisk"); }
  // Forget a desired instance (its manifest was removed).
  void remove(const std::string& name) {
    auto& v = d.fleet.instances;
    v.erase(std::remove_if(v.begin(), v.end(), [&](const model::Instance& i) { return i.name == name; }), v.end());
  }
  Plan plan(Options opt = {}) const { return make_plan(d, o, opt); }
};

std::vector<std::string> summarize(const Plan& p) {
  std::vector<std::string> out;
  for (const auto& s : p.steps) {
    std::string deps;
    for (auto i : s.depends_on) deps += (deps.empty() ? "" : ",") + std::to_string(i);
    out.push_back(std::string(to_string(s.action)) + " " + s.instance + ": " + s.reason +
                  (deps.empty() ? "" : " [after " + deps + "]"));
  }
  for (const auto& r : p.refused)
    out.push_back(std::string("refused ") + to_string(r.action) + " " + r.instance + ": " + r.reason);
  return out;
}

using Lines = std::vector<std::string>;

// --- vocabulary -----------------------------------------------------------

TEST(PlanActions, NamesAndSymbols) {
  std::vector<std::string> names, symbols;
  for (Action a : kAllActions) {
    names.push_back(to_string(a));
    symbols.push_back(symbol(a));
  }
  EXPECT_EQ(names, (Lines{"create", "reprovision", "restart", "grow-disk", "reimage", "replace", "start", "stop",
                          "repair", "destroy", "update-allocation", "rename"}));
  EXPECT_EQ(symbols, (Lines{"+", "~", "~", "~", "~", "-/+", "~", "~", "~", "-", "~", "~"}));
}

TEST(PlanFlatten, EveryFieldWithSecretsAsDigests) {
  World w;
  auto f = flatten(w.want(), w.d.fleet.host, w.d.secret_digests, w.d.ca_digests);
  std::map<std::string, std::string> expected{
      {"host.bridge", "cfbr0"},
      {"host.gateway", "10.80.0.1"},
      {"host.image.kernel", "/srv/cf/images/vmlinux"},
      {"host.image.rootfs", "/srv/cf/images/rootfs.ext4"},
      {"host.subnet", "10.80.0.0/24"},
      {"host.vmm.binary", "/usr/local/bin/firecracker"},
      {"host.vmm.kind", "firecracker"},
      {"host.vmm.smt", "false"},
      {"metadata.labels.team", "support"},
      {"spec.image", "default"},
      {"spec.model", "anthropic/claude-sonnet-4-5"},
      {"spec.protect", "false"},
      {"spec.providerKeys.anthropic", manifest::secret_digest("sk-ant-secret")},
      {"spec.resources.dataDisk", "8589934592"},
      {"spec.resources.disk", "10737418240"},
      {"spec.resources.memoryMiB", "2048"},
      {"spec.resources.vcpus", "2"},
      {"spec.skills", "github,tmux"},
      {"spec.state", "running"},
      {"spec.telegram.allowFrom", "42"},
      {"spec.telegram.botToken", manifest::secret_digest("123:tg-secret-bot")},
  };
  EXPECT_EQ(f, expected);

  w.d.fleet.host.images["default"].initrd = "/srv/cf/images/initrd.img";
  w.d.secret_digests.erase(kAnthropic);
  f = flatten(w.want(), w.d.fleet.host, w.d.secret_digests, w.d.ca_digests);
  EXPECT_EQ(f.at("host.image.initrd"), "/srv/cf/images/initrd.img");
  EXPECT_EQ(f.at("spec.providerKeys.anthropic"), "(unreadable)");
}

// The planner receives digests, never values: nothing it returns can hold
// a secret, whatever the fleet looks like.
TEST(PlanSecrets, OnlyDigestsEverAppear) {
  World w({"bot", "new"});
  w.o.instances.erase("new");
  w.have().applied["spec.telegram.botToken"] = manifest::secret_digest("123:old-token");
  w.have().applied["spec.providerKeys.anthropic"] = manifest::secret_digest("sk-ant-old");
  Plan p = w.plan();
  ASSERT_EQ(p.steps.size(), 2u);
  std::string all;
  for (const auto& s : p.steps) {
    all += s.reason;
    for (const auto& c : s.changes) {
      all += c.path + c.before.value_or("") + c.after.value_or("");
      EXPECT_EQ(c.secret, is_secret_path(c.path)) << c.path;
      if (c.secret && c.after) {
        EXPECT_EQ(c.after->rfind("sha256:", 0), 0u) << c.path;
      }
    }
  }
  for (const char* value : {"sk-ant-secret", "sk-ant-old", "123:old-token", "tg-secret"})
    EXPECT_EQ(all.find(value), std::string::npos) << value;
  EXPECT_NE(all.find(manifest::secret_digest("sk-ant-secret")), std::string::npos);
  // A secret change names the field, not its digests.
  EXPECT_EQ(p.steps[0].reason, "Telegram bot token and provider key anthropic changed");
}

TEST(PlanCost, SpotChecks) {
  EXPECT_EQ(cost_of("spec.state"), Action::Start);
  EXPECT_EQ(cost_of("spec.resources.disk"), Action::GrowDisk);
  EXPECT_EQ(cost_of("spec.providerKeys.openai"), Action::Reprovision);
  EXPECT_EQ(cost_of("spec.providerBaseUrls.anthropic"), Action::Reprovision);
  EXPECT_EQ(cost_of("spec.telegram.apiRoot"), Action::Reprovision);
  EXPECT_EQ(cost_of("spec.chatCompletions"), Action::Reprovision);
  EXPECT_EQ(cost_of("spec.browser"), Action::Reprovision);
  EXPECT_EQ(cost_of("host.caCertificates"), Action::Reprovision);
  EXPECT_EQ(cost_of("metadata.labels.team"), std::nullopt);
  EXPECT_EQ(cost_of("host.image.initrd"), Action::Replace);
  EXPECT_EQ(cost_of("spec.no-such-field"), std::nullopt);
  EXPECT_TRUE(is_secret_path("spec.telegram.botToken"));
  EXPECT_TRUE(is_secret_path("spec.providerKeys.openai"));
  EXPECT_FALSE(is_secret_path("spec.telegram.allowFrom"));
}

// --- docs/manifest.md agreement --------------------------------------------

struct DocRow {
  std::string doc_path;   // as written: "spec.bridge" in the Host table
  std::string flat_path;  // as flatten/cost_of spell it: "host.bridge"
  std::string cost;       // the "change costs" cell
};

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(' '), e = s.find_last_not_of(' ');
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::vector<DocRow> manifest_reference_rows() {
  std::ifstream in(CLAWFLEET_SOURCE_DIR "/docs/manifest.md");
  EXPECT_TRUE(in) << "cannot read docs/manifest.md";
  std::vector<DocRow> rows;
  std::string line, section;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) section = line;
    if (line.rfind("| `", 0) != 0) continue;
    std::vector<std::string> cells;
    std::stringstream ss(line.substr(1));
    for (std::string cell; std::getline(ss, cell, '|');) cells.push_back(trim(cell));
    if (cells.size() != 5) continue;  // the field tables have five columns
    std::string path = cells[0].substr(1, cells[0].size() - 2);
    std::string flat = path;
    if (section == "## kind: Host" && path.rfind("spec.", 0) == 0) {
      flat = "host." + path.substr(5);
      const std::string images = "host.images";
      if (flat == images) flat = "host.image";
      if (flat.rfind(images + ".<name>.", 0) == 0) flat = "host.image." + flat.substr(images.size() + 8);
    } else if (section == "## kind: Host") {
      flat = "host." + path;
    }
    rows.push_back({path, flat, cells[4]});
  }
  return rows;
}

TEST(PlanDocs, CostOfAgreesWithTheManifestReference) {
  const std::map<std::string, std::optional<Action>> kCosts{
      {"none", std::nullopt},
      {"reprovision", Action::Reprovision},
      {"reprovision of every instance", Action::Reprovision},
      {"restart", Action::Restart},
      {"restart of every instance", Action::Restart},
      {"larger: grow; smaller: replace", Action::GrowDisk},  // the shrink: PlanFields.DiskShrinkIsAReplace
      {"replace", Action::Replace},
      {"reprovision of every instance", Action::Reprovision},
      {"replace of the instances using a changed image", Action::Replace},
      // Made a reimage by the planner for an instance with a data disk
      // (PlanFields.AReimageKeepsTheDataDiskAndIsNotHeldBack).
      {"reimage; replace for an instance created before data disks", Action::Replace},
      {"reimage of the instances using a changed image; replace for those created before data disks", Action::Replace},
      {"proxy", Action::UpdateAllocation},
      {"allocations outside the new range move: proxy", Action::UpdateAllocation},
      {"start/stop", Action::Start},
      {"host firewall table only", std::nullopt},  // the host step, not an instance's
      // A repair's (PlanFields.CgroupLimitsApplyWithoutARestart).
      {"none: systemd applies it to the running VM (shown in a repair)", std::nullopt},
      {"moves nothing: instances under the old root are not seen", std::nullopt},
  };
  std::optional<Action> previous;
  std::size_t checked = 0;
  for (const auto& row : manifest_reference_rows()) {
    // The name is the identity, not a field; previous names are not
    // compared either: they make a rename step (PlanRename.*).
    if (row.doc_path == "metadata.name" || row.doc_path == "metadata.previousNames") continue;
    std::optional<Action> expected = previous;
    if (row.cost != "as above") {
      auto it = kCosts.find(row.cost);
      if (it == kCosts.end()) {
        ADD_FAILURE() << row.doc_path << ": change cost \"" << row.cost << "\" is new; teach cost_of and this test";
        continue;
      }
      expected = it->second;
    }
    EXPECT_EQ(cost_of(row.flat_path), expected) << row.doc_path << " (" << row.flat_path << "): " << row.cost;
    previous = expected;
    ++checked;
  }
  EXPECT_GE(checked, 32u);
}

// The other direction: every field flatten produces has a row.
TEST(PlanDocs, EveryFlattenedFieldIsDocumented) {
  std::set<std::string> documented;
  for (const auto& row : manifest_reference_rows()) documented.insert(row.flat_path);
  World w;
  w.d.fleet.host.images["default"].initrd = "/srv/cf/images/initrd.img";
  w.want().provider_base_urls["anthropic"] = "https://llm-gw.example/anthropic";
  w.want().telegram = model::Telegram{model::SecretRef{model::SecretSource::File, "/t"}, {1}, "https://tg-api.example"};
  w.d.fleet.host.ca_certificates = {"/etc/clawfleet/ca/corp.pem"};
  for (const auto& [path, _] : flatten(w.want(), w.d.fleet.host, w.d.secret_digests, w.d.ca_digests)) {
    std::string row = path;
    for (const char* map : {"metadata.labels", "spec.providerKeys", "spec.providerBaseUrls"})
      if (path.rfind(std::string(map) + ".", 0) == 0) row = map;
    EXPECT_TRUE(documented.count(row)) << path;
  }
}

// --- instances --------------------------------------------------------------

TEST(PlanConverged, NothingToDo) {
  World w({"a", "bot"});
  Plan p = w.plan();
  EXPECT_TRUE(p.empty());
  EXPECT_TRUE(p.refused.empty());
  // Recorded-only fields and an unknown field of an older record change nothing.
  w.want().labels["team"] = "ops";
  w.want().protect = true;
  w.have().applied["spec.retired"] = "x";
  EXPECT_EQ(w.plan().steps, std::vector<Step>{});
  EXPECT_EQ(w.plan().refused, std::vector<Refusal>{});
}

TEST(PlanCreate, ANewInstanceListsEveryField) {
  World w;
  w.o.instances.clear();
  w.want().network.ip = parse_ipv4("10.80.0.9").value();
  Plan p = w.plan();
  ASSERT_EQ(p.steps.size(), 1u);
  const Step& s = p.steps[0];
  EXPECT_EQ(s.action, Action::Create);
  EXPECT_EQ(s.instance, "bot");
  EXPECT_EQ(s.reason, kReasonNewInstance);
  EXPECT_TRUE(s.depends_on.empty());
  auto fields = flatten(w.want(), w.d.fleet.host, w.d.secret_digests, w.d.ca_digests);
  ASSERT_EQ(s.changes.size(), fields.size() + 1);
  for (const auto& c : s.changes) {
    EXPECT_EQ(c.before, std::nullopt) << c.path;
    if (c.path == "spec.network.ip") {
      EXPECT_EQ(c.after, "10.80.0.9");
    } else {
      EXPECT_EQ(c.after, fields.at(c.path)) << c.path;
    }
  }
  EXPECT_TRUE(std::is_sorted(s.changes.begin(), s.changes.end(),
                             [](const FieldChange& a, const FieldChange& b) { return a.path < b.path; }));
}

TEST(PlanCreate, Reasons) {
  struct Case {
    const char* name;
    std::function<void(model::ObservedInstance&)> change;
    std::string reason;
  } cases[] = {
      {"leftover tap only", [](model::ObservedInstance& i) { i = model::ObservedInstance{}, i.tap.present = true; },
       "only leftovers of it are on the host (units or a tap), which the create takes over"},
      {"inventory without a record",
       [](model::ObservedInstance& i) { i.allocation.reset(), i.applied.clear(), i.dir = {}; },
       "in the inventory, but its state directory is gone"},
      {"record without applied fields", [](model::ObservedInstance& i) { i.applied.clear(); },
       "an earlier create did not finish (no applied fields are recorded)"},
  };
  for (const auto& c : cases) {
    World w;
    c.change(w.have());
    EXPECT_EQ(summarize(w.plan()), Lines{"create bot: " + c.reason}) << c.name;
  }
}

TEST(PlanFields, ActionAndReasonPerChange) {
  struct Case {
    const char* name;
    std::function<void(World&)> change;
    std::string expected;  // summarize() of the only step
  } cases[] = {
      {"model", [](World& w) { w.want().model = "anthropic/claude-opus-4-6"; },
       "reprovision bot: model changed (spec.model: anthropic/claude-sonnet-4-5 -> anthropic/claude-opus-4-6)"},
      {"skills", [](World& w) { w.want().skills = {"github"}; },
       "reprovision bot: skills changed (spec.skills: github,tmux -> github)"},
      {"telegram users",
       [](World& w) {
         w.want().telegram->allow_from = {7, 42};
       },
       "reprovision bot: Telegram users changed (spec.telegram.allowFrom: 42 -> 7,42)"},
      {"telegram removed", [](World& w) { w.want().telegram.reset(); },
       "reprovision bot: Telegram bot token and Telegram users changed"},
      {"rotated bot token",
       [](World& w) { w.d.secret_digests[token_ref("bot")] = manifest::secret_digest("123:rotated"); },
       "reprovision bot: Telegram bot token changed"},
      {"unreadable provider key", [](World& w) { w.d.secret_digests.erase(kAnthropic); },
       "reprovision bot: provider key anthropic changed"},
      {"new provider key",
       [](World& w) {
         w.want().provider_keys["openai"] = {model::SecretSource::Env, "OPENAI_API_KEY"};
         w.d.secret_digests[{model::SecretSource::Env, "OPENAI_API_KEY"}] = "sha256:0123456789ab";
       },
       "reprovision bot: provider key openai changed"},
      {"vcpus", [](World& w) { w.want().resources.vcpus = 4; },
       "restart bot: vCPUs changed (spec.resources.vcpus: 2 -> 4)"},
      {"vcpus and memory", [](World& w) { w.want().resources.vcpus = 4, w.want().resources.memory_mib = 4096; },
       "restart bot: vCPUs and memory changed"},
      {"restart outranks reprovision",
       [](World& w) { w.want().resources.memory_mib = 4096, w.want().model = "anthropic/claude-opus-4-6"; },
       "restart bot: memory changed (spec.resources.memoryMiB: 2048 -> 4096)"},
      {"host bridge", [](World& w) { w.have().applied["host.bridge"] = "old0"; },
       "restart bot: bridge changed (host.bridge: old0 -> cfbr0)"},
      {"vmm", [](World& w) { w.have().applied["host.vmm.kind"] = "qemu"; },
       "restart bot: VMM changed (host.vmm.kind: qemu -> firecracker)"},
      {"smt", [](World& w) { w.have().applied["host.vmm.smt"] = "true"; },
       "restart bot: SMT setting changed (host.vmm.smt: true -> false)"},
      {"jailer on", [](World& w) { w.d.fleet.host.vmm.jailer = "/usr/local/bin/jailer"; },
       "restart bot: jailer changed (host.vmm.jailer: (none) -> /usr/local/bin/jailer)"},
      {"jailer off", [](World& w) { w.have().applied["host.vmm.jailer"] = "/usr/local/bin/jailer"; },
       "restart bot: jailer changed (host.vmm.jailer: /usr/local/bin/jailer -> (none))"},
      {"disk grows", [](World& w) { w.want().resources.disk_bytes = 20ull << 30; },
       "grow-disk bot: disk grows (spec.resources.disk: 10GiB -> 20GiB)"},
      {"disk shrinks", [](World& w) { w.want().resources.disk_bytes = 5ull << 30; },
       "replace bot: disk shrinks (spec.resources.disk: 10GiB -> 5GiB)"},
      {"data disk grows", [](World& w) { w.want().resources.data_disk_bytes = 16ull << 30; },
       "grow-disk bot: data disk grows (spec.resources.dataDisk: 8GiB -> 16GiB)"},
      {"data disk shrinks", [](World& w) { w.want().resources.data_disk_bytes = 4ull << 30; },
       "replace bot: data disk shrinks (spec.resources.dataDisk: 8GiB -> 4GiB)"},
      {"both disks grow",
       [](World& w) { w.want().resources.data_disk_bytes = 16ull << 30, w.want().resources.disk_bytes = 20ull << 30; },
       "grow-disk bot: disk grows and data disk grows"},
      {"image", [](World& w) { w.want().image = "v2"; }, "reimage bot: base image changed (spec.image: default -> v2)"},
      {"kernel of the same image", [](World& w) { w.have().applied["host.image.kernel"] = "/srv/cf/images/old"; },
       "reimage bot: kernel changed (host.image.kernel: /srv/cf/images/old -> /srv/cf/images/vmlinux)"},
      {"initrd added", [](World& w) { w.d.fleet.host.images["default"].initrd = "/srv/cf/images/initrd.img"; },
       "reimage bot: initrd changed (host.image.initrd: (none) -> /srv/cf/images/initrd.img)"},
      {"image outranks restart and grow",
       [](World& w) {
         w.want().image = "v2", w.want().resources.vcpus = 4, w.want().resources.data_disk_bytes = 16ull << 30;
       },
       "reimage bot: base image changed (spec.image: default -> v2)"},
      {"image and disk shrink", [](World& w) { w.want().image = "v2", w.want().resources.disk_bytes = 5ull << 30; },
       "replace bot: base image changed and disk shrinks"},
      {"image of an instance without a data disk", [](World& w) { w.want().image = "v2", w.without_data_disk(); },
       "replace bot: base image changed (spec.image: default -> v2)"},
  };
  for (const auto& c : cases) {
    World w;
    c.change(w);
    EXPECT_EQ(summarize(w.plan()), Lines{c.expected}) << c.name;
  }
}

// The VM unit's limits: CPU quota and IO weight apply to the running unit
// (a repair that rewrites the limits drop-in); memory needs a restart,
// which rewrites the drop-in too.
std::string limits_dropin(const std::string& name) {
  return "/etc/systemd/system/clawfleet-vm@" + name + ".service.d/manifest-limits.conf";
}

TEST(PlanFields, CgroupLimitsApplyWithoutARestart) {
  auto limits_change = [](World& w) {
    w.have().units["clawfleet-vm@bot.service"].dropin_hashes[limits_dropin("bot")] = "sha256:limits-old";
    w.d.dropin_hashes["bot"][limits_dropin("bot")] = "sha256:limits-new";
  };
  {
    World w;
    limits_change(w);
    w.want().resources.cpu_quota_percent = 50;
    Plan p = w.plan();
    EXPECT_EQ(summarize(p), Lines{"repair bot: CPU quota changed (spec.resources.cpuQuota: (none) -> 50%), which "
                                  "systemd applies without a restart"});
    ASSERT_EQ(p.steps.size(), 1u);
    ASSERT_EQ(p.steps[0].changes.size(), 1u);
    EXPECT_EQ(p.steps[0].changes[0].path, "spec.resources.cpuQuota");
  }
  {
    // With a drop-in edited by hand beside it, both reasons.
    World w;
    limits_change(w);
    w.want().resources.io_weight = 200;
    w.want().resources.cpu_quota_percent = 150;
    w.have().units["clawfleet-proxy@bot.socket"].dropin_hashes[listen_dropin("bot")] = "sha256:edited";
    EXPECT_EQ(summarize(w.plan()),
              Lines{"repair bot: CPU quota and IO weight changed, which systemd applies without a restart; drop-in "
                    "/etc/systemd/system/clawfleet-proxy@bot.socket.d/listen.conf was edited by hand"});
  }
  {
    World w;
    limits_change(w);
    w.want().resources.memory_mib = 4096;
    EXPECT_EQ(summarize(w.plan()), Lines{"restart bot: memory changed (spec.resources.memoryMiB: 2048 -> 4096)"});
  }
  {
    // A quota with a restart is the restart's.
    World w;
    limits_change(w);
    w.want().resources.vcpus = 4;
    w.want().resources.cpu_quota_percent = 300;
    Plan p = w.plan();
    EXPECT_EQ(summarize(p), Lines{"restart bot: vCPUs changed (spec.resources.vcpus: 2 -> 4)"});
    ASSERT_EQ(p.steps.size(), 1u);
    EXPECT_EQ(p.steps[0].changes.size(), 2u);
  }
  {
    // The limits drop-in alone differs (an older clawfleet wrote none).
    World w;
    w.d.dropin_hashes["bot"][limits_dropin("bot")] = "sha256:limits-new";
    EXPECT_EQ(summarize(w.plan()), Lines{"repair bot: drop-in " + limits_dropin("bot") + " is missing"});
  }
}

// An instance created before data disks has none, and its record lacks
// the field: nothing to compare, whatever the manifest says; another
// change shows without it.
TEST(PlanFields, AnInstanceWithoutADataDiskIsNotGivenOneByThePlan) {
  World w;
  w.have().applied.erase("spec.resources.dataDisk");
  EXPECT_TRUE(w.plan().empty());
  w.want().resources.data_disk_bytes = 16ull << 30;
  EXPECT_TRUE(w.plan().empty());
  w.want().resources.vcpus = 4;
  Plan p = w.plan();
  EXPECT_EQ(summarize(p), Lines{"restart bot: vCPUs changed (spec.resources.vcpus: 2 -> 4)"});
  ASSERT_EQ(p.steps.size(), 1u);
  EXPECT_EQ(p.steps[0].changes, (std::vector<FieldChange>{{"spec.resources.vcpus", "2", "4"}}));
}

TEST(PlanFields, ChangesListEveryChangedFieldIncludingRecordedOnes) {
  World w;
  w.want().resources.vcpus = 4;
  w.want().model = "anthropic/claude-opus-4-6";
  w.want().labels["team"] = "ops";
  Plan p = w.plan();
  ASSERT_EQ(p.steps.size(), 1u);
  EXPECT_EQ(p.steps[0].changes,
            (std::vector<FieldChange>{{"metadata.labels.team", "support", "ops"},
                                      {"spec.model", "anthropic/claude-sonnet-4-5", "anthropic/claude-opus-4-6"},
                                      {"spec.resources.vcpus", "2", "4"}}));
}

TEST(PlanFields, ProtectedOrUnownedInstancesAreNotReplaced) {
  const std::string cause = "base image changed (spec.image: default -> v2)";
  {
    World w;
    w.without_data_disk();
    w.want().image = "v2";
    w.want().protect = true;
    EXPECT_EQ(summarize(w.plan()),
              Lines{"refused replace bot: " + cause +
                    "; it is protected, and a replace loses its disk: rerun with --allow-destroy"});
    EXPECT_EQ(summarize(w.plan({1, true})), Lines{"replace bot: " + cause});
  }
  {
    World w;  // protect recorded in the inventory counts too
    w.without_data_disk();
    w.want().image = "v2";
    w.have().protect = true;
    EXPECT_EQ(w.plan().refused.size(), 1u);
  }
  {
    World w;
    w.without_data_disk();
    w.want().image = "v2";
    w.have().in_inventory = false;
    EXPECT_EQ(summarize(w.plan()),
              Lines{"refused replace bot: " + cause +
                    "; it is not in the inventory, and a replace loses its disk: rerun with --allow-destroy"});
  }
  {
    // A refused replace holds back the other field changes, not the run state.
    World w;
    w.without_data_disk();
    w.want().image = "v2";
    w.want().model = "anthropic/claude-opus-4-6";
    w.want().protect = true;
    w.want().state = model::RunState::Stopped;
    Lines got = summarize(w.plan());
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0], "stop bot: run state changed (spec.state: running -> stopped)");
  }
}

TEST(PlanFields, ReplaceCoversEverythingElse) {
  World w;
  w.without_data_disk();
  w.want().image = "v2";
  w.want().state = model::RunState::Stopped;
  w.want().network.host_port = 19000;
  w.have().units.clear();
  w.have().tap = {};
  w.have().dir.mode = 0755;
  Plan p = w.plan();
  ASSERT_EQ(summarize(p), Lines{"replace bot: base image changed (spec.image: default -> v2)"});
  std::vector<std::string> paths;
  for (const auto& c : p.steps[0].changes) paths.push_back(c.path);
  EXPECT_EQ(paths, (Lines{"host.image.kernel", "host.image.rootfs", "spec.image", "spec.network.hostPort"}));
}

// With a data disk, another image loses nothing of the gateway's: a
// reimage, which protect does not hold back; it restarts the VM, so it
// fixes a stopped unit on the way and the run state is a step of its own.
TEST(PlanFields, AReimageKeepsTheDataDiskAndIsNotHeldBack) {
  World w;
  w.want().image = "v2";
  w.want().protect = true;
  w.have().protect = true;
  w.have().units["clawfleet-vm@bot.service"].active_state = "failed";
  // Nor a stopped proxy: no step of its own would boot the new kernel on
  // the old root before it (RealApply.AKilledRollbackConvergesOnTheNextRun).
  w.have().units["clawfleet-proxy@bot.socket"].active_state = "inactive";
  Plan p = w.plan();
  EXPECT_EQ(summarize(p), Lines{"reimage bot: base image changed (spec.image: default -> v2)"});
  EXPECT_TRUE(p.refused.empty());
  ASSERT_EQ(p.steps.size(), 1u);
  std::vector<std::string> paths;
  for (const auto& c : p.steps[0].changes) paths.push_back(c.path);
  EXPECT_EQ(paths, (Lines{"host.image.kernel", "host.image.rootfs", "spec.image", "spec.protect"}));
  EXPECT_EQ(symbol(Action::Reimage), std::string("~"));

  w.want().state = model::RunState::Stopped;
  EXPECT_EQ(summarize(w.plan()), (Lines{"reimage bot: base image changed (spec.image: default -> v2)",
                                        "stop bot: run state changed (spec.state: running -> stopped) [after 0]"}));
}

// Images by content (docs/guest.md#image-identity): a file replaced at
// the same path and recorded again is another digest, a reimage that
// shows the versions; a digest known on one side only compares nothing.
TEST(PlanFields, AnotherRecordedContentIsAReimageThatShowsTheVersions) {
  const std::string a = "sha256:" + std::string(64, 'a'), b = "sha256:" + std::string(64, 'b');
  World w;
  w.have().applied[kImageDigestField] = a;
  w.have().applied[kImageVersionField] = "openclaw 2026.9.6";
  w.d.fleet.host.images["default"].digest = b;
  w.d.fleet.host.images["default"].version = "openclaw 2026.10.1";
  Plan p = w.plan();
  EXPECT_EQ(
      summarize(p),
      Lines{"reimage bot: image content changed (host.image.digest: sha256:aaaaaaaaaaaa -> sha256:bbbbbbbbbbbb)"});
  ASSERT_EQ(p.steps.size(), 1u);
  EXPECT_EQ(p.steps[0].changes,
            (std::vector<FieldChange>{{kImageDigestField, a, b},
                                      {kImageVersionField, "openclaw 2026.9.6", "openclaw 2026.10.1"}}));
  // Without a data disk it loses the disk, so protect holds it back.
  w.without_data_disk();
  w.want().protect = true;
  w.have().protect = true;
  p = w.plan();
  EXPECT_TRUE(p.steps.empty());
  ASSERT_EQ(p.refused.size(), 1u);
  EXPECT_EQ(p.refused[0].action, Action::Replace);

  // Only the version differs: what a digest is called is not a change.
  World v;
  v.have().applied[kImageDigestField] = a;
  v.have().applied[kImageVersionField] = "v1";
  v.d.fleet.host.images["default"].digest = a;
  v.d.fleet.host.images["default"].version = "v1 (renamed)";
  EXPECT_EQ(summarize(v.plan()), Lines{});

  // Applied before records: nothing to compare with; a step that clones
  // the root anyway shows what it will record.
  World old;
  old.d.fleet.host.images["default"].digest = b;
  old.d.fleet.host.images["default"].version = "v2";
  EXPECT_EQ(summarize(old.plan()), Lines{});
  old.d.fleet.host.images["default"].kernel = "/srv/cf/images/vmlinux-2";
  p = old.plan();
  ASSERT_EQ(p.steps.size(), 1u);
  EXPECT_EQ(p.steps[0].action, Action::Reimage);
  EXPECT_EQ(p.steps[0].changes,
            (std::vector<FieldChange>{{kImageDigestField, std::nullopt, b},
                                      {"host.image.kernel", "/srv/cf/images/vmlinux", "/srv/cf/images/vmlinux-2"},
                                      {kImageVersionField, std::nullopt, "v2"}}));
  // The image no longer matches its record: unknown, not changed.
  World unknown;
  unknown.have().applied[kImageDigestField] = a;
  unknown.have().applied[kImageVersionField] = "v1";
  EXPECT_EQ(summarize(unknown.plan()), Lines{});
}

// A create records the digest and version, so the next plan can compare.
TEST(PlanFields, ACreateRecordsTheImagesDigest) {
  World w;
  w.d.fleet.host.images["default"].digest = "sha256:" + std::string(64, 'c');
  w.d.fleet.host.images["default"].version = "openclaw 2026.9.6";
  w.o.instances.clear();
  Plan p = w.plan();
  ASSERT_EQ(p.steps.size(), 1u);
  std::map<std::string, std::optional<std::string>> after;
  for (const auto& c : p.steps[0].changes) after[c.path] = c.after;
  EXPECT_EQ(after[kImageDigestField], "sha256:" + std::string(64, 'c'));
  EXPECT_EQ(after[kImageVersionField], "openclaw 2026.9.6");
}

TEST(PlanState, StartAndStop) {
  {
    World w;
    w.want().state = model::RunState::Stopped;
    Plan p = w.plan();
    EXPECT_EQ(summarize(p), Lines{"stop bot: run state changed (spec.state: running -> stopped)"});
    EXPECT_EQ(p.steps[0].changes, (std::vector<FieldChange>{{"spec.state", "running", "stopped"}}));
  }
  {
    World w;
    w.have().applied["spec.state"] = "stopped";
    w.have().units["clawfleet-vm@bot.service"].active_state = "inactive";
    EXPECT_EQ(summarize(w.plan()), Lines{"start bot: run state changed (spec.state: stopped -> running)"});
  }
  {
    World w;  // a field step first, then the run state
    w.want().state = model::RunState::Stopped;
    w.want().resources.vcpus = 4;
    EXPECT_EQ(summarize(w.plan()), (Lines{"restart bot: vCPUs changed (spec.resources.vcpus: 2 -> 4)",
                                          "stop bot: run state changed (spec.state: running -> stopped) [after 0]"}));
  }
}

TEST(PlanAllocation, PinsAndRanges) {
  struct Case {
    const char* name;
    std::function<void(World&)> change;
    Lines expected;
    std::vector<FieldChange> changes;  // of the first step
  } cases[] = {
      {"pinned address",
       [](World& w) { w.want().network.ip = parse_ipv4("10.80.0.9").value(); },
       {"update-allocation bot: spec.network.ip is pinned to 10.80.0.9 (allocated 10.80.0.2)"},
       {{"spec.network.ip", "10.80.0.2", "10.80.0.9"}}},
      {"pinned mac",
       [](World& w) { w.want().network.mac = parse_mac("06:fc:0a:50:00:99").value(); },
       {"update-allocation bot: spec.network.mac is pinned to 06:fc:0a:50:00:99 (allocated 06:fc:0a:50:00:02)"},
       {{"spec.network.mac", "06:fc:0a:50:00:02", "06:fc:0a:50:00:99"}}},
      {"pinned port",
       [](World& w) { w.want().network.host_port = 19000; },
       {"update-allocation bot: spec.network.hostPort is pinned to 19000 (allocated 18900)"},
       {{"spec.network.hostPort", "18900", "19000"}}},
      {"pins equal to the allocation",
       [](World& w) {
         w.want().network.ip = parse_ipv4("10.80.0.2").value();
         w.want().network.host_port = 18900;
       },
       {},
       {}},
      {"port range moved",
       [](World& w) { w.d.fleet.host.port_first = 20000, w.d.fleet.host.port_last = 20999; },
       {"update-allocation bot: host port 18900 is outside the range 20000-20999"},
       {{"spec.network.hostPort", "18900", std::nullopt}}},
      {"address became the gateway",
       [](World& w) { w.d.fleet.host.gateway = parse_ipv4("10.80.0.2").value(); },
       {"repair : bridge cfbr0 lacks its address 10.80.0.2/24",
        "update-allocation bot: guest address 10.80.0.2 is reserved in subnet 10.80.0.0/24; gateway changed "
        "(host.gateway: 10.80.0.1 -> 10.80.0.2) [after 0]"},
       {}},
      {"a restart rides along with a new address",
       [](World& w) {
         w.want().network.ip = parse_ipv4("10.80.0.9").value();
         w.want().resources.vcpus = 4;
       },
       {"update-allocation bot: spec.network.ip is pinned to 10.80.0.9 (allocated 10.80.0.2); vCPUs changed "
        "(spec.resources.vcpus: 2 -> 4)"},
       {{"spec.network.ip", "10.80.0.2", "10.80.0.9"}, {"spec.resources.vcpus", "2", "4"}}},
      {"a port change does not restart the VM",
       [](World& w) {
         w.want().network.host_port = 19000;
         w.want().resources.vcpus = 4;
       },
       {"update-allocation bot: spec.network.hostPort is pinned to 19000 (allocated 18900)",
        "restart bot: vCPUs changed (spec.resources.vcpus: 2 -> 4) [after 0]"},
       {{"spec.network.hostPort", "18900", "19000"}}},
  };
  for (const auto& c : cases) {
    World w;
    c.change(w);
    Plan p = w.plan();
    EXPECT_EQ(summarize(p), c.expected) << c.name;
    if (!c.changes.empty() && !p.steps.empty()) {
      EXPECT_EQ(p.steps[0].changes, c.changes) << c.name;
    }
  }
}

TEST(PlanAllocation, OutsideTheSubnet) {
  World w;
  w.d.fleet.host.subnet = parse_cidr("10.81.0.0/24").value();
  w.d.fleet.host.gateway = parse_ipv4("10.81.0.1").value();
  w.o.bridge.addresses = {parse_cidr("10.81.0.1/24").value()};
  EXPECT_EQ(summarize(w.plan()),
            Lines{"update-allocation bot: guest address 10.80.0.2 is outside subnet 10.81.0.0/24; subnet and gateway "
                  "changed"});
}

TEST(PlanRepair, EachKindOfDrift) {
  const std::string vm = "clawfleet-vm@bot.service", socket = "clawfleet-proxy@bot.socket";
  struct Case {
    const char* name;
    std::function<void(World&)> change;
    std::string reason;
    FieldChange change_shown;
  } cases[] = {
      {"vm failed",
       [&](World& w) { w.have().units[vm].active_state = "failed"; },
       "clawfleet-vm@bot.service is failed (was running)",
       {vm, "failed", "active"}},
      {"vm inactive",
       [&](World& w) { w.have().units[vm].active_state = "inactive"; },
       "clawfleet-vm@bot.service is inactive (was running)",
       {vm, "inactive", "active"}},
      {"vm not loaded",
       [&](World& w) { w.have().units.erase(vm); },
       "clawfleet-vm@bot.service is not loaded (was running)",
       {vm, "not loaded", "active"}},
      {"vm masked",
       [&](World& w) { w.have().units[vm].load_state = "masked"; },
       "clawfleet-vm@bot.service is masked (was running)",
       {vm, "masked", "active"}},
      {"vm running while stopped",
       [&](World& w) {
         w.want().state = model::RunState::Stopped;
         w.have().applied["spec.state"] = "stopped";
       },
       "clawfleet-vm@bot.service is active (was stopped)",
       {vm, "active", "inactive"}},
      {"proxy socket down",
       [&](World& w) { w.have().units[socket].active_state = "inactive"; },
       "clawfleet-proxy@bot.socket is inactive (was listening)",
       {socket, "inactive", "active"}},
      {"drop-in edited",
       [&](World& w) { w.have().units[socket].dropin_hashes[listen_dropin("bot")] = "sha256:edited"; },
       "drop-in /etc/systemd/system/clawfleet-proxy@bot.socket.d/listen.conf was edited by hand",
       {listen_dropin("bot"), "sha256:edited", "sha256:listen-bot"}},
      {"drop-in missing",
       [&](World& w) { w.have().units[socket].dropin_hashes.clear(); },
       "drop-in /etc/systemd/system/clawfleet-proxy@bot.socket.d/listen.conf is missing",
       {listen_dropin("bot"), std::nullopt, "sha256:listen-bot"}},
      {"drop-in unreadable",
       [&](World& w) { w.have().units[socket].dropin_hashes[listen_dropin("bot")] = ""; },
       "drop-in /etc/systemd/system/clawfleet-proxy@bot.socket.d/listen.conf is unreadable",
       {listen_dropin("bot"), "(unreadable)", "sha256:listen-bot"}},
      {"tap missing",
       [](World& w) { w.have().tap = {}; },
       "tap cfbot is missing",
       {"tap cfbot", "missing", "attached to cfbr0, isolated, up"}},
      {"tap detached",
       [](World& w) { w.have().tap.master = ""; },
       "tap cfbot is detached from bridge cfbr0",
       {"tap cfbot", "detached from bridge cfbr0", "attached to cfbr0, isolated, up"}},
      {"tap on another bridge",
       [](World& w) { w.have().tap.master = "br9"; },
       "tap cfbot is attached to br9, not cfbr0",
       {"tap cfbot", "attached to br9, not cfbr0", "attached to cfbr0, isolated, up"}},
      {"tap not isolated and down",
       [](World& w) { w.have().tap.isolated = false, w.have().tap.up = false; },
       "tap cfbot is not isolated and down",
       {"tap cfbot", "not isolated, down", "attached to cfbr0, isolated, up"}},
      {"state dir mode",
       [](World& w) { w.have().dir.mode = 0755; },
       "state directory /srv/cf/instances/bot is 0755 (want 0710)",
       {"/srv/cf/instances/bot", "0755", "0710"}},
      {"state file mode",
       [](World& w) { w.have().dir.files["token"] = 0644; },
       "state file /srv/cf/instances/bot/token is 0644 (want 0600)",
       {"/srv/cf/instances/bot/token", "0644", "0600"}},
  };
  for (const auto& c : cases) {
    World w;
    c.change(w);
    Plan p = w.plan();
    EXPECT_EQ(summarize(p), Lines{"repair bot: " + c.reason}) << c.name;
    if (p.steps.size() == 1) {
      EXPECT_EQ(p.steps[0].changes, std::vector<FieldChange>{c.change_shown}) << c.name;
    }
  }
}

TEST(PlanRepair, SeveralProblemsMakeOneStep) {
  World w;
  w.have().units["clawfleet-vm@bot.service"].active_state = "failed";
  w.have().dir.files["token"] = 0644;
  EXPECT_EQ(summarize(w.plan()), Lines{"repair bot: clawfleet-vm@bot.service is failed (was running); state file "
                                       "/srv/cf/instances/bot/token is 0644 (want 0600)"});
}

TEST(PlanRepair, NotWhenABiggerStepCoversIt) {
  struct Case {
    const char* name;
    std::function<void(World&)> change;
    Lines expected;
  } cases[] = {
      {"a restart starts the unit and prepares the tap",
       [](World& w) {
         w.have().units["clawfleet-vm@bot.service"].active_state = "failed";
         w.have().tap = {};
         w.want().resources.vcpus = 4;
       },
       {"restart bot: vCPUs changed (spec.resources.vcpus: 2 -> 4)"}},
      {"a start prepares the tap",
       [](World& w) {
         w.have().applied["spec.state"] = "stopped";
         w.have().tap = {};
       },
       {"start bot: run state changed (spec.state: stopped -> running)"}},
      {"a new port rewrites the drop-in and the proxy",
       [](World& w) {
         w.have().units["clawfleet-proxy@bot.socket"].dropin_hashes.clear();
         w.have().units["clawfleet-proxy@bot.socket"].active_state = "failed";
         w.want().network.host_port = 19000;
       },
       {"update-allocation bot: spec.network.hostPort is pinned to 19000 (allocated 18900)"}},
      {"a reprovision fixes no drift",
       [](World& w) {
         w.have().dir.mode = 0755;
         w.want().model = "anthropic/claude-opus-4-6";
       },
       {"repair bot: state directory /srv/cf/instances/bot is 0755 (want 0710)",
        "reprovision bot: model changed (spec.model: anthropic/claude-sonnet-4-5 -> anthropic/claude-opus-4-6) [after "
        "0]"}},
      {"a restart does not fix modes",
       [](World& w) {
         w.have().dir.files["token"] = 0640;
         w.have().units["clawfleet-vm@bot.service"].active_state = "failed";
         w.want().resources.vcpus = 4;
       },
       {"repair bot: state file /srv/cf/instances/bot/token is 0640 (want 0600)",
        "restart bot: vCPUs changed (spec.resources.vcpus: 2 -> 4) [after 0]"}},
  };
  for (const auto& c : cases) {
    World w;
    c.change(w);
    EXPECT_EQ(summarize(w.plan()), c.expected) << c.name;
  }
}

// --- host -------------------------------------------------------------------

TEST(PlanHost, EachProblem) {
  struct Case {
    const char* name;
    std::function<void(World&)> change;
    std::string reason;
    FieldChange change_shown;
  } cases[] = {
      {"bridge missing",
       [](World& w) { w.o.bridge = {}; },
       "bridge cfbr0 is missing",
       {"bridge cfbr0", std::nullopt, "up, 10.80.0.1/24"}},
      {"bridge down",
       [](World& w) { w.o.bridge.up = false; },
       "bridge cfbr0 is down",
       {"bridge cfbr0", "down, 10.80.0.1/24", "up, 10.80.0.1/24"}},
      {"bridge without its address",
       [](World& w) { w.o.bridge.addresses = {parse_cidr("10.9.0.1/24").value()}; },
       "bridge cfbr0 lacks its address 10.80.0.1/24",
       {"bridge cfbr0", "up, 10.9.0.1/24", "up, 10.80.0.1/24"}},
      {"bridge down without an address",
       [](World& w) { w.o.bridge.up = false, w.o.bridge.addresses.clear(); },
       "bridge cfbr0 is down; bridge cfbr0 lacks its address 10.80.0.1/24",
       {"bridge cfbr0", "down, no address", "up, 10.80.0.1/24"}},
      {"table missing",
       [](World& w) { w.o.table_hash.reset(); },
       "nftables tables inet/bridge clawfleet are missing",
       {"tables inet/bridge clawfleet", std::nullopt, kTable}},
      {"table differs",
       [](World& w) { w.o.table_hash = "sha256:edited"; },
       "nftables tables inet/bridge clawfleet differ from what clawfleet renders",
       {"tables inet/bridge clawfleet", "sha256:edited", kTable}},
      {"ip_forward off",
       [](World& w) { w.o.ip_forward = false; },
       "net.ipv4.ip_forward is 0 (egress: internet needs 1)",
       {"net.ipv4.ip_forward", "0", "1"}},
  };
  for (const auto& c : cases) {
    World w;
    c.change(w);
    Plan p = w.plan();
    EXPECT_EQ(summarize(p), Lines{"repair : " + c.reason}) << c.name;
    if (p.steps.size() == 1) {
      EXPECT_EQ(p.steps[0].changes, std::vector<FieldChange>{c.change_shown}) << c.name;
    }
  }
}

TEST(PlanHost, NoStepWhenNotNeeded) {
  World w;
  w.d.fleet.host.egress = model::Egress::Deny;
  w.o.ip_forward = false;
  EXPECT_TRUE(w.plan().empty());

  World empty(std::vector<std::string>{});
  empty.o.bridge = {};
  empty.o.table_hash.reset();
  empty.o.ip_forward = false;
  EXPECT_TRUE(empty.plan().empty());  // no instance needs the host network
}

TEST(PlanHost, InstanceStepsThatNeedTheNetworkWaitForIt) {
  World w({"a", "b", "c", "d", "e"});
  w.o.bridge = {};
  w.o.instances.erase("a");                                             // create
  w.want("b").resources.disk_bytes = 20ull << 30;                       // grow: no network
  w.want("c").state = model::RunState::Stopped;                         // stop: no network
  w.have("d").units["clawfleet-vm@d.service"].active_state = "failed";  // repair
  w.want("e").resources.vcpus = 4;                                      // restart
  w.have("e").units["clawfleet-vm@e.service"].active_state = "failed";
  w.want("e").state = model::RunState::Stopped;
  EXPECT_EQ(summarize(w.plan()),
            (Lines{"repair : bridge cfbr0 is missing", "create a: " + std::string(kReasonNewInstance) + " [after 0]",
                   "grow-disk b: disk grows (spec.resources.disk: 10GiB -> 20GiB)",
                   "stop c: run state changed (spec.state: running -> stopped)",
                   "repair d: clawfleet-vm@d.service is failed (was running) [after 0]",
                   "restart e: vCPUs changed (spec.resources.vcpus: 2 -> 4) [after 0]",
                   "stop e: run state changed (spec.state: running -> stopped) [after 5]"}));
}

// --- prune --------------------------------------------------------------------

TEST(PlanPrune, DestroyWhatTheInventoryListsAndTheManifestsDoNot) {
  World w({"bot", "old"});
  w.remove("old");
  Plan p = w.plan();
  EXPECT_EQ(summarize(p), Lines{"destroy old: absent from every manifest"});
  const auto& applied = w.have("old").applied;
  ASSERT_EQ(p.steps[0].changes.size(), applied.size());
  for (const auto& c : p.steps[0].changes) {
    EXPECT_EQ(c.before, applied.at(c.path));
    EXPECT_EQ(c.after, std::nullopt);
  }
}

TEST(PlanPrune, LeftoversAreNeverDestroyed) {
  World w;
  model::ObservedInstance leftover;
  leftover.tap = {true, "cfbr0", true, true, "clawfleet:ghost"};
  leftover.units["clawfleet-vm@ghost.service"] = {"loaded", "failed", "failed", "disabled", "", "", {}};
  w.o.instances["ghost"] = leftover;
  EXPECT_EQ(summarize(w.plan({100, true})),
            Lines{"refused destroy ghost: not in the inventory; clawfleet does not touch it"});
}

// metadata.previousNames: "old" on the host, the manifests call it "bot".
TEST(PlanRename, AnInstanceOnTheHostUnderAPreviousNameIsRenamedNotRecreated) {
  World w({"old"});
  World renamed({"bot"});
  w.d = renamed.d;
  w.want().previous_names = {"gone", "old"};
  Plan p = w.plan();
  EXPECT_EQ(summarize(p), Lines{"rename bot: it was old (metadata.previousNames)"});
  // The name and what the instance's own fields change with it (its
  // Telegram token's file is named after it in this World).
  ASSERT_FALSE(p.steps[0].changes.empty());
  EXPECT_EQ(p.steps[0].changes[0], (FieldChange{"metadata.name", "old", "bot", false}));
  for (const auto& c : p.steps[0].changes) EXPECT_FALSE(is_image_field(c.path)) << c.path;
  // Not counted against --max-destroy, never a destroy of "old".
  EXPECT_EQ(summarize(w.plan({0, false})), Lines{"rename bot: it was old (metadata.previousNames)"});
  // Once the directory moved, "bot" is planned as itself.
  w.o.instances["bot"] = w.o.instances.at("old");
  w.o.instances.erase("old");
  EXPECT_NE(summarize(w.plan()).at(0).rfind("rename", 0), 0u);
}

TEST(PlanRename, APreviousNameOnTheHostBesideTheNewOneIsNeitherRenamedNorDestroyed) {
  World w({"bot", "old"});
  w.remove("old");
  w.want().previous_names = {"old"};
  EXPECT_EQ(summarize(w.plan({100, true})),
            Lines{"refused destroy old: it is a previous name of bot (metadata.previousNames), which is on the host "
                  "too; remove it from metadata.previousNames to destroy it"});
  // Without the claim, it is destroyed as any instance absent from the manifests.
  w.want().previous_names.clear();
  EXPECT_EQ(summarize(w.plan()), Lines{"destroy old: absent from every manifest"});
}

TEST(PlanPrune, Guards) {
  const std::string incomplete =
      "the manifest set did not load completely, and a file that failed may still declare it";
  const std::string empty = "the manifest set is empty; refusing to destroy everything";
  const std::string protect =
      "it is protected (protect: true in the inventory); rerun with --allow-destroy to destroy it";
  const std::string too_many =
      "2 instances would be destroyed, more than --max-destroy 1; raise --max-destroy or rerun with --allow-destroy";
  struct Case {
    const char* name;
    std::function<void(World&)> change;
    Options options;
    Lines expected;
  } cases[] = {
      {"incomplete set", [](World& w) { w.d.complete = false; }, {1, false}, {"refused destroy x: " + incomplete}},
      {"incomplete set, even with --allow-destroy",
       [](World& w) { w.d.complete = false; },
       {1, true},
       {"refused destroy x: " + incomplete}},
      {"empty set",
       [](World& w) { w.remove("bot"); },
       {1, true},
       {"refused destroy bot: " + empty, "refused destroy x: " + empty}},
      {"over --max-destroy",
       [](World& w) { w.remove("y"), w.o.instances["y"] = w.o.instances.at("x"); },
       {1, false},
       {"refused destroy x: " + too_many, "refused destroy y: " + too_many}},
      {"within a raised --max-destroy",
       [](World& w) { w.remove("y"), w.o.instances["y"] = w.o.instances.at("x"); },
       {2, false},
       {"destroy x: absent from every manifest", "destroy y: absent from every manifest"}},
      {"over --max-destroy with --allow-destroy",
       [](World& w) { w.remove("y"), w.o.instances["y"] = w.o.instances.at("x"); },
       {1, true},
       {"destroy x: absent from every manifest", "destroy y: absent from every manifest"}},
      {"--max-destroy 0",
       [](World&) {},
       {0, false},
       {"refused destroy x: 1 instance would be destroyed, more than --max-destroy 0; raise --max-destroy or rerun "
        "with "
        "--allow-destroy"}},
      {"protected", [](World& w) { w.have("x").protect = true; }, {5, false}, {"refused destroy x: " + protect}},
      {"protected, with --allow-destroy",
       [](World& w) { w.have("x").protect = true; },
       {5, true},
       {"destroy x: absent from every manifest"}},
      {"protected ones do not count against --max-destroy",
       [](World& w) { w.remove("y"), w.o.instances["y"] = w.o.instances.at("x"), w.have("y").protect = true; },
       {1, false},
       {"destroy x: absent from every manifest", "refused destroy y: " + protect}},
  };
  for (const auto& c : cases) {
    World w({"bot", "x", "y"});
    w.remove("x");
    w.o.instances.erase("y");
    w.remove("y");
    c.change(w);  // the cases that need "y" copy "x"
    EXPECT_EQ(summarize(w.plan(c.options)), c.expected) << c.name;
  }
}

// --- order and determinism --------------------------------------------------------

World mixed() {
  World w({"a", "b", "c", "d", "old"});
  w.remove("old");
  w.o.table_hash = "sha256:edited";
  w.o.instances.erase("a");
  w.want("b").model = "anthropic/claude-opus-4-6";
  w.have("b").dir.mode = 0750;
  w.want("c").image = "v2";
  w.without_data_disk("c");
  w.want("d").network.ip = parse_ipv4("10.80.0.50").value();
  w.want("d").state = model::RunState::Stopped;
  w.o.instances["ghost"].tap.present = true;
  return w;
}

TEST(PlanOrder, HostFirstThenInstancesByNameDependingBackwards) {
  World w = mixed();
  Options opt{1, false};
  Plan p = w.plan(opt);
  EXPECT_EQ(
      summarize(p),
      (Lines{"repair : nftables tables inet/bridge clawfleet differ from what clawfleet renders",
             "create a: " + std::string(kReasonNewInstance) + " [after 0]",
             "repair b: state directory /srv/cf/instances/b is 0750 (want 0710) [after 0]",
             "reprovision b: model changed (spec.model: anthropic/claude-sonnet-4-5 -> anthropic/claude-opus-4-6) "
             "[after 0,2]",
             "replace c: base image changed (spec.image: default -> v2) [after 0]",
             "update-allocation d: spec.network.ip is pinned to 10.80.0.50 (allocated 10.80.0.5) [after 0]",
             "stop d: run state changed (spec.state: running -> stopped) [after 5]",
             "destroy old: absent from every manifest",
             "refused destroy ghost: not in the inventory; clawfleet does not touch it"}));
  for (std::size_t i = 0; i < p.steps.size(); ++i)
    for (auto dep : p.steps[i].depends_on) EXPECT_LT(dep, i);
}

TEST(PlanOrder, SameInputsSamePlan) {
  World w = mixed();
  Plan first = w.plan();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(w.plan(), first);
  // Built in another order, the inputs are the same values: so is the plan.
  World again = mixed();
  std::reverse(again.d.fleet.instances.begin(), again.d.fleet.instances.end());
  std::sort(again.d.fleet.instances.begin(), again.d.fleet.instances.end(),
            [](const model::Instance& a, const model::Instance& b) { return a.name < b.name; });
  EXPECT_EQ(again.plan(), first);
}

}  // namespace
}  // namespace cf::plan

namespace cf::plan {
namespace {

// The one decision of how VMs run, for every VMM, setting and platform.
TEST(AcceleratorFor, QemuUsesKvmOnlyAfterAProbeRanAGuestFirecrackerAlwaysHasKvm) {
  using model::Accel;
  using model::VmmKind;
  auto vmm = [](VmmKind k, Accel a = Accel::Auto) {
    model::Vmm v;
    v.kind = k;
    v.accel = a;
    return v;
  };
  const model::KvmProbe ran{true, "the guest kernel ran to its panic in 0.9 s", "2026-12-01T10:00:00.000Z"};
  const model::KvmProbe failed{false, "no guest console output within 20.0 s", "2026-12-01T10:00:00.000Z"};
  EXPECT_EQ(accelerator_for(vmm(VmmKind::Qemu), {true, 2000000, std::nullopt}),
            (Accelerator{false,
                         "qemu emulates until a boot probe shows that /dev/kvm can run a guest (that it opens is "
                         "not enough; apply and the agent run one)"}));
  EXPECT_EQ(accelerator_for(vmm(VmmKind::Qemu), {true, 2000000, failed}),
            (Accelerator{false,
                         "qemu emulates: a boot probe under /dev/kvm at 2026-12-01T10:00:00.000Z did not run a guest "
                         "(no guest console output within 20.0 s)"}));
  EXPECT_EQ(accelerator_for(vmm(VmmKind::Qemu), {true, 2000000, ran}),
            (Accelerator{true,
                         "qemu uses KVM: a boot probe at 2026-12-01T10:00:00.000Z ran a guest under /dev/kvm (the "
                         "guest kernel ran to its panic in 0.9 s)"}));
  // A probe recorded when the device opened says nothing once it does not.
  EXPECT_EQ(accelerator_for(vmm(VmmKind::Qemu), {false, 0, ran}),
            (Accelerator{false, "qemu emulates: /dev/kvm cannot be opened"}));
  EXPECT_EQ(accelerator_for(vmm(VmmKind::Qemu, Accel::Tcg), {true, 0, ran}),
            (Accelerator{false, "qemu emulates, as spec.vmm.accel says"}));
  EXPECT_EQ(accelerator_for(vmm(VmmKind::Qemu, Accel::Kvm), {true, 0, failed}),
            (Accelerator{true, "qemu uses KVM, as spec.vmm.accel says"}));
  EXPECT_EQ(accelerator_for(vmm(VmmKind::Qemu, Accel::Kvm), {false, 0, std::nullopt}),
            (Accelerator{true,
                         "qemu uses KVM, as spec.vmm.accel says, and /dev/kvm cannot be opened: its VMs will not "
                         "start"}));
  EXPECT_EQ(accelerator_for(vmm(VmmKind::Firecracker), {true, 0, std::nullopt}),
            (Accelerator{true, "firecracker always uses KVM"}));
  EXPECT_EQ(accelerator_for(vmm(VmmKind::Firecracker), {false, 0, std::nullopt}),
            (Accelerator{true, "firecracker always uses KVM, and /dev/kvm cannot be opened: its VMs will not start"}));
  EXPECT_STREQ((Accelerator{false, ""}.name()), "tcg");
  EXPECT_STREQ((Accelerator{true, ""}.name()), "kvm");
}

}  // namespace
}  // namespace cf::plan
