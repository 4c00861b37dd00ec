#include "manifest/ca_certificates.h"

#include "core/pem.h"
#include "manifest/trust.h"

namespace cf::manifest {

std::map<std::string, std::string> read_ca_digests(const model::Host& host,
                                                   const std::map<std::string, Location>& origins, FileReader& fs,
                                                   Diagnostics& diags) {
  std::map<std::string, std::string> out;
  for (const auto& path : host.ca_certificates) {
    auto at = origins.find(path);
    const Location where = at == origins.end() ? Location{} : at->second;
    if (auto rule = host_file_rule(fs, path, false)) {
      diags.error(where, "spec.caCertificates", said_of("CA certificate " + path, path, *rule));
      continue;
    }
    auto content = fs.read_file(path, kMaxCertificateFileBytes);
    if (!content) {
      diags.error(where, "spec.caCertificates", "CA certificate " + path + ": " + content.error().message);
      continue;
    }
    auto pem = certificates_pem(content.value());
    if (!pem) {
      diags.error(where, "spec.caCertificates",
                  "CA certificate " + path + " is not a PEM certificate file: " + pem.error().message);
      continue;
    }
    out.emplace(path, certificates_digest(pem.value()));
  }
  return out;
}

}  // namespace cf::manifest
