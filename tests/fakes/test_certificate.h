// A self-signed P-256 CA certificate (openssl req -x509 -newkey ec), as
// openssl writes it: 11 lines, base64 in lines of 64. For tests of the
// operator's CA certificates; its key was thrown away.
#pragma once

namespace cf::testing {

inline const char* const kTestCaCertificate = R"(-----BEGIN CERTIFICATE-----
MIIBjDCCATOgAwIBAgIUTv6bC9fy3jD85y/uSj5M3EMdbHIwCgYIKoZIzj0EAwIw
HDEaMBgGA1UEAwwRY2xhd2ZsZWV0IHRlc3QgQ0EwHhcNMjYxMjAxMTQ0MzQyWhcN
MzYxMTI4MTQ0MzQyWjAcMRowGAYDVQQDDBFjbGF3ZmxlZXQgdGVzdCBDQTBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABFKEE6wLC0nPiaSO+/0T4pW+rDhZxCN9tOIp
Bu41lasT1PYB+9A27GS5W/CHYVn13WDhNupvBLp5nQEQCeYrsQmjUzBRMB0GA1Ud
DgQWBBSbq6XgTTKR81l2DLvfHy8YYSaDmzAfBgNVHSMEGDAWgBSbq6XgTTKR81l2
DLvfHy8YYSaDmzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCID9H
nKQHlozX8BO+DOrdCN9v7zHu6eD2g8EMkuKBw6A1AiBmlbooev3tqDUxepGW6xgl
CbRJvhiZzTe5dNKHMcT1aQ==
-----END CERTIFICATE-----
)";

}  // namespace cf::testing
