// A stand-in for Firecracker under its jailer, for the real-systemd test of
// the VM unit's jailer variant (Firecracker is not installable here).
// Static: it runs in the jail, where nothing else is. It takes the
// arguments the jailer and clawfleet give (and refuses others, as
// Firecracker does), opens what its config names the way Firecracker does
// (kernel and initrd to read, the root disk to write, the seed to read, its
// tap through the jail's /dev/net/tun, its logger and metrics files) and
// exits 1 naming anything it cannot, writes one line to its logger saying
// who and where it is, prints a line on its console (stdout), and serves
// the API clawfleet uses on --api-sock: GET / (Running), PUT /actions
// SendCtrlAltDel (it then exits, like Firecracker whose guest powered off)
// and PATCH /drives/rootfs (the file reopened).
#include <dirent.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace {

using nlohmann::json;

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "stand-in firecracker: %s\n", what.c_str());
  std::exit(1);
}

void opens(const std::string& path, int flags, const std::string& what) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0600);
  if (fd < 0) die("cannot open the " + what + " " + path + ": " + std::strerror(errno));
  ::close(fd);
}

std::string reply(int status, const std::string& body) {
  const char* text = status == 200 ? "OK" : status == 204 ? "No Content" : "Bad Request";
  std::string r = "HTTP/1.1 " + std::to_string(status) + " " + text + "\r\n";
  if (!body.empty()) r += "Content-Type: application/json\r\n";
  return r + "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

// One request (headers and a Content-Length body) from `fd`.
bool read_request(int fd, std::string& head, std::string& body) {
  std::string in;
  char buf[4096];
  while (in.find("\r\n\r\n") == std::string::npos) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return false;
    in.append(buf, n);
  }
  const auto end = in.find("\r\n\r\n");
  head = in.substr(0, end);
  body = in.substr(end + 4);
  std::size_t length = 0;
  std::string lower = head;
  std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
  if (auto at = lower.find("content-length:"); at != std::string::npos) length = std::stoul(lower.substr(at + 15));
  while (body.size() < length) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return false;
    body.append(buf, n);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i < argc; i += 2) {
    const std::string a = argv[i];
    if (i + 1 >= argc || (a != "--id" && a != "--start-time-us" && a != "--start-time-cpu-us" &&
                          a != "--parent-cpu-time-us" && a != "--api-sock" && a != "--config-file"))
      die("unexpected argument " + a);
    if (!args.emplace(a, argv[i + 1]).second) die("argument " + a + " given twice");
  }
  for (const char* required : {"--id", "--api-sock", "--config-file"})
    if (!args.count(required)) die(std::string("missing ") + required);
  const std::string id = args["--id"];

  std::ifstream in(args["--config-file"]);
  if (!in) die("cannot open the config file " + args["--config-file"] + ": " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  json c;
  try {
    c = json::parse(text.str());
  } catch (const json::exception& e) {
    die(std::string("the config is not JSON: ") + e.what());
  }
  std::string seen;
  try {
    opens(c.at("boot-source").at("kernel_image_path").get<std::string>(), O_RDONLY, "kernel");
    if (c["boot-source"].contains("initrd_path"))
      opens(c["boot-source"]["initrd_path"].get<std::string>(), O_RDONLY, "initrd");
    for (const auto& d : c.at("drives"))
      opens(d.at("path_on_host").get<std::string>(), d.at("is_read_only").get<bool>() ? O_RDONLY : O_RDWR,
            "drive " + d.at("drive_id").get<std::string>());
    // The tap, as Firecracker opens it.
    const int tun = ::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (tun < 0) die(std::string("cannot open /dev/net/tun: ") + std::strerror(errno));
    ifreq ifr{};
    const std::string tap = c.at("network-interfaces").at(0).at("host_dev_name").get<std::string>();
    std::strncpy(ifr.ifr_name, tap.c_str(), IFNAMSIZ - 1);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if (::ioctl(tun, TUNSETIFF, &ifr) != 0) die("cannot open the tap " + tap + ": " + std::strerror(errno));
    struct stat kvm;
    if (::stat("/dev/kvm", &kvm) != 0 || !S_ISCHR(kvm.st_mode) || major(kvm.st_rdev) != 10 || minor(kvm.st_rdev) != 232)
      die("no /dev/kvm device node in the jail");
    const int log = ::open(c.at("logger").at("log_path").get<std::string>().c_str(),
                           O_RDWR | O_CREAT | O_APPEND | O_NONBLOCK | O_CLOEXEC, 0600);
    if (log < 0) die(std::string("cannot open the logger file: ") + std::strerror(errno));
    opens(c.at("metrics").at("metrics_path").get<std::string>(), O_RDWR | O_CREAT | O_NONBLOCK, "metrics file");
    std::vector<std::string> entries;
    if (DIR* d = ::opendir("/")) {
      while (dirent* e = ::readdir(d))
        if (e->d_name[0] != '.') entries.push_back(e->d_name);
      ::closedir(d);
    }
    std::sort(entries.begin(), entries.end());
    std::string line = "stand-in firecracker " + id + ": uid " + std::to_string(::getuid()) + " gid " +
                       std::to_string(::getgid()) + ", / holds";
    for (const auto& e : entries) line += " " + e;
    line += "\n";
    if (::write(log, line.data(), line.size()) < 0) die("cannot write the logger file");
    ::close(log);
  } catch (const json::exception& e) {
    die(std::string("the config lacks a field: ") + e.what());
  }

  const std::string sock_path = args["--api-sock"];
  const int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, sock_path.c_str(), sizeof addr.sun_path - 1);
  if (s < 0 || ::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(s, 8) != 0)
    die("cannot listen on " + sock_path + ": " + std::strerror(errno));
  std::printf("stand-in firecracker console of %s\n", id.c_str());
  std::fflush(stdout);

  for (;;) {
    const int conn = ::accept4(s, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn < 0) continue;
    std::string head, body, out;
    bool power_off = false;
    if (read_request(conn, head, body)) {
      if (head.rfind("GET / ", 0) == 0) {
        out = reply(200, json{{"id", id}, {"state", "Running"}, {"vmm_version", "stand-in"}}.dump());
      } else if (head.rfind("PUT /actions ", 0) == 0 && body.find("SendCtrlAltDel") != std::string::npos) {
        out = reply(204, "");
        power_off = true;
      } else if (head.rfind("PATCH /drives/rootfs ", 0) == 0) {
        std::string path;
        try {
          path = json::parse(body).at("path_on_host").get<std::string>();
        } catch (const json::exception&) {}
        const int fd = path.empty() ? -1 : ::open(path.c_str(), O_RDWR | O_CLOEXEC);
        out = fd >= 0 ? reply(204, "")
                      : reply(400, json{{"fault_message", "cannot open " + path + ": " + std::strerror(errno)}}.dump());
        if (fd >= 0) ::close(fd);
      } else {
        out = reply(400, json{{"fault_message", "the stand-in does not serve this"}}.dump());
      }
      if (::write(conn, out.data(), out.size()) < 0) std::fprintf(stderr, "stand-in firecracker: reply lost\n");
    }
    ::close(conn);
    if (power_off) {
      std::printf("reboot: Power down\n");
      return 0;
    }
  }
}
