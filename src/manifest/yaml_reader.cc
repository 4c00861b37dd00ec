#include "manifest/yaml_reader.h"

#include <algorithm>
#include <charconv>
#include <map>

#include "core/text.h"

namespace cf::manifest {
namespace {

bool is_decimal_int(std::string_view s) {
  if (!s.empty() && s[0] == '-') s.remove_prefix(1);
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// YAML 1.2 core schema: what a plain scalar resolves to when it is not a string.
const char* plain_scalar_type(std::string_view s) {
  static constexpr std::string_view kBools[] = {"true", "True", "TRUE", "false", "False", "FALSE"};
  if (std::find(std::begin(kBools), std::end(kBools), s) != std::end(kBools)) return "boolean";
  std::string_view body = s;
  if (!body.empty() && (body[0] == '-' || body[0] == '+')) body.remove_prefix(1);
  if (!body.empty() && std::all_of(body.begin(), body.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return "integer";
  if (body.size() > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'o')) return "integer";
  static constexpr std::string_view kFloats[] = {".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN"};
  if (std::find(std::begin(kFloats), std::end(kFloats), body) != std::end(kFloats)) return "number";
  // [0-9]*(\.[0-9]*)?([eE][-+]?[0-9]+)? with at least one digit before the exponent
  std::size_t i = 0, digits = 0;
  while (i < body.size() && body[i] >= '0' && body[i] <= '9') ++i, ++digits;
  if (i < body.size() && body[i] == '.') {
    ++i;
    while (i < body.size() && body[i] >= '0' && body[i] <= '9') ++i, ++digits;
  }
  if (digits > 0 && i < body.size() && (body[i] == 'e' || body[i] == 'E')) {
    std::size_t j = i + 1;
    if (j < body.size() && (body[j] == '-' || body[j] == '+')) ++j;
    std::size_t exp_start = j;
    while (j < body.size() && body[j] >= '0' && body[j] <= '9') ++j;
    if (j > exp_start) i = j;
  }
  if (digits > 0 && i == body.size()) return "number";
  return nullptr;
}

bool plain(const YAML::Node& n) { return n.Tag() == "?"; }

// Keys and values quoted in messages: printable, and short.
std::string quote(std::string_view s) {
  std::string out = "\"";
  const std::string_view shown = utf8_prefix(s, 64);
  for (std::size_t i = 0; i < shown.size(); ++i) {
    auto c = static_cast<unsigned char>(shown[i]);
    if (c < 0x20 || c == 0x7f)
      out += '?';
    else if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else
      out += char(c);
  }
  if (s.size() > 64) out += "...";
  return out + '"';
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null: return "null";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Scalar:
      if (plain(n))
        if (const char* t = plain_scalar_type(n.Scalar())) {
          std::string q = quote(n.Scalar());
          return std::string("the ") + t + ' ' + q.substr(1, q.size() - 2);
        }
      return "the string " + quote(n.Scalar());
    default: return "nothing";
  }
}

std::string child(const std::string& parent, std::string_view key) {
  std::string k = quote(key);
  k = k.substr(1, k.size() - 2);
  return parent.empty() ? k : parent + '.' + k;
}

std::string index(const std::string& parent, std::size_t i) { return parent + '[' + std::to_string(i) + ']'; }

std::string suggest(std::string_view word, std::initializer_list<std::string_view> choices) {
  std::string best;
  std::size_t best_d = 3;  // at most two edits away
  for (auto c : choices) {
    std::size_t d = edit_distance(word, c);
    if (d < best_d && d < c.size()) {
      best_d = d;
      best = std::string(c);
    }
  }
  return best;
}

Location YamlReader::where(const YAML::Node& n) const {
  auto m = n.Mark();
  return Location{file_, m.line >= 0 ? m.line + 1 : 0, m.line >= 0 && m.column >= 0 ? m.column + 1 : 0};
}

void YamlReader::error(const YAML::Node& at, const std::string& path, std::string message) {
  diags_.error(where(at), path, std::move(message));
}

void YamlReader::warning(const YAML::Node& at, const std::string& path, std::string message) {
  diags_.warning(where(at), path, std::move(message));
}

std::optional<std::vector<Entry>> YamlReader::map(const Entry& e, const std::string& path) {
  if (!e.value.IsMap()) {
    error(e.at(), path, "must be a mapping, got " + describe(e.value));
    return std::nullopt;
  }
  std::vector<Entry> out;
  std::map<std::string, int> first_line;
  for (const auto& kv : e.value) {
    // kv is a by-value proxy; copies of its nodes (shared handles) outlive it.
    YAML::Node k = kv.first;
    if (!k.IsScalar()) {
      error(k, path, "keys must be strings, got " + describe(k));
      continue;
    }
    const std::string& key = k.Scalar();
    auto [pos, fresh] = first_line.emplace(key, where(k).line);
    if (!fresh) {
      error(k, child(path, key), "duplicate key; first written at line " + std::to_string(pos->second));
      continue;
    }
    out.push_back(Entry{key, k, kv.second});
  }
  return out;
}

std::optional<std::vector<Entry>> YamlReader::fields(const Entry& e, const std::string& path,
                                                     std::initializer_list<std::string_view> allowed) {
  auto entries = map(e, path);
  if (!entries) return std::nullopt;
  std::vector<Entry> out;
  for (auto& entry : *entries) {
    if (std::find(allowed.begin(), allowed.end(), entry.key) != allowed.end()) {
      out.push_back(std::move(entry));
      continue;
    }
    std::string hint = suggest(entry.key, allowed);
    error(entry.key_node, child(path, entry.key),
          hint.empty() ? "unknown field" : "unknown field; did you mean \"" + hint + "\"?");
  }
  return out;
}

std::optional<std::vector<Entry>> YamlReader::list(const Entry& e, const std::string& path, std::size_t max_items) {
  if (!e.value.IsSequence()) {
    error(e.at(), path, "must be a list, got " + describe(e.value));
    return std::nullopt;
  }
  if (e.value.size() > max_items) {
    error(e.at(), path, "at most " + std::to_string(max_items) + " entries, got " + std::to_string(e.value.size()));
    return std::nullopt;
  }
  std::vector<Entry> out;
  for (const auto& item : e.value) out.push_back(Entry{"", item, item});
  return out;
}

std::optional<std::string> YamlReader::string(const Entry& e, const std::string& path) {
  const YAML::Node& n = e.value;
  if (!n.IsScalar() || (plain(n) && plain_scalar_type(n.Scalar()))) {
    std::string got = describe(n);
    bool quotable = n.IsScalar();
    error(e.at(), path, "must be a string, got " + got + (quotable ? " (quote it to make it a string)" : ""));
    return std::nullopt;
  }
  const std::string& s = n.Scalar();
  if (s.size() > kMaxStringBytes) {
    error(e.at(), path, "is longer than " + std::to_string(kMaxStringBytes) + " bytes");
    return std::nullopt;
  }
  if (!is_valid_utf8(s)) {
    error(e.at(), path, "is not valid UTF-8");
    return std::nullopt;
  }
  if (std::any_of(s.begin(), s.end(), [](char c) { return (unsigned char)c < 0x20 || c == 0x7f; })) {
    error(e.at(), path, "must not contain control characters or line breaks");
    return std::nullopt;
  }
  return s;
}

std::optional<std::int64_t> YamlReader::integer(const Entry& e, const std::string& path, std::int64_t min,
                                                std::int64_t max) {
  const YAML::Node& n = e.value;
  std::string range = "between " + std::to_string(min) + " and " + std::to_string(max);
  if (!n.IsScalar() || !plain(n) || !is_decimal_int(n.Scalar())) {
    error(e.at(), path, "must be an integer " + range + ", got " + describe(n));
    return std::nullopt;
  }
  const std::string& s = n.Scalar();
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < min || v > max) {
    error(e.at(), path, "must be " + range + ", got " + (s.size() > 24 ? std::string(utf8_prefix(s, 24)) + "..." : s));
    return std::nullopt;
  }
  return v;
}

std::optional<bool> YamlReader::boolean(const Entry& e, const std::string& path) {
  const YAML::Node& n = e.value;
  if (n.IsScalar() && plain(n)) {
    const std::string& s = n.Scalar();
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
  }
  error(e.at(), path, "must be true or false, got " + describe(n));
  return std::nullopt;
}

std::optional<std::size_t> YamlReader::choice(const Entry& e, const std::string& path,
                                              std::initializer_list<std::string_view> choices) {
  std::string want;
  for (auto c : choices) want += (want.empty() ? "" : ", ") + std::string(c);
  const YAML::Node& n = e.value;
  if (n.IsScalar()) {
    auto it = std::find(choices.begin(), choices.end(), n.Scalar());
    if (it != choices.end()) return std::size_t(it - choices.begin());
  }
  error(e.at(), path, "must be one of " + want + "; got " + describe(n));
  return std::nullopt;
}

std::optional<std::string> YamlReader::absolute_path(const Entry& e, const std::string& path) {
  auto s = string(e, path);
  if (!s) return std::nullopt;
  if (!is_clean_absolute_path(*s)) {
    error(e.at(), path,
          "must be an absolute path without \".\" or \"..\" components or control characters, got " + quote(*s));
    return std::nullopt;
  }
  return s;
}

}  // namespace cf::manifest
