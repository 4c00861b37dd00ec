#include "agent/liveness.h"

#include <algorithm>

namespace cf::agent {

using namespace std::chrono;

Millis probe_interval(Millis fail_after) {
  return std::clamp(fail_after / 10, Millis(seconds(5)), Millis(seconds(30)));
}

Liveness::Change Liveness::record(const std::string& name, const Status& answer, SteadyTime now) {
  Entry& e = entries_[name];
  if (answer) {
    const bool was_failing = e.failing_since.has_value();
    e.failing_since.reset();
    e.error.clear();
    if (!e.live_since) e.live_since = now;
    return was_failing ? Change::Recovered : Change::None;
  }
  e.error = answer.error().message;
  e.live_since.reset();
  if (e.failing_since) return Change::None;
  e.failing_since = now;
  return Change::Failing;
}

void Liveness::keep_only(const std::set<std::string>& names) {
  std::erase_if(entries_, [&](const auto& kv) { return !names.count(kv.first); });
}

void Liveness::restarted(const std::string& name, std::string why) {
  Entry& e = entries_[name];
  e = Entry{};
  e.restarted = std::move(why);
}

void Liveness::forgive(const std::string& name) {
  if (auto it = entries_.find(name); it != entries_.end()) it->second.restarted.clear();
}

const Liveness::Entry* Liveness::find(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

std::optional<Millis> Liveness::failing_for(const std::string& name, SteadyTime now) const {
  const Entry* e = find(name);
  if (!e || !e->failing_since) return std::nullopt;
  return duration_cast<Millis>(now - *e->failing_since);
}

std::optional<Millis> Liveness::live_for(const std::string& name, SteadyTime now) const {
  const Entry* e = find(name);
  if (!e || !e->live_since) return std::nullopt;
  return duration_cast<Millis>(now - *e->live_since);
}

std::vector<std::string> Liveness::due(Millis fail_after, SteadyTime now) const {
  std::vector<std::string> out;
  for (const auto& [name, e] : entries_)
    if (e.failing_since && now - *e.failing_since >= fail_after) out.push_back(name);
  return out;
}

}  // namespace cf::agent
