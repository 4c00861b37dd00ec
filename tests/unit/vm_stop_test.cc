// The stop escalation of host/vmm/vm_stop.h against the recording FakeVmm, and
// that its deadlines fit the VM unit's TimeoutStopSec and the executor's job
// deadline (a stop that outlived either would fail the unit or the step).
#include "host/vmm/vm_stop.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "apply/executor.h"
#include "fakes/fake_vmm.h"

namespace cf::host {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kSock = "/s/bot.sock";

class VmStop : public ::testing::Test {
 protected:
  VmStop() {
    deadlines_.power_off = milliseconds(60);
    deadlines_.quit = milliseconds(40);
    deadlines_.poll = milliseconds(5);
    vmm_.set_state(kSock, VmState::Running);
  }
  StopEnd stop() {
    return stop_vm(vmm_, kSock, deadlines_, [&](const std::string& line) { notes_.push_back(line); });
  }
  // The calls other than state polls, in order.
  std::vector<std::string> requests() const {
    std::vector<std::string> out;
    for (const auto& c : vmm_.calls)
      if (c.rfind("state ", 0) != 0) out.push_back(c);
    return out;
  }

  testing::FakeVmm vmm_;
  StopDeadlines deadlines_;
  std::vector<std::string> notes_;
};

TEST_F(VmStop, NothingToStop) {
  vmm_.set_state(kSock, VmState::Absent);
  EXPECT_EQ(stop(), StopEnd::WasAbsent);
  EXPECT_EQ(vmm_.calls, std::vector<std::string>{"state /s/bot.sock 500ms"});
  EXPECT_TRUE(notes_.empty());
}

TEST_F(VmStop, AGuestThatPowersOff) {
  EXPECT_EQ(stop(), StopEnd::PoweredOff);
  EXPECT_EQ(requests(), std::vector<std::string>{"request_shutdown /s/bot.sock 2000ms"});
  EXPECT_TRUE(notes_.empty());
}

TEST_F(VmStop, AGuestThatIgnoresTheRequestIsQuit) {
  vmm_.shutdown_powers_off = false;
  EXPECT_EQ(stop(), StopEnd::Quit);
  EXPECT_EQ(requests(), (std::vector<std::string>{"request_shutdown /s/bot.sock 2000ms", "quit /s/bot.sock 2000ms"}));
  EXPECT_EQ(notes_, std::vector<std::string>{"the guest did not power off within 60 ms"});
  // It was polled until the deadline, not asked once.
  EXPECT_GT(vmm_.calls.size(), 6u);
}

TEST_F(VmStop, WithoutAQuitRequestSystemdEndsIt) {
  vmm_.shutdown_powers_off = false;
  vmm_.has_quit = false;  // Firecracker
  EXPECT_EQ(stop(), StopEnd::Running);
  EXPECT_EQ(notes_,
            (std::vector<std::string>{"the guest did not power off within 60 ms", "the VMM has no quit request"}));
}

TEST_F(VmStop, AHungVmmIsLeftToSystemd) {
  vmm_.shutdown_powers_off = false;
  vmm_.quit_ends_it = false;
  EXPECT_EQ(stop(), StopEnd::Running);
  EXPECT_EQ(notes_, (std::vector<std::string>{"the guest did not power off within 60 ms",
                                              "the VMM did not quit within 40 ms"}));
}

TEST_F(VmStop, AFailedRequestGoesOnToQuit) {
  vmm_.fail("request_shutdown /s/bot.sock 2000ms", "qemu QMP /s/bot.sock: no reply to system_powerdown within 2000 ms");
  EXPECT_EQ(stop(), StopEnd::Quit);
  EXPECT_EQ(notes_, std::vector<std::string>{"cannot ask the guest to power off: qemu QMP /s/bot.sock: no reply to "
                                             "system_powerdown within 2000 ms"});
}

TEST_F(VmStop, AnUnansweringSocketIsNotAbsent) {
  vmm_.fail("state /s/bot.sock 500ms", "qemu QMP /s/bot.sock: no greeting within 500 ms");
  vmm_.fail("request_shutdown /s/bot.sock 2000ms", "qemu QMP /s/bot.sock: no greeting within 2000 ms");
  vmm_.fail("quit /s/bot.sock 2000ms", "qemu QMP /s/bot.sock: no greeting within 2000 ms");
  EXPECT_EQ(stop(), StopEnd::Running);
  EXPECT_EQ(notes_.size(), 2u);
}

// The numbers of units/clawfleet-vm@.service, docs/host.md and the
// executor, checked against each other.
TEST(VmStopDeadlines, FitTheUnitAndTheJobDeadline) {
  std::ifstream in(std::string(CLAWFLEET_SOURCE_DIR) + "/units/clawfleet-vm@.service");
  std::stringstream unit;
  unit << in.rdbuf();
  std::smatch m;
  const std::string text = unit.str();
  ASSERT_TRUE(std::regex_search(text, m, std::regex("\nTimeoutStopSec=([0-9]+)\n"))) << text;
  const seconds timeout_stop(std::stoi(m[1]));
  ASSERT_TRUE(std::regex_search(text, m, std::regex("\nExecStop=(.*)\n")));
  // "-": an escalation that needed SIGTERM or SIGKILL is not the unit's failure.
  EXPECT_EQ(m[1].str(), "-/usr/local/bin/clawfleet vm stop %i");

  const StopDeadlines d;
  // ExecStop's worst case: state polls (0.5 s), two requests (2 s each)
  // and both waits, with a margin; it must end before TimeoutStopSec.
  const auto exec_stop = d.power_off + d.quit + seconds(6);
  EXPECT_LT(exec_stop, timeout_stop);
  // Then SIGTERM, and SIGKILL after TimeoutStopSec once more.
  EXPECT_GE(apply::ExecOptions{}.job_deadline, exec_stop + timeout_stop);
}

}  // namespace
}  // namespace cf::host
