// The system helpers of core: errors, paths, the owned fd, file reads,
// RFC 3339 time stamps.
#include "core/sys.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>

#include "core/fs.h"
#include "core/text.h"
#include "core/time.h"

namespace cf {
namespace {

TEST(SysError, NamesWhatWhereAndWhy) {
  EXPECT_EQ(sys_error("cannot open", "/x", ENOENT).message, "cannot open /x: No such file or directory");
  errno = EACCES;
  EXPECT_EQ(sys_error("cannot open", "/x").message, "cannot open /x: Permission denied");
  EXPECT_EQ(errno_text(EEXIST), "File exists");
}

TEST(Paths, DirAndBase) {
  EXPECT_EQ(dir_of("/etc/clawfleet/a.yaml"), "/etc/clawfleet");
  EXPECT_EQ(dir_of("/a"), "/");
  EXPECT_EQ(dir_of("a.yaml"), ".");
  EXPECT_EQ(base_of("/etc/clawfleet/a.yaml"), "a.yaml");
  EXPECT_EQ(base_of("a.yaml"), "a.yaml");
}

TEST(Fd, ClosesOnceAndReleases) {
  int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  { Fd fd(raw); }
  EXPECT_EQ(::fcntl(raw, F_GETFD), -1);  // closed by the destructor
  Fd kept(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  int released = kept.release();
  EXPECT_EQ(kept.get(), -1);
  EXPECT_GE(::fcntl(released, F_GETFD), 0);
  ::close(released);
}

class ReadFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cf-sys-test.XXXXXX";
    ASSERT_TRUE(::mkdtemp(tmpl));
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string dir_;
};

TEST_F(ReadFiles, ReadIfExists) {
  std::ofstream(dir_ + "/a") << "hello";
  auto a = read_file_if_exists(dir_ + "/a", 100);
  ASSERT_TRUE(a) << a.error().message;
  EXPECT_EQ(a.value(), std::optional<std::string>("hello"));
  auto missing = read_file_if_exists(dir_ + "/none", 100);
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing.value());
  auto big = read_file_if_exists(dir_ + "/a", 4);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().message, dir_ + "/a: file is larger than the limit of 4 bytes");
  RealFileReader fs;
  EXPECT_EQ(fs.read_file(dir_ + "/none", 100).error().message,
            "cannot open " + dir_ + "/none: No such file or directory");
}

// A FIFO where a manifest, a secret or a unit file belongs is refused at
// once: opened for reading without a writer, it would block for ever.
TEST_F(ReadFiles, AFifoIsRefusedNotWaitedOn) {
  const std::string fifo = dir_ + "/secret";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  auto r = read_file_if_exists(fifo, 100);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, fifo + ": not a regular file");
  RealFileReader fs;
  EXPECT_EQ(fs.read_file(fifo, 100).error().message, fifo + ": not a regular file");
  EXPECT_EQ(fs.read_file(dir_, 100).error().message, dir_ + ": not a regular file");
}

TEST(Time, Rfc3339) {
  using namespace std::chrono;
  const auto t = WallClock::from_time_t(1795435200) + 123ms;  // 2026-11-23T12:00:00.123Z
  EXPECT_EQ(rfc3339(t), "2026-11-23T12:00:00Z");
  EXPECT_EQ(rfc3339_millis(t), "2026-11-23T12:00:00.123Z");
  EXPECT_EQ(parse_rfc3339("2026-11-23T12:00:00Z"), WallClock::from_time_t(1795435200));
  EXPECT_EQ(parse_rfc3339("2026-11-23T12:00:00.123Z"), WallClock::from_time_t(1795435200));
  EXPECT_EQ(parse_rfc3339("yesterday"), std::nullopt);
  EXPECT_EQ(parse_rfc3339(""), std::nullopt);
}

TEST(Join, WithSeparators) {
  EXPECT_EQ(join({}, ", "), "");
  EXPECT_EQ(join({"a"}, ", "), "a");
  EXPECT_EQ(join({"a", "b", "c"}, "; "), "a; b; c");
}

}  // namespace
}  // namespace cf
