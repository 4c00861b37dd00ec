// How clawfleet ends one VM (`clawfleet vm stop`, the VM unit's ExecStop):
// an escalation whose every step is bounded, so that a slow guest under
// emulation gets time to power off and a hung one still ends.
//
//   1. the guest is asked to power off (Firecracker SendCtrlAltDel, QEMU
//      system_powerdown, i.e. the ACPI power button), and has `power_off`;
//   2. the VMM is asked to quit (QEMU `quit`; Firecracker has none), and
//      has `quit`;
//   3. what is left is systemd's: SIGTERM to the VMM as soon as ExecStop
//      returns, SIGKILL when TimeoutStopSec runs out (docs/host.md).
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include "host/vmm/vmm.h"

namespace cf::host {

struct StopDeadlines {
  std::chrono::milliseconds power_off{std::chrono::seconds(60)};
  std::chrono::milliseconds quit{std::chrono::seconds(10)};
  std::chrono::milliseconds poll{200};
};

enum class StopEnd {
  WasAbsent,   // nothing answered on the socket: the VM was not running
  PoweredOff,  // the guest powered off when asked
  Quit,        // the VMM quit when asked
  Running,     // still there: systemd's SIGTERM and SIGKILL end it
};
const char* to_string(StopEnd e);

// Runs steps 1 and 2 against the VMM on `api_socket`. `note` gets one line
// for each step that did not end the VM, and why.
StopEnd stop_vm(Vmm& vmm, const std::string& api_socket, const StopDeadlines& deadlines,
                const std::function<void(const std::string&)>& note);

}  // namespace cf::host
