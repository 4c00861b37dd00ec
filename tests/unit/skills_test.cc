// The image's skills record (host/guest/skills_record.h) and the plan's
// warnings from it (plan/skills.h).
#include <gtest/gtest.h>

#include "fakes/fake_file_reader.h"
#include "fakes/fleets.h"
#include "host/guest/skills_record.h"
#include "plan/skills.h"

namespace cf {
namespace {

using cf::testing::FakeFileReader;
using cf::testing::fleet_of;
using cf::testing::instance_yaml;

const char* const kRecord = R"({"format": 1, "openclaw": "2026.9.6", "skills": [
 {"name": "github", "eligible": true, "missing": {"bins": [], "anyBins": [], "env": [], "config": [], "os": []}},
 {"name": "gh-issues", "eligible": false, "missing": {"bins": ["git", "gh"], "anyBins": [], "env": [], "config": [], "os": []}},
 {"name": "coding-agent", "eligible": false,
  "missing": {"bins": [], "anyBins": ["claude", "codex", "opencode"], "env": [], "config": ["skills.entries.coding-agent.enabled"], "os": []}},
 {"name": "apple-notes", "eligible": false, "missing": {"bins": ["memo"], "anyBins": [], "env": [], "config": [], "os": ["darwin"]}},
 {"name": "goplaces", "eligible": false, "missing": {"bins": [], "anyBins": [], "env": ["GOOGLE_PLACES_API_KEY"], "config": [], "os": []}}
]})";

TEST(SkillsRecord, KeepsWhatEachBundledSkillLacks) {
  auto r = host::parse_skills_record(kRecord);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r.value().size(), 5u);
  EXPECT_EQ(r.value().at("github"), model::SkillRecord{});
  EXPECT_EQ(r.value().at("gh-issues").missing_bins, (std::vector<std::string>{"git", "gh"}));
  EXPECT_EQ(r.value().at("coding-agent").missing_any_bins, (std::vector<std::string>{"claude", "codex", "opencode"}));
  EXPECT_EQ(r.value().at("apple-notes").missing_os, (std::vector<std::string>{"darwin"}));
  // Needs of the instance (env, config) are not the image's.
  EXPECT_EQ(r.value().at("goplaces"), model::SkillRecord{});
}

// Errors say what is wrong, never what the file holds.
TEST(SkillsRecord, ErrorsNeverQuoteTheFile) {
  const std::pair<const char*, const char*> cases[] = {
      {"root:x:0:0:secret-content", "not JSON"},
      {R"({"skills": []})", "not a skills record of format 1"},
      {R"({"format": 2, "skills": []})", "not a skills record of format 1"},
      {R"({"format": 1})", "no list of skills"},
      {R"({"format": 1, "skills": [{"name": "\u001b[31msecret"}]})", "a skill without a plain name"},
      {R"({"format": 1, "skills": [{"name": "x", "missing": {"bins": ["secret value"]}}]})",
       "skill x: missing.bins holds something that is not a plain name"},
      {R"({"format": 1, "skills": [{"name": "x", "missing": {"anyBins": "gh"}}]})",
       "skill x: missing.anyBins is not a list of at most 32 names"},
      {R"({"format": 1, "skills": [{"name": "x", "missing": []}]})", "skill x: missing is not an object"},
  };
  for (const auto& [text, error] : cases) {
    auto r = host::parse_skills_record(text);
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error().message, error) << text;
  }
}

TEST(SkillsRecord, ReadBesideEachImagesRootfs) {
  FakeFileReader files;
  model::Host host;
  host.images["default"] = model::Image{"/img/a/vmlinux", "/img/a/rootfs.ext4", std::nullopt, "", ""};
  host.images["canary"] = model::Image{"/img/b/vmlinux", "/img/b/rootfs.ext4", std::nullopt, "", ""};
  host.images["broken"] = model::Image{"/img/c/vmlinux", "/img/c/rootfs.ext4", std::nullopt, "", ""};
  files.file("/img/a/skills.json", kRecord);
  files.file("/img/b/rootfs.ext4", "");
  files.file("/img/c/skills.json", "{oops");
  auto seen = host::read_skills_records(host, files);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen.at("default").path, "/img/a/skills.json");
  ASSERT_TRUE(seen.at("default").bundled);
  EXPECT_EQ(seen.at("default").bundled->size(), 5u);
  EXPECT_TRUE(seen.at("canary").absent);
  EXPECT_FALSE(seen.at("canary").bundled);
  EXPECT_FALSE(seen.at("broken").absent);
  EXPECT_EQ(seen.at("broken").problem, "/img/c/skills.json: not JSON");
}

std::map<std::string, model::ObservedSkills> records_of(const std::string& image, const char* text) {
  model::ObservedSkills o;
  o.path = "/img/" + image + "/skills.json";
  auto r = host::parse_skills_record(text);
  if (r)
    o.bundled = r.value();
  else
    o.problem = o.path + ": " + r.error().message;
  return {{image, o}};
}

TEST(SkillWarnings, NamesTheInstanceTheSkillAndWhatIsMissing) {
  auto fleet =
      fleet_of(instance_yaml("alpha", "  skills: [github, gh-issues, coding-agent, apple-notes, session-logs]\n") +
               instance_yaml("beta", "  skills: [github, goplaces]\n"));
  EXPECT_EQ(plan::skill_warnings(fleet, records_of("default", kRecord)),
            (std::vector<std::string>{
                "alpha: skill apple-notes does not run on Linux (only on darwin)",
                "alpha: skill coding-agent needs one of claude, codex, opencode, which image default does not have",
                "alpha: skill gh-issues needs git, gh, which image default does not have",
                "alpha: skill session-logs is not bundled with image default (it may come from ClawHub, which "
                "clawfleet does not install)",
            }));
}

TEST(SkillWarnings, AnUnusableRecordOnceAndAnAbsentOneNever) {
  auto fleet = fleet_of(instance_yaml("alpha", "  skills: [github]\n") + instance_yaml("beta", "  skills: [tmux]\n"));
  EXPECT_EQ(plan::skill_warnings(fleet, records_of("default", "[]")),
            (std::vector<std::string>{"image default has an unusable skills record, so its skills are not checked "
                                      "(/img/default/skills.json: not a skills record of format 1)"}));
  std::map<std::string, model::ObservedSkills> absent{{"default", {}}};
  absent["default"].absent = true;
  EXPECT_TRUE(plan::skill_warnings(fleet, absent).empty());
}

}  // namespace
}  // namespace cf
