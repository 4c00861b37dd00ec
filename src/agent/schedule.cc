#include "agent/schedule.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

namespace cf::agent {

using namespace std::chrono;

Scheduler::Scheduler(ScheduleOptions options, SteadyTime now) : options_(options), resync_at_(now + options.resync) {}

void Scheduler::manifest_changed(SteadyTime now) {
  if (!burst_first_) burst_first_ = now;
  burst_last_ = now;
}

void Scheduler::reload_requested(SteadyTime) { reload_ = true; }

void Scheduler::liveness_failed(SteadyTime) { liveness_ = true; }

void Scheduler::started(SteadyTime) {
  running_ = true;
  // What is pending now is covered by this run: it loads the manifests as
  // they are. Events from here on schedule the next one.
  burst_first_.reset();
  burst_last_.reset();
  reload_ = false;
  liveness_ = false;
  first_ = false;
  retry_at_.reset();
}

void Scheduler::finished(SteadyTime now, const Finished& f) {
  running_ = false;
  resync_at_ = now + options_.resync;
  if (f.lock_busy)
    retry_at_ = now + options_.lock_retry;
  else
    retry_at_ = f.retry_at;
}

SteadyTime Scheduler::next(SteadyTime now) const {
  if (first_ || reload_ || liveness_) return now;
  SteadyTime at = resync_at_;
  if (burst_first_) at = std::min({at, *burst_last_ + options_.debounce, *burst_first_ + options_.debounce_max});
  if (retry_at_) at = std::min(at, *retry_at_);
  return at;
}

bool Scheduler::due(SteadyTime now) const { return !running_ && next(now) <= now; }

std::string Scheduler::reason(SteadyTime now) const {
  if (first_) return "start";
  if (reload_) return "SIGHUP";
  if (liveness_) return "liveness";
  if (burst_first_ && std::min(*burst_last_ + options_.debounce, *burst_first_ + options_.debounce_max) <= now)
    return "manifests changed";
  if (retry_at_ && *retry_at_ <= now) return "retry";
  return "resync";
}

Backoff::Backoff(BackoffOptions options, std::function<double()> uniform)
    : options_(options), uniform_(std::move(uniform)) {}

Millis Backoff::failed(const std::string& name, SteadyTime now) {
  Entry& e = entries_[name];
  ++e.failures;
  // initial * 2^(failures-1), without overflowing for a long-failing instance.
  double base = double(options_.initial.count());
  for (std::size_t i = 1; i < e.failures && base < double(options_.max.count()); ++i) base *= 2;
  base = std::min(base, double(options_.max.count()));
  const double factor = 1.0 + options_.jitter * (2.0 * uniform_() - 1.0);
  Millis delay{static_cast<Millis::rep>(std::llround(base * factor))};
  e.until = now + delay;
  return delay;
}

void Backoff::succeeded(const std::string& name) { entries_.erase(name); }

std::optional<Millis> Backoff::remaining(const std::string& name, SteadyTime now) const {
  auto it = entries_.find(name);
  if (it == entries_.end() || it->second.until <= now) return std::nullopt;
  return duration_cast<Millis>(it->second.until - now);
}

std::size_t Backoff::failures(const std::string& name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? 0 : it->second.failures;
}

std::optional<SteadyTime> Backoff::next_expiry(SteadyTime now) const {
  std::optional<SteadyTime> out;
  for (const auto& [_, e] : entries_)
    if (e.until > now && (!out || e.until < *out)) out = e.until;
  return out;
}

std::vector<std::string> Backoff::names() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : entries_) out.push_back(name);
  return out;
}

Filtered hold_back(const plan::Plan& plan, const std::function<std::optional<Millis>(const std::string&)>& remaining) {
  Filtered out;
  out.plan.refused = plan.refused;
  out.plan.accelerator = plan.accelerator;
  std::vector<std::optional<std::size_t>> renumbered(plan.steps.size());
  std::map<std::string, HeldBack> held;
  for (std::size_t i = 0; i < plan.steps.size(); ++i) {
    const plan::Step& step = plan.steps[i];
    const bool destroy = step.action == plan::Action::Destroy;
    std::optional<Millis> left;
    if (!step.instance.empty() && !destroy) left = remaining(step.instance);
    bool after_held = false;
    for (std::size_t d : step.depends_on)
      if (d < i && !renumbered[d]) after_held = true;
    if (left || (after_held && !destroy)) {
      HeldBack& h = held[step.instance];
      h.instance = step.instance;
      if (left) h.remaining = std::max(h.remaining, *left);
      h.actions.push_back(step.action);
      continue;
    }
    plan::Step kept = step;
    kept.depends_on.clear();
    for (std::size_t d : step.depends_on)
      if (d < i && renumbered[d]) kept.depends_on.push_back(*renumbered[d]);
    renumbered[i] = out.plan.steps.size();
    out.origin.push_back(i);
    out.plan.steps.push_back(std::move(kept));
  }
  for (auto& [_, h] : held) out.held.push_back(std::move(h));
  return out;
}

std::string describe_duration(Millis d) {
  const auto ms = d.count();
  if (ms < 10000) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s", double(ms) / 1000.0);
    return buf;
  }
  const long long s = (ms + 500) / 1000;
  if (s < 60) return std::to_string(s) + " s";
  const long long m = s / 60, rest = s % 60;
  return std::to_string(m) + " min" + (rest ? " " + std::to_string(rest) + " s" : "");
}

}  // namespace cf::agent
