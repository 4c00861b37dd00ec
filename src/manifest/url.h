// The form of the endpoint URLs a manifest may point a guest at (a model
// provider's baseUrl, Telegram's apiRoot). Form only: whether anything
// answers there is the guest's business. The URL lands in plans and in the
// guest's config, so it may not carry credentials.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace cf::manifest {

inline constexpr std::size_t kMaxUrlBytes = 2048;

// What is wrong with `url` as an endpoint, or nullopt when it is one:
// http:// or https://, a host (a DNS name, IPv4 address or [IPv6]), an
// optional port 1-65535, an optional path; printable ASCII without spaces,
// no user:password@, no query or fragment, at most kMaxUrlBytes. The
// message completes "must be ...", ending in `, got "<the URL's first 64
// bytes>"` unless the URL holds user:password@, which is never shown.
std::optional<std::string> endpoint_url_problem(std::string_view url);

}  // namespace cf::manifest
