#include "core/time.h"

#include <cstdio>
#include <ctime>

namespace cf {
namespace {

std::string format(WallClock::time_point t, bool millis) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(t);
  const long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - secs).count();
  const std::time_t tt = WallClock::to_time_t(secs);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[96];  // room for any int fields, which -Wformat-truncation cannot bound
  if (millis)
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  else
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

}  // namespace

std::string rfc3339(WallClock::time_point t) { return format(t, false); }
std::string rfc3339_millis(WallClock::time_point t) { return format(t, true); }

std::optional<WallClock::time_point> parse_rfc3339(const std::string& s) {
  std::tm tm{};
  if (s.size() < 20 || !::strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return std::nullopt;
  return WallClock::from_time_t(::timegm(&tm));
}

}  // namespace cf
