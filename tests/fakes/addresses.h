// An IPv4 address from a literal the test knows is valid.
#pragma once

#include "core/net.h"

namespace cf::testing {

inline Ipv4 ip(const char* s) { return parse_ipv4(s).value(); }

}  // namespace cf::testing
