#include "core/pem.h"

#include <cctype>
#include <optional>
#include <vector>

#include "core/sha256.h"

namespace cf {
namespace {

constexpr std::string_view kBegin = "-----BEGIN CERTIFICATE-----";
constexpr std::string_view kEnd = "-----END CERTIFICATE-----";
constexpr const char* kHidden = " (the content is not shown)";

bool is_base64_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/'; }

bool blank(std::string_view line) {
  for (char c : line)
    if (c != ' ' && c != '\t') return false;
  return true;
}

Error at_line(std::size_t n, const std::string& what) {
  return Error{"line " + std::to_string(n) + " " + what + kHidden};
}

// A certificate's body: base64 without padding inside, at most two '='
// at the end, a whole number of quads, and a DER SEQUENCE (0x30 encodes
// as 'M') as every X.509 certificate is.
std::optional<std::string> body_problem(const std::string& b64) {
  if (b64.empty()) return "is empty";
  std::size_t pad = 0;
  for (char c : b64) {
    if (c == '=') {
      ++pad;
    } else if (pad > 0 || !is_base64_char(c)) {
      return "is not base64";
    }
  }
  if (pad > 2 || b64.size() % 4 != 0) return "is not base64";
  if (b64.front() != 'M') return "is not a DER certificate";
  return std::nullopt;
}

}  // namespace

Result<std::string> certificates_pem(std::string_view content) {
  std::vector<std::string> bodies;
  std::string body;
  bool inside = false;
  std::size_t begin_line = 0, n = 0;
  for (std::size_t pos = 0; pos < content.size();) {
    std::size_t nl = content.find('\n', pos);
    std::string_view line = content.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? content.size() : nl + 1;
    ++n;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!inside) {
      if (blank(line)) continue;
      if (line != kBegin) return at_line(n, "is outside a BEGIN/END CERTIFICATE block; only certificates are allowed");
      if (bodies.size() == kMaxCertificatesPerFile)
        return at_line(n, "starts certificate " + std::to_string(bodies.size() + 1) + "; a file holds at most " +
                              std::to_string(kMaxCertificatesPerFile));
      inside = true;
      begin_line = n;
      body.clear();
      continue;
    }
    if (line == kEnd) {
      if (auto problem = body_problem(body)) return at_line(begin_line, "begins a certificate whose body " + *problem);
      bodies.push_back(body);
      inside = false;
      continue;
    }
    for (char c : line)
      if (!is_base64_char(c) && c != '=') return at_line(n, "is neither base64 nor -----END CERTIFICATE-----");
    body += line;
  }
  if (inside) return at_line(begin_line, "begins a certificate that has no -----END CERTIFICATE----- line");
  if (bodies.empty()) return Error{"it holds no -----BEGIN CERTIFICATE----- block"};
  std::string out;
  for (const auto& b : bodies) {
    out += std::string(kBegin) + '\n';
    for (std::size_t i = 0; i < b.size(); i += 64) out += b.substr(i, 64) + '\n';
    out += std::string(kEnd) + '\n';
  }
  return out;
}

std::string certificates_digest(const std::string& pem) { return "sha256:" + sha256_hex(pem).substr(0, 12); }

}  // namespace cf
