// Raw documents of all files -> the fleet: the built-in defaults and the
// Defaults document applied, and every rule that spans documents checked
// (one Host and one Defaults, unique names, addresses, ports and MACs,
// images, Host limits, API keys, room in the subnet and the port range).
#pragma once

#include <map>
#include <string>

#include "core/diagnostic.h"
#include "manifest/raw.h"
#include "model/desired.h"

namespace cf::manifest {

// Each instance of the fleet goes into origins with where its name was written.
model::Fleet assemble(const Raw& raw, Diagnostics& diags, std::map<std::string, Location>& origins);

}  // namespace cf::manifest
