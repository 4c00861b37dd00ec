#include "model/units.h"

#include "core/text.h"

namespace cf::model {
namespace {

constexpr const char* kVmPrefix = "clawfleet-vm@";
constexpr const char* kProxyPrefix = "clawfleet-proxy@";

}  // namespace

std::string vm_unit(const std::string& name) { return kVmPrefix + name + ".service"; }
std::string proxy_socket_unit(const std::string& name) { return kProxyPrefix + name + ".socket"; }
std::string proxy_service_unit(const std::string& name) { return kProxyPrefix + name + ".service"; }

std::vector<std::string> instance_unit_patterns() {
  return {vm_unit("*"), proxy_socket_unit("*"), proxy_service_unit("*")};
}

std::string instance_of_unit(const std::string& unit) {
  for (const std::string p : {kVmPrefix, kProxyPrefix}) {
    if (unit.rfind(p, 0) != 0) continue;
    auto dot = unit.rfind('.');
    std::string name = unit.substr(p.size(), dot == std::string::npos ? std::string::npos : dot - p.size());
    return is_dns_label(name) ? name : "";
  }
  return "";
}

}  // namespace cf::model
