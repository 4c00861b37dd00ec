#include "host/state/ownership.h"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "model/instance_dir.h"

namespace cf::host {
namespace {

namespace fs = std::filesystem;

constexpr std::uint32_t kUid = model::kVmmUidBase + 5;

struct Owned {
  unsigned mode;
  uid_t uid;
  gid_t gid;
  bool operator==(const Owned&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Owned& o) {
  return os << std::oct << o.mode << std::dec << " " << o.uid << ":" << o.gid;
}
Owned owned(const fs::path& p) {
  struct stat st {};
  ::lstat(p.c_str(), &st);
  return {unsigned(st.st_mode & 07777), st.st_uid, st.st_gid};
}

class Ownership : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "chown needs root";
    root_ = fs::temp_directory_path() / ("cf-own-" + std::to_string(::getpid()));
    dir_ = root_ / "instances/bot";
    fs::create_directories(dir_);
    for (const auto& d : {root_, root_ / "instances", dir_}) fs::permissions(d, fs::perms(0700));
  }
  void TearDown() override {
    if (!root_.empty()) fs::remove_all(root_);
  }
  static void write(const fs::path& p, unsigned mode) {
    std::ofstream(p) << "x";
    fs::permissions(p, fs::perms(mode));
  }
  fs::path root_, dir_;
};

// As a clawfleet from before VMM users left it, then given to the VMM's
// user: the root passes, each file says by its mode what the VMM may do.
TEST_F(Ownership, TheVmmGetsExactlyItsShare) {
  for (const char* f : {"instance.json", "token", "launch.json", "seed.img", "rootfs.ext4", "vmm-config.json"})
    write(dir_ / f, 0600);
  ASSERT_TRUE(own_instance_dir(root_.string(), "bot", kUid));
  EXPECT_EQ(owned(root_), (Owned{0711, 0, 0}));
  EXPECT_EQ(owned(root_ / "instances"), (Owned{0711, 0, 0}));
  EXPECT_EQ(owned(dir_), (Owned{0710, 0, kUid}));
  EXPECT_EQ(owned(dir_ / "vm"), (Owned{0700, kUid, kUid}));
  EXPECT_EQ(owned(dir_ / "instance.json"), (Owned{0600, 0, kUid}));
  EXPECT_EQ(owned(dir_ / "token"), (Owned{0600, 0, kUid}));
  EXPECT_EQ(owned(dir_ / "launch.json"), (Owned{0640, 0, kUid}));
  EXPECT_EQ(owned(dir_ / "seed.img"), (Owned{0640, 0, kUid}));
  EXPECT_EQ(owned(dir_ / "vmm-config.json"), (Owned{0640, 0, kUid}));
  EXPECT_EQ(owned(dir_ / "rootfs.ext4"), (Owned{0660, 0, kUid}));
  // Again: nothing changes.
  ASSERT_TRUE(own_instance_dir(root_.string(), "bot", kUid));
  EXPECT_EQ(owned(dir_), (Owned{0710, 0, kUid}));
}

// A state root that is the operator's keeps its mode but gains the search
// bits; a link the VMM left in vm/ is taken over itself, never its target.
TEST_F(Ownership, LinksAreNeverFollowedAndTheRootKeepsItsMode) {
  fs::permissions(root_, fs::perms(0750));
  fs::create_directory(dir_ / "vm");
  write(root_ / "elsewhere", 0600);
  fs::create_symlink(root_ / "elsewhere", dir_ / "vm/console.log");
  fs::create_symlink(root_ / "elsewhere", dir_ / "seed.img");
  write(dir_ / "vm/vmm.log", 0644);
  ASSERT_TRUE(own_instance_dir(root_.string(), "bot", kUid));
  EXPECT_EQ(owned(root_), (Owned{0751, 0, 0}));
  EXPECT_EQ(owned(root_ / "elsewhere"), (Owned{0600, 0, 0}));
  EXPECT_EQ(owned(dir_ / "vm/console.log").uid, kUid);
  EXPECT_EQ(owned(dir_ / "seed.img").uid, 0u);  // not a regular file: left alone
  EXPECT_EQ(owned(dir_ / "vm/vmm.log"), (Owned{0644, kUid, kUid}));
}

TEST_F(Ownership, WhatIsNotADirectoryIsAnError) {
  fs::remove_all(dir_);
  write(dir_, 0600);
  EXPECT_EQ(own_instance_dir(root_.string(), "bot", kUid).error().message, dir_.string() + " is not a directory");
  fs::remove(dir_);
  fs::create_directory(dir_);
  write(dir_ / "vm", 0600);
  EXPECT_EQ(own_instance_dir(root_.string(), "bot", kUid).error().message,
            (dir_ / "vm").string() + " is not a directory");
  EXPECT_EQ(own_instance_dir(root_.string(), "../x", kUid).error().message, "not an instance name: \"../x\"");
}

}  // namespace
}  // namespace cf::host
