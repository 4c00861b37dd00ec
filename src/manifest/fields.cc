#include "manifest/fields.h"

#include <algorithm>

namespace cf::manifest {

bool is_name(std::string_view s, std::size_t max, bool allow_upper, std::string_view extra) {
  if (s.empty() || s.size() > max) return false;
  auto alnum = [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (allow_upper && c >= 'A' && c <= 'Z');
  };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || extra.find(c) != std::string_view::npos; });
}

bool is_provider(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  auto ok = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return ok(s[0]) && std::all_of(s.begin(), s.end(), [&](char c) { return ok(c) || c == '-'; });
}

bool is_model(std::string_view s) {
  auto slash = s.find('/');
  if (slash == std::string_view::npos || s.size() > 128 || !is_provider(s.substr(0, slash))) return false;
  auto name = s.substr(slash + 1);
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  return !name.empty() && alnum(name[0]) && std::all_of(name.begin(), name.end(), [&](char c) {
    return alnum(c) || std::string_view("-._:/").find(c) != std::string_view::npos;
  });
}

bool is_skill(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  auto ok = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return ok(s[0]) && std::all_of(s.begin(), s.end(), [&](char c) { return ok(c) || c == '-'; });
}

bool is_env_name(std::string_view s) {
  if (s.empty() || s.size() > 255 || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool is_credential_name(std::string_view s) {
  if (s.empty() || s.size() > 255 || s == "." || s == "..") return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
           c == '-';
  });
}

}  // namespace cf::manifest
