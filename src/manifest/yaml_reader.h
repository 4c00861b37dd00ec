// A strict reader over yaml-cpp nodes: every accessor checks the type,
// range and form of one field and reports a diagnostic at the node's
// file:line:col with its field path. yaml-cpp stays behind this file,
// parse.h and document.h; nothing outside src/manifest includes it.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/diagnostic.h"
#include "manifest/limits.h"

namespace cf::manifest {

// One key/value pair of a mapping in document order, or one list item
// (then key is empty and key_node is the item). Diagnostics about a null
// value point at its key: yaml-cpp marks an empty value on the next line.
struct Entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;

  const YAML::Node& at() const { return value.IsNull() ? key_node : value; }
};

class YamlReader {
 public:
  YamlReader(std::string file, Diagnostics& diags) : file_(std::move(file)), diags_(diags) {}

  Location where(const YAML::Node& n) const;
  const std::string& file() const { return file_; }
  void error(const YAML::Node& at, const std::string& path, std::string message);
  void warning(const YAML::Node& at, const std::string& path, std::string message);

  // The entries of a mapping whose keys are all in `allowed`; an unknown or
  // repeated key is reported and left out. nullopt when n is not a mapping.
  std::optional<std::vector<Entry>> fields(const Entry& e, const std::string& path,
                                           std::initializer_list<std::string_view> allowed);
  // Any string keys (labels, provider keys, images); repeated keys reported.
  std::optional<std::vector<Entry>> map(const Entry& e, const std::string& path);
  // Items of a sequence of at most max_items; nullopt when it is not one.
  std::optional<std::vector<Entry>> list(const Entry& e, const std::string& path, std::size_t max_items);

  // A scalar that YAML does not resolve to a number, boolean or null (so
  // `version: 1.10` must be quoted), UTF-8, no control characters.
  std::optional<std::string> string(const Entry& e, const std::string& path);
  // A plain decimal integer within [min, max].
  std::optional<std::int64_t> integer(const Entry& e, const std::string& path, std::int64_t min, std::int64_t max);
  std::optional<bool> boolean(const Entry& e, const std::string& path);
  // One of `choices`; returns its index.
  std::optional<std::size_t> choice(const Entry& e, const std::string& path,
                                    std::initializer_list<std::string_view> choices);
  std::optional<std::string> absolute_path(const Entry& e, const std::string& path);

 private:
  std::string file_;
  Diagnostics& diags_;
};

// "a list", "a mapping", "null", "the integer 4", ...: what the user wrote,
// for "must be X, got Y" messages. Never used on secret fields.
std::string describe(const YAML::Node& n);

// Joins field paths: child("spec", "model") == "spec.model".
std::string child(const std::string& parent, std::string_view key);
std::string index(const std::string& parent, std::size_t i);

// Closest of `choices` to `word` when it is a plausible typo, else "".
std::string suggest(std::string_view word, std::initializer_list<std::string_view> choices);

}  // namespace cf::manifest
