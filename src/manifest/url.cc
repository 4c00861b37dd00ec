#include "manifest/url.h"

#include <cctype>

#include "core/text.h"

namespace cf::manifest {
namespace {

bool is_host_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.'; }

std::optional<std::string> host_problem(std::string_view host) {
  if (host.empty()) return "an http:// or https:// URL with a host";
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return "an http:// or https:// URL; an IPv6 host is written [addr]";
    for (char c : host.substr(1, host.size() - 2))
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.')
        return "an http:// or https:// URL; an IPv6 host is written [addr]";
    return std::nullopt;
  }
  if (host.size() > 253) return "an http:// or https:// URL with a host name of at most 253 bytes";
  for (char c : host)
    if (!is_host_char(c)) return "an http:// or https:// URL with a host of letters, digits, '-' and '.'";
  if (host.front() == '.' || host.front() == '-' || host.find("..") != std::string_view::npos)
    return "an http:// or https:// URL with a well-formed host name";
  return std::nullopt;
}

std::optional<std::string> form_problem(std::string_view url) {
  if (url.size() > kMaxUrlBytes) return "a URL of at most " + std::to_string(kMaxUrlBytes) + " bytes";
  for (char c : url)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f)
      return "an http:// or https:// URL of printable ASCII without spaces (percent-encode the rest)";
  std::string_view rest;
  if (url.substr(0, 7) == "http://")
    rest = url.substr(7);
  else if (url.substr(0, 8) == "https://")
    rest = url.substr(8);
  else
    return "an http:// or https:// URL";
  const std::size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  if (authority.find('@') != std::string_view::npos)
    return "a URL without user:password@ (the value is not shown); keys belong in spec.providerKeys";
  if (end != std::string_view::npos && rest.find_first_of("?#", end) != std::string_view::npos)
    return "a URL without a query (?) or fragment (#)";
  std::string_view host = authority;
  const std::size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    host = authority.substr(0, colon);
    std::string_view port = authority.substr(colon + 1);
    bool digits = !port.empty() && port.size() <= 5;
    for (char c : port) digits = digits && std::isdigit(static_cast<unsigned char>(c));
    if (!digits || port.front() == '0' || std::stoul(std::string(port)) > 65535)
      return "an http:// or https:// URL whose port is between 1 and 65535";
  }
  return host_problem(host);
}

}  // namespace

std::optional<std::string> endpoint_url_problem(std::string_view url) {
  auto problem = form_problem(url);
  if (!problem || problem->find("not shown") != std::string::npos) return problem;
  return *problem + ", got \"" + std::string(utf8_prefix(url, 64)) + "\"";
}

}  // namespace cf::manifest
