// The names clawfleet gives what it puts on a host for an instance, spelled
// once: its systemd units (the templates in units/) and where they live.
#pragma once

#include <string>
#include <vector>

namespace cf::model {

inline constexpr const char* kDefaultStateRoot = "/var/lib/clawfleet";

std::string vm_unit(const std::string& name);             // clawfleet-vm@NAME.service
std::string proxy_socket_unit(const std::string& name);   // clawfleet-proxy@NAME.socket
std::string proxy_service_unit(const std::string& name);  // clawfleet-proxy@NAME.service
// What systemd is asked to list: every instance unit of clawfleet's.
std::vector<std::string> instance_unit_patterns();
// "clawfleet-vm@bot.service" -> "bot"; "" when the unit is not an
// instance unit of clawfleet's (or its instance is not a valid name).
std::string instance_of_unit(const std::string& unit);

}  // namespace cf::model
