#include "host/network/allocator.h"

#include <gtest/gtest.h>

#include "fakes/addresses.h"
#include "fakes/fake_file_reader.h"
#include "host/network/network.h"

namespace cf::host {
namespace {

using cf::testing::ip;
Mac mac(const char* s) { return parse_mac(s).value(); }

model::Host host_on(const char* subnet, const char* gateway, std::uint16_t first = 18900, std::uint16_t last = 18999) {
  model::Host h;
  h.subnet = parse_cidr(subnet).value();
  h.gateway = ip(gateway);
  h.port_first = first;
  h.port_last = last;
  return h;
}

auto none_listening = [](std::uint16_t) { return false; };

std::string error_of(const Result<Allocation>& r) {
  return r ? "(allocated " + to_string(r.value().ip) + ")" : r.error().message;
}

TEST(Allocator, MacIsLocallyAdministeredUnicastFromTheAddress) {
  EXPECT_EQ(to_string(mac_for(ip("10.42.8.3"))), "06:fc:0a:2a:08:03");
  EXPECT_EQ(to_string(mac_for(ip("172.16.255.254"))), "06:fc:ac:10:ff:fe");
  EXPECT_FALSE(mac_for(ip("255.255.255.255")).multicast());
}

// fireclaw's own test cases: the lowest free value wins.
TEST(Allocator, FireclawCases) {
  Taken taken;
  taken.ips = {ip("10.42.8.2"), ip("10.42.8.4")};
  taken.ports = {18891, 18893};
  auto r = allocate("bot", host_on("10.42.8.0/24", "10.42.8.1", 18891, 18999), {}, taken, none_listening);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(to_string(r.value().ip), "10.42.8.3");
  EXPECT_EQ(r.value().host_port, 18892);
  EXPECT_EQ(to_string(r.value().mac), "06:fc:0a:2a:08:03");
  EXPECT_EQ(r.value().tap, tap_name("bot", {}));
}

struct IpCase {
  const char* subnet;
  const char* gateway;
  std::vector<const char*> taken;
  const char* want;  // address, or the error's text
};

void PrintTo(const IpCase& c, std::ostream* os) { *os << c.subnet << " gw " << c.gateway << " -> " << c.want; }

class AllocatorIp : public ::testing::TestWithParam<IpCase> {};

TEST_P(AllocatorIp, LowestFreeHostAddress) {
  const IpCase& c = GetParam();
  Taken taken;
  for (const char* t : c.taken) taken.ips.insert(ip(t));
  auto r = allocate("bot", host_on(c.subnet, c.gateway), {}, taken, none_listening);
  EXPECT_EQ(r ? to_string(r.value().ip) : r.error().message, c.want);
}

INSTANTIATE_TEST_SUITE_P(
    Table, AllocatorIp,
    ::testing::Values(IpCase{"172.16.0.0/24", "172.16.0.1", {}, "172.16.0.2"},
                      // The gateway need not be .1; it is skipped wherever it is.
                      IpCase{"172.16.0.0/24", "172.16.0.254", {}, "172.16.0.1"},
                      IpCase{"172.16.0.0/24", "172.16.0.2", {"172.16.0.1"}, "172.16.0.3"},
                      // /29: .1-.6 usable, .1 the gateway: five guests.
                      IpCase{
                          "10.0.0.8/29", "10.0.0.9", {"10.0.0.10", "10.0.0.11", "10.0.0.12", "10.0.0.13"}, "10.0.0.14"},
                      IpCase{"10.0.0.8/29",
                             "10.0.0.9",
                             {"10.0.0.10", "10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.14"},
                             "instance bot: no free guest address in 10.0.0.8/29 (5 held by instances)"},
                      // /16: past the first /24 boundary, .255 and .0 inside are ordinary addresses.
                      IpCase{"10.1.0.0/16", "10.1.0.1", {"10.1.0.2", "10.1.0.3"}, "10.1.0.4"},
                      IpCase{"10.1.0.0/22", "10.1.0.1", {}, "10.1.0.2"}));

TEST(Allocator, SixteenFillsPastTheFirstOctet) {
  Taken taken;
  for (std::uint32_t i = 2; i < 300; ++i) taken.ips.insert(Ipv4{ip("10.1.0.0").value + i});
  auto r = allocate("bot", host_on("10.1.0.0/16", "10.1.0.1"), {}, taken, none_listening);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(to_string(r.value().ip), "10.1.1.44");
}

TEST(Allocator, PinnedAddress) {
  auto h = host_on("172.16.0.0/24", "172.16.0.1");
  Taken taken;
  taken.ips = {ip("172.16.0.7")};
  model::NetworkPins pins;
  pins.ip = ip("172.16.0.9");
  auto r = allocate("bot", h, pins, taken, none_listening);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(to_string(r.value().ip), "172.16.0.9");
  EXPECT_EQ(to_string(r.value().mac), "06:fc:ac:10:00:09");

  pins.ip = ip("172.16.0.7");
  EXPECT_EQ(error_of(allocate("bot", h, pins, taken, none_listening)),
            "instance bot: guest address 172.16.0.7 is already held by another instance");
  for (const char* reserved : {"172.16.0.0", "172.16.0.1", "172.16.0.255", "172.16.1.5"}) {
    pins.ip = ip(reserved);
    EXPECT_EQ(
        error_of(allocate("bot", h, pins, taken, none_listening)),
        std::string("instance bot: guest address ") + reserved +
            " is not a usable host address of 172.16.0.0/24 (network, broadcast and gateway 172.16.0.1 are reserved)");
  }
}

TEST(Allocator, MacsNeverClash) {
  auto h = host_on("172.16.0.0/24", "172.16.0.1");
  Taken taken;
  // Another instance pinned the MAC this address would get.
  taken.macs = {mac("06:fc:ac:10:00:02")};
  auto r = allocate("bot", h, {}, taken, none_listening);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(to_string(r.value().mac), "06:fd:ac:10:00:02");

  model::NetworkPins pins;
  pins.mac = mac("06:fc:ac:10:00:02");
  EXPECT_EQ(error_of(allocate("bot", h, pins, taken, none_listening)),
            "instance bot: MAC 06:fc:ac:10:00:02 is already held by another instance");
  pins.mac = mac("52:54:00:12:34:56");
  r = allocate("bot", h, pins, taken, none_listening);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(to_string(r.value().mac), "52:54:00:12:34:56");
}

TEST(Allocator, PortsSkipListenersAndInstances) {
  auto h = host_on("172.16.0.0/24", "172.16.0.1", 18900, 18904);
  Taken taken;
  taken.ports = {18900, 18902};
  auto listening = [](std::uint16_t p) { return p == 18901 || p == 18903; };
  auto r = allocate("bot", h, {}, taken, listening);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r.value().host_port, 18904);

