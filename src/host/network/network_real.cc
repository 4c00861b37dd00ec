// The real Network: rtnetlink through libmnl for links, addresses and
// neighbour entries, /dev/net/tun for persistent taps, libnftables for the
// ruleset, procfs for ip_forward. Everything acts on the calling thread's network namespace
// (sockets and /dev/net/tun are bound to it when opened), which is what lets
// the integration tests run this adapter in a namespace of their own.
//
// links() costs two netlink dumps, whatever the number of links:
//   1. RTM_GETLINK, AF_UNSPEC, IFLA_EXT_MASK = RTEXT_FILTER_SKIP_STATS.
//      Each message carries IFLA_IFNAME, IFLA_MASTER, IFLA_IFALIAS, and
//      IFLA_LINKINFO with IFLA_INFO_KIND and, for bridge ports,
//      IFLA_INFO_SLAVE_KIND "bridge" + IFLA_INFO_SLAVE_DATA, which holds all
//      IFLA_BRPORT_* flags including IFLA_BRPORT_ISOLATED (the kernel's
//      br_port_fill_slave_info uses the same filler as the AF_BRIDGE
//      IFLA_PROTINFO). So no AF_BRIDGE dump is needed.
//   2. RTM_GETADDR, AF_INET, for the IPv4 addresses.
// A dump the kernel marks inconsistent (NLM_F_DUMP_INTR, links changed while
// it ran) is retried on a fresh socket, up to 5 times.
#include <arpa/inet.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <nftables/libnftables.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/sys.h"
#include "core/text.h"
#include "host/network/network.h"

namespace cf::host {
namespace {

// A link with what ensure_tap needs beyond Link: the tun driver's own
// attributes (IFLA_INFO_DATA of kind "tun").
struct RawLink {
  Link link;
  int master_index = 0;
  int tun_type = 0;  // IFF_TUN or IFF_TAP; 0 when not a tun device
  bool tun_persist = false;
  long tun_owner = -1;  // -1: no owner
};

// The outcome of one netlink exchange: 0 or an errno, with the kernel's
// extended ack message when it sent one.
struct NlError {
  int err = 0;
  std::string extack;
  std::string text() const { return extack.empty() ? errno_text(err) : errno_text(err) + " (" + extack + ")"; }
};

class Netlink {
 public:
  Netlink() = default;
  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;
  ~Netlink() {
    if (nl_) mnl_socket_close(nl_);
  }

  Status open() {
    nl_ = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (!nl_) return Error{"cannot open rtnetlink socket: " + errno_text(errno)};
    int one = 1;
    // Best effort: older kernels have neither; errors then lack the text.
    mnl_socket_setsockopt(nl_, NETLINK_EXT_ACK, &one, sizeof one);
    mnl_socket_setsockopt(nl_, NETLINK_CAP_ACK, &one, sizeof one);
    if (mnl_socket_bind(nl_, 0, MNL_SOCKET_AUTOPID) < 0)
      return Error{"cannot bind rtnetlink socket: " + errno_text(errno)};
    portid_ = mnl_socket_get_portid(nl_);
    return {};
  }

  // Sends nlh (its flags get NLM_F_REQUEST | NLM_F_ACK and a sequence
  // number) and reads until the ack, the end of a dump, or an error; every
  // data message goes to cb(nlh, data).
  NlError exchange(nlmsghdr* nlh, mnl_cb_t cb, void* data) {
    nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
    nlh->nlmsg_seq = ++seq_;
    Exchange ex{cb, data, {}, false};
    if (mnl_socket_sendto(nl_, nlh, nlh->nlmsg_len) < 0) return {errno, {}};
    std::vector<char> buf(65536);
    for (;;) {
      ssize_t n = mnl_socket_recvfrom(nl_, buf.data(), buf.size());
      if (n < 0) return {errno, {}};
      mnl_cb_t ctl[NLMSG_MIN_TYPE] = {};
      ctl[NLMSG_ERROR] = on_error;
      ctl[NLMSG_DONE] = on_done;
      int r = mnl_cb_run2(buf.data(), size_t(n), seq_, portid_, on_data, &ex, ctl, NLMSG_MIN_TYPE);
      if (r == MNL_CB_ERROR) return {errno, ex.extack};
      if (r == MNL_CB_STOP) return {ex.interrupted ? EINTR : 0, {}};
    }
  }

