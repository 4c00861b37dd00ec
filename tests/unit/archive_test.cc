// The backup archive (host/backup/archive.h) on real files in a temporary
// directory: a sparse disk comes back with its holes, and every damaged,
// truncated or hostile archive is refused, never half-trusted.
#include "host/backup/archive.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/sha256.h"
#include "fakes/files.h"

namespace cf::host {
namespace {

using cf::testing::mode_of;
using cf::testing::slurp;

constexpr std::uint64_t kDisk = 16ull << 20;

class Archive : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cf-archive-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::ofstream(dir_ + "/instance.json") << R"({"name":"bot"})";
    std::ofstream(dir_ + "/token") << std::string(64, 'a') << "\n";
    // A sparse disk: 16 MiB with data at 1 MiB and at 12 MiB only.
    int fd = ::open((dir_ + "/data.img").c_str(), O_WRONLY | O_CREAT, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, kDisk), 0);
    ASSERT_EQ(::pwrite(fd, "hello", 5, 1 << 20), 5);
    std::string block(4096, 'x');
    for (std::size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>(i * 7 % 251);
    ASSERT_EQ(::pwrite(fd, block.data(), block.size(), 12 << 20), 4096);
    ::close(fd);
    limits_.files = {{"instance.json", 1 << 20}, {"token", 4096}, {"data.img", kDisk}};
    limits_.max_data_bytes = 1ull << 30;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  Status write(const std::string& out) {
    return backups_->write_archive(out, R"({"instance":"bot"})",
                                   {{"instance.json", dir_ + "/instance.json", false},
                                    {"token", dir_ + "/token", false},
                                    {"data.img", dir_ + "/data.img", true}});
  }
  Result<ArchiveContents> read(const std::string& archive, const std::string& into = "") {
    const std::string to = into.empty() ? dir_ + "/restored" : into;
    std::filesystem::remove_all(to);
    return backups_->read_archive(archive, to, limits_);
  }
  // An archive of these raw bytes (a checksum line appended unless told
  // not to), compressed as clawfleet compresses.
  std::string craft(const std::string& raw, bool checksum = true) {
    std::string body = raw;
    if (checksum) body += nlohmann::json{{"sha256", sha256_hex(raw)}}.dump() + "\n";
    ZSTD_CCtx* ctx = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(ctx, ZSTD_c_checksumFlag, 1);
    std::string out(ZSTD_compressBound(body.size()), '\0');
    const std::size_t n = ZSTD_compress2(ctx, out.data(), out.size(), body.data(), body.size());
    ZSTD_freeCCtx(ctx);
    EXPECT_FALSE(ZSTD_isError(n));
    out.resize(n);
    const std::string path = dir_ + "/crafted";
    std::ofstream(path, std::ios::binary | std::ios::trunc) << out;
    return path;
  }
  static std::string u64(std::uint64_t v) {
    std::string s;
    for (int i = 0; i < 8; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
    return s;
  }
  static std::string head(const std::string& file, std::uint64_t size) {
    return nlohmann::json{{"file", file}, {"size", size}}.dump() + "\n";
  }
  static std::string sparse_head(std::uint64_t size, std::uint64_t extents, std::uint64_t data) {
    return nlohmann::json{{"file", "data.img"}, {"size", size}, {"extents", extents}, {"dataBytes", data}}.dump() +
           "\n";
  }
  std::string refusal(const std::string& archive) {
    auto r = read(archive);
    return r ? std::string("accepted") : r.error().message;
  }

  std::string dir_;
  ArchiveLimits limits_;
  std::unique_ptr<Backups> backups_ = real_backups();
  const std::string magic_ = std::string(kArchiveMagic) + "\n{}\n";
};

TEST_F(Archive, ASparseDiskComesBackWithItsHoles) {
  const std::string out = dir_ + "/bot.clawfleet-backup";
  ASSERT_TRUE(write(out)) << write(out).error().message;
  EXPECT_EQ(mode_of(out), 0600u);
  // Compressed: the 16 MiB disk's two extents, not its holes.
  EXPECT_LT(std::filesystem::file_size(out), 64u << 10);
  auto got = read(out);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got.value().about, R"({"instance":"bot"})");
  EXPECT_EQ(got.value().files,
            (std::map<std::string, std::uint64_t>{{"data.img", kDisk}, {"instance.json", 14}, {"token", 65}}));
  EXPECT_EQ(got.value().texts.at("token"), std::string(64, 'a') + "\n");
  EXPECT_EQ(got.value().texts.count("data.img"), 0u);
  EXPECT_EQ(mode_of(dir_ + "/restored"), 0700u);
  EXPECT_EQ(mode_of(dir_ + "/restored/data.img"), 0600u);
  EXPECT_EQ(slurp(dir_ + "/restored/data.img"), slurp(dir_ + "/data.img"));
  EXPECT_EQ(slurp(dir_ + "/restored/instance.json"), R"({"name":"bot"})");
  struct stat st;
  ASSERT_EQ(::stat((dir_ + "/restored/data.img").c_str(), &st), 0);
  EXPECT_LT(st.st_blocks * 512, 1 << 20) << "the restored disk is not sparse";
  // Where it is restored must not exist yet.
  auto again = backups_->read_archive(out, dir_ + "/restored", limits_);
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("File exists"), std::string::npos) << again.error().message;
}

