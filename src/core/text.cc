#include "core/text.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <utility>

namespace cf {

bool is_dns_label(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  for (char c : s)
    if (!alnum(c) && c != '-') return false;
  return true;
}

bool is_ifname(std::string_view s) {
  if (s.empty() || s.size() > 15 || s == "." || s == "..") return false;
  for (char c : s) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

namespace {

// The length of the UTF-8 character at s[i], with its code point in `cp`;
// 0 when the bytes there are not one (overlong forms, surrogates and
// values past U+10FFFF are not UTF-8).
std::size_t utf8_char(std::string_view s, std::size_t i, std::uint32_t& cp) {
  auto c = static_cast<unsigned char>(s[i]);
  std::size_t n;
  if (c < 0x80) {
    cp = c;
    return 1;
  }
  if ((c & 0xE0) == 0xC0) {
    n = 1;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 2;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 3;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n >= s.size()) return 0;
  for (std::size_t k = 1; k <= n; ++k) {
    auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (cc & 0x3F);
  }
  static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n + 1;
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
  std::uint32_t cp;
  for (std::size_t i = 0, n; i < s.size(); i += n)
    if ((n = utf8_char(s, i, cp)) == 0) return false;
  return true;
}

std::string printable(std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    std::uint32_t cp = 0;
    const std::size_t n = utf8_char(s, i, cp);
    if (n > 0 && cp >= 0x20 && !(cp >= 0x7f && cp <= 0x9f)) {
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    // A control character (C0, DEL, C1: a terminal acts on it) or a byte
    // that is not UTF-8, byte by byte.
    for (std::size_t k = 0; k < (n ? n : 1); ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      out += "\\x";
      out += kHex[b >> 4];
      out += kHex[b & 15];
    }
    i += n ? n : 1;
  }
  return out;
}

std::string_view utf8_prefix(std::string_view s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t n = max;
  // s[n] is the first byte left out: back up while it continues a character.
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

std::string cut(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  return std::string(utf8_prefix(s, max < 3 ? 0 : max - 3)) + "...";
}

bool is_clean_absolute_path(std::string_view s) {
  if (s.empty() || s.size() > 4096 || s[0] != '/') return false;
  if (s.size() > 1 && s.back() == '/') return false;
  std::size_t pos = 1;
  while (pos <= s.size()) {
    auto next = s.find('/', pos);
    if (next == std::string_view::npos) next = s.size();
    auto part = s.substr(pos, next - pos);
    if (s.size() > 1 && (part.empty() || part == "." || part == "..")) return false;
    pos = next + 1;
  }
  // No control characters: a path is shown in errors and plans, and
  // written into unit files and QEMU's command line.
  return std::none_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

Result<std::uint64_t> parse_size(std::string_view s) {
  std::size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
  if (digits == 0) return Error{"not a size (want a number and a unit, e.g. 20GiB)"};
  std::uint64_t n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + digits, n);
  if (ec != std::errc() || p != s.data() + digits) return Error{"size is too large"};
  auto unit = s.substr(digits);
  if (unit.empty()) return Error{"size needs a unit (e.g. 20GiB): a bare number is ambiguous"};
  static constexpr std::array<std::pair<std::string_view, std::uint64_t>, 12> kUnits{{
      {"K", 1ull << 10},
      {"M", 1ull << 20},
      {"G", 1ull << 30},
      {"T", 1ull << 40},
      {"KiB", 1ull << 10},
      {"MiB", 1ull << 20},
      {"GiB", 1ull << 30},
      {"TiB", 1ull << 40},
      {"KB", 1000ull},
      {"MB", 1000000ull},
      {"GB", 1000000000ull},
      {"TB", 1000000000000ull},
  }};
  for (auto [name, factor] : kUnits) {
    if (unit != name) continue;
    if (n > UINT64_MAX / factor) return Error{"size is too large"};
    return n * factor;
  }
  return Error{"unknown size unit \"" + std::string(unit) +
               "\" (use K, M, G, T, KiB, MiB, GiB, TiB, KB, MB, GB or TB)"};
}

Result<std::chrono::milliseconds> parse_duration(std::string_view text) {
  const std::string allowed = "a duration such as 300, 300s, 1500ms, 5min, 1h";
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 12) return Error{"\"" + std::string(utf8_prefix(text, 64)) + "\" is not " + allowed};
  long long n = 0;
  std::from_chars(text.data(), text.data() + digits, n);
  const std::string_view unit = text.substr(digits);
  long long factor = 0;
  if (unit == "ms")
    factor = 1;
  else if (unit.empty() || unit == "s")
    factor = 1000;
  else if (unit == "m" || unit == "min")
    factor = 60'000;
  else if (unit == "h")
    factor = 3'600'000;
  else
    return Error{"\"" + std::string(utf8_prefix(text, 64)) + "\" is not " + allowed};
  return std::chrono::milliseconds(n * factor);
}

std::string format_size(std::uint64_t bytes) {
  static constexpr std::array<std::pair<const char*, int>, 4> kUnits{
      {{"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}}};
  for (auto [name, shift] : kUnits) {
    std::uint64_t f = 1ull << shift;
    if (bytes >= f && bytes % f == 0) return std::to_string(bytes / f) + name;
  }
  return std::to_string(bytes) + "B";
}

std::string base64_encode(std::string_view data) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < data.size(); i += 3) {
    std::uint32_t n = std::uint32_t(static_cast<unsigned char>(data[i])) << 16;
    if (i + 1 < data.size()) n |= std::uint32_t(static_cast<unsigned char>(data[i + 1])) << 8;
    if (i + 2 < data.size()) n |= static_cast<unsigned char>(data[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < data.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < data.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

std::string plural(std::size_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + ' ' + std::string(n == 1 ? one : many);
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += items[i];
  }
  return out;
}

}  // namespace cf