  taken.ports.insert(18904);
  EXPECT_EQ(error_of(allocate("bot", h, {}, taken, listening)),
            "instance bot: no free host port in 18900-18904 (3 held by instances, 2 in use by other processes)");
}

TEST(Allocator, PortRangeUpTo65535DoesNotWrap) {
  auto h = host_on("172.16.0.0/24", "172.16.0.1", 65534, 65535);
  Taken taken;
  taken.ports = {65534, 65535};
  EXPECT_EQ(error_of(allocate("bot", h, {}, taken, none_listening)),
            "instance bot: no free host port in 65534-65535 (2 held by instances, 0 in use by other processes)");
}

TEST(Allocator, PinnedPort) {
  auto h = host_on("172.16.0.0/24", "172.16.0.1");
  Taken taken;
  taken.ports = {18950};
  auto listening = [](std::uint16_t p) { return p == 8080; };
  model::NetworkPins pins;
  pins.host_port = 18950;
  EXPECT_EQ(error_of(allocate("bot", h, pins, taken, listening)),
            "instance bot: host port 18950 is already held by another instance");
  pins.host_port = 8080;
  EXPECT_EQ(error_of(allocate("bot", h, pins, taken, listening)),
            "instance bot: host port 8080 is pinned but a process on this host listens on it");
  pins.host_port = 18951;
  auto r = allocate("bot", h, pins, taken, listening);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r.value().host_port, 18951);
}

TEST(Allocator, DeterministicAndTapsDistinct) {
  auto h = host_on("172.16.0.0/24", "172.16.0.1");
  Taken taken;
  auto a = allocate("alpha", h, {}, taken, none_listening);
  ASSERT_TRUE(a);
  EXPECT_EQ(a.value(), allocate("alpha", h, {}, taken, none_listening).value());
  taken.add(a.value());
  auto b = allocate("beta", h, {}, taken, none_listening);
  ASSERT_TRUE(b);
  EXPECT_EQ(to_string(b.value().ip), "172.16.0.3");
  EXPECT_EQ(b.value().host_port, 18901);
  EXPECT_NE(a.value().tap, b.value().tap);
  // A tap name already held by another instance is not handed out twice.
  Taken clash;
  clash.taps = {tap_name("beta", {})};
  auto c = allocate("beta", h, {}, clash, none_listening);
  ASSERT_TRUE(c);
  EXPECT_NE(c.value().tap, tap_name("beta", {}));
  EXPECT_LE(c.value().tap.size(), 15u);
}

TEST(ListeningPorts, ReadsListenersOfBothTables) {
  testing::FakeFileReader files;
  files.file(
      "/proc/net/tcp",
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
      "   0: 0100007F:4A38 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0\n"
      "   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0\n"
      "   2: 0100007F:4A39 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0 20 4 30 10 -1\n");
  files.file(
      "/proc/net/tcp6",
      "  sl  local_address                         remote_address                        st tx_queue rx_queue\n"
      "   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000\n");
  auto r = listening_tcp_ports(files);
  ASSERT_TRUE(r) << r.error().message;
  // 0x4A38 = 19000, 0x16 = 22, 0x1F90 = 8080; the established 0x4A39 is not listening.
  EXPECT_EQ(r.value(), (std::set<std::uint16_t>{22, 8080, 19000}));
}

TEST(ListeningPorts, Tcp6IsOptionalTcpIsNot) {
  testing::FakeFileReader files;
  files.file("/p/tcp", "  sl  local_address rem_address   st\n");
  auto r = listening_tcp_ports(files, "/p");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r.value().empty());
  testing::FakeFileReader empty;
  auto e = listening_tcp_ports(empty, "/p");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().message, "cannot open /p/tcp: No such file or directory");
}

TEST(ListeningPorts, MalformedLineIsAnErrorWithItsPlace) {
  testing::FakeFileReader files;
  files.file("/p/tcp", "  sl  local_address rem_address   st\n   0: 0100007F 00000000:0000 0A\n");
  auto e = listening_tcp_ports(files, "/p");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().message, "/p/tcp:2: malformed local address \"0100007F\"");
}

TEST(ListeningPorts, RealProcIsReadable) {
  RealFileReader files;
  auto r = listening_tcp_ports(files);
  ASSERT_TRUE(r) << r.error().message;
}

}  // namespace
}  // namespace cf::host
