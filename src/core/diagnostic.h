// Diagnostics are collected, never thrown: a run reports every problem of
// every file at once (Terraform's tfdiags), each with file:line:col and the
// field path it concerns.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace cf {

struct Location {
  std::string file;  // as the user named it
  int line = 0;      // 1-based; 0 = the whole file
  int column = 0;    // 1-based; 0 = the whole line

  bool operator==(const Location&) const = default;
};

enum class Severity { Error, Warning };

struct Diagnostic {
  Severity severity = Severity::Error;
  Location where;
  std::string path;  // field path such as "spec.resources.vcpus"; may be empty
  std::string message;

  bool operator==(const Diagnostic&) const = default;
};

// "file:line:col: error: path: message"
std::string format(const Diagnostic& d);

class Diagnostics {
 public:
  // Garbage input must not produce unbounded output.
  static constexpr std::size_t kMaxReported = 1000;

  void error(Location where, std::string path, std::string message);
  void warning(Location where, std::string path, std::string message);
  void add(Diagnostic d);

  bool has_errors() const { return errors_ > 0; }
  std::size_t error_count() const { return errors_; }
  std::size_t warning_count() const { return warnings_; }
  // True when more than kMaxReported were raised and the rest were dropped.
  bool truncated() const { return dropped_ > 0; }
  std::size_t dropped() const { return dropped_; }

  const std::vector<Diagnostic>& all() const { return items_; }
  // Orders by file rank (the order files were given in), then line, column;
  // stable, so diagnostics at one place keep the order they were found in.
  void sort(const std::vector<std::string>& file_order);

 private:
  std::vector<Diagnostic> items_;
  std::size_t errors_ = 0;
  std::size_t warnings_ = 0;
  std::size_t dropped_ = 0;
};

}  // namespace cf
