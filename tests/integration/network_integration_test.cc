// The real network adapter (netlink, /dev/net/tun, libnftables, procfs)
// against the kernel, inside a network namespace each test makes and
// destroys (integration/netns.h). The host's own namespace is never used:
// every adapter call and every `ip`/`bridge`/`nft` command runs on the
// namespace's thread.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "core/net.h"
#include "core/sha256.h"
#include "fakes/fake_file_reader.h"
#include "fakes/fake_host.h"
#include "fakes/fake_state_store.h"
#include "fakes/fake_systemd.h"
#include "fakes/fake_vmm.h"
#include "host/network/network.h"
#include "host/observe.h"
#include "host/vmm/launch.h"
#include "integration/netns.h"
#include "model/instance_dir.h"

namespace cf::host {
namespace {

namespace netns = cf::testing::netns;

constexpr const char* kBridge = "cfbr-test";
constexpr const char* kTap = "cf0123456789abc";
constexpr std::uint32_t kOwner = model::kVmmUidBase + 2;  // the VMM user of guest .2

model::Host test_host(model::Egress egress) {
  model::Host h;
  h.bridge = kBridge;
  h.subnet = parse_cidr("10.123.0.0/24").value();
  h.gateway = parse_ipv4("10.123.0.1").value();
  h.egress = egress;
  return h;
}

const Link* find(const std::vector<Link>& links, const std::string& name) {
  auto it = std::find_if(links.begin(), links.end(), [&](const Link& l) { return l.name == name; });
  return it == links.end() ? nullptr : &*it;
}

std::string read_host_file(const char* path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

class RealNetwork : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = netns::unavailable()) GTEST_SKIP() << "real network in a namespace unavailable: " << *why;
    start_ = std::chrono::steady_clock::now();
    host_forward_ = read_host_file("/proc/sys/net/ipv4/ip_forward");
    ns_ = std::make_unique<netns::Namespace>();
    ASSERT_FALSE(ns_->error()) << *ns_->error();
  }
  void TearDown() override {
    if (!ns_) return;
    ns_.reset();  // the namespace goes, with everything in it
    // Nothing leaked into the host: its ip_forward is what it was, and no
    // named namespace exists for us.
    EXPECT_EQ(read_host_file("/proc/sys/net/ipv4/ip_forward"), host_forward_);
    std::string list;
    netns::sh("ip netns list", &list);
    EXPECT_EQ(list.find("cf-test"), std::string::npos) << list;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start_);
    std::cout << "[ netns    ] namespace made, used and destroyed in " << ms.count() << " ms\n";
  }

  // Runs body in the test's namespace with a fresh real adapter.
  void in_ns(const std::function<void(Network&)>& body) {
    ns_->run([&] {
      auto net = real_network();
      body(*net);
    });
  }

  // Shell commands (set -e) in the calling thread's namespace; a failure
  // fails the test with the output.
  static void sh_ok(const std::string& commands) {
    std::string out;
    EXPECT_EQ(netns::sh("set -e; " + commands, &out), 0) << commands << "\n" << out;
  }
  // A guest in namespace ns as a VMM would present it: a veth named as
  // its tap on the bridge (port isolated, up), and on the guest's side
  // eth0 with its MAC and address. Run on the test's namespace thread.
  static void plug(netns::Namespace& ns, const model::Allocation& a) {
    sh_ok("ip link add " + a.tap + " type veth peer name eth0 netns " + std::to_string(tid_of(ns)) + "; ip link set " +
          a.tap + " master " + kBridge + " up; bridge link set dev " + a.tap + " isolated on");
  }
  static void configure(netns::Namespace& ns, const model::Allocation& a) {
    ns.run([&] {
      sh_ok("ip link set lo up; ip link set eth0 address " + to_string(a.mac) + " up; ip addr add " + to_string(a.ip) +
            "/24 dev eth0");
    });
  }
  // The thread of a namespace, for `ip link ... netns TID`.
  static pid_t tid_of(netns::Namespace& ns) {
    pid_t tid = 0;
    ns.run([&] { tid = ::gettid(); });
    return tid;
  }

  std::unique_ptr<netns::Namespace> ns_;
  std::string host_forward_;
  std::chrono::steady_clock::time_point start_;
};

TEST_F(RealNetwork, NamespaceIsNotTheHosts) {
  ino_t host_ns = netns::ns_inode("/proc/thread-self/ns/net");
  ns_->run([&] { EXPECT_NE(netns::ns_inode("/proc/thread-self/ns/net"), host_ns); });
  in_ns([](Network& net) {
    auto links = net.links();
    ASSERT_TRUE(links) << links.error().message;
    ASSERT_EQ(links->size(), 1u);  // a new namespace has only lo
    EXPECT_EQ(links.value()[0].name, "lo");
  });
}

// Whether a process running as `uid` (and no capability) can attach to
// the tap: what the VMM does, as its own user. 0, or the errno.
int attach_as(std::uint32_t uid, const std::string& tap) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return errno;
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Opened first: the device's mode is the host's (0666 with Debian's
    // udev, 0600 here); the tap's owner is checked when attaching.
    int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    int err = fd < 0 ? errno : 0;
    if (!err && (::setresgid(uid, uid, uid) != 0 || ::setresuid(uid, uid, uid) != 0)) err = errno;
    if (!err) {
      ifreq ifr{};
      std::memcpy(ifr.ifr_name, tap.data(), tap.size());
      ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
      if (::ioctl(fd, TUNSETIFF, &ifr) != 0) err = errno;
    }
    (void)!::write(pipe_fds[1], &err, sizeof err);
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  int err = -1;
  if (pid < 0 || ::read(pipe_fds[0], &err, sizeof err) != sizeof err) err = -1;
  ::close(pipe_fds[0]);
  if (pid > 0) ::waitpid(pid, nullptr, 0);
  return err;
}

TEST_F(RealNetwork, ATapIsItsVmmUsersAlone) {
  in_ns([](Network& net) {
    ASSERT_TRUE(net.ensure_bridge(kBridge, parse_ipv4("10.123.0.1").value(), 24));
    auto s = net.ensure_tap(kTap, kBridge, "clawfleet:bot", kOwner);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(attach_as(kOwner, kTap), 0) << "the VMM's user cannot open its tap";
    EXPECT_EQ(attach_as(kOwner + 1, kTap), EPERM) << "another instance's VMM user can open the tap";

    // The guest's address changed, and with it the VMM's user: the tap follows.
    s = net.ensure_tap(kTap, kBridge, "clawfleet:bot", kOwner + 1);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(attach_as(kOwner + 1, kTap), 0);
    EXPECT_EQ(attach_as(kOwner, kTap), EPERM);

    // A tap a VMM holds keeps its owner (the tun driver will not change it)
    // without failing apply; the VM unit's prepare sets it before the next start.
    int held = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    ASSERT_GE(held, 0);
    ifreq ifr{};
    std::memcpy(ifr.ifr_name, kTap, std::strlen(kTap));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    ASSERT_EQ(::ioctl(held, TUNSETIFF, &ifr), 0) << std::strerror(errno);
    s = net.ensure_tap(kTap, kBridge, "clawfleet:bot", kOwner);
    EXPECT_TRUE(s) << s.error().message;
    ::close(held);
    EXPECT_EQ(attach_as(kOwner, kTap), EPERM);
    s = net.ensure_tap(kTap, kBridge, "clawfleet:bot", kOwner);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(attach_as(kOwner, kTap), 0);
  });
}

