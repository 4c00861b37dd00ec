// The console keeper (host/vmm/console.h) with a real socket pair and
// files in a temporary directory: the cap, the rotation, attaching, and a
// client or a log that must not stall the guest.
#include "host/vmm/console.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace cf::host {
namespace {

using namespace std::chrono_literals;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Up to n bytes from fd, each within 10 s.
std::string reads(int fd, std::size_t n) {
  std::string got;
  while (got.size() < n) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) != 1) break;
    char buf[256];
    ssize_t k = ::read(fd, buf, std::min(sizeof buf, n - got.size()));
    if (k <= 0) break;
    got.append(buf, static_cast<std::size_t>(k));
  }
  return got;
}

// A keeper on one end of a socket pair, in a thread; the test is the VMM
// on the other end.
class Keeper {
 public:
  explicit Keeper(std::uint64_t cap, const std::string& socket_name = "console.sock") {
    char tmpl[] = "/tmp/cf-console-XXXXXX";
    dir_ = ::mkdtemp(tmpl) ? tmpl : "";
    paths_ = {dir_ + "/console.log", dir_ + "/console.log.1", dir_ + "/" + socket_name};
    cap_ = cap;
  }
  ~Keeper() {
    if (vmm_ >= 0) ::close(vmm_);
    if (done_.valid()) done_.wait();
    std::filesystem::remove_all(dir_);
  }
  void start() {
    int ends[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends), 0);
    vmm_ = ends[0];
    done_ = std::async(std::launch::async, [this, guest = ends[1]] {
      Status s = keep_console(guest, paths_, cap_, "bot", [this](const std::string& line) {
        std::lock_guard<std::mutex> lock(mu_);
        notes_.push_back(line);
      });
      ::close(guest);
      return s;
    });
  }
  // Everything the guest writes, as the VMM passes it on; false when the
  // keeper did not take it within 10 s.
  bool guest_writes(const std::string& data) {
    std::size_t off = 0;
    while (off < data.size()) {
      pollfd p{vmm_, POLLOUT, 0};
      if (::poll(&p, 1, 10000) != 1) return false;
      ssize_t n = ::send(vmm_, data.data() + off, data.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno != EAGAIN) return false;
      if (n > 0) off += static_cast<std::size_t>(n);
    }
    return true;
  }
  std::string guest_reads(std::size_t n) { return reads(vmm_, n); }
  // The VMM exits; what the keeper returned.
  Status vmm_exits() {
    ::close(vmm_);
    vmm_ = -1;
    if (done_.wait_for(10s) != std::future_status::ready) return Error{"the keeper did not end within 10 s"};
    return done_.get();
  }
  int attach() {
    for (int i = 0; i < 500; ++i) {
      int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::strncpy(addr.sun_path, paths_.socket.c_str(), sizeof(addr.sun_path) - 1);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return fd;
      ::close(fd);
      std::this_thread::sleep_for(10ms);
    }
    return -1;
  }
  // Attached, and taken by the keeper: it answers a second client as busy
  // only once it holds the first.
  int attach_taken() {
    int fd = attach();
    int second = attach();
    if (fd < 0 || second < 0) return -1;
    const std::string busy = reads(second, 53);
    ::close(second);
    return busy == "clawfleet: the console of bot is attached elsewhere\r\n" ? fd : -1;
  }
  std::vector<std::string> notes() {
    std::lock_guard<std::mutex> lock(mu_);
    return notes_;
  }
  const ConsolePaths& paths() const { return paths_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  ConsolePaths paths_;
  std::uint64_t cap_ = 0;
  int vmm_ = -1;
  std::future<Status> done_;
  std::mutex mu_;
  std::vector<std::string> notes_;
};

// "0000\n0001\n...": every byte's place in the stream is visible.
std::string numbered(int lines) {
  std::string s;
  for (int i = 0; i < lines; ++i) {
    const std::string n = std::to_string(i % 10000);
    s += std::string(4 - n.size(), '0') + n + "\n";
  }
  return s;
}

