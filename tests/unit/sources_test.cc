// Which files are manifests, in which order, and what a read failure does.
#include <gtest/gtest.h>

#include <algorithm>

#include "fakes/fake_file_reader.h"
#include "manifest/loader.h"

namespace cf::manifest {
namespace {

const char* kDoc = "apiVersion: clawfleet.io/v1\nkind: Host\n";

TEST(Sources, SelectsYamlNamesSkipsDotfilesAndEditorFiles) {
  std::vector<DirEntry> entries;
  for (const char* n : {"b.yml", "a.yaml", ".hidden.yaml", ".#a.yaml", "#a.yaml#", "a.yaml~", ".a.yaml.swp",
                        "notes.txt", "Z.yaml", ".yaml", "yaml"})
    entries.push_back({n, true, false, ""});
  entries.push_back({"sub.yaml", false, false, "a directory"});
  std::vector<std::string> names;
  for (const auto& e : select_manifests(entries)) names.push_back(e.name);
  // sub.yaml is not a regular file: selected, so that the loader refuses it.
  EXPECT_EQ(names, (std::vector<std::string>{"Z.yaml", "a.yaml", "b.yml", "sub.yaml"}));
}

std::vector<std::string> formatted(const LoadResult& r) {
  std::vector<std::string> out;
  for (const auto& d : r.diagnostics.all()) out.push_back(format(d));
  return out;
}

// A *.yaml that is not a regular file would otherwise vanish from the set
// with its instances, and the plan would destroy them: it is an error.
TEST(Sources, ANonRegularManifestIsAnError) {
  testing::FakeFileReader fs;
  fs.file("/etc/clawfleet/10-host.yaml", kDoc);
  fs.other("/etc/clawfleet/20-dir.yaml");
  fs.other("/etc/clawfleet/30-fifo.yaml", "a FIFO");
  fs.link("/etc/clawfleet/40-gone.yaml", "/etc/clawfleet/old/40-gone.yaml");
  fs.other("/etc/clawfleet/secrets");
  auto r = load(fs, SourceSpec{"/etc/clawfleet", {}});
  EXPECT_EQ(formatted(r),
            (std::vector<std::string>{
                "/etc/clawfleet/20-dir.yaml: error: a directory, not a regular file (every *.yaml and *.yml here is "
                "read as a manifest)",
                "/etc/clawfleet/30-fifo.yaml: error: a FIFO, not a regular file (every *.yaml and *.yml here is read "
                "as a manifest)",
                "/etc/clawfleet/40-gone.yaml: error: a dangling symlink, not a regular file (every *.yaml and *.yml "
                "here is read as a manifest)",
            }));
  EXPECT_EQ(fs.calls, (std::vector<std::string>{"list_dir /etc/clawfleet", "read_file /etc/clawfleet/10-host.yaml"}));
  EXPECT_EQ(r.files, 4u);
}

// A symlinked manifest is read where it points when that stays inside the
// directory, the directory itself may be a symlink (a GitOps checkout
// swapped atomically), and a link out of it is refused unread.
TEST(Sources, SymlinksStayInsideTheDirectory) {
  testing::FakeFileReader fs;
  fs.link("/etc/clawfleet", "/srv/gitops/v2");
  fs.file("/srv/gitops/v2/fleet/host.yaml", kDoc);
  fs.link("/srv/gitops/v2/10-host.yaml", "/srv/gitops/v2/fleet/host.yaml");
  fs.file("/root/secret.yaml", "apiVersion: clawfleet.io/v1\nkind: Host\n# do not quote me\n");
  fs.link("/srv/gitops/v2/20-out.yaml", "/root/secret.yaml");
  fs.link("/srv/gitops/v2/30-up.yaml", "/srv/gitops/v1/x.yaml");
  fs.file("/srv/gitops/v1/x.yaml", kDoc);
  auto r = load(fs, SourceSpec{"/etc/clawfleet", {}});
  EXPECT_EQ(formatted(r),
            (std::vector<std::string>{
                "/etc/clawfleet/20-out.yaml: error: a symlink to /root/secret.yaml, outside /srv/gitops/v2 (a manifest "
                "that is a symlink must point inside its directory)",
                "/etc/clawfleet/30-up.yaml: error: a symlink to /srv/gitops/v1/x.yaml, outside /srv/gitops/v2 (a "
                "manifest that is a symlink must point inside its directory)",
            }));
  for (const auto& call : fs.calls) EXPECT_EQ(call.find("read_file /root"), std::string::npos) << call;
  EXPECT_NE(std::find(fs.calls.begin(), fs.calls.end(), "read_file /srv/gitops/v2/fleet/host.yaml"), fs.calls.end());
  EXPECT_EQ(r.documents, 1u);
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

// 16 MiB in all: the file that crosses it is an error, nothing after it is
// read and nothing is parsed (1024 files of 1 MiB would otherwise take
// minutes and a GB).
TEST(Sources, TheSetHasAByteBudget) {
  testing::FakeFileReader fs;
  const std::string mib((1 << 20) - 1, '#');
  for (int i = 10; i < 40; ++i) fs.file("/m/" + std::to_string(i) + ".yaml", mib + "\n");
  fs.file("/m/00-bad.yaml", "apiVersion: clawfleet.io/v1\nkind: Nope\n");
  auto r = load(fs, SourceSpec{"/m", {}});
  EXPECT_EQ(formatted(r), (std::vector<std::string>{"/m/25.yaml: error: the manifests up to this file hold more than "
                                                    "16777216 bytes, the limit of a set; none is parsed"}));
  EXPECT_EQ(fs.calls.size(), 1u + 1u + 16u);
  EXPECT_EQ(fs.calls.back(), "read_file /m/25.yaml");
}

TEST(Sources, OversizedFileIsRefusedBeforeParsing) {
  testing::FakeFileReader fs;
  fs.file("/x/big.yaml", std::string((1 << 20) + 1, '#'));
  auto r = load(fs, SourceSpec{"", {"/x/big.yaml"}});
  EXPECT_EQ(format(r.diagnostics.all().at(0)), "/x/big.yaml: error: file is larger than the limit of 1048576 bytes");
}

}  // namespace
}  // namespace cf::manifest
