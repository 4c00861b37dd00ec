// Firecracker backend: the config file against golden files, the command
// line, and the API client against a fake API server on a unix socket.
#include <gtest/gtest.h>

#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "fakes/fake_vmm.h"
#include "host/vmm/vmm_backends.h"

namespace cf::host {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using testing::Conn;
using testing::UnixSocketServer;

VmSpec spec_for(const std::string& name, const std::string& image, std::optional<std::string> initrd) {
  std::string dir = "/srv/cf/instances/" + name;
  VmSpec s;
  s.name = name;
  s.binary = "/usr/local/bin/firecracker";
  s.image = {"/srv/images/" + image + "/vmlinux", "/srv/images/" + image + "/rootfs.ext4", std::move(initrd), "", ""};
  s.rootfs_path = dir + "/rootfs.ext4";
  s.seed_path = dir + "/seed.img";
  s.api_socket = dir + "/vmm.sock";
  s.log_path = dir + "/vmm.log";
  s.metrics_path = dir + "/metrics.json";
  s.config_path = dir + "/vmm-config.json";
  return s;
}

VmSpec with_initrd() {
  VmSpec s = spec_for("bot", "default", "/srv/images/default/initrd.img");
  s.vcpus = 2;
  s.memory_mib = 2048;
  s.tap = "cf0123456789abc";
  s.mac = parse_mac("06:fc:0a:50:00:02").value();
  s.kernel_args = "quiet";
  s.data_path = "/srv/cf/instances/bot/data.img";
  return s;
}

// Also without a data disk, as an instance created before data disks.
VmSpec without_initrd() {
  VmSpec s = spec_for("web-1", "plain", std::nullopt);
  s.vcpus = 4;
  s.memory_mib = 8192;
  s.smt = true;
  s.tap = "cf9abcdef012345";
  s.mac = parse_mac("06:fc:0a:50:00:07").value();
  return s;
}

json golden(const std::string& name) {
  std::ifstream in(std::string(CLAWFLEET_SOURCE_DIR) + "/tests/golden/firecracker/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

void expect_config_matches(const VmSpec& spec, const std::string& golden_name) {
  auto files = make_firecracker_vmm()->files(spec);
  ASSERT_TRUE(files) << files.error().message;
  ASSERT_EQ(files.value().size(), 1u);
  EXPECT_EQ(files.value()[0].first, spec.config_path);
  const std::string& text = files.value()[0].second;
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(json::parse(text), golden(golden_name)) << text;
}

TEST(Firecracker, ConfigWithInitrdMatchesGolden) { expect_config_matches(with_initrd(), "with_initrd.json"); }

TEST(Firecracker, ConfigWithoutInitrdMatchesGolden) { expect_config_matches(without_initrd(), "without_initrd.json"); }

TEST(Firecracker, EmptyInitrdIsLeftOut) {
  VmSpec s = without_initrd();
  s.image.initrd = "";
  expect_config_matches(s, "without_initrd.json");
}

TEST(Firecracker, NoLoggerOrMetricsWithoutTheirPaths) {
  VmSpec s = with_initrd();
  s.log_path.clear();
  s.metrics_path.clear();
  auto files = make_firecracker_vmm()->files(s);
  ASSERT_TRUE(files);
  json c = json::parse(files.value()[0].second);
  EXPECT_FALSE(c.contains("logger"));
  EXPECT_FALSE(c.contains("metrics"));
}

TEST(Firecracker, ConfigNeedsAPath) {
  VmSpec s = with_initrd();
  s.config_path.clear();
  auto files = make_firecracker_vmm()->files(s);
  ASSERT_FALSE(files);
  EXPECT_EQ(files.error().message, "instance bot: firecracker needs a config path");
}

TEST(Firecracker, NonUtf8PathIsAnErrorNotAnException) {
  VmSpec s = with_initrd();
  s.rootfs_path = "/srv/\xff.ext4";
  auto files = make_firecracker_vmm()->files(s);
  ASSERT_FALSE(files);
  EXPECT_NE(files.error().message.find("instance bot: cannot render the firecracker config"), std::string::npos);
}

TEST(Firecracker, Argv) {
  EXPECT_EQ(make_firecracker_vmm()->argv(with_initrd()),
            (std::vector<std::string>{"/usr/local/bin/firecracker", "--api-sock", "/srv/cf/instances/bot/vmm.sock",
                                      "--config-file", "/srv/cf/instances/bot/vmm-config.json", "--id", "bot"}));
}

TEST(Firecracker, ArgvLeavesOutAnIdFirecrackerWouldRefuse) {
  VmSpec s = with_initrd();
  s.name = "a_b";
  auto a = make_firecracker_vmm()->argv(s);
  EXPECT_EQ(a.size(), 5u);
}

// A fake Firecracker API: records each request, answers from a script (one
// reply per connection, the last one repeated); hangs when the reply's
// status is 0.
struct Request {
  std::string method, path, body;
};
struct Reply {
  int status;
  std::string body;
};

class FakeApi {
 public:
  explicit FakeApi(std::vector<Reply> replies) : replies_(std::move(replies)), server_([this](Conn& c) { serve(c); }) {}

  std::vector<Request> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  const std::string& socket() const { return server_.path; }
  bool ok() const { return server_.ok(); }

 private:
  void serve(Conn& c) {
    std::string buf;
    if (!c.read_until(buf, "\r\n\r\n")) return;
    auto head_end = buf.find("\r\n\r\n");
    std::string head = buf.substr(0, head_end);
    std::string body = buf.substr(head_end + 4);
    std::size_t length = 0;
    std::istringstream lines(head);
    std::string line, method, path;
    std::getline(lines, line);
    std::istringstream(line) >> method >> path;
    while (std::getline(lines, line)) {
      std::string lower;
      for (char ch : line) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (lower.rfind("content-length:", 0) == 0) length = std::stoul(line.substr(15));
    }
    while (body.size() < length)
      if (!c.read(body)) return;
    Reply reply;
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back({method, path, body});
      reply = replies_.at(std::min(next_++, replies_.size() - 1));
    }
    if (reply.status == 0) return c.hang();
    std::string reason = reply.status == 200 ? "OK" : reply.status == 204 ? "No Content" : "Bad Request";
    std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " " + reason + "\r\n";
    if (!reply.body.empty()) out += "Content-Type: application/json\r\n";
    out += "Content-Length: " + std::to_string(reply.body.size()) + "\r\nConnection: close\r\n\r\n" + reply.body;
    c.write(out);
  }

  std::mutex mu_;
  std::vector<Request> requests_;
  std::vector<Reply> replies_;
  std::size_t next_ = 0;
  UnixSocketServer server_;  // last: its thread stops before the rest goes
};

constexpr const char* kRunning = R"({"id":"bot","state":"Running","vmm_version":"1.13.0","app_name":"Firecracker"})";

TEST(FirecrackerApi, StateRunning) {
  FakeApi api({{200, kRunning}});
  ASSERT_TRUE(api.ok());
  auto s = make_firecracker_vmm()->state(api.socket(), milliseconds(1000));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s.value(), VmState::Running);
  auto reqs = api.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].path, "/");
  EXPECT_EQ(reqs[0].body, "");
}

