// PEM certificate files (RFC 7468): what clawfleet hands every guest as the
// operator's CAs. The file is read as root and its content lands in every
// guest, so only CERTIFICATE blocks are accepted and what is handed on is
// rebuilt from their base64 bodies: nothing else in the file (a key, a
// comment, any other file's text) can reach a guest, and errors name line
// numbers, never content.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/result.h"

namespace cf {

inline constexpr std::size_t kMaxCertificateFileBytes = 64 * 1024;
inline constexpr std::size_t kMaxCertificatesPerFile = 64;

// The certificates of `content`, re-encoded as PEM: each block
// "-----BEGIN CERTIFICATE-----", its base64 in lines of 64, "-----END
// CERTIFICATE-----", one after the other. Errors complete "is not a PEM
// certificate file: ..." e.g. "line 3 is outside a BEGIN/END CERTIFICATE
// block (the content is not shown)".
Result<std::string> certificates_pem(std::string_view content);

// "sha256:" and the first 12 hex digits of the SHA-256 of certificates_pem's
// output: how plans show the certificates and how a change is seen.
std::string certificates_digest(const std::string& pem);

}  // namespace cf
