// Running a tool on the host (no shell): stdin is /dev/null, stdout and
// stderr are captured together (the last `max_output` bytes kept), and
// the tool is killed (SIGKILL) when it runs past its deadline. Used by the
// adapters that need a tool (genisoimage for the seed, QEMU for the KVM
// boot probe); never by anything a test fakes.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "core/result.h"

namespace cf::host {

struct ProcessResult {
  std::string output;      // stdout and stderr, interleaved, at most max_output bytes (the end)
  bool exited = false;     // exited by itself; then exit_status is its status
  int exit_status = -1;    // 127: not found
  int signal = 0;          // the signal that ended it, when it did not exit
  bool timed_out = false;  // killed at the deadline
};

// An error only when the tool could not be started at all (pipe, fork).
Result<ProcessResult> run_process(const std::vector<std::string>& argv, std::chrono::milliseconds deadline,
                                  std::size_t max_output);

// "exit status 2", "signal 9"
std::string describe_end(const ProcessResult& r);

}  // namespace cf::host