TEST_F(RealNetwork, BridgeAndTapAreIdempotentAndObservable) {
  in_ns([](Network& net) {
    const Ipv4 gw = parse_ipv4("10.123.0.1").value();
    ASSERT_TRUE(net.ensure_bridge(kBridge, gw, 24));
    auto s = net.ensure_bridge(kBridge, gw, 24);
    ASSERT_TRUE(s) << s.error().message;
    s = net.ensure_tap(kTap, kBridge, "clawfleet:bot", kOwner);
    ASSERT_TRUE(s) << s.error().message;
    auto first = net.links();
    ASSERT_TRUE(first) << first.error().message;
    s = net.ensure_tap(kTap, kBridge, "clawfleet:bot", kOwner);
    ASSERT_TRUE(s) << s.error().message;

    auto links = net.links();
    ASSERT_TRUE(links) << links.error().message;
    EXPECT_EQ(links.value(), first.value()) << "the second ensure_tap changed something";
    const Link* br = find(links.value(), kBridge);
    ASSERT_NE(br, nullptr);
    EXPECT_EQ(br->kind, "bridge");
    EXPECT_TRUE(br->up);
    EXPECT_EQ(br->master, std::nullopt);
    EXPECT_EQ(br->ipv4, std::vector<Cidr>{parse_cidr("10.123.0.1/24").value()});
    const Link* tap = find(links.value(), kTap);
    ASSERT_NE(tap, nullptr);
    EXPECT_EQ(tap->kind, "tun");
    EXPECT_EQ(tap->master, kBridge);
    EXPECT_TRUE(tap->up);
    EXPECT_TRUE(tap->isolated);
    EXPECT_EQ(tap->alias, "clawfleet:bot");
    EXPECT_TRUE(tap->ipv4.empty());

    // The same facts, as iproute2 sees them.
    std::string out;
    EXPECT_EQ(netns::sh(std::string("bridge -d link show dev ") + kTap, &out), 0) << out;
    EXPECT_NE(out.find("master " + std::string(kBridge)), std::string::npos) << out;
    EXPECT_NE(out.find("isolated on"), std::string::npos) << out;
    EXPECT_EQ(netns::sh(std::string("ip -d link show dev ") + kTap, &out), 0) << out;
    EXPECT_NE(out.find("tun type tap pi off"), std::string::npos) << out;
    EXPECT_NE(out.find("persist on"), std::string::npos) << out;
    EXPECT_NE(out.find("user 1879048194"), std::string::npos) << out;
    EXPECT_NE(out.find("alias clawfleet:bot"), std::string::npos) << out;

    ASSERT_TRUE(net.delete_link(kTap));
    s = net.delete_link(kTap);  // absent is success
    EXPECT_TRUE(s) << s.error().message;
    links = net.links();
    ASSERT_TRUE(links);
    EXPECT_EQ(find(links.value(), kTap), nullptr);
    EXPECT_NE(find(links.value(), kBridge), nullptr);
  });
}

// Enough links that each dump spans many netlink messages and reads.
TEST_F(RealNetwork, LinksAtScale) {
  in_ns([](Network& net) {
    ASSERT_TRUE(net.ensure_bridge(kBridge, parse_ipv4("10.123.0.1").value(), 24));
    constexpr int kTaps = 256;
    for (int i = 0; i < kTaps; ++i) {
      auto s = net.ensure_tap(tap_name("bot-" + std::to_string(i), {}), kBridge, "clawfleet:bot-" + std::to_string(i),
                              kOwner);
      ASSERT_TRUE(s) << s.error().message;
    }
    auto start = std::chrono::steady_clock::now();
    auto links = net.links();
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start);
    ASSERT_TRUE(links) << links.error().message;
    ASSERT_EQ(links->size(), std::size_t(kTaps + 2));  // lo, the bridge, the taps
    int ok = 0;
    for (const auto& l : links.value())
      if (l.kind == "tun" && l.master == kBridge && l.isolated && l.up && l.alias.rfind("clawfleet:bot-", 0) == 0) ++ok;
    EXPECT_EQ(ok, kTaps);
    std::cout << "[ netns    ] links() with " << kTaps << " taps: " << us.count() << " us\n";
  });
}

TEST_F(RealNetwork, ExistingTapIsFixedNotRecreated) {
  in_ns([](Network& net) {
    ASSERT_TRUE(net.ensure_bridge(kBridge, parse_ipv4("10.123.0.1").value(), 24));
    // A tap left behind in a bad state: not persistent-by-us, detached,
    // down, no alias, not isolated (what `ip tuntap add` makes).
    std::string out;
    ASSERT_EQ(netns::sh(std::string("ip tuntap add dev ") + kTap + " mode tap", &out), 0) << out;
    auto before = net.links();
    ASSERT_TRUE(before);
    const Link* old = find(before.value(), kTap);
    ASSERT_NE(old, nullptr);
    EXPECT_FALSE(old->up);
    EXPECT_EQ(old->master, std::nullopt);
    EXPECT_FALSE(old->isolated);

    auto s = net.ensure_tap(kTap, kBridge, "clawfleet:bot", kOwner);
    ASSERT_TRUE(s) << s.error().message;
    auto after = net.links();
    ASSERT_TRUE(after);
    const Link* tap = find(after.value(), kTap);
    ASSERT_NE(tap, nullptr);
    EXPECT_EQ(tap->ifindex, old->ifindex) << "recreated instead of fixed";
    EXPECT_EQ(tap->master, kBridge);
    EXPECT_TRUE(tap->up);
    EXPECT_TRUE(tap->isolated);
    EXPECT_EQ(tap->alias, "clawfleet:bot");
    EXPECT_EQ(netns::sh(std::string("ip -d link show dev ") + kTap, &out), 0) << out;
    EXPECT_NE(out.find("user 1879048194"), std::string::npos) << out;

    // Moved to another bridge: isolation is set again on the new port.
    ASSERT_TRUE(net.ensure_bridge("cfbr-other", parse_ipv4("10.124.0.1").value(), 24));
    s = net.ensure_tap(kTap, "cfbr-other", "clawfleet:bot", kOwner);
    ASSERT_TRUE(s) << s.error().message;
    auto moved = net.links();
    ASSERT_TRUE(moved);
    tap = find(moved.value(), kTap);
    ASSERT_NE(tap, nullptr);
    EXPECT_EQ(tap->master, "cfbr-other");
    EXPECT_TRUE(tap->isolated);
  });
}

