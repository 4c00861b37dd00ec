#include "core/diagnostic.h"

#include <algorithm>
#include <map>

namespace cf {

std::string format(const Diagnostic& d) {
  std::string out = d.where.file;
  if (d.where.line > 0) {
    out += ':' + std::to_string(d.where.line);
    if (d.where.column > 0) out += ':' + std::to_string(d.where.column);
  }
  out += d.severity == Severity::Error ? ": error: " : ": warning: ";
  if (!d.path.empty()) out += d.path + ": ";
  out += d.message;
  return out;
}

void Diagnostics::error(Location where, std::string path, std::string message) {
  add({Severity::Error, std::move(where), std::move(path), std::move(message)});
}

void Diagnostics::warning(Location where, std::string path, std::string message) {
  add({Severity::Warning, std::move(where), std::move(path), std::move(message)});
}

void Diagnostics::add(Diagnostic d) {
  // Counts stay exact even when the list is cut, so exit status and
  // summaries are never wrong.
  if (d.severity == Severity::Error)
    ++errors_;
  else
    ++warnings_;
  if (items_.size() >= kMaxReported) {
    ++dropped_;
    return;
  }
  items_.push_back(std::move(d));
}

void Diagnostics::sort(const std::vector<std::string>& file_order) {
  std::map<std::string, std::size_t> rank;
  for (std::size_t i = 0; i < file_order.size(); ++i) rank.emplace(file_order[i], i);
  auto rank_of = [&](const std::string& f) {
    auto it = rank.find(f);
    return it == rank.end() ? file_order.size() : it->second;
  };
  std::stable_sort(items_.begin(), items_.end(), [&](const Diagnostic& a, const Diagnostic& b) {
    auto ra = rank_of(a.where.file), rb = rank_of(b.where.file);
    if (ra != rb) return ra < rb;
    if (a.where.line != b.where.line) return a.where.line < b.where.line;
    return a.where.column < b.where.column;
  });
}

}  // namespace cf
