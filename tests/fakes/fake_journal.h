// In-memory Journal that records every append, stamped with a fixed time.
#pragma once

#include <string>
#include <vector>

#include "apply/journal.h"

namespace cf::testing {

class FakeJournal : public apply::Journal {
 public:
  Status append(apply::JournalRecord rec) override {
    calls.push_back(std::string("append ") + std::to_string(rec.seq) + " " +
                    (rec.instance.empty() ? "-" : rec.instance) + " " + rec.action + " " + apply::to_string(rec.event) +
                    (rec.result ? std::string(" ") + apply::to_string(*rec.result) : ""));
    if (fail_appends) return Error{"injected failure: journal append"};
    rec.time = now;
    records.push_back(std::move(rec));
    return {};
  }
  Result<apply::JournalRead> read(std::size_t max_records) override {
    calls.push_back("read " + std::to_string(max_records));
    apply::JournalRead out;
    std::size_t from = records.size() > max_records ? records.size() - max_records : 0;
    out.records.assign(records.begin() + std::ptrdiff_t(from), records.end());
    return out;
  }

  std::vector<apply::JournalRecord> records;
  std::string now = "2026-01-01T00:00:00.000Z";
  bool fail_appends = false;
  std::vector<std::string> calls;
};

}  // namespace cf::testing