TEST_F(RealNetwork, ErrorsSayWhatFailedAndLeaveNothingBehind) {
  in_ns([](Network& net) {
    auto s = net.ensure_tap(kTap, "nope", "clawfleet:bot", kOwner);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().message, std::string("cannot attach tap ") + kTap + " to bridge nope: no such bridge");
    auto links = net.links();
    ASSERT_TRUE(links);
    EXPECT_EQ(find(links.value(), kTap), nullptr);

    s = net.ensure_tap(kTap, "lo", "clawfleet:bot", kOwner);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().message, std::string("cannot attach tap ") + kTap + " to bridge lo: lo is not a bridge");
    s = net.ensure_bridge("lo", parse_ipv4("10.123.0.1").value(), 24);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().message, "cannot use lo as bridge: it is a device link, not a bridge");
    ASSERT_TRUE(net.ensure_bridge(kBridge, parse_ipv4("10.123.0.1").value(), 24));
    s = net.ensure_tap(kBridge, kBridge, "clawfleet:bot", kOwner);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().message,
              std::string("cannot create tap ") + kBridge + ": a bridge link of that name exists and is not a tap");
    // The kernel's own refusal, with context.
    s = net.delete_link("lo");
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().message.rfind("cannot delete link lo: Operation not supported", 0), 0u) << s.error().message;
  });
}

// Drops CAP_NET_ADMIN from the calling thread's effective set (capabilities
// are per thread, and this thread ends with its namespace).
bool drop_net_admin() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capget, &header, data) != 0) return false;
  data[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
  return ::syscall(SYS_capset, &header, data) == 0;
}

TEST_F(RealNetwork, KernelRefusalsAreReportedWithContext) {
  in_ns([](Network& net) {
    ASSERT_TRUE(net.ensure_bridge(kBridge, parse_ipv4("10.123.0.1").value(), 24));
    ASSERT_TRUE(drop_net_admin());
    auto s = net.ensure_tap("cfab12cd34", kBridge, "clawfleet:x", kOwner);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().message, "cannot create tap cfab12cd34: Operation not permitted");
    s = net.ensure_bridge("cfbr-new", parse_ipv4("10.124.0.1").value(), 24);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().message, "cannot create bridge cfbr-new: Operation not permitted");
    s = net.delete_link(kBridge);
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().message, std::string("cannot delete link ") + kBridge + ": Operation not permitted");
    s = net.replace_ruleset(render_ruleset(test_host(model::Egress::Allow), {}));
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().message.rfind("cannot replace nftables tables inet clawfleet and bridge clawfleet: ", 0), 0u)
        << s.error().message;
    EXPECT_NE(s.error().message.find("Operation not permitted"), std::string::npos) << s.error().message;
    auto t = net.read_ruleset();
    ASSERT_FALSE(t);
    EXPECT_EQ(t.error().message.rfind("cannot list nftables table inet clawfleet: ", 0), 0u) << t.error().message;
    std::cout << "[ netns    ] without CAP_NET_ADMIN: " << s.error().message << " | " << t.error().message << "\n";
  });
}

TEST_F(RealNetwork, TableIsReplacedAtomicallyAndReadsBackAsRendered) {
  in_ns([](Network& net) {
    auto t = net.read_ruleset();
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(t.value(), std::nullopt);

    const std::string allow = render_ruleset(test_host(model::Egress::Allow), {});
    auto s = net.replace_ruleset(allow);
    ASSERT_TRUE(s) << s.error().message;
    t = net.read_ruleset();
    ASSERT_TRUE(t) << t.error().message;
    ASSERT_TRUE(t.value());
    EXPECT_NE(t.value()->find("ip saddr 10.123.0.0/24 oifname != \"cfbr-test\" masquerade"), std::string::npos);
    // render_ruleset writes what nft prints, so observed == desired by hash.
    EXPECT_EQ(*t.value(), allow);

    s = net.replace_ruleset(allow);  // replacing an existing table
    ASSERT_TRUE(s) << s.error().message;
    const std::string deny = render_ruleset(test_host(model::Egress::Deny), {});
    s = net.replace_ruleset(deny);
    ASSERT_TRUE(s) << s.error().message;
    t = net.read_ruleset();
    ASSERT_TRUE(t && t.value());
    EXPECT_EQ(*t.value(), deny);

    std::string out;
    EXPECT_EQ(netns::sh("nft list ruleset", &out), 0) << out;
    EXPECT_EQ(out, deny) << "only our table, once";

    // A broken ruleset fails as a whole: the old table stays.
    s = net.replace_ruleset("table inet clawfleet {\n\tchain x {\n\t\tbogus\n\t}\n}\n");
    ASSERT_FALSE(s);
    EXPECT_EQ(s.error().message.rfind("cannot replace nftables tables inet clawfleet and bridge clawfleet: ", 0), 0u)
        << s.error().message;
    EXPECT_NE(s.error().message.find("Error:"), std::string::npos) << s.error().message;
    t = net.read_ruleset();
    ASSERT_TRUE(t && t.value());
    EXPECT_EQ(*t.value(), deny);
    // Other tables are out of reach.
    s = net.replace_ruleset("flush ruleset\n");
    ASSERT_FALSE(s);
    EXPECT_EQ(netns::sh("nft list ruleset", &out), 0);
    EXPECT_EQ(out, deny);

    ASSERT_TRUE(net.delete_ruleset());
    t = net.read_ruleset();
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(t.value(), std::nullopt);
    s = net.delete_ruleset();  // absent is success
    EXPECT_TRUE(s) << s.error().message;
    EXPECT_EQ(netns::sh("nft list ruleset", &out), 0);
    EXPECT_EQ(out, "");
  });
}

