#include "manifest/bot_tokens.h"

#include "manifest/secrets.h"

namespace cf::manifest {

void check_unique_bot_tokens(const model::Fleet& fleet, const std::map<model::SecretRef, std::string>& digests,
                             const std::map<std::string, Location>& origins, Diagnostics& diags) {
  std::map<std::string, const model::Instance*> first;  // digest -> the first instance with it
  for (const auto& i : fleet.instances) {
    if (!i.telegram) continue;
    auto digest = digests.find(i.telegram->bot_token);
    auto at = origins.find(i.name);
    if (digest == digests.end() || at == origins.end()) continue;
    auto [it, fresh] = first.emplace(digest->second, &i);
    if (fresh) continue;
    const model::Instance& other = *it->second;
    diags.error(at->second, "spec.telegram.botToken",
                "secret " + describe(i.telegram->bot_token) + " holds the same bot token (" + digest->second +
                    ") as secret " + describe(other.telegram->bot_token) + " of instance \"" + other.name + "\"; " +
                    kOneBotOneInstance);
  }
}

}  // namespace cf::manifest
