// The examples must load cleanly, and every case of the invalid corpora
// must produce exactly the diagnostics its `# expect:` lines name
// (tests/manifests/README.md). The same corpus is run through the JSON
// Schema by tests/schema/check_schema.py.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fakes/files.h"
#include "manifest/loader.h"

namespace cf::manifest {
namespace {

using cf::testing::slurp;

namespace fs = std::filesystem;
const fs::path kRoot = CLAWFLEET_SOURCE_DIR;

std::vector<fs::path> sorted(const fs::path& dir, bool want_dirs) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() == want_dirs && (want_dirs || e.path().extension() == ".yaml")) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// `# expect: LINE:COL: error: ...` lines, prefixed with the file's name;
// `# field: PATH` must be the path the first expectation reports.
struct Expectations {
  std::vector<std::string> lines;
  std::vector<std::string> fields;
};

void read_expectations(const std::string& name, const std::string& text, Expectations& out) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# expect: ", 0) == 0) out.lines.push_back(name + ":" + line.substr(10));
    if (line.rfind("# field: ", 0) == 0) out.fields.push_back(line.substr(9));
  }
}

void check_case(const std::string& label, const std::vector<SourceFile>& files, const Expectations& want) {
  auto r = load(files);
  std::vector<std::string> got;
  for (const auto& d : r.diagnostics.all()) got.push_back(format(d));
  EXPECT_FALSE(want.lines.empty()) << label << ": no `# expect:` line";
  EXPECT_TRUE(r.diagnostics.has_errors()) << label;
  EXPECT_EQ(got, want.lines) << label;
  for (const auto& field : want.fields) {
    bool named = std::any_of(want.lines.begin(), want.lines.end(), [&](const std::string& l) {
      return l.find(": error: " + field + ": ") != std::string::npos;
    });
    EXPECT_TRUE(named) << label << ": no expected error at # field: " << field;
  }
}

TEST(Corpus, EveryExampleFleetLoadsWithoutErrorsOrWarnings) {
  auto dirs = sorted(kRoot / "examples", true);
  ASSERT_GE(dirs.size(), 3u);
  for (const auto& dir : dirs) {
    std::vector<SourceFile> files;
    for (const auto& e : fs::directory_iterator(dir)) {
      auto ext = e.path().extension();
      if (ext == ".yaml" || ext == ".yml") files.push_back({e.path().filename().string(), slurp(e.path())});
    }
    if (files.empty()) continue;  // e.g. the guest image recipe
    std::sort(files.begin(), files.end(), [](auto& a, auto& b) { return a.path < b.path; });
    auto r = load(files);
    for (const auto& d : r.diagnostics.all()) ADD_FAILURE() << dir.filename() << ": " << format(d);
    EXPECT_GE(r.fleet.instances.size(), 1u) << dir;
  }
}

TEST(Corpus, EveryInvalidFileFailsWithItsExpectedDiagnostics) {
  auto cases = sorted(kRoot / "tests/manifests/invalid", false);
  ASSERT_GE(cases.size(), 30u);
  for (const auto& p : cases) {
    std::string name = p.filename().string(), text = slurp(p);
    Expectations want;
    read_expectations(name, text, want);
    EXPECT_EQ(want.fields.size(), 1u) << name << ": needs one # field: line";
    check_case(name, {{name, text}}, want);
  }
}

TEST(Corpus, EverySemanticCaseFailsWithItsExpectedDiagnostics) {
  auto cases = sorted(kRoot / "tests/manifests/invalid-semantic", true);
  ASSERT_GE(cases.size(), 15u);
  for (const auto& dir : cases) {
    std::vector<SourceFile> files;
    Expectations want;
    for (const auto& p : sorted(dir, false)) {
      std::string name = p.filename().string(), text = slurp(p);
      read_expectations(name, text, want);
      files.push_back({name, text});
    }
    check_case(dir.filename().string(), files, want);
  }
}

}  // namespace
}  // namespace cf::manifest