// Real packets between three namespaces: the test's ("the host", with the
// bridge and our table), a guest behind a veth on the bridge (a veth stands
// in for the tap a VMM would hold open), and "outside" behind another veth,
// with no route back to the guests' subnet, so that a connection from the
// guest can only succeed through masquerade.
TEST_F(RealNetwork, TrafficFollowsTheTable) {
  netns::Namespace guest, outside;
  ASSERT_FALSE(guest.error()) << *guest.error();
  ASSERT_FALSE(outside.error()) << *outside.error();
  const pid_t guest_tid = tid_of(guest), outside_tid = tid_of(outside);

  in_ns([&](Network& net) {
    ASSERT_TRUE(net.ensure_bridge(kBridge, parse_ipv4("10.123.0.1").value(), 24));
    ASSERT_TRUE(net.set_ip_forward(true));
    ASSERT_TRUE(net.replace_ruleset(render_ruleset(test_host(model::Egress::Allow), {})));
    sh_ok("ip link add vg1 type veth peer name eth0 netns " + std::to_string(guest_tid) + "; ip link set vg1 master " +
          kBridge + " up; bridge link set dev vg1 isolated on" + "; ip link add vout type veth peer name eth0 netns " +
          std::to_string(outside_tid) +
          "; ip addr add 10.200.0.1/24 dev vout; ip link set vout up; ip route add 169.254.169.254/32 via 10.200.0.2");
  });
  guest.run([&] {
    sh_ok(
        "ip link set lo up; ip addr add 10.123.0.2/24 dev eth0; ip link set eth0 up; "
        "ip route add default via 10.123.0.1");
  });
  outside.run([&] {
    sh_ok(
        "ip link set lo up; ip addr add 10.200.0.2/24 dev eth0; ip addr add 169.254.169.254/32 dev lo; "
        "ip link set eth0 up");
  });

  int web = -1, metadata = -1, host_port = -1, guest_port = -1;
  outside.run([&] {
    web = netns::tcp_listen("10.200.0.2", 8080);
    metadata = netns::tcp_listen("169.254.169.254", 80);
  });
  ns_->run([&] { host_port = netns::tcp_listen("10.123.0.1", 2222); });
  guest.run([&] { guest_port = netns::tcp_listen("10.123.0.2", 18789); });
  ASSERT_GE(web, 0);
  ASSERT_GE(metadata, 0);
  ASSERT_GE(host_port, 0);
  ASSERT_GE(guest_port, 0);

  // Egress allow: out, masqueraded; not to the metadata endpoint; not to
  // the host itself; the host (the proxy) reaches the guest.
  guest.run([&] { EXPECT_TRUE(netns::tcp_connects("10.200.0.2", 8080, 3000)) << "guest egress"; });
  EXPECT_EQ(netns::accepted_peer(web, 1000), "10.200.0.1") << "not masqueraded";
  guest.run([&] { EXPECT_FALSE(netns::tcp_connects("169.254.169.254", 80, 300)) << "metadata endpoint reachable"; });
  guest.run([&] { EXPECT_FALSE(netns::tcp_connects("10.123.0.1", 2222, 300)) << "guest reaches the host"; });
  ns_->run([&] { EXPECT_TRUE(netns::tcp_connects("10.123.0.2", 18789, 3000)) << "host cannot reach the guest"; });
  EXPECT_EQ(netns::accepted_peer(guest_port, 1000), "10.123.0.1");
  // Nobody outside opens connections to a guest, even with a route.
  outside.run([&] {
    sh_ok("ip route add 10.123.0.0/24 via 10.200.0.1");
    EXPECT_FALSE(netns::tcp_connects("10.123.0.2", 18789, 300)) << "outside reaches the guest";
  });

  // Egress deny: nothing leaves; the host still reaches the guest.
  in_ns([&](Network& net) { ASSERT_TRUE(net.replace_ruleset(render_ruleset(test_host(model::Egress::Deny), {}))); });
  guest.run([&] { EXPECT_FALSE(netns::tcp_connects("10.200.0.2", 8080, 300)) << "egress deny leaks"; });
  ns_->run([&] { EXPECT_TRUE(netns::tcp_connects("10.123.0.2", 18789, 3000)) << "host cannot reach the guest"; });

  // Control: without the table the same probes go through, so the
  // refusals above are the table's doing.
  in_ns([&](Network& net) { ASSERT_TRUE(net.delete_ruleset()); });
  guest.run([&] {
    EXPECT_TRUE(netns::tcp_connects("10.123.0.1", 2222, 3000));
    EXPECT_TRUE(netns::tcp_connects("169.254.169.254", 80, 3000));
  });

  for (int fd : {web, metadata, host_port, guest_port}) ::close(fd);
}

// Two guests on isolated ports of the bridge, with clawfleet's table: they
// cannot reach each other at all, while each reaches the bridge address.
// veths stand in for the taps (a tap has carrier only while a VMM holds
// it), with the same port flag ensure_tap sets.
TEST_F(RealNetwork, IsolatedGuestsReachTheBridgeNotEachOther) {
  if (netns::sh("command -v ping") != 0) GTEST_SKIP() << "ping (iputils-ping) is not installed";
  netns::Namespace g1, g2;
  ASSERT_FALSE(g1.error()) << *g1.error();
  ASSERT_FALSE(g2.error()) << *g2.error();
  const pid_t t1 = tid_of(g1), t2 = tid_of(g2);
  in_ns([&](Network& net) {
    ASSERT_TRUE(net.ensure_bridge(kBridge, parse_ipv4("10.123.0.1").value(), 24));
    ASSERT_TRUE(net.replace_ruleset(render_ruleset(test_host(model::Egress::Allow), {})));
    for (auto [veth, tid] : {std::pair{"vg1", t1}, std::pair{"vg2", t2}})
      sh_ok(std::string("ip link add ") + veth + " type veth peer name eth0 netns " + std::to_string(tid) +
            "; ip link set " + veth + " master " + kBridge + " up; bridge link set dev " + veth + " isolated on");
  });
  g1.run([&] { sh_ok("ip link set lo up; ip addr add 10.123.0.2/24 dev eth0; ip link set eth0 up"); });
  g2.run([&] { sh_ok("ip link set lo up; ip addr add 10.123.0.3/24 dev eth0; ip link set eth0 up"); });
  int l1 = -1, l2 = -1;
  g1.run([&] { l1 = netns::tcp_listen("10.123.0.2", 18789); });
  g2.run([&] { l2 = netns::tcp_listen("10.123.0.3", 18789); });
  ASSERT_GE(l1, 0);
  ASSERT_GE(l2, 0);

  // A reply within `seconds` (one echo a second until then).
  auto ping = [](const char* ip, int seconds = 2) {
    return netns::sh("ping -n -q -c 1 -w " + std::to_string(seconds) + " " + ip) == 0;
  };
  g1.run([&] {
    EXPECT_TRUE(ping("10.123.0.1", 10)) << "guest 1 cannot reach the bridge address";
    EXPECT_FALSE(ping("10.123.0.3")) << "guest 1 pings guest 2";
    EXPECT_FALSE(netns::tcp_connects("10.123.0.3", 18789, 500)) << "guest 1 connects to guest 2";
  });
  g2.run([&] {
    EXPECT_TRUE(ping("10.123.0.1", 10)) << "guest 2 cannot reach the bridge address";
    EXPECT_FALSE(ping("10.123.0.2")) << "guest 2 pings guest 1";
    EXPECT_FALSE(netns::tcp_connects("10.123.0.2", 18789, 500)) << "guest 2 connects to guest 1";
  });

  // Isolation holds on its own: without the table (whose bridge-to-bridge
  // drop also sees bridged packets where br_netfilter is on) nothing passes.
  in_ns([&](Network& net) { ASSERT_TRUE(net.delete_ruleset()); });
  g1.run([&] {
    EXPECT_FALSE(ping("10.123.0.3")) << "isolation alone does not stop guest 1";
    EXPECT_FALSE(netns::tcp_connects("10.123.0.3", 18789, 500));
  });
  // Control: with one port not isolated the same probes go through, so the
  // refusals above are isolation's doing.
  in_ns([&](Network&) { sh_ok("bridge link set dev vg2 isolated off"); });
  g1.run([&] {
    // ping gives up at once on a neighbour that failed to resolve before.
    sh_ok("ip neigh flush dev eth0");
    EXPECT_TRUE(ping("10.123.0.3", 10));
    EXPECT_TRUE(netns::tcp_connects("10.123.0.3", 18789, 3000));
  });
  for (int fd : {l1, l2}) ::close(fd);
}