 private:
  struct Exchange {
    mnl_cb_t cb;
    void* data;
    std::string extack;
    bool interrupted;
  };

  static int on_data(const nlmsghdr* nlh, void* p) {
    auto* ex = static_cast<Exchange*>(p);
    if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) ex->interrupted = true;
    return ex->cb ? ex->cb(nlh, ex->data) : MNL_CB_OK;
  }

  static int on_extack_attr(const nlattr* a, void* p) {
    if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
      static_cast<Exchange*>(p)->extack = mnl_attr_get_str(a);
    return MNL_CB_OK;
  }

  static int on_error(const nlmsghdr* nlh, void* p) {
    if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(nlmsgerr))) {
      errno = EBADMSG;
      return MNL_CB_ERROR;
    }
    const auto* e = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(nlh));
    if (e->error == 0) return MNL_CB_STOP;
    if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
      unsigned offset = sizeof(nlmsgerr);
      if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) offset += e->msg.nlmsg_len - sizeof(nlmsghdr);
      if (mnl_nlmsg_size(offset) <= nlh->nlmsg_len) mnl_attr_parse(nlh, offset, on_extack_attr, p);
    }
    errno = -e->error;
    return MNL_CB_ERROR;
  }

  static int on_done(const nlmsghdr* nlh, void*) {
    // A dump that failed midway ends with NLMSG_DONE carrying -errno.
    if (mnl_nlmsg_get_payload_len(nlh) >= sizeof(int)) {
      int err = *static_cast<const int*>(mnl_nlmsg_get_payload(nlh));
      if (err < 0) {
        errno = -err;
        return MNL_CB_ERROR;
      }
    }
    return MNL_CB_STOP;
  }

  mnl_socket* nl_ = nullptr;
  unsigned portid_ = 0;
  unsigned seq_ = 0;
};

// A message buffer for one request.
struct Request {
  alignas(nlmsghdr) char buf[8192];
  nlmsghdr* nlh;
  explicit Request(int type, int flags = 0) {
    std::memset(buf, 0, sizeof buf);
    nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = flags;
  }
  ifinfomsg* link(int family = AF_UNSPEC, int index = 0) {
    auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
    ifi->ifi_family = family;
    ifi->ifi_index = index;
    return ifi;
  }
};

// --- parsing RTM_NEWLINK / RTM_NEWADDR ------------------------------------

struct Attrs {
  static constexpr int kMax = 64;
  const nlattr* a[kMax + 1] = {};
  const nlattr* operator[](int type) const { return type <= kMax ? a[type] : nullptr; }
};

int collect(const nlattr* attr, void* p) {
  int type = mnl_attr_get_type(attr);
  if (type <= Attrs::kMax) static_cast<Attrs*>(p)->a[type] = attr;
  return MNL_CB_OK;
}

std::string str_attr(const nlattr* a) {
  if (!a || mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0) return "";
  return mnl_attr_get_str(a);
}

bool u8_attr(const nlattr* a, int* out) {
  if (!a || mnl_attr_validate(a, MNL_TYPE_U8) < 0) return false;
  *out = mnl_attr_get_u8(a);
  return true;
}

bool u32_attr(const nlattr* a, std::uint32_t* out) {
  if (!a || mnl_attr_validate(a, MNL_TYPE_U32) < 0) return false;
  *out = mnl_attr_get_u32(a);
  return true;
}

