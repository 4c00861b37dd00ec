// A small HTTP/1.1 client (libcurl) over a unix socket, for VMM APIs such as
// Firecracker's, and to loopback, for the health gate. One request per call, bounded in time and in response size.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace cf::host {

struct HttpReply {
  long status = 0;
  std::string body;
};

// Sends `method path` (e.g. "PUT", "/actions") with an optional JSON body to
// http://localhost over `socket`. Returns std::nullopt when nobody listens
// there (the socket file does not exist or the connection is refused: the
// VMM is not running); an error naming the request ("GET / timed out after
// 500 ms") for anything else (timeout, permission, an oversized reply);
// callers prefix what they talk to.
// A reply with any status is a success here: callers judge the status.
Result<std::optional<HttpReply>> unix_http(const std::string& socket, const std::string& method,
                                           const std::string& path, const std::string& body,
                                           std::chrono::milliseconds timeout);

// GET http://127.0.0.1:<port><path> with extra headers ("Authorization:
// Bearer ..."): the instance's proxy, for the health gate. nullopt when the
// port refuses the connection.
Result<std::optional<HttpReply>> loopback_http(std::uint16_t port, const std::string& path,
                                               const std::vector<std::string>& headers,
                                               std::chrono::milliseconds timeout);

// GET http://<address>:<port><path>: the guest's generation endpoint on the
// bridge. nullopt when the connection is refused.
Result<std::optional<HttpReply>> tcp_http(const std::string& address, std::uint16_t port, const std::string& path,
                                          std::chrono::milliseconds timeout);

}  // namespace cf::host
