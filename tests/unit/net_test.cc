#include "core/net.h"

#include <gtest/gtest.h>

namespace cf {
namespace {

TEST(Ipv4, ParsesAndFormats) {
  auto a = parse_ipv4("10.42.8.3");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.value().value, (10u << 24) | (42u << 16) | (8u << 8) | 3u);
  EXPECT_EQ(to_string(a.value()), "10.42.8.3");
  EXPECT_EQ(to_string(parse_ipv4("255.255.255.255").value()), "255.255.255.255");
  EXPECT_EQ(to_string(parse_ipv4("0.0.0.0").value()), "0.0.0.0");
}

TEST(Ipv4, RejectsShorthandOctalAndJunk) {
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "1.2.3.256", "01.2.3.4", "1.2.3.-4", "1..3.4", "a.b.c.d",
                          "1.2.3.4 ", " 1.2.3.4", "1.2.3.4/24", "1234.1.1.1"})
    EXPECT_FALSE(parse_ipv4(bad).ok()) << bad;
  EXPECT_EQ(parse_ipv4("1.2.3").error().message, "not an IPv4 address (want a.b.c.d)");
}

TEST(Cidr, Arithmetic) {
  auto c = parse_cidr("10.42.8.0/24").value();
  EXPECT_EQ(c.size(), 256u);
  EXPECT_EQ(to_string(c.broadcast()), "10.42.8.255");
  EXPECT_TRUE(c.contains(parse_ipv4("10.42.8.77").value()));
  EXPECT_FALSE(c.contains(parse_ipv4("10.42.9.1").value()));
  auto small = parse_cidr("192.168.5.8/29").value();
  EXPECT_EQ(small.size(), 8u);
  EXPECT_EQ(to_string(small.broadcast()), "192.168.5.15");
  auto big = parse_cidr("10.1.0.0/16").value();
  EXPECT_EQ(to_string(big.broadcast()), "10.1.255.255");
  EXPECT_EQ(to_string(big), "10.1.0.0/16");
  EXPECT_FALSE(parse_cidr("10.1.0.0").ok());
  EXPECT_FALSE(parse_cidr("10.1.0.0/33").ok());
  EXPECT_FALSE(parse_cidr("10.1.0.0/").ok());
}

TEST(Mac, ParsesAndFormats) {
  auto m = parse_mac("06:FC:00:10:00:0a");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(to_string(m.value()), "06:fc:00:10:00:0a");
  EXPECT_FALSE(m.value().multicast());
  EXPECT_TRUE(parse_mac("01:00:5e:00:00:01").value().multicast());
  for (const char* bad : {"", "06:fc:00:10:00", "06-fc-00-10-00-0a", "06:fc:00:10:00:0g", "06:fc:00:10:00:0a:"})
    EXPECT_FALSE(parse_mac(bad).ok()) << bad;
}

}  // namespace
}  // namespace cf