int on_link(const nlmsghdr* nlh, void* p) {
  if (nlh->nlmsg_type != RTM_NEWLINK) return MNL_CB_OK;
  if (mnl_nlmsg_get_payload_len(nlh) < sizeof(ifinfomsg)) return MNL_CB_OK;
  const auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  Attrs at;
  if (mnl_attr_parse(nlh, sizeof(ifinfomsg), collect, &at) < 0) return MNL_CB_ERROR;
  RawLink r;
  r.link.ifindex = ifi->ifi_index;
  r.link.up = ifi->ifi_flags & IFF_UP;
  r.link.name = str_attr(at[IFLA_IFNAME]);
  r.link.alias = str_attr(at[IFLA_IFALIAS]);
  std::uint32_t master = 0;
  if (u32_attr(at[IFLA_MASTER], &master)) r.master_index = int(master);
  if (const nlattr* li = at[IFLA_LINKINFO]; li && mnl_attr_validate(li, MNL_TYPE_NESTED) >= 0) {
    Attrs info;
    mnl_attr_parse_nested(li, collect, &info);
    r.link.kind = str_attr(info[IFLA_INFO_KIND]);
    if (const nlattr* d = info[IFLA_INFO_DATA]; r.link.kind == "tun" && d) {
      Attrs tun;
      mnl_attr_parse_nested(d, collect, &tun);
      int v = 0;
      if (u8_attr(tun[IFLA_TUN_TYPE], &v)) r.tun_type = v;
      if (u8_attr(tun[IFLA_TUN_PERSIST], &v)) r.tun_persist = v != 0;
      std::uint32_t owner = 0;
      if (u32_attr(tun[IFLA_TUN_OWNER], &owner)) r.tun_owner = long(owner);
    }
    if (const nlattr* d = info[IFLA_INFO_SLAVE_DATA]; d && str_attr(info[IFLA_INFO_SLAVE_KIND]) == "bridge") {
      Attrs port;
      mnl_attr_parse_nested(d, collect, &port);
      int v = 0;
      if (u8_attr(port[IFLA_BRPORT_ISOLATED], &v)) r.link.isolated = v != 0;
    }
  }
  static_cast<std::map<int, RawLink>*>(p)->insert_or_assign(r.link.ifindex, std::move(r));
  return MNL_CB_OK;
}

int on_addr(const nlmsghdr* nlh, void* p) {
  if (nlh->nlmsg_type != RTM_NEWADDR) return MNL_CB_OK;
  if (mnl_nlmsg_get_payload_len(nlh) < sizeof(ifaddrmsg)) return MNL_CB_OK;
  const auto* ifa = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(nlh));
  if (ifa->ifa_family != AF_INET) return MNL_CB_OK;
  Attrs at;
  if (mnl_attr_parse(nlh, sizeof(ifaddrmsg), collect, &at) < 0) return MNL_CB_ERROR;
  std::uint32_t addr = 0;
  // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on
  // point-to-point links and equal to it elsewhere.
  if (!u32_attr(at[IFA_LOCAL], &addr) && !u32_attr(at[IFA_ADDRESS], &addr)) return MNL_CB_OK;
  auto& links = *static_cast<std::map<int, RawLink>*>(p);
  auto it = links.find(int(ifa->ifa_index));
  if (it != links.end()) it->second.link.ipv4.push_back(Cidr{Ipv4{ntohl(addr)}, ifa->ifa_prefixlen});
  return MNL_CB_OK;
}

void put_ext_mask(nlmsghdr* nlh) { mnl_attr_put_u32(nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS); }

Result<std::map<int, RawLink>> dump_links() {
  NlError last;
  for (int attempt = 0; attempt < 5; ++attempt) {
    Netlink nl;
    if (auto s = nl.open(); !s) return s.error();
    std::map<int, RawLink> links;
    Request link(RTM_GETLINK, NLM_F_DUMP);
    link.link();
    put_ext_mask(link.nlh);
    last = nl.exchange(link.nlh, on_link, &links);
    if (last.err == EINTR) continue;
    if (last.err) return Error{"cannot list links: " + last.text()};
    Request addr(RTM_GETADDR, NLM_F_DUMP);
    auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(addr.nlh, sizeof(ifaddrmsg)));
    ifa->ifa_family = AF_INET;
    last = nl.exchange(addr.nlh, on_addr, &links);
    if (last.err == EINTR) continue;
    if (last.err) return Error{"cannot list addresses: " + last.text()};
    for (auto& [_, r] : links)
      if (r.master_index)
        if (auto m = links.find(r.master_index); m != links.end()) r.link.master = m->second.link.name;
    return links;
  }
  return Error{"cannot list links: " + last.text()};
}