TEST(Console, KeepsTheNewestBytesWithinTwiceTheCap) {
  Keeper k(1000);
  k.start();
  const std::string stream = numbered(700);  // 3500 bytes
  ASSERT_TRUE(k.guest_writes(stream));
  Status end = k.vmm_exits();
  ASSERT_TRUE(end) << end.error().message;
  EXPECT_EQ(slurp(k.paths().previous), stream.substr(2000, 1000));
  EXPECT_EQ(slurp(k.paths().log), stream.substr(3000));
  EXPECT_TRUE(k.notes().empty());
  // Private, and the attach socket goes with the keeper.
  struct stat st {};
  ASSERT_EQ(::stat(k.paths().log.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_NE(::access(k.paths().socket.c_str(), F_OK), 0);
}

TEST(Console, ContinuesTheLogOfTheVmBefore) {
  Keeper k(1000);
  std::ofstream(k.paths().log) << std::string(900, 'a');
  k.start();
  ASSERT_TRUE(k.guest_writes(std::string(300, 'b')));
  ASSERT_TRUE(k.vmm_exits());
  EXPECT_EQ(slurp(k.paths().previous), std::string(900, 'a') + std::string(100, 'b'));
  EXPECT_EQ(slurp(k.paths().log), std::string(200, 'b'));
}

TEST(Console, ALogOverTheCapIsCutToIt) {
  Keeper k(1000);
  std::ofstream(k.paths().log) << std::string(5000, 'a');
  k.start();
  ASSERT_TRUE(k.guest_writes("b"));
  ASSERT_TRUE(k.vmm_exits());
  EXPECT_EQ(slurp(k.paths().previous), std::string(1000, 'a'));
  EXPECT_EQ(slurp(k.paths().log), "b");
}

TEST(Console, OneClientAttachesSeesOutputAndTypesInput) {
  Keeper k(1 << 20);
  k.start();
  ASSERT_TRUE(k.guest_writes("before\n"));
  int client = k.attach();
  ASSERT_GE(client, 0);
  // The keeper took the client once it answers a second one as busy.
  int second = k.attach();
  ASSERT_GE(second, 0);
  EXPECT_EQ(reads(second, 64), "clawfleet: the console of bot is attached elsewhere\r\n");
  ::close(second);
  ASSERT_TRUE(k.guest_writes("login: "));
  EXPECT_EQ(reads(client, 7), "login: ");
  ASSERT_EQ(::write(client, "root\r", 5), 5);
  EXPECT_EQ(k.guest_reads(5), "root\r");
  // Detached, the next client may attach.
  ::close(client);
  int again = k.attach_taken();
  ASSERT_GE(again, 0);
  ASSERT_TRUE(k.guest_writes("#"));
  EXPECT_EQ(reads(again, 1), "#");
  ::close(again);
  ASSERT_TRUE(k.vmm_exits());
  EXPECT_EQ(slurp(k.paths().log), "before\nlogin: #");
}

TEST(Console, AClientThatDoesNotReadLosesOutputNotTheGuest) {
  Keeper k(1 << 20);
  k.start();
  int client = k.attach_taken();
  ASSERT_GE(client, 0);
  ASSERT_TRUE(k.guest_writes("x"));
  EXPECT_EQ(reads(client, 1), "x");
  // 8 MiB that the client never reads: the guest is not held up.
  const std::string chunk(1 << 16, 'y');
  for (int i = 0; i < 128; ++i) ASSERT_TRUE(k.guest_writes(chunk)) << "the guest was held up after " << i << " chunks";
  ::close(client);
  ASSERT_TRUE(k.vmm_exits());
  // "x" and 8 MiB: the last byte begins the ninth file.
  EXPECT_EQ(slurp(k.paths().previous), std::string(1 << 20, 'y'));
  EXPECT_EQ(slurp(k.paths().log), "y");
}

TEST(Console, ALogThatIsALinkOrAFifoIsRefusedNotFollowedOrWaitedOn) {
  {
    Keeper k(1000);
    ASSERT_EQ(::symlink("/etc/passwd", k.paths().log.c_str()), 0);
    k.start();
    Status end = k.vmm_exits();
    ASSERT_FALSE(end);
    EXPECT_EQ(end.error().message, "cannot open " + k.paths().log + ": Too many levels of symbolic links");
  }
  {
    Keeper k(1000);
    ASSERT_EQ(::mkfifo(k.paths().log.c_str(), 0600), 0);
    k.start();
    Status end = k.vmm_exits();
    ASSERT_FALSE(end);
    EXPECT_EQ(end.error().message, "cannot open " + k.paths().log + ": No such device or address");
  }
}

TEST(Console, WithoutItsSocketTheConsoleIsStillLogged) {
  Keeper k(1000, std::string(120, 's'));
  k.start();
  ASSERT_TRUE(k.guest_writes("boot\n"));
  ASSERT_TRUE(k.vmm_exits());
  EXPECT_EQ(slurp(k.paths().log), "boot\n");
  EXPECT_EQ(k.notes(),
            (std::vector<std::string>{"cannot listen on " + k.paths().socket +
                                      ": longer than 107 bytes; the console is logged but cannot be attached"}));
}

}  // namespace
}  // namespace cf::host
