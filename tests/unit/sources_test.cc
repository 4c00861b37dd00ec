// Which files are manifests, in which order, and what a read failure does.
#include <gtest/gtest.h>

#include "fakes/fake_file_reader.h"
#include "manifest/loader.h"

namespace cf::manifest {
namespace {

const char* kDoc = "apiVersion: clawfleet.io/v1\nkind: Host\n";

TEST(Sources, SelectsYamlFilesSkipsDotfilesEditorFilesAndDirectories) {
  std::vector<DirEntry> entries{{"b.yml", true},     {"a.yaml", true},  {".hidden.yaml", true}, {".#a.yaml", true},
                                {"#a.yaml#", true},  {"a.yaml~", true}, {".a.yaml.swp", true},  {"notes.txt", true},
                                {"sub.yaml", false}, {"Z.yaml", true},  {".yaml", true},        {"yaml", true}};
  EXPECT_EQ(select_manifests(entries), (std::vector<std::string>{"Z.yaml", "a.yaml", "b.yml"}));
}

TEST(Sources, DirectoryIsReadInByteOrderWhateverTheListingOrder) {
  testing::FakeFileReader fs;
  fs.file("/etc/clawfleet/20-b.yaml", kDoc);
  fs.file("/etc/clawfleet/10-a.yaml", kDoc);
  fs.file("/etc/clawfleet/.10-a.yaml.swp", "junk");
  fs.other("/etc/clawfleet/secrets");
  auto r = load(fs, SourceSpec{"/etc/clawfleet", {}});
  EXPECT_EQ(fs.calls, (std::vector<std::string>{"list_dir /etc/clawfleet", "read_file /etc/clawfleet/10-a.yaml",
                                                "read_file /etc/clawfleet/20-b.yaml"}));
  ASSERT_EQ(r.diagnostics.all().size(), 1u);
  EXPECT_EQ(
      format(r.diagnostics.all()[0]),
      "/etc/clawfleet/20-b.yaml:1:1: error: kind: a second Host document; the first is at /etc/clawfleet/10-a.yaml:1:1 (at most one per fleet)");
  EXPECT_EQ(r.files, 2u);
}

TEST(Sources, ExplicitFilesInTheOrderGiven) {
  testing::FakeFileReader fs;
  fs.file("/x/b.yaml", kDoc);
  fs.file("/x/a.yaml", kDoc);
  auto r = load(fs, SourceSpec{"/etc/clawfleet", {"/x/b.yaml", "/x/a.yaml"}});
  EXPECT_EQ(fs.calls, (std::vector<std::string>{"read_file /x/b.yaml", "read_file /x/a.yaml"}));
  EXPECT_EQ(
      format(r.diagnostics.all().at(0)),
      "/x/a.yaml:1:1: error: kind: a second Host document; the first is at /x/b.yaml:1:1 (at most one per fleet)");
}

TEST(Sources, UnreadableFileIsAnErrorAndTheOthersAreStillLoaded) {
  testing::FakeFileReader fs;
  fs.file("/x/a.yaml", "apiVersion: clawfleet.io/v1\nkind: Nope\n");
  auto r = load(fs, SourceSpec{"", {"/x/missing.yaml", "/x/a.yaml"}});
  std::vector<std::string> got;
  for (const auto& d : r.diagnostics.all()) got.push_back(format(d));
  EXPECT_EQ(got, (std::vector<std::string>{
                     "/x/missing.yaml: error: cannot open /x/missing.yaml: No such file or directory",
                     "/x/a.yaml:2:7: error: kind: must be one of Instance, Defaults, Host; got the string \"Nope\"",
                 }));
}

TEST(Sources, MissingDirectoryIsAnErrorEmptyDirectoryAWarning) {
  testing::FakeFileReader fs;
  auto missing = load(fs, SourceSpec{"/etc/clawfleet", {}});
  EXPECT_TRUE(missing.diagnostics.has_errors());
  EXPECT_EQ(format(missing.diagnostics.all().at(0)),
            "/etc/clawfleet: error: cannot open directory /etc/clawfleet: No such file or directory");
  fs.dir("/empty");
  auto empty = load(fs, SourceSpec{"/empty", {}});
  EXPECT_FALSE(empty.diagnostics.has_errors());
  EXPECT_EQ(format(empty.diagnostics.all().at(0)), "/empty: warning: no manifests (*.yaml, *.yml) in this directory");
  EXPECT_TRUE(empty.fleet.instances.empty());
}

TEST(Sources, OversizedFileIsRefusedBeforeParsing) {
  testing::FakeFileReader fs;
  fs.file("/x/big.yaml", std::string((1 << 20) + 1, '#'));
  auto r = load(fs, SourceSpec{"", {"/x/big.yaml"}});
  EXPECT_EQ(format(r.diagnostics.all().at(0)), "/x/big.yaml: error: file is larger than the limit of 1048576 bytes");
}

}  // namespace
}  // namespace cf::manifest
