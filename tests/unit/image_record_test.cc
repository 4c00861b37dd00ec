// An image's identity by content (host/guest/image_record.h), the plan's
// warnings about images without one (plan/images.h), and what a change of
// content costs (docs/guest.md#image-identity).
#include <functional>

#include <gtest/gtest.h>

#include "core/sha256.h"
#include "fakes/fake_file_reader.h"
#include "fakes/fleets.h"
#include "host/guest/image_record.h"
#include "plan/images.h"

namespace cf {
namespace {

using cf::testing::FakeFileReader;

const std::string kHexA(64, 'a'), kHexB(64, 'b'), kHexC(64, 'c');

std::string entry(const std::string& name, std::uint64_t size, std::int64_t mtime, const std::string& sha) {
  return "\"" + name + "\": {\"size\": " + std::to_string(size) + ", \"mtimeNs\": " + std::to_string(mtime) +
         ", \"sha256\": \"" + sha + "\"}";
}

TEST(ImageRecord, NamesEachFilesSizeTimeAndDigest) {
  auto r = host::parse_image_record(
      R"j({"format": 1, "version": "openclaw 2026.9.6 (recipe dcd8b6011a5d)", "files": {)j" +
      entry("rootfs.ext4", 3567255552, 1796612119318437654, kHexA) + ", " + entry("vmlinux", 10, -5, kHexB) + "}}");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r.value().version, "openclaw 2026.9.6 (recipe dcd8b6011a5d)");
  ASSERT_EQ(r.value().files.size(), 2u);
  EXPECT_EQ(r.value().files.at("rootfs.ext4"), (host::RecordedFile{3567255552, 1796612119318437654, kHexA}));
  EXPECT_EQ(r.value().files.at("vmlinux"), (host::RecordedFile{10, -5, kHexB}));
}

// Errors say what is wrong, never what the file holds.
TEST(ImageRecord, ErrorsNeverQuoteTheFile) {
  const std::pair<std::string, const char*> cases[] = {
      {"root:x:0:0:secret-content", "not JSON"},
      {R"({"files": {}})", "not an image record of format 1"},
      {R"({"format": 1})", "no object of files"},
      {R"({"format": 1, "version": "v\u001b[31m", "files": {}})",
       "version is not a line of at most 128 printable characters"},
      {R"({"format": 1, "version": ")" + std::string(129, 'v') + R"(", "files": {}})",
       "version is not a line of at most 128 printable characters"},
      {R"({"format": 1, "files": {)" + entry("../etc/shadow", 1, 1, kHexA) + "}}",
       "a file name that is not a plain name"},
      {R"({"format": 1, "files": {"x": {"size": -1, "mtimeNs": 1, "sha256": ")" + kHexA + R"("}}})",
       "file x: size is not a number"},
      {R"({"format": 1, "files": {"x": {"size": 1, "mtimeNs": "1", "sha256": ")" + kHexA + R"("}}})",
       "file x: mtimeNs is not a number"},
      {R"({"format": 1, "files": {"x": {"size": 1, "mtimeNs": 1, "sha256": "secret"}}})",
       "file x: sha256 is not 64 lower-case hex digits"},
      {R"({"format": 1, "files": {"x": []}})", "file x is not an object"},
  };
  for (const auto& [text, error] : cases) {
    auto r = host::parse_image_record(text);
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error().message, error) << text;
  }
}

struct Images {
  FakeFileReader files;
  model::Host host;

