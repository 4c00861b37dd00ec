// The unit files clawfleet ships (units/), as the integration tests install them.
#pragma once

namespace cf::testing {

inline constexpr const char* kShippedUnits[] = {"clawfleet-vm@.service", "clawfleet-proxy@.socket",
                                                "clawfleet-proxy@.service", "clawfleet.service"};

}  // namespace cf::testing
