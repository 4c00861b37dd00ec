// The named phases of one long scenario test and their wall times, so that
// a run on a slower machine says where its time went, passed or failed.
//
//   Phases p;
//   p.begin("create of 2 instances to healthy");  // ends the previous one
//   ...
//   std::cerr << p.report();  // in TearDown: every phase, the last unfinished
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace cf::testing {

class Phases {
 public:
  using Clock = std::chrono::steady_clock;

  void begin(const std::string& name) {
    end();
    open_ = true;
    phases_.push_back({name, Clock::now(), 0});
  }
  void end() {
    if (!open_) return;
    phases_.back().seconds = std::chrono::duration<double>(Clock::now() - phases_.back().start).count();
    open_ = false;
  }
  // Seconds the named (finished) phase took; 0 when there is none.
  double seconds(const std::string& name) const {
    for (const auto& p : phases_)
      if (p.name == name) return p.seconds;
    return 0;
  }
  // "[ phases ] <prefix>" then one line per phase; an open one is the one
  // that did not finish.
  std::string report(const std::string& prefix) const {
    std::string out = "[ phases ] " + prefix + "\n";
    for (std::size_t i = 0; i < phases_.size(); ++i) {
      const bool unfinished = open_ && i + 1 == phases_.size();
      const double s =
          unfinished ? std::chrono::duration<double>(Clock::now() - phases_[i].start).count() : phases_[i].seconds;
      char line[64];
      std::snprintf(line, sizeof line, "%9.1f s  ", s);
      out += "[ phases ] " + std::string(line) + phases_[i].name + (unfinished ? "  (did not finish)" : "") + "\n";
    }
    return out;
  }

 private:
  struct Phase {
    std::string name;
    Clock::time_point start;
    double seconds;
  };
  std::vector<Phase> phases_;
  bool open_ = false;
};

}  // namespace cf::testing