  Images() {
    host.images["default"] = model::Image{"/img/a/vmlinux", "/img/a/rootfs.ext4", "/img/a/initrd.img", "", ""};
    add("/img/a/vmlinux", 100, 11);
    add("/img/a/initrd.img", 200, 22);
    add("/img/a/rootfs.ext4", 300, 33);
    record(
        "/img/a", "v1",
        {entry("vmlinux", 100, 11, kHexA), entry("initrd.img", 200, 22, kHexB), entry("rootfs.ext4", 300, 33, kHexC)});
  }
  void add(const std::string& path, std::uint64_t size, std::int64_t mtime) {
    files.file(path, "");
    files.stat_as(path, size, mtime);
  }
  void record(const std::string& dir, const std::string& version, const std::vector<std::string>& entries) {
    std::string text = R"({"format": 1, "version": ")" + version + R"(", "files": {)";
    for (std::size_t i = 0; i < entries.size(); ++i) text += (i ? ", " : "") + entries[i];
    files.file(dir + "/image.json", text + "}}");
  }
  model::ObservedImage identify() { return host::identify_images(host, files).at("default"); }
};

TEST(ImageIdentity, TheDigestOfTheRecordedDigestsInOrder) {
  Images i;
  auto o = i.identify();
  EXPECT_EQ(o.problem, "");
  EXPECT_EQ(o.version, "v1");
  EXPECT_EQ(o.digest, "sha256:" + sha256_hex("kernel " + kHexA + "\ninitrd " + kHexB + "\nrootfs " + kHexC + "\n"));
  // No file is read to tell it: only the records and stat.
  for (const auto& call : i.files.calls)
    EXPECT_TRUE(call.find("image.json") != std::string::npos || call.rfind("list_dir", 0) == 0) << call;
}

TEST(ImageIdentity, AnotherRecordedRootfsIsAnotherDigest) {
  Images i;
  const std::string before = i.identify().digest;
  i.add("/img/a/rootfs.ext4", 301, 44);
  i.record("/img/a", "v2",
           {entry("vmlinux", 100, 11, kHexA), entry("initrd.img", 200, 22, kHexB),
            entry("rootfs.ext4", 301, 44, std::string(64, 'd'))});
  auto o = i.identify();
  EXPECT_EQ(o.problem, "");
  EXPECT_EQ(o.version, "v2");
  EXPECT_NE(o.digest, before);
}

// A kernel kept apart has its own record, beside it.
TEST(ImageIdentity, EachFilesRecordIsInItsOwnDirectory) {
  Images i;
  i.host.images["default"].kernel = "/boot/cf/vmlinux";
  i.add("/boot/cf/vmlinux", 100, 11);
  i.record("/boot/cf", "kernel 6.1", {entry("vmlinux", 100, 11, kHexA)});
  auto o = i.identify();
  EXPECT_EQ(o.problem, "");
  EXPECT_EQ(o.version, "v1");  // the rootfs's record names the image
}

TEST(ImageIdentity, UnknownWhenAFileIsNotTheOneRecorded) {
  const std::pair<const char*, std::function<void(Images&)>> cases[] = {
      {"/img/a/rootfs.ext4 is not the file its record describes (its size or modification time differs): it changed "
       "after it was recorded",
       [](Images& i) { i.files.stat_as("/img/a/rootfs.ext4", 300, 34); }},
      {"/img/a/initrd.img is not the file its record describes (its size or modification time differs): it changed "
       "after it was recorded",
       [](Images& i) { i.files.stat_as("/img/a/initrd.img", 201, 22); }},
      // The first file without a digest is the one named.
      {"/img/a/vmlinux has no record (no image.json beside it)",
       [](Images& i) { i.files.remove("/img/a/image.json"); }},
      {"/img/a/initrd.img is not in its record (/img/a/image.json)",
       [](Images& i) { i.record("/img/a", "v1", {entry("vmlinux", 100, 11, kHexA)}); }},
      {"/img/a/image.json: not JSON", [](Images& i) { i.files.file("/img/a/image.json", "{"); }},
      {"/img/a/image.json is not a regular file",
       [](Images& i) {
         i.files.remove("/img/a/image.json");
         i.files.other("/img/a/image.json", "a FIFO");
       }},
  };
  for (const auto& [problem, change] : cases) {
    Images i;
    change(i);
    auto o = i.identify();
    EXPECT_EQ(o.digest, "") << problem;
    EXPECT_EQ(o.problem, problem);
  }
}

// A missing file is not this check's to report (trust and create do).
TEST(ImageIdentity, SilentWhenAFileIsMissing) {
  Images i;
  i.files.remove("/img/a/rootfs.ext4");
  EXPECT_EQ(i.identify(), model::ObservedImage{});
}

TEST(ImageWarnings, OnlyForImagesInUse) {
  model::Fleet fleet = cf::testing::fleet_of(cf::testing::instance_yaml("bot"));
  std::map<std::string, model::ObservedImage> images = {
      {"default", {"", "", "/img/a/rootfs.ext4 has no record (no image.json beside it)"}},
      {"spare", {"", "", "/img/b/rootfs.ext4 has no record (no image.json beside it)"}},
  };
  EXPECT_EQ(plan::image_warnings(fleet, images),
            std::vector<std::string>{
                "image default is not identified by its content, only by its paths (/img/a/rootfs.ext4 has no record "
                "(no image.json beside it)); record it to notice a file replaced at the same path "
                "(docs/guest.md#image-identity)"});
  images["default"] = {"sha256:" + kHexA, "v1", ""};
  EXPECT_TRUE(plan::image_warnings(fleet, images).empty());
}

}  // namespace
}  // namespace cf
