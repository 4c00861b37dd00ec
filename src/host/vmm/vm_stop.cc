#include "host/vmm/vm_stop.h"

#include <algorithm>
#include <thread>

namespace cf::host {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// Requests are small; a VMM that does not answer one within this is hung.
constexpr milliseconds kRequestTimeout{2000};
constexpr milliseconds kStateTimeout{500};

std::string duration_text(milliseconds d) {
  if (d.count() % 1000) return std::to_string(d.count()) + " ms";
  return std::to_string(d.count() / 1000) + " s";
}

}  // namespace

const char* to_string(StopEnd e) {
  switch (e) {
    case StopEnd::WasAbsent: return "was not running";
    case StopEnd::PoweredOff: return "powered off";
    case StopEnd::Quit: return "quit";
    case StopEnd::Running: return "still running";
  }
  return "unknown";
}

StopEnd stop_vm(Vmm& vmm, const std::string& api_socket, const StopDeadlines& deadlines,
                const std::function<void(const std::string&)>& note) {
  // A socket that does not answer (a hung VMM) is not absent.
  auto absent = [&] {
    auto s = vmm.state(api_socket, kStateTimeout);
    return s && s.value() == VmState::Absent;
  };
  auto gone_within = [&](milliseconds budget) {
    const auto end = Clock::now() + budget;
    while (Clock::now() < end) {
      if (absent()) return true;
      auto left = std::chrono::duration_cast<milliseconds>(end - Clock::now());
      std::this_thread::sleep_for(std::max(milliseconds(1), std::min(deadlines.poll, left)));
    }
    return absent();
  };

  if (absent()) return StopEnd::WasAbsent;
  if (auto s = vmm.request_shutdown(api_socket, kRequestTimeout); !s) {
    if (absent()) return StopEnd::PoweredOff;  // it went while we asked
    note("cannot ask the guest to power off: " + s.error().message);
  } else if (gone_within(deadlines.power_off)) {
    return StopEnd::PoweredOff;
  } else {
    note("the guest did not power off within " + duration_text(deadlines.power_off));
  }

  auto q = vmm.quit(api_socket, kRequestTimeout);
  if (!q) {
    if (absent()) return StopEnd::Quit;
    note("cannot ask the VMM to quit: " + q.error().message);
  } else if (!q.value()) {
    note("the VMM has no quit request");
  } else if (gone_within(deadlines.quit)) {
    return StopEnd::Quit;
  } else {
    note("the VMM did not quit within " + duration_text(deadlines.quit));
  }
  return StopEnd::Running;
}

}  // namespace cf::host