// A compromised guest beside another on isolated ports, with the ruleset
// as rendered and the neighbour entries `vm prepare` makes (veths stand in
// for taps). The impostor takes the victim's address on its own link and
// says so to the host in forged ARP (replies and requests, with its own
// MAC and with the victim's), sends IPv4 from the victim's address and
// from the victim's MAC, and advertises itself as an IPv6 router. The
// host's entry for the victim stays, a connection from the host to the
// victim (the proxy's, the health gate's with the token) reaches the
// victim, and nothing forged arrives. Each defence is shown alone (the
// table without permanent entries, the entries without the table), and a
// control without either shows every attack working.
TEST_F(RealNetwork, AHostileGuestCannotPoseAsAnother) {
  if (netns::sh("command -v python3") != 0) GTEST_SKIP() << "python3 is not installed";
  const std::string forge = std::string("python3 ") + CLAWFLEET_SOURCE_DIR + "/tests/integration/hostile_guest.py ";
  netns::Namespace victim_ns, impostor_ns;
  ASSERT_FALSE(victim_ns.error()) << *victim_ns.error();
  ASSERT_FALSE(impostor_ns.error()) << *impostor_ns.error();
  const model::Host host = test_host(model::Egress::Allow);
  const model::Allocation victim{parse_ipv4("10.123.0.2").value(), parse_mac("06:fc:0a:7b:00:02").value(), 18900,
                                 tap_name("victim", {})};
  const model::Allocation impostor{parse_ipv4("10.123.0.3").value(), parse_mac("06:fc:0a:7b:00:03").value(), 18901,
                                   tap_name("impostor", {})};
  const std::string ruleset = render_ruleset(host, {victim, impostor});
  const std::string vmac = to_string(victim.mac), imac = to_string(impostor.mac);
  in_ns([&](Network& net) {
    ASSERT_TRUE(net.ensure_bridge(kBridge, host.gateway, 24));
    sh_ok(std::string("sysctl -qw net.ipv6.conf.") + kBridge + ".accept_ra=2");
    plug(victim_ns, victim);
    plug(impostor_ns, impostor);
  });
  configure(victim_ns, victim);
  configure(impostor_ns, impostor);
  impostor_ns.run([&] { sh_ok("ip addr add 10.123.0.2/32 dev eth0"); });  // the victim's address on top
  int real = -1, fake = -1, udp = -1;
  victim_ns.run([&] { real = netns::tcp_listen("10.123.0.2", 18789); });
  impostor_ns.run([&] { fake = netns::tcp_listen("10.123.0.2", 18789); });
  ns_->run([&] { udp = netns::udp_bind("10.123.0.1", 9999); });
  ASSERT_GE(real, 0);
  ASSERT_GE(fake, 0);
  ASSERT_GE(udp, 0);

  // What each attack achieved, as the host sees it.
  struct Outcome {
    std::string entry;            // `ip neigh show 10.123.0.2`
    std::string reached;          // who accepted the host's connection: "victim", "impostor" or ""
    std::string udp_from_victim;  // what arrived from the victim's address (the impostor sent it)
    std::string udp_from_mac;     // what arrived from the victim's MAC (the impostor sent it)
    bool router = false;          // whether the host took the impostor for an IPv6 router
  };
  // Every datagram that arrived within 300 ms of the last.
  auto received = [&] {
    std::string got;
    for (std::string d; !(d = netns::udp_received(udp, 300)).empty();)
      if (got.find(d) == std::string::npos) got += d;
    return got;
  };
  auto attack = [&] {
    Outcome o;
    ns_->run([&] { netns::sh(std::string("ip neigh del 10.123.0.2 dev ") + kBridge + " 2>/dev/null; true"); });
    // ARP locks an entry for a second after it changed; wait it out.
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    impostor_ns.run([&] {
      for (const char* op : {"1", "2"})
        sh_ok(forge + "arp eth0 " + op + " " + imac + " " + imac + " 10.123.0.2 10.123.0.1");
      sh_ok(forge + "udp eth0 " + imac + " ff:ff:ff:ff:ff:ff 10.123.0.2 10.123.0.1 9999 forged-ip");
      sh_ok(forge + "ra eth0 " + imac + " 2001:db8:77::");
    });
    o.udp_from_victim = received();
    ns_->run([&] {
      int c = netns::tcp_open("10.123.0.2", 18789, 3000);
      if (c >= 0) ::send(c, "Bearer the-victims-token", 24, MSG_NOSIGNAL);
      if (c >= 0) ::close(c);
      netns::sh(std::string("ip neigh show 10.123.0.2 dev ") + kBridge, &o.entry);
      std::string routes;
      netns::sh(std::string("ip -6 route show dev ") + kBridge, &routes);
      o.router = routes.find("2001:db8:77::/64") != std::string::npos || routes.find("default") != std::string::npos;
    });
    if (netns::accepted_peer(real, 200) == "10.123.0.1") o.reached = "victim";
    if (netns::accepted_peer(fake, 200) == "10.123.0.1") o.reached += "impostor";
    // Last, as it would also teach the bridge that the victim's MAC is
    // behind the impostor's port: frames from the victim's MAC.
    impostor_ns.run([&] {
      for (const char* op : {"1", "2"})
        sh_ok(forge + "arp eth0 " + op + " " + vmac + " " + vmac + " 10.123.0.2 10.123.0.1");
      sh_ok(forge + "udp eth0 " + vmac + " ff:ff:ff:ff:ff:ff 10.123.0.3 10.123.0.1 9999 forged-mac");
    });
    o.udp_from_mac = received();
    return o;
  };

  // The table alone: the host learns the victim's MAC by asking, and no
  // forged answer reaches it.
  in_ns([&](Network& net) { ASSERT_TRUE(net.replace_ruleset(ruleset)); });
  Outcome table_only = attack();
  EXPECT_EQ(table_only.reached, "victim");
  EXPECT_NE(table_only.entry.find("lladdr " + vmac), std::string::npos) << table_only.entry;
  EXPECT_EQ(table_only.udp_from_victim, "");
  EXPECT_EQ(table_only.udp_from_mac, "");
  EXPECT_FALSE(table_only.router);

  // What `vm prepare` makes: the table and a permanent entry.
  in_ns([&](Network& net) {
    for (const auto* a : {&victim, &impostor}) ASSERT_TRUE(net.ensure_neighbour(kBridge, a->ip, a->mac));
  });
  ns_->run([&] {
    std::string entry;
    netns::sh(std::string("ip neigh show 10.123.0.2 dev ") + kBridge, &entry);
    ASSERT_EQ(entry, "10.123.0.2 lladdr " + vmac + " PERMANENT \n");
  });
  Outcome both = attack();
  // attack() deleted the entry first; prepare's entry is what a host has.
  in_ns([&](Network& net) { ASSERT_TRUE(net.ensure_neighbour(kBridge, victim.ip, victim.mac)); });
  EXPECT_EQ(both.reached, "victim");
  EXPECT_EQ(both.udp_from_victim, "");
  EXPECT_FALSE(both.router);

  // The permanent entry alone holds against ARP: attacked without the
  // table and without deleting it first.
  in_ns([&](Network& net) { ASSERT_TRUE(net.delete_ruleset()); });
  impostor_ns.run([&] {
    for (const char* op : {"1", "2"})
      sh_ok(forge + "arp eth0 " + std::string(op) + " " + imac + " " + imac + " 10.123.0.2 10.123.0.1");
  });
  ns_->run([&] {
    std::string entry;
    netns::sh(std::string("ip neigh show 10.123.0.2 dev ") + kBridge, &entry);
    EXPECT_EQ(entry, "10.123.0.2 lladdr " + vmac + " PERMANENT \n");
    EXPECT_TRUE(netns::tcp_connects("10.123.0.2", 18789, 3000));
  });
  EXPECT_EQ(netns::accepted_peer(real, 1000), "10.123.0.1");

  // Control: neither the table nor the entry, and every attack works, so
  // the outcomes above are the defences' doing.
  in_ns([&](Network& net) { ASSERT_TRUE(net.delete_neighbour(kBridge, victim.ip)); });
  Outcome none = attack();
  EXPECT_EQ(none.reached, "impostor");
  EXPECT_NE(none.entry.find("lladdr " + imac), std::string::npos) << none.entry;
  EXPECT_EQ(none.udp_from_victim, "forged-ip");
  EXPECT_EQ(none.udp_from_mac, "forged-mac");
  EXPECT_TRUE(none.router);
  for (int fd : {real, fake, udp}) ::close(fd);
}

