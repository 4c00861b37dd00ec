// The operator's CA certificates (Host spec.caCertificates): read when the
// desired state is loaded, like secrets, because their content goes into
// every guest's trust store and so into the configuration generation.
// Whoever writes a manifest is not root: a listed file must be a regular
// file (a FIFO is refused, never waited on) holding only certificates
// (core/pem.h), and an error names the file, never its content.
#pragma once

#include <map>
#include <string>

#include "core/diagnostic.h"
#include "core/fs.h"
#include "model/desired.h"

namespace cf::manifest {

// path -> certificates_digest for each file of host.ca_certificates; each
// that cannot be used is an error diagnostic where the Host lists it
// (`origins`: path -> location): "CA certificate /etc/shadow is not a PEM
// certificate file: line 1 is outside a BEGIN/END CERTIFICATE block; only
// certificates are allowed (the content is not shown)".
std::map<std::string, std::string> read_ca_digests(const model::Host& host,
                                                   const std::map<std::string, Location>& origins, FileReader& fs,
                                                   Diagnostics& diags);

}  // namespace cf::manifest