TEST_F(Archive, EveryDamagedByteIsRefusedOrHarmless) {
  const std::string out = dir_ + "/bot.clawfleet-backup";
  ASSERT_TRUE(write(out));
  const std::string good = slurp(out);
  int accepted = 0;
  for (std::size_t at = 0; at < good.size(); at += std::max<std::size_t>(1, good.size() / 97)) {
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x20);
    std::ofstream(dir_ + "/bad", std::ios::binary | std::ios::trunc) << bad;
    // A byte of the frame's header that does not change what it holds
    // (its window size) may be read: then what comes out is the original.
    if (refusal(dir_ + "/bad") == "accepted") {
      ++accepted;
      EXPECT_EQ(slurp(dir_ + "/restored/data.img"), slurp(dir_ + "/data.img")) << "byte " << at;
      EXPECT_EQ(slurp(dir_ + "/restored/token"), slurp(dir_ + "/token")) << "byte " << at;
    }
  }
  EXPECT_LE(accepted, 2) << "of 97 flipped bytes";
  std::ofstream(dir_ + "/short", std::ios::binary) << good.substr(0, good.size() - 9);
  EXPECT_NE(refusal(dir_ + "/short").find("truncated"), std::string::npos) << refusal(dir_ + "/short");
  std::ofstream(dir_ + "/long", std::ios::binary) << good << good;
  EXPECT_NE(refusal(dir_ + "/long").find("bytes after its end"), std::string::npos) << refusal(dir_ + "/long");
}