TEST(FirecrackerApi, StatePausedAndNotStarted) {
  FakeApi api({{200, R"({"state":"Paused"})"}, {200, R"({"state":"Not started"})"}, {200, R"({"state":"Odd"})"}});
  ASSERT_TRUE(api.ok());
  auto vmm = make_firecracker_vmm();
  EXPECT_EQ(vmm->state(api.socket(), milliseconds(1000)).value(), VmState::Paused);
  EXPECT_EQ(vmm->state(api.socket(), milliseconds(1000)).value(), VmState::NotStarted);
  EXPECT_EQ(vmm->state(api.socket(), milliseconds(1000)).value(), VmState::Unknown);
}

TEST(FirecrackerApi, StateWithoutStateFieldIsAnError) {
  FakeApi api({{200, "not json"}});
  ASSERT_TRUE(api.ok());
  auto s = make_firecracker_vmm()->state(api.socket(), milliseconds(1000));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message.rfind("firecracker API " + api.socket() + ": GET / answered no state: ", 0), 0u)
      << s.error().message;
}

TEST(FirecrackerApi, ShutdownSendsCtrlAltDel) {
  FakeApi api({{204, ""}});
  ASSERT_TRUE(api.ok());
  auto s = make_firecracker_vmm()->request_shutdown(api.socket(), milliseconds(1000));
  ASSERT_TRUE(s) << s.error().message;
  auto reqs = api.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "PUT");
  EXPECT_EQ(reqs[0].path, "/actions");
  EXPECT_EQ(reqs[0].body, R"({"action_type":"SendCtrlAltDel"})");
}

TEST(FirecrackerApi, FaultMessageInTheError) {
  FakeApi api({{400, R"({"fault_message":"x"})"}});
  ASSERT_TRUE(api.ok());
  auto s = make_firecracker_vmm()->request_shutdown(api.socket(), milliseconds(1000));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "firecracker API " + api.socket() + ": PUT /actions answered 400: x");
}

TEST(FirecrackerApi, ErrorWithoutFaultMessageShowsTheBody) {
  FakeApi api({{400, "oops"}, {400, ""}});
  ASSERT_TRUE(api.ok());
  auto vmm = make_firecracker_vmm();
  EXPECT_EQ(vmm->state(api.socket(), milliseconds(1000)).error().message,
            "firecracker API " + api.socket() + ": GET / answered 400: oops");
  EXPECT_EQ(vmm->state(api.socket(), milliseconds(1000)).error().message,
            "firecracker API " + api.socket() + ": GET / answered 400");
}

TEST(FirecrackerApi, MissingSocketIsAbsent) {
  auto s = make_firecracker_vmm()->state("/nonexistent/clawfleet/vmm.sock", milliseconds(500));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s.value(), VmState::Absent);
  auto d = make_firecracker_vmm()->request_shutdown("/nonexistent/clawfleet/vmm.sock", milliseconds(500));
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().message,
            "firecracker API /nonexistent/clawfleet/vmm.sock: nothing listens (the VM is not running)");
}

// The file of a socket nobody listens on any more: a VMM that exited.
TEST(FirecrackerApi, StaleSocketIsAbsent) {
  char tmpl[] = "/tmp/cf-vmm-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string path = std::string(tmpl) + "/vmm.sock";
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ::close(fd);
  auto s = make_firecracker_vmm()->state(path, milliseconds(500));
  std::filesystem::remove_all(tmpl);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s.value(), VmState::Absent);
}

TEST(FirecrackerApi, NoAnswerIsAnErrorWithinTheTimeout) {
  FakeApi api({{0, ""}});
  ASSERT_TRUE(api.ok());
  auto start = std::chrono::steady_clock::now();
  auto s = make_firecracker_vmm()->state(api.socket(), milliseconds(300));
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "firecracker API " + api.socket() + ": GET /: no answer within 300 ms");
  EXPECT_LT(took, milliseconds(1500));
}

TEST(FirecrackerApi, SocketPathTooLong) {
  auto s = make_firecracker_vmm()->state("/" + std::string(200, 'a'), milliseconds(300));
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("socket path is longer than 107 bytes"), std::string::npos);
}

}  // namespace
}  // namespace cf::host
