#include "host/platform/resolvers.h"

#include <algorithm>
#include <sstream>

#include "core/text.h"

namespace cf::host {
namespace {

bool loopback(Ipv4 a) { return (a.value >> 24) == 127; }

}  // namespace

std::vector<Ipv4> parse_resolv_conf(const std::string& text, std::vector<Ipv4>* skipped) {
  std::vector<Ipv4> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line) && out.size() < model::kMaxDnsServers;) {
    std::istringstream words(line);
    std::string key, value;
    if (!(words >> key >> value) || key != "nameserver") continue;
    auto a = parse_ipv4(value);
    if (!a || a.value().value == 0) continue;
    if (loopback(a.value())) {
      if (skipped) skipped->push_back(a.value());
      continue;
    }
    if (std::find(out.begin(), out.end(), a.value()) == out.end()) out.push_back(a.value());
  }
  return out;
}

model::ObservedDns host_resolvers(Platform& platform) {
  model::ObservedDns dns;
  std::vector<std::string> why;
  for (const char* path : {kResolvedUpstreamFile, kResolvConfFile}) {
    auto text = platform.resolver_file(path);
    if (!text) {
      why.push_back(text.error().message);
      continue;
    }
    if (!text.value()) {
      why.push_back(std::string(path) + " does not exist");
      continue;
    }
    std::vector<Ipv4> loop;
    dns.current = parse_resolv_conf(*text.value(), &loop);
    if (!dns.current.empty()) {
      dns.source = path;
      return dns;
    }
    std::vector<std::string> names;
    for (Ipv4 a : loop) names.push_back(to_string(a));
    why.push_back(std::string(path) + (loop.empty() ? " names no IPv4 nameserver"
                                                    : " names only loopback resolvers (" + join(names, ", ") + ")"));
  }
  dns.problem = join(why, "; ");
  return dns;
}

}  // namespace cf::host
