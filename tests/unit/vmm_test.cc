// make_vmm, to_string(VmState) and the recording FakeVmm.
#include <gtest/gtest.h>

#include "fakes/fake_vmm.h"
#include "host/vmm/vmm.h"

namespace cf::host {
namespace {

using std::chrono::milliseconds;

TEST(Vmm, FactoryPicksTheBackend) {
  VmSpec s;
  s.name = "bot";
  s.binary = "/bin/vmm";
  s.api_socket = "/s/bot.sock";
  s.config_path = "/s/bot.json";
  // Firecracker writes its config file; QEMU takes everything as arguments.
  auto fc = make_vmm(model::VmmKind::Firecracker);
  auto qemu = make_vmm(model::VmmKind::Qemu);
  ASSERT_TRUE(fc && qemu);
  EXPECT_EQ(fc->files(s).value().size(), 1u);
  EXPECT_EQ(fc->argv(s).at(1), "--api-sock");
  EXPECT_TRUE(qemu->files(s).value().empty());
  EXPECT_EQ(qemu->argv(s).at(1), "-M");
}

TEST(Vmm, StateNames) {
  EXPECT_STREQ(to_string(VmState::Absent), "absent");
  EXPECT_STREQ(to_string(VmState::NotStarted), "not-started");
  EXPECT_STREQ(to_string(VmState::Running), "running");
  EXPECT_STREQ(to_string(VmState::Paused), "paused");
  EXPECT_STREQ(to_string(VmState::Unknown), "unknown");
}

TEST(FakeVmm, RecordsCallsAndPowersOff) {
  testing::FakeVmm vmm;
  vmm.set_state("/s/bot.sock", VmState::Running);
  VmSpec s;
  s.name = "bot";
  s.config_path = "/s/bot.json";
  EXPECT_EQ(vmm.files(s).value().at(0).first, "/s/bot.json");
  (void)vmm.argv(s);
  EXPECT_EQ(vmm.state("/s/bot.sock", milliseconds(500)).value(), VmState::Running);
  EXPECT_TRUE(vmm.request_shutdown("/s/bot.sock", milliseconds(2000)));
  EXPECT_EQ(vmm.state("/s/bot.sock", milliseconds(500)).value(), VmState::Absent);
  EXPECT_FALSE(vmm.request_shutdown("/s/bot.sock", milliseconds(2000)));
  EXPECT_EQ(vmm.calls, (std::vector<std::string>{"files bot", "argv bot", "state /s/bot.sock 500ms",
                                                 "request_shutdown /s/bot.sock 2000ms", "state /s/bot.sock 500ms",
                                                 "request_shutdown /s/bot.sock 2000ms"}));
}

TEST(FakeVmm, FailsOneCall) {
  testing::FakeVmm vmm;
  vmm.set_state("/s/a.sock", VmState::Running);
  vmm.shutdown_powers_off = false;
  vmm.fail("state /s/a.sock 500ms", "firecracker API /s/a.sock: GET /: no answer within 500 ms");
  auto s = vmm.state("/s/a.sock", milliseconds(500));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().message, "firecracker API /s/a.sock: GET /: no answer within 500 ms");
  EXPECT_TRUE(vmm.request_shutdown("/s/a.sock", milliseconds(100)));
  EXPECT_EQ(vmm.state_of("/s/a.sock"), VmState::Running);
}

}  // namespace
}  // namespace cf::host