// One guest cannot fill the host's connection-tracking table: past the
// Host's spec.limits.connections its new connections are dropped, while
// another guest still connects.
TEST_F(RealNetwork, AGuestsTrackedConnectionsAreCapped) {
  netns::Namespace g1, g2;
  ASSERT_FALSE(g1.error()) << *g1.error();
  ASSERT_FALSE(g2.error()) << *g2.error();
  model::Host host = test_host(model::Egress::Allow);
  host.max_connections = 16;
  host.allow_to = {{Cidr{host.gateway, 32}, 7777}};  // a service on the bridge address
  const model::Allocation a1{parse_ipv4("10.123.0.2").value(), parse_mac("06:fc:0a:7b:00:02").value(), 18900,
                             tap_name("g1", {})};
  const model::Allocation a2{parse_ipv4("10.123.0.3").value(), parse_mac("06:fc:0a:7b:00:03").value(), 18901,
                             tap_name("g2", {})};
  const std::string ruleset = render_ruleset(host, {a1, a2});
  int service = -1;
  in_ns([&](Network& net) {
    ASSERT_TRUE(net.ensure_bridge(kBridge, host.gateway, 24));
    ASSERT_TRUE(net.replace_ruleset(ruleset));
    plug(g1, a1);
    plug(g2, a2);
    service = netns::tcp_listen("10.123.0.1", 7777, 128);
  });
  ASSERT_GE(service, 0);
  configure(g1, a1);
  configure(g2, a2);

  std::vector<int> open;
  int refused_after = -1;
  g1.run([&] {
    for (int i = 0; i < 20; ++i) {
      int fd = netns::tcp_open("10.123.0.1", 7777, i < 16 ? 3000 : 500);
      if (fd < 0) {
        refused_after = i;
        break;
      }
      open.push_back(fd);
    }
  });
  EXPECT_EQ(refused_after, 16) << "guest 1 opened " << open.size() << " connections";
  g2.run([&] { EXPECT_TRUE(netns::tcp_connects("10.123.0.1", 7777, 3000)) << "guest 2 is capped by guest 1"; });
  // The kernel's count of guest 1's connections is not configuration: the
  // ruleset reads back as rendered.
  in_ns([&](Network& net) {
    auto back = net.read_ruleset();
    ASSERT_TRUE(back && back.value());
    EXPECT_EQ(*back.value(), ruleset);
    std::string full;
    netns::sh("nft list set inet clawfleet guest_connections", &full);
    EXPECT_NE(full.find("10.123.0.2 ct count over 16"), std::string::npos) << full;
  });
  for (int fd : open) ::close(fd);
  ::close(service);
}

