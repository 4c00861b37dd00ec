// A Telegram bot serves one instance: two gateways polling one bot each get
// 409 Conflict from getUpdates for ever, and neither answers reliably. The
// same reference in two instances is a load error (assemble.cc); two
// references with the same content are found by their digests here.
#pragma once

#include <map>
#include <string>

#include "core/diagnostic.h"
#include "model/desired.h"

namespace cf::manifest {

// The end of both diagnostics: why, and what to do.
inline constexpr const char* kOneBotOneInstance =
    "a bot serves one instance (two gateways polling one bot get 409 Conflict from Telegram for ever); give each "
    "instance its own bot";

// An error, at the later instance's metadata.name (`origins`), for each
// instance whose bot token has the digest of an earlier instance's (in
// name order), naming both instances and references, never the value.
// Tokens without a digest (unreadable) are skipped: they are reported
// where they are read.
void check_unique_bot_tokens(const model::Fleet& fleet, const std::map<model::SecretRef, std::string>& digests,
                             const std::map<std::string, Location>& origins, Diagnostics& diags);

}  // namespace cf::manifest
