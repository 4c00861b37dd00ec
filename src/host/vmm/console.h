// The guest's serial console, kept beside the VMM by `clawfleet vm run`:
// the VMM's serial port is its stdin/stdout (QEMU `-serial stdio`,
// Firecracker's own), one end of a socket pair whose other end this keeper
// reads. A guest writes its console without end, so the log is capped:
// `console.log` holds at most `cap` bytes, then becomes `console.log.1`
// (replacing the one before) and a new `console.log` begins; at most 2 x
// cap on disk, the newest bytes kept. One client at a time may attach to
// `console.sock` (what `clawfleet console` will use): it receives what the
// guest writes from then on and its bytes go to the guest's serial input.
// A client that does not read loses output rather than stalling the guest;
// the guest's input waits while the VMM does not take it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/result.h"

namespace cf::host {

inline constexpr std::uint64_t kConsoleLogCap = 1 << 20;

struct ConsolePaths {
  std::string log;       // <dir>/console.log
  std::string previous;  // <dir>/console.log.1
  std::string socket;    // <dir>/console.sock
};

// Runs until the guest's end of `guest_fd` closes (the VMM exited): Ok
// then. An error only when the log cannot be opened at all or the guest's
// end fails; what it survives (the attach socket cannot be bound, a log
// write fails) goes to `note`, once per kind.
Status keep_console(int guest_fd, const ConsolePaths& paths, std::uint64_t cap, const std::string& instance,
                    const std::function<void(const std::string&)>& note);

}  // namespace cf::host
