// PEM certificate files: only CERTIFICATE blocks pass, what is handed on
// is rebuilt from their bodies, and errors never quote the content.
#include "core/pem.h"

#include <gtest/gtest.h>

#include "fakes/test_certificate.h"

namespace cf {
namespace {

const std::string kCert = testing::kTestCaCertificate;

// The same certificate's body in one line, with CRLF and blank lines.
std::string one_line_crlf() {
  std::string body;
  for (std::size_t at = kCert.find('\n') + 1; at < kCert.size();) {
    std::size_t nl = kCert.find('\n', at);
    std::string line = kCert.substr(at, nl - at);
    if (line.rfind("-----", 0) != 0) body += line;
    at = nl + 1;
  }
  return "\r\n-----BEGIN CERTIFICATE-----\r\n" + body + "\r\n-----END CERTIFICATE-----\r\n\r\n";
}

TEST(Pem, CertificatesAreRebuiltInCanonicalForm) {
  EXPECT_EQ(certificates_pem(kCert).value(), kCert);
  EXPECT_EQ(certificates_pem(one_line_crlf()).value(), kCert);
  EXPECT_EQ(certificates_pem(kCert + "\n" + kCert).value(), kCert + kCert);
  EXPECT_EQ(certificates_digest(kCert), certificates_digest(certificates_pem(one_line_crlf()).value()));
  EXPECT_EQ(certificates_digest(kCert).size(), std::string("sha256:").size() + 12);
}

// What a non-root manifest writer might point at: /etc/shadow, a private
// key, a certificate with its key appended. None passes, none is quoted.
TEST(Pem, AnythingButCertificatesIsRefusedWithoutItsContent) {
  auto error = [](const std::string& content) { return certificates_pem(content).error().message; };
  EXPECT_EQ(
      error("root:$6$SECRET:19000:0:99999:7:::\n"),
      "line 1 is outside a BEGIN/END CERTIFICATE block; only certificates are allowed (the content is not shown)");
  EXPECT_EQ(
      error("-----BEGIN PRIVATE KEY-----\nMIGSECRET\n-----END PRIVATE KEY-----\n"),
      "line 1 is outside a BEGIN/END CERTIFICATE block; only certificates are allowed (the content is not shown)");
  EXPECT_EQ(
      error(kCert + "-----BEGIN EC PRIVATE KEY-----\nMHcSECRET\n-----END EC PRIVATE KEY-----\n"),
      "line 12 is outside a BEGIN/END CERTIFICATE block; only certificates are allowed (the content is not shown)");
  EXPECT_EQ(
      error("# corp CA\n" + kCert),
      "line 1 is outside a BEGIN/END CERTIFICATE block; only certificates are allowed (the content is not shown)");
  EXPECT_EQ(error("-----BEGIN CERTIFICATE-----\nMII SECRET\n-----END CERTIFICATE-----\n"),
            "line 2 is neither base64 nor -----END CERTIFICATE----- (the content is not shown)");
  EXPECT_EQ(error("-----BEGIN CERTIFICATE-----\nMIIB\n"),
            "line 1 begins a certificate that has no -----END CERTIFICATE----- line (the content is not shown)");
  EXPECT_EQ(error("-----BEGIN CERTIFICATE-----\nSECRETSECRET\n-----END CERTIFICATE-----\n"),
            "line 1 begins a certificate whose body is not a DER certificate (the content is not shown)");
  EXPECT_EQ(error("-----BEGIN CERTIFICATE-----\nMII=B\n-----END CERTIFICATE-----\n"),
            "line 1 begins a certificate whose body is not base64 (the content is not shown)");
  EXPECT_EQ(error("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"),
            "line 1 begins a certificate whose body is empty (the content is not shown)");
  EXPECT_EQ(error("\n \n"), "it holds no -----BEGIN CERTIFICATE----- block");
  std::string many;
  for (std::size_t i = 0; i <= kMaxCertificatesPerFile; ++i) many += kCert;
  EXPECT_EQ(error(many), "line 705 starts certificate 65; a file holds at most 64 (the content is not shown)");
}

}  // namespace
}  // namespace cf