// One link by name (RTM_GETLINK without NLM_F_DUMP); nullopt when absent.
// Addresses and the master's name are not filled in.
Result<std::optional<RawLink>> get_link(Netlink& nl, const std::string& name, const std::string& context) {
  Request req(RTM_GETLINK);
  req.link();
  mnl_attr_put_strz(req.nlh, IFLA_IFNAME, name.c_str());
  put_ext_mask(req.nlh);
  std::map<int, RawLink> found;
  NlError e = nl.exchange(req.nlh, on_link, &found);
  if (e.err == ENODEV) return std::optional<RawLink>{};
  if (e.err) return Error{context + ": " + e.text()};
  for (auto& [_, r] : found)
    if (r.link.name == name) return std::optional<RawLink>{std::move(r)};
  return std::optional<RawLink>{};
}

Status ack(Netlink& nl, Request& req, const std::string& context) {
  NlError e = nl.exchange(req.nlh, nullptr, nullptr);
  if (e.err) return Error{context + ": " + e.text()};
  return {};
}

Status set_up(Netlink& nl, int index, const std::string& context) {
  Request req(RTM_NEWLINK);
  auto* ifi = req.link(AF_UNSPEC, index);
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  return ack(nl, req, context);
}

std::string ifname_rule() { return "not a valid interface name (1-15 bytes of [A-Za-z0-9_.-])"; }

// --- taps -------------------------------------------------------------------

// Creates the tap, or attaches to an existing one, and makes it persistent
// and owned by root. Fails with EBUSY when a VMM holds a non-persistent tap.
// `busy` (when given) is set when a process holds the tap (EBUSY).
Status make_persistent_tap(const std::string& name, std::uint32_t owner, const std::string& context,
                           bool* busy = nullptr) {
  int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return Error{context + ": /dev/net/tun: " + errno_text(errno)};
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.data(), name.size());
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  Status s;
  if (::ioctl(fd, TUNSETIFF, &ifr) < 0) {
    if (busy) *busy = errno == EBUSY;
    s = Error{context + ": " + errno_text(errno)};
  } else if (::ioctl(fd, TUNSETOWNER, static_cast<unsigned long>(owner)) < 0)
    s = Error{context + ": cannot set owner: " + errno_text(errno)};
  else if (::ioctl(fd, TUNSETPERSIST, 1UL) < 0)
    s = Error{context + ": cannot make it persistent: " + errno_text(errno)};
  ::close(fd);
  return s;
}

// --- nftables ---------------------------------------------------------------

// Both tables, in the order the ruleset holds them.
constexpr const char* kTables[] = {"inet clawfleet", "bridge clawfleet"};
constexpr const char* kRuleset = "nftables tables inet clawfleet and bridge clawfleet";

// Creates (if missing) and deletes both tables: the head of one
// transaction that then defines them again, or deletes them.
std::string delete_both() {
  std::string cmds;
  for (const char* t : kTables) cmds += std::string("table ") + t + " {}\ndelete table " + t + "\n";
  return cmds;
}

struct NftOutcome {
  int rc = 0;
  std::string out;
  std::string err;
};

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// A listing is stateless (no counters) and terse (no elements the kernel
// adds to a dynamic set, each guest's connection count): neither is
// configuration, and both would make the text differ from the rendering.
Result<NftOutcome> nft_run(const std::string& commands, bool listing) {
  // libnftables 1.0.x calls exit() when it cannot open its netlink socket
  // (nft_mnl_socket_open -> netlink_init_error); probe first so that a
  // kernel without nfnetlink is an error, not the end of the process.
  int probe = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (probe < 0) return Error{std::string("cannot open nftables netlink socket: ") + errno_text(errno)};
  ::close(probe);
  nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  if (!ctx) return Error{"cannot create nftables context"};
  if (listing)
    nft_ctx_output_set_flags(ctx, nft_ctx_output_get_flags(ctx) | NFT_CTX_OUTPUT_STATELESS | NFT_CTX_OUTPUT_TERSE);
  NftOutcome o;
  if (nft_ctx_buffer_output(ctx) != 0 || nft_ctx_buffer_error(ctx) != 0) {
    nft_ctx_free(ctx);
    return Error{"cannot buffer nftables output"};
  }
  o.rc = nft_run_cmd_from_buffer(ctx, commands.c_str());
  if (const char* out = nft_ctx_get_output_buffer(ctx)) o.out = out;
  if (const char* err = nft_ctx_get_error_buffer(ctx)) o.err = err;
  nft_ctx_free(ctx);
  return o;
}

