// RFC 3339 UTC time stamps, as the journal, the lock record, the agent's
// status file and status show them.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace cf {

using WallClock = std::chrono::system_clock;

// "2026-11-23T12:00:00Z" (the fraction dropped).
std::string rfc3339(WallClock::time_point t);
// "2026-11-23T12:00:00.123Z"
std::string rfc3339_millis(WallClock::time_point t);
// The seconds of either form (a fraction is ignored); nullopt when `s` is
// not one.
std::optional<WallClock::time_point> parse_rfc3339(const std::string& s);

}  // namespace cf
