#include "model/observed.h"

namespace cf::model {

const char* to_string(VmState s) {
  switch (s) {
    case VmState::Absent: return "absent";
    case VmState::NotStarted: return "not-started";
    case VmState::Running: return "running";
    case VmState::Paused: return "paused";
    case VmState::Unknown: return "unknown";
  }
  return "unknown";
}

}  // namespace cf::model