// Seconds to move `bytes` over a connected pair of TCP sockets (made
// blocking), from `from` to `to`; a negative number when it broke off.
double seconds_to_move(int from, int to, std::size_t bytes) {
  for (int fd : {from, to}) ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t got = 0;
  std::thread reader([&] {
    std::vector<char> buf(65536);
    for (ssize_t n; got < bytes && (n = ::recv(to, buf.data(), buf.size(), 0)) > 0;) got += std::size_t(n);
  });
  const std::vector<char> chunk(65536, 'x');
  for (std::size_t sent = 0; sent < bytes;) {
    ssize_t n = ::send(from, chunk.data(), std::min(chunk.size(), bytes - sent), MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += std::size_t(n);
  }
  reader.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return got == bytes ? s : -1;
}

// An instance with spec.resources.bandwidth sends, and receives, at most
// that rate; a guest beside it without one is not slowed. 4 MB at 8Mbit
// (1 MB/s, one second's worth of burst) takes about 3 s each way.
TEST_F(RealNetwork, AGuestsBandwidthIsItsManifests) {
  netns::Namespace slow_ns, fast_ns;
  ASSERT_FALSE(slow_ns.error()) << *slow_ns.error();
  ASSERT_FALSE(fast_ns.error()) << *fast_ns.error();
  model::Host host = test_host(model::Egress::Allow);
  host.allow_to = {{Cidr{host.gateway, 32}, 7777}};
  const model::Allocation slow{parse_ipv4("10.123.0.2").value(), parse_mac("06:fc:0a:7b:00:02").value(), 18900,
                               tap_name("slow", {})};
  const model::Allocation fast{parse_ipv4("10.123.0.3").value(), parse_mac("06:fc:0a:7b:00:03").value(), 18901,
                               tap_name("fast", {})};
  const std::string ruleset = render_ruleset(host, {slow, fast}, {{slow.tap, 8'000'000}});
  int service = -1;
  in_ns([&](Network& net) {
    ASSERT_TRUE(net.ensure_bridge(kBridge, host.gateway, 24));
    ASSERT_TRUE(net.replace_ruleset(ruleset));
    plug(slow_ns, slow);
    plug(fast_ns, fast);
    service = netns::tcp_listen("10.123.0.1", 7777);
    auto back = net.read_ruleset();
    ASSERT_TRUE(back && back.value());
    EXPECT_EQ(*back.value(), ruleset);
  });
  ASSERT_GE(service, 0);
  configure(slow_ns, slow);
  configure(fast_ns, fast);

  constexpr std::size_t kBytes = 4 << 20;
  // Guest to host, then host to guest, on one connection each guest.
  auto measure = [&](netns::Namespace& ns) {
    int guest = -1;
    ns.run([&] { guest = netns::tcp_open("10.123.0.1", 7777, 3000); });
    pollfd p{service, POLLIN, 0};
    int accepted = ::poll(&p, 1, 3000) == 1 ? ::accept4(service, nullptr, nullptr, SOCK_CLOEXEC) : -1;
    std::pair<double, double> s{-1, -1};
    if (guest >= 0 && accepted >= 0)
      s = {seconds_to_move(guest, accepted, kBytes), seconds_to_move(accepted, guest, kBytes)};
    for (int fd : {guest, accepted})
      if (fd >= 0) ::close(fd);
    return s;
  };
  const auto [slow_out, slow_in] = measure(slow_ns);
  const auto [fast_out, fast_in] = measure(fast_ns);
  std::cout << "[ netns    ] 4 MiB at 8Mbit: out " << slow_out << " s, in " << slow_in << " s; unlimited: out "
            << fast_out << " s, in " << fast_in << " s\n";
  EXPECT_GE(slow_out, 2.0);
  EXPECT_GE(slow_in, 2.0);
  EXPECT_GE(fast_out, 0.0);
  EXPECT_GE(fast_in, 0.0);
  EXPECT_LT(fast_out, 1.0);
  EXPECT_LT(fast_in, 1.0);
  ::close(service);
}

// What the VM unit's `vm prepare` does for two instances, twice (the
// second run changes nothing: same links, same rule handles), then
// observe() with the real adapter; then everything deleted and observed
// again.
TEST_F(RealNetwork, PrepareTwiceObserveDeleteObserve) {
  const model::Host host = test_host(model::Egress::Allow);
  const std::string dir = ::testing::TempDir() + "cf-prepare-" + std::to_string(::getpid());
  std::vector<LaunchRecord> records;
  std::vector<model::Allocation> guests;
  for (const char* name : {"bot-a", "bot-b"}) {
    const auto n = std::uint32_t(records.size() + 2);
    const model::Allocation a{Ipv4{host.gateway.value - 1 + n}, Mac{{0x06, 0xfc, 10, 123, 0, std::uint8_t(n)}},
                              std::uint16_t(18900 + n), tap_name(name, {})};
    guests.push_back(a);
    records.push_back(LaunchRecord{name,
                                   kBridge,
                                   Cidr{host.gateway, 24},
                                   a.tap,
                                   a.ip,
                                   a.mac,
                                   model::VmmKind::Qemu,
                                   model::vmm_uid(a),
                                   dir + "/" + name + ".sock",
                                   {"/bin/true"},
                                   {},
                                   true});
  }
  const std::string ruleset = render_ruleset(host, guests);
  testing::FakeSystemd systemd;
  testing::FakeStateStore state;
  testing::FakeVmm vmm;
  testing::FakeFileReader files;
  testing::ObservePorts others;

  in_ns([&](Network& net) {
    for (const auto& r : records) ASSERT_TRUE(prepare_vm(r, ruleset, net));
    auto links = net.links();
    ASSERT_TRUE(links) << links.error().message;
    std::string rules;
    ASSERT_EQ(netns::sh("nft -a list table inet clawfleet && nft -a list table bridge clawfleet", &rules), 0) << rules;
    for (const auto& r : records) {
      auto s = prepare_vm(r, ruleset, net);
      ASSERT_TRUE(s) << s.error().message;
    }
    auto again = net.links();
    ASSERT_TRUE(again);
    EXPECT_EQ(again.value(), links.value()) << "the second prepare changed a link";
    std::string rules_again;
    ASSERT_EQ(netns::sh("nft -a list table inet clawfleet && nft -a list table bridge clawfleet", &rules_again), 0);
    EXPECT_EQ(rules_again, rules) << "the second prepare replaced the table";
    EXPECT_EQ(net.ip_forward().value(), true);

    auto o = observe(host, others.with(systemd, net, state, vmm, files));
    ASSERT_TRUE(o) << o.error().message;
    EXPECT_TRUE(o.value().bridge.present);
    EXPECT_TRUE(o.value().bridge.up);
    EXPECT_EQ(o.value().bridge.addresses, std::vector<Cidr>{parse_cidr("10.123.0.1/24").value()});
    EXPECT_EQ(o.value().table_hash, "sha256:" + sha256_hex(ruleset));
    for (const auto& g : guests) {
      std::string entry;
      ASSERT_EQ(netns::sh("ip neigh show " + to_string(g.ip) + " dev " + kBridge, &entry), 0);
      EXPECT_EQ(entry, to_string(g.ip) + " lladdr " + to_string(g.mac) + " PERMANENT \n");
    }
    EXPECT_TRUE(o.value().ip_forward);
    ASSERT_EQ(o.value().instances.size(), 2u);
    for (const auto& r : records)
      EXPECT_EQ(o.value().instances.at(r.name).tap,
                (model::ObservedTap{true, kBridge, true, true, "clawfleet:" + r.name}))
          << r.name;

    for (const auto& r : records) ASSERT_TRUE(net.delete_link(r.tap));
    ASSERT_TRUE(net.delete_link(kBridge));
    ASSERT_TRUE(net.delete_ruleset());
    o = observe(host, others.with(systemd, net, state, vmm, files));
    ASSERT_TRUE(o) << o.error().message;
    EXPECT_FALSE(o.value().bridge.present);
    EXPECT_EQ(o.value().table_hash, std::nullopt);
    EXPECT_TRUE(o.value().instances.empty());
  });
  std::filesystem::remove_all(dir);
}

TEST_F(RealNetwork, IpForwardChangesOnlyInTheNamespace) {
  // Set the opposite of the host's value, so that TearDown's check that
  // the host's value did not change means something.
  const bool want = host_forward_ != "1";
  in_ns([&](Network& net) {
    auto f = net.ip_forward();
    ASSERT_TRUE(f) << f.error().message;
    auto s = net.set_ip_forward(want);
    ASSERT_TRUE(s) << s.error().message;
    f = net.ip_forward();
    ASSERT_TRUE(f);
    EXPECT_EQ(f.value(), want);
    std::string out;
    EXPECT_EQ(netns::sh("sysctl -n net.ipv4.ip_forward", &out), 0);
    EXPECT_EQ(out, want ? "1\n" : "0\n");
    s = net.set_ip_forward(!want);
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(net.ip_forward().value(), !want);
  });
}

// A resolver on the bridge address (a dnsmasq bound there): with it among
// the Host's resolvers, the real nft loads the two port-53 rules as
// rendered, and a guest reaches exactly UDP and TCP 53 of the host, not
// another port; without it (or under deny) not even 53.
TEST_F(RealNetwork, AResolverOnTheBridgeAddressGetsPort53AndNothingElse) {
  netns::Namespace guest;
  ASSERT_FALSE(guest.error()) << *guest.error();
  const pid_t guest_tid = tid_of(guest);
  model::Host with_dns = test_host(model::Egress::Allow);
  with_dns.dns = {parse_ipv4("10.123.0.1").value(), parse_ipv4("192.0.2.53").value()};
  const std::string table = render_ruleset(with_dns, {});
  ASSERT_NE(table.find("udp dport 53 accept"), std::string::npos) << table;
  in_ns([&](Network& net) {
    ASSERT_TRUE(net.ensure_bridge(kBridge, parse_ipv4("10.123.0.1").value(), 24));
    ASSERT_TRUE(net.replace_ruleset(table));
    auto t = net.read_ruleset();
    ASSERT_TRUE(t && t.value());
    EXPECT_EQ(*t.value(), table) << "nft prints the rules otherwise than render_ruleset writes them";
    sh_ok("ip link add vg1 type veth peer name eth0 netns " + std::to_string(guest_tid) + "; ip link set vg1 master " +
          kBridge + " up; bridge link set dev vg1 isolated on");
  });
  guest.run([&] { sh_ok("ip link set lo up; ip addr add 10.123.0.2/24 dev eth0; ip link set eth0 up"); });

  int tcp53 = -1, tcp2222 = -1, udp53 = -1, udp54 = -1;
  ns_->run([&] {
    tcp53 = netns::tcp_listen("10.123.0.1", 53);
    tcp2222 = netns::tcp_listen("10.123.0.1", 2222);
    udp53 = netns::udp_bind("10.123.0.1", 53);
    udp54 = netns::udp_bind("10.123.0.1", 54);
  });
  ASSERT_GE(tcp53, 0);
  ASSERT_GE(tcp2222, 0);
  ASSERT_GE(udp53, 0);
  ASSERT_GE(udp54, 0);

  auto probe = [&](bool dns_open, const char* what) {
    guest.run([&] {
      EXPECT_EQ(netns::tcp_connects("10.123.0.1", 53, dns_open ? 3000 : 300), dns_open) << what << ": tcp 53";
      EXPECT_FALSE(netns::tcp_connects("10.123.0.1", 2222, 300)) << what << ": tcp 2222 of the host";
      EXPECT_TRUE(netns::udp_send("10.123.0.1", 53, "q53"));
      EXPECT_TRUE(netns::udp_send("10.123.0.1", 54, "q54"));
    });
    if (dns_open) {
      EXPECT_EQ(netns::accepted_peer(tcp53, 1000), "10.123.0.2") << what;
    }
    EXPECT_EQ(netns::udp_received(udp53, dns_open ? 2000 : 300), dns_open ? "q53" : "") << what << ": udp 53";
    EXPECT_EQ(netns::udp_received(udp54, 300), "") << what << ": udp 54 of the host";
  };
  probe(true, "resolver on the bridge");
  in_ns([&](Network& net) { ASSERT_TRUE(net.replace_ruleset(render_ruleset(test_host(model::Egress::Allow), {}))); });
  probe(false, "no resolver on the bridge");
  model::Host deny = with_dns;
  deny.egress = model::Egress::Deny;
  in_ns([&](Network& net) { ASSERT_TRUE(net.replace_ruleset(render_ruleset(deny, {}))); });
  probe(false, "egress deny");

  for (int fd : {tcp53, tcp2222, udp53, udp54}) ::close(fd);
}

// The egress modes with real packets: "outside" holds a stand-in for the
// internet (203.0.113.10, RFC 5737), a LAN service on the host's own
// network (10.200.0.2) and one elsewhere on a private network
// (192.168.50.10), all behind the host's veth. Each table is loaded by the
// real nft and must read back as rendered.
TEST_F(RealNetwork, EgressModesReachWhatTheySay) {
  netns::Namespace guest, outside;
  ASSERT_FALSE(guest.error()) << *guest.error();
  ASSERT_FALSE(outside.error()) << *outside.error();
  const pid_t guest_tid = tid_of(guest), outside_tid = tid_of(outside);
  in_ns([&](Network& net) {
    ASSERT_TRUE(net.ensure_bridge(kBridge, parse_ipv4("10.123.0.1").value(), 24));
    ASSERT_TRUE(net.set_ip_forward(true));
    sh_ok("ip link add vg1 type veth peer name eth0 netns " + std::to_string(guest_tid) + "; ip link set vg1 master " +
          kBridge + " up; bridge link set dev vg1 isolated on; ip link add vout type veth peer name eth0 netns " +
          std::to_string(outside_tid) +
          "; ip addr add 10.200.0.1/24 dev vout; ip link set vout up; ip route add 203.0.113.10/32 via 10.200.0.2"
          "; ip route add 192.168.50.10/32 via 10.200.0.2");
  });
  guest.run([&] {
    sh_ok(
        "ip link set lo up; ip addr add 10.123.0.2/24 dev eth0; ip link set eth0 up; ip route add default via "
        "10.123.0.1");
  });
  outside.run([&] {
    sh_ok(
        "ip link set lo up; ip addr add 10.200.0.2/24 dev eth0; ip addr add 203.0.113.10/32 dev lo; "
        "ip addr add 192.168.50.10/32 dev lo; ip link set eth0 up");
  });
  int internet = -1, lan = -1, service = -1;
  outside.run([&] {
    internet = netns::tcp_listen("203.0.113.10", 8080);
    lan = netns::tcp_listen("10.200.0.2", 8080);
    service = netns::tcp_listen("192.168.50.10", 443);
  });
  ASSERT_GE(internet, 0);
  ASSERT_GE(lan, 0);
  ASSERT_GE(service, 0);

  // What observe() would hand render_ruleset: the host's own networks.
  std::vector<Cidr> own;
  in_ns([&](Network& net) {
    auto links = net.links();
    ASSERT_TRUE(links);
    for (const auto& l : links.value())
      if (l.name != kBridge)
        for (const auto& a : l.ipv4) own.push_back(Cidr{Ipv4{a.network.value & a.mask()}, a.prefix});
  });
  auto load = [&](model::Host h) {
    h.host_networks = own;
    const std::string table = render_ruleset(h, {});
    in_ns([&](Network& net) {
      ASSERT_TRUE(net.replace_ruleset(table));
      auto t = net.read_ruleset();
      ASSERT_TRUE(t && t.value());
      EXPECT_EQ(*t.value(), table) << "nft prints the rules otherwise than render_ruleset writes them";
    });
  };
  auto reaches = [&](const char* ip, int port, bool expected, const char* what) {
    guest.run([&] { EXPECT_EQ(netns::tcp_connects(ip, port, expected ? 3000 : 300), expected) << what; });
  };
  const model::EgressException to_service{parse_cidr("192.168.50.10/32").value(), 443};

  model::Host h = test_host(model::Egress::Internet);
  load(h);
  reaches("203.0.113.10", 8080, true, "internet: the internet");
  EXPECT_EQ(netns::accepted_peer(internet, 1000), "10.200.0.1") << "not masqueraded";
  reaches("10.200.0.2", 8080, false, "internet: the host's own network");
  reaches("192.168.50.10", 443, false, "internet: a private address");
  h.allow_to = {to_service};
  load(h);
  reaches("192.168.50.10", 443, true, "internet: an exception");
  reaches("10.200.0.2", 8080, false, "internet with an exception: the rest of the LAN");

  h = test_host(model::Egress::Proxy);
  h.proxy = model::EgressProxy{"http://192.168.50.10:443", parse_ipv4("192.168.50.10").value(), 443};
  load(h);
  reaches("192.168.50.10", 443, true, "proxy: the proxy");
  reaches("203.0.113.10", 8080, false, "proxy: the internet directly");

  h = test_host(model::Egress::Deny);
  h.allow_to = {to_service};
  load(h);
  reaches("192.168.50.10", 443, true, "deny: its exception");
  reaches("203.0.113.10", 8080, false, "deny: the internet");

  load(test_host(model::Egress::Allow));
  reaches("10.200.0.2", 8080, true, "allow: the LAN");
  reaches("203.0.113.10", 8080, true, "allow: the internet");

  for (int fd : {internet, lan, service}) ::close(fd);
}

}  // namespace
}  // namespace cf::host
