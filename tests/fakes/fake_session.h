// Sessions (apply/session.h) on one FakeHost and one FakeJournal, for the
// engine's callers; `health`, when set, replaces the fake host's.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "apply/session.h"
#include "fakes/fake_host.h"
#include "fakes/fake_journal.h"

namespace cf::testing {

class FakeHostOpener : public apply::HostOpener {
 public:
  FakeHostOpener(FakeHost& host, FakeJournal& journal) : host_(host), journal_(journal) {}
  Result<std::unique_ptr<apply::HostSession>> open(const model::Host& h) override {
    opened.push_back(h.state_root);
    if (!open_error.empty()) return Error{open_error};
    return std::unique_ptr<apply::HostSession>(std::make_unique<Session>(*this));
  }
  std::vector<std::string> opened;
  std::string open_error;
  host::Health* health = nullptr;

 private:
  class Session : public apply::HostSession {
   public:
    explicit Session(FakeHostOpener& o) : o_(o) {}
    host::Ports ports() override { return o_.host_.ports(o_.health); }
    apply::Journal& journal() override { return o_.journal_; }

   private:
    FakeHostOpener& o_;
  };
  FakeHost& host_;
  FakeJournal& journal_;
};

}  // namespace cf::testing