// --- the adapter ------------------------------------------------------------

class RealNetwork : public Network {
 public:
  Result<std::vector<Link>> links() override {
    auto raw = dump_links();
    if (!raw) return raw.error();
    std::vector<Link> out;
    out.reserve(raw.value().size());
    for (auto& [_, r] : raw.value()) out.push_back(std::move(r.link));
    return out;
  }

  Status ensure_bridge(const std::string& name, Ipv4 gateway, int prefix) override {
    const std::string what = "bridge " + name;
    if (!is_ifname(name)) return Error{"cannot create " + what + ": " + ifname_rule()};
    if (prefix < 0 || prefix > 32)
      return Error{"cannot add address to " + what + ": prefix " + std::to_string(prefix) + " is not between 0 and 32"};
    Netlink nl;
    if (auto s = nl.open(); !s) return s;
    auto link = get_link(nl, name, "cannot look up " + what);
    if (!link) return link.error();
    if (!link.value()) {
      Request req(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
      req.link();
      mnl_attr_put_strz(req.nlh, IFLA_IFNAME, name.c_str());
      nlattr* info = mnl_attr_nest_start(req.nlh, IFLA_LINKINFO);
      mnl_attr_put_strz(req.nlh, IFLA_INFO_KIND, "bridge");
      mnl_attr_nest_end(req.nlh, info);
      NlError e = nl.exchange(req.nlh, nullptr, nullptr);
      if (e.err && e.err != EEXIST) return Error{"cannot create " + what + ": " + e.text()};
      link = get_link(nl, name, "cannot look up " + what);
      if (!link) return link.error();
      if (!link.value()) return Error{"cannot create " + what + ": it vanished after creation"};
    }
    const RawLink& br = *link.value();
    if (br.link.kind != "bridge")
      return Error{"cannot use " + name + " as bridge: it is a " + (br.link.kind.empty() ? "device" : br.link.kind) +
                   " link, not a bridge"};

    // NLM_F_EXCL makes "already there" EEXIST, which is success: no address
    // dump needed. Other addresses on the bridge are left alone.
    const std::string addr = to_string(Cidr{gateway, prefix});
    Request req(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
    auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(req.nlh, sizeof(ifaddrmsg)));
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = std::uint8_t(prefix);
    ifa->ifa_index = unsigned(br.link.ifindex);
    mnl_attr_put_u32(req.nlh, IFA_LOCAL, htonl(gateway.value));
    mnl_attr_put_u32(req.nlh, IFA_ADDRESS, htonl(gateway.value));
    NlError e = nl.exchange(req.nlh, nullptr, nullptr);
    if (e.err && e.err != EEXIST) return Error{"cannot add address " + addr + " to " + what + ": " + e.text()};

    if (!br.link.up) return set_up(nl, br.link.ifindex, "cannot set " + what + " up");
    return {};
  }

  Status ensure_tap(const std::string& name, const std::string& bridge, const std::string& alias,
                    std::uint32_t owner) override {
    const std::string what = "tap " + name;
    if (!is_ifname(name)) return Error{"cannot create " + what + ": " + ifname_rule()};
    if (alias.empty() || alias.size() >= IFALIASZ)
      return Error{"cannot set alias of " + what + ": must be 1 to " + std::to_string(IFALIASZ - 1) + " bytes"};
    const std::string attach = "cannot attach " + what + " to bridge " + bridge;
    Netlink nl;
    if (auto s = nl.open(); !s) return s;

    // The bridge first, so that a missing one leaves no tap behind.
    auto br = get_link(nl, bridge, attach);
    if (!br) return br.error();
    if (!br.value()) return Error{attach + ": no such bridge"};
    if (br.value()->link.kind != "bridge") return Error{attach + ": " + bridge + " is not a bridge"};
    const int br_index = br.value()->link.ifindex;

    auto tap = get_link(nl, name, "cannot look up " + what);
    if (!tap) return tap.error();
    if (tap.value()) {
      const RawLink& t = *tap.value();
      if (t.link.kind != "tun" || t.tun_type != IFF_TAP)
        return Error{"cannot create " + what + ": a " + (t.link.kind.empty() ? "device" : t.link.kind) +
                     " link of that name exists and is not a tap"};
      // A VMM that holds the tap keeps it (EBUSY) until it stops; the VM
      // unit's prepare sets the owner again before the next one starts.
      bool busy = false;
      if (!t.tun_persist || t.tun_owner != long(owner))
        if (auto s = make_persistent_tap(name, owner, "cannot make " + what + " persistent", &busy); !s && !busy)
          return s;
    } else {
      if (auto s = make_persistent_tap(name, owner, "cannot create " + what); !s) return s;
      tap = get_link(nl, name, "cannot look up " + what);
      if (!tap) return tap.error();
      if (!tap.value()) return Error{"cannot create " + what + ": it vanished after creation"};
    }
    const RawLink& t = *tap.value();
    const int index = t.link.ifindex;

    bool new_port = t.master_index != br_index;
    if (new_port) {
      Request req(RTM_NEWLINK);
      req.link(AF_UNSPEC, index);
      mnl_attr_put_u32(req.nlh, IFLA_MASTER, std::uint32_t(br_index));
      if (auto s = ack(nl, req, attach); !s) return s;
    }
    if (t.link.alias != alias) {
      Request req(RTM_NEWLINK);
      req.link(AF_UNSPEC, index);
      mnl_attr_put_strz(req.nlh, IFLA_IFALIAS, alias.c_str());
      if (auto s = ack(nl, req, "cannot set alias of " + what); !s) return s;
    }
    // A port's flags start afresh when it joins a bridge.
    if (new_port || !t.link.isolated) {
      Request req(RTM_SETLINK);
      req.link(AF_BRIDGE, index);
      nlattr* protinfo = mnl_attr_nest_start(req.nlh, IFLA_PROTINFO);  // sets NLA_F_NESTED
      mnl_attr_put_u8(req.nlh, IFLA_BRPORT_ISOLATED, 1);
      mnl_attr_nest_end(req.nlh, protinfo);
      if (auto s = ack(nl, req, "cannot isolate " + what + " on bridge " + bridge); !s) return s;
    }
    if (!t.link.up) return set_up(nl, index, "cannot set " + what + " up");
    return {};
  }

  Status delete_link(const std::string& name) override {
    if (!is_ifname(name)) return Error{"cannot delete link " + name + ": " + ifname_rule()};
    Netlink nl;
    if (auto s = nl.open(); !s) return s;
    Request req(RTM_DELLINK);
    req.link();
    mnl_attr_put_strz(req.nlh, IFLA_IFNAME, name.c_str());
    NlError e = nl.exchange(req.nlh, nullptr, nullptr);
    if (e.err && e.err != ENODEV) return Error{"cannot delete link " + name + ": " + e.text()};
    return {};
  }

  Status ensure_neighbour(const std::string& bridge, Ipv4 ip, const Mac& mac) override {
    return neighbour(RTM_NEWNEIGH, bridge, ip, &mac);
  }

  Status delete_neighbour(const std::string& bridge, Ipv4 ip) override {
    return neighbour(RTM_DELNEIGH, bridge, ip, nullptr);
  }

  Result<std::optional<std::string>> read_ruleset() override {
    // One listing a table: nft 1.0.6 fails a second `list table` in the
    // same buffer with "No such file or directory".
    std::optional<std::string> out;
    for (const char* table : kTables) {
      auto o = nft_run(std::string("list table ") + table, true);
      if (!o) return o.error();
      if (o.value().rc == 0) {
        out = out.value_or("") + o.value().out;
        continue;
      }
      if (o.value().err.find("No such file or directory") == std::string::npos)
        return Error{std::string("cannot list nftables table ") + table + ": " + trim(o.value().err)};
    }
    if (out) out = sorted_maps(*out);
    return out;
  }

  Status replace_ruleset(const std::string& ruleset) override {
    const std::string context = std::string("cannot replace ") + kRuleset;
    if (!only_our_tables(ruleset))
      return Error{context +
                   ": the ruleset must be a \"table inet clawfleet {\" block and at most a \"table bridge "
                   "clawfleet {\" block"};
    // One buffer is one transaction: create-if-missing, delete, define;
    // a table the ruleset leaves out stays deleted.
    auto o = nft_run(delete_both() + ruleset, false);
    if (!o) return o.error();
    if (o.value().rc != 0) return Error{context + ": " + trim(o.value().err)};
    return {};
  }

  Status delete_ruleset() override {
    // Creating them first makes deletion succeed whether or not they exist.
    auto o = nft_run(delete_both(), false);
    if (!o) return o.error();
    if (o.value().rc != 0) return Error{std::string("cannot delete ") + kRuleset + ": " + trim(o.value().err)};
    return {};
  }

  Result<bool> ip_forward() override {
    int fd = ::open(kForward, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Error{std::string("cannot read ") + kForward + ": " + errno_text(errno)};
    char c = 0;
    ssize_t n = ::read(fd, &c, 1);
    int err = errno;
    ::close(fd);
    if (n != 1) return Error{std::string("cannot read ") + kForward + ": " + (n < 0 ? errno_text(err) : "empty")};
    return c == '1';
  }

  Status set_ip_forward(bool on) override {
    int fd = ::open(kForward, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return Error{std::string("cannot write ") + kForward + ": " + errno_text(errno)};
    ssize_t n = ::write(fd, on ? "1\n" : "0\n", 2);
    int err = errno;
    if (::close(fd) != 0 && n == 2) {
      n = -1;
      err = errno;
    }
    if (n != 2) return Error{std::string("cannot write ") + kForward + ": " + errno_text(err)};
    return {};
  }

 private:
  static constexpr const char* kForward = "/proc/sys/net/ipv4/ip_forward";

  // RTM_NEWNEIGH (create or replace, permanent) or RTM_DELNEIGH of ip on
  // the bridge.
  static Status neighbour(int type, const std::string& bridge, Ipv4 ip, const Mac* mac) {
    const bool add = type == RTM_NEWNEIGH;
    const std::string context = std::string(add ? "cannot set" : "cannot delete") + " the neighbour entry of " +
                                to_string(ip) + (mac ? " at " + to_string(*mac) : "") + " on bridge " + bridge;
    if (!is_ifname(bridge)) return Error{context + ": " + ifname_rule()};
    Netlink nl;
    if (auto s = nl.open(); !s) return s;
    auto br = get_link(nl, bridge, context);
    if (!br) return br.error();
    if (!br.value()) return add ? Status{Error{context + ": no such bridge"}} : Status{};
    Request req(type, add ? NLM_F_CREATE | NLM_F_REPLACE : 0);
    auto* nd = static_cast<ndmsg*>(mnl_nlmsg_put_extra_header(req.nlh, sizeof(ndmsg)));
    nd->ndm_family = AF_INET;
    nd->ndm_ifindex = br.value()->link.ifindex;
    nd->ndm_state = NUD_PERMANENT;
    mnl_attr_put_u32(req.nlh, NDA_DST, htonl(ip.value));
    if (mac) mnl_attr_put(req.nlh, NDA_LLADDR, mac->bytes.size(), mac->bytes.data());
    NlError e = nl.exchange(req.nlh, nullptr, nullptr);
    if (e.err && !(e.err == ENOENT && !add)) return Error{context + ": " + e.text()};
    return {};
  }
};

}  // namespace

std::unique_ptr<Network> real_network() { return std::make_unique<RealNetwork>(); }

}  // namespace cf::host