TEST_F(Archive, CraftedArchivesAreReadOnlyWithinTheirLimits) {
  const std::string token = std::string(64, 'b') + "\n";
  // The control: a crafted archive that is whole is read.
  const std::string whole =
      magic_ + head("token", token.size()) + token + sparse_head(1 << 20, 1, 3) + u64(4096) + u64(3) + "abc";
  EXPECT_EQ(refusal(craft(whole)), "accepted");
  EXPECT_EQ(slurp(dir_ + "/restored/data.img").substr(4096, 3), "abc");

  EXPECT_NE(refusal(craft(whole, false)).find("it ends early"), std::string::npos) << refusal(craft(whole, false));
  EXPECT_NE(refusal(craft(whole + R"({"sha256":"00"})"
                                  "\n",
                          false))
                .find("checksum does not match"),
            std::string::npos);
  EXPECT_NE(refusal(craft("tar\n")).find("does not start with"), std::string::npos);
  EXPECT_NE(refusal(craft(magic_ + head("../../etc/passwd", 3) + "x:0")).find("which a backup never does"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/etc"));
  EXPECT_NE(refusal(craft(magic_ + head("token", 3) + "abc" + head("token", 3) + "abc")).find("token twice"),
            std::string::npos);
  EXPECT_NE(refusal(craft(magic_ + head("token", 5000) + std::string(5000, 'a'))).find("more than the 4096"),
            std::string::npos);
  // A disk's extents: in order, inside it, holding what it says, within
  // what this restore may write.
  EXPECT_NE(refusal(craft(magic_ + sparse_head(1 << 20, 2, 2) + u64(100) + u64(1) + "a" + u64(50) + u64(1) + "b"))
                .find("out of order"),
            std::string::npos);
  EXPECT_NE(
      refusal(craft(magic_ + sparse_head(1 << 20, 1, 1) + u64((1 << 20) - 0) + u64(1) + "a")).find("outside the file"),
      std::string::npos);
  EXPECT_NE(
      refusal(craft(magic_ + sparse_head(1 << 20, 1, 1) + u64(0) + u64(2) + "ab")).find("more than its dataBytes"),
      std::string::npos);
  EXPECT_NE(refusal(craft(magic_ + sparse_head(1 << 20, 1, ~0ull) + u64(0) + u64(1) + "a")).find("this restore may"),
            std::string::npos);
  limits_.max_data_bytes = 2;
  EXPECT_NE(refusal(craft(whole)).find("more than the 2 this restore may write"), std::string::npos)
      << refusal(craft(whole));
  EXPECT_NE(refusal(craft(magic_ + std::string(kMaxArchiveLine + 1, '{'))).find("a line longer than"),
            std::string::npos);
}

TEST_F(Archive, AFifoOrADirectoryIsNoArchive) {
  ASSERT_EQ(::mkfifo((dir_ + "/fifo").c_str(), 0600), 0);
  EXPECT_NE(refusal(dir_ + "/fifo").find("is not a regular file"), std::string::npos) << refusal(dir_ + "/fifo");
  EXPECT_NE(refusal(dir_).find("is not a regular file"), std::string::npos);
  // Nor is a FIFO read into one.
  ASSERT_EQ(::mkfifo((dir_ + "/fifo-token").c_str(), 0600), 0);
  auto s = backups_->write_archive(dir_ + "/out", "{}", {{"token", dir_ + "/fifo-token", false}});
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("is not a regular file"), std::string::npos) << s.error().message;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/out"));
}

// restore --replace: the restored file takes the mode, owner and group of
// the instance's file it replaces (a data disk is 0660 for the VMM's group).
TEST_F(Archive, AReplacedFileKeepsTheModeOwnerAndGroupOfTheOld) {
  std::ofstream(dir_ + "/old") << "old";
  std::ofstream(dir_ + "/new") << "new";
  ASSERT_EQ(::chmod((dir_ + "/old").c_str(), 0660), 0);
  ASSERT_EQ(::chmod((dir_ + "/new").c_str(), 0600), 0);
  if (::geteuid() == 0) {
    ASSERT_EQ(::chown((dir_ + "/old").c_str(), 0, 4242), 0);
  }
  struct stat want;
  ASSERT_EQ(::stat((dir_ + "/old").c_str(), &want), 0);
  ASSERT_TRUE(backups_->replace(dir_ + "/new", dir_ + "/old"));
  struct stat got;
  ASSERT_EQ(::stat((dir_ + "/old").c_str(), &got), 0);
  EXPECT_EQ(got.st_mode & 07777, 0660u);
  EXPECT_EQ(got.st_uid, want.st_uid);
  EXPECT_EQ(got.st_gid, want.st_gid);
  std::ifstream in(dir_ + "/old");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "new");
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/new"));
}

TEST_F(Archive, DiscardRemovesADirectoryWithoutFollowingItsLinks) {
  std::filesystem::create_directory(dir_ + "/staging");
  std::ofstream(dir_ + "/staging/a") << "a";
  std::filesystem::create_symlink(dir_ + "/token", dir_ + "/staging/link");
  ASSERT_TRUE(backups_->discard(dir_ + "/staging"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/staging"));
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/token"));
  EXPECT_TRUE(backups_->discard(dir_ + "/absent"));
}

}  // namespace
}  // namespace cf::host
