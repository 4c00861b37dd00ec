#include "core/net.h"

#include <charconv>

namespace cf {
namespace {

bool parse_uint(std::string_view s, unsigned max, unsigned& out) {
  if (s.empty() || s.size() > 3) return false;
  if (s.size() > 1 && s[0] == '0') return false;  // "010" would be octal to inet_aton
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > max) return false;
  out = v;
  return true;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<Ipv4> parse_ipv4(std::string_view s) {
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i) {
    auto dot = s.find('.');
    if ((i < 3) != (dot != std::string_view::npos)) return Error{"not an IPv4 address (want a.b.c.d)"};
    unsigned octet = 0;
    if (!parse_uint(s.substr(0, dot), 255, octet)) return Error{"not an IPv4 address (want a.b.c.d)"};
    value = value << 8 | octet;
    s = i < 3 ? s.substr(dot + 1) : std::string_view{};
  }
  return Ipv4{value};
}

Result<Cidr> parse_cidr(std::string_view s) {
  auto slash = s.find('/');
  if (slash == std::string_view::npos) return Error{"not an IPv4 prefix (want a.b.c.d/n)"};
  auto addr = parse_ipv4(s.substr(0, slash));
  unsigned prefix = 0;
  if (!addr || !parse_uint(s.substr(slash + 1), 32, prefix)) return Error{"not an IPv4 prefix (want a.b.c.d/n)"};
  return Cidr{addr.value(), int(prefix)};
}

Result<Mac> parse_mac(std::string_view s) {
  Mac m;
  if (s.size() != 17) return Error{"not a MAC address (want xx:xx:xx:xx:xx:xx)"};
  for (int i = 0; i < 6; ++i) {
    int hi = hex_digit(s[3 * i]), lo = hex_digit(s[3 * i + 1]);
    if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':')) return Error{"not a MAC address (want xx:xx:xx:xx:xx:xx)"};
    m.bytes[i] = std::uint8_t(hi << 4 | lo);
  }
  return m;
}

std::string to_string(Ipv4 a) {
  return std::to_string(a.value >> 24) + '.' + std::to_string(a.value >> 16 & 255) + '.' +
         std::to_string(a.value >> 8 & 255) + '.' + std::to_string(a.value & 255);
}

std::string to_string(const Cidr& c) { return to_string(c.network) + '/' + std::to_string(c.prefix); }

std::string to_string(const Mac& m) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 6; ++i) {
    if (i) out += ':';
    out += kHex[m.bytes[i] >> 4];
    out += kHex[m.bytes[i] & 15];
  }
  return out;
}

}  // namespace cf
