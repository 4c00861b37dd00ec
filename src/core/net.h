// IPv4 addresses, CIDR prefixes and MAC addresses as plain values, with
// strict parsers (no octal, no leading zeros, no shorthand).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.h"

namespace cf {

struct Ipv4 {
  std::uint32_t value = 0;  // host byte order
  auto operator<=>(const Ipv4&) const = default;
};

struct Cidr {
  Ipv4 network;
  int prefix = 0;

  bool operator==(const Cidr&) const = default;
  std::uint64_t size() const { return std::uint64_t{1} << (32 - prefix); }
  Ipv4 broadcast() const { return Ipv4{network.value | std::uint32_t(size() - 1)}; }
  bool contains(Ipv4 a) const { return (a.value & mask()) == network.value; }
  std::uint32_t mask() const { return prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix); }
};

struct Mac {
  std::array<std::uint8_t, 6> bytes{};
  auto operator<=>(const Mac&) const = default;
  bool multicast() const { return bytes[0] & 1; }
};

Result<Ipv4> parse_ipv4(std::string_view s);
// Accepts "a.b.c.d/n"; does not require host bits to be zero (callers
// decide; the caller sees them through `network`, which keeps them).
Result<Cidr> parse_cidr(std::string_view s);
Result<Mac> parse_mac(std::string_view s);

std::string to_string(Ipv4 a);
std::string to_string(const Cidr& c);
std::string to_string(const Mac& m);  // lower-case, colon-separated

}  // namespace cf
