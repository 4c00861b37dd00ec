#include "manifest/parse.h"

#include <yaml-cpp/eventhandler.h>

#include <sstream>

#include "manifest/limits.h"

namespace cf::manifest {
namespace {

// yaml-cpp 0.7 (Debian 12) loops forever in LoadAll, allocating a null
// document per turn, on streams such as "," (upstream issue #1040, fixed
// after 0.8). A first pass over the events finds such a stream: two
// consecutive documents that are one null at the same place mean the
// parser made no progress. It also enforces the per-file document limit
// before any node tree is built.
class DocumentCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override { events_ = 0, null_only_ = false; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { null_only_ = events_++ == 0, mark_ = m; }
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override { ++events_; }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override { ++events_; }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    ++events_;
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    ++events_;
  }
  void OnMapEnd() override {}

  bool lone_null() const { return null_only_ && events_ == 1; }
  const YAML::Mark& mark() const { return mark_; }

 private:
  int events_ = 0;
  bool null_only_ = false;
  YAML::Mark mark_;
};

Location to_location(const std::string& file, const YAML::Mark& m) {
  return {file, m.line >= 0 ? m.line + 1 : 0, m.line >= 0 && m.column >= 0 ? m.column + 1 : 0};
}

}  // namespace

std::optional<std::vector<YAML::Node>> parse_documents(const SourceFile& f, Diagnostics& diags) {
  try {
    std::istringstream in(f.content);
    YAML::Parser parser(in);
    DocumentCounter counter;
    std::size_t docs = 0;
    std::optional<YAML::Mark> previous_lone_null;
    while (parser.HandleNextDocument(counter)) {
      if (++docs > kMaxDocumentsPerFile) {
        diags.error({f.path, 0, 0}, "", "more than " + std::to_string(kMaxDocumentsPerFile) + " documents in one file");
        return std::nullopt;
      }
      if (counter.lone_null()) {
        const YAML::Mark& m = counter.mark();
        if (previous_lone_null && previous_lone_null->pos == m.pos) {
          diags.error(to_location(f.path, m), "", "invalid YAML: unexpected token");
          return std::nullopt;
        }
        previous_lone_null = m;
      } else {
        previous_lone_null.reset();
      }
    }
    return YAML::LoadAll(f.content);
  } catch (const YAML::Exception& e) {
    diags.error(to_location(f.path, e.mark), "", "invalid YAML: " + e.msg);
    return std::nullopt;
  }
}

}  // namespace cf::manifest
