#include "host/http/unix_http.h"

#include <curl/curl.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>

namespace cf::host {
namespace {

// Firecracker's replies are small JSON documents; anything larger is not one.
constexpr std::size_t kMaxBody = 1 << 20;

struct Sink {
  std::string body;
  bool overflow = false;
};

size_t write_body(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  size_t n = size * count;
  if (sink->body.size() + n > kMaxBody) {
    sink->overflow = true;
    return 0;  // makes curl stop with CURLE_WRITE_ERROR
  }
  sink->body.append(data, n);
  return n;
}

Status global_init() {
  static std::once_flag once;
  static CURLcode code = CURLE_OK;
  std::call_once(once, [] { code = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (code != CURLE_OK) return Error{std::string("libcurl initialisation failed: ") + curl_easy_strerror(code)};
  return {};
}

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

namespace {

// One request to `url`, over `socket` when it is not empty. nullopt when
// the peer refuses the connection (nobody listens).
Result<std::optional<HttpReply>> perform(const std::string& socket, const std::string& url, const std::string& method,
                                         const std::string& path, const std::vector<std::string>& extra_headers,
                                         const std::string& body, std::chrono::milliseconds timeout) {
  const std::string what = method + " " + path;
  if (auto s = global_init(); !s) return s.error();

  std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
  if (!curl) return Error{what + ": cannot create a libcurl handle"};
  std::unique_ptr<curl_slist, SlistDeleter> headers;
  auto add_header = [&](const char* h) {
    curl_slist* l = curl_slist_append(headers.get(), h);
    if (l) {
      (void)headers.release();
      headers.reset(l);
    }
  };
  add_header("Accept: application/json");
  add_header("Expect:");  // no 100-continue round trip
  if (!body.empty()) add_header("Content-Type: application/json");
  for (const auto& h : extra_headers) add_header(h.c_str());

  long total_ms = timeout.count() > 0 ? static_cast<long>(timeout.count()) : 1;
  Sink sink;
  char errbuf[CURL_ERROR_SIZE] = {0};
  CURL* c = curl.get();
  if (!socket.empty()) curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket.c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");  // never send this to an http_proxy from the environment
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, total_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, total_ms);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  if (method == "GET") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  } else {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }

  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_COULDNT_CONNECT) {
    long os_errno = 0;
    curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
    // A stale socket file (the VMM exited) refuses; a vanished one is absent.
    if (os_errno == ECONNREFUSED || os_errno == ENOENT) return std::optional<HttpReply>{};
    if (os_errno != 0) return Error{what + ": cannot connect: " + std::strerror(static_cast<int>(os_errno))};
  }
  if (rc == CURLE_OPERATION_TIMEDOUT) return Error{what + ": no answer within " + std::to_string(total_ms) + " ms"};
  if (rc == CURLE_WRITE_ERROR && sink.overflow)
    return Error{what + ": reply larger than " + std::to_string(kMaxBody) + " bytes"};
  if (rc != CURLE_OK) return Error{what + ": " + (errbuf[0] ? std::string(errbuf) : curl_easy_strerror(rc))};

  HttpReply reply;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
  reply.body = std::move(sink.body);
  return std::optional<HttpReply>{std::move(reply)};
}

}  // namespace

Result<std::optional<HttpReply>> unix_http(const std::string& socket, const std::string& method,
                                           const std::string& path, const std::string& body,
                                           std::chrono::milliseconds timeout) {
  if (socket.size() >= sizeof(sockaddr_un::sun_path))
    return Error{"socket path is longer than " + std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes"};
  // No file: the VMM is not running (curl would say only "couldn't connect").
  struct stat st;
  if (::stat(socket.c_str(), &st) != 0 && errno == ENOENT) return std::optional<HttpReply>{};
  return perform(socket, "http://localhost" + path, method, path, {}, body, timeout);
}

Result<std::optional<HttpReply>> loopback_http(std::uint16_t port, const std::string& path,
                                               const std::vector<std::string>& headers,
                                               std::chrono::milliseconds timeout) {
  return perform("", "http://127.0.0.1:" + std::to_string(port) + path, "GET", path, headers, "", timeout);
}

Result<std::optional<HttpReply>> tcp_http(const std::string& address, std::uint16_t port, const std::string& path,
                                          std::chrono::milliseconds timeout) {
  return perform("", "http://" + address + ":" + std::to_string(port) + path, "GET", path, {}, "", timeout);
}

}  // namespace cf::host
