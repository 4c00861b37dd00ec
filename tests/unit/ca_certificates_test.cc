// The Host's CA certificates: paths in the manifest, files read (through
// the FileReader port) and checked when the desired state is loaded, and
// never a byte of a file that is not a certificate file in a message.
#include "manifest/ca_certificates.h"

#include <gtest/gtest.h>

#include "core/pem.h"
#include "fakes/fake_file_reader.h"
#include "fakes/test_certificate.h"
#include "manifest/desired_state.h"

namespace cf::manifest {
namespace {

const std::string kCert = testing::kTestCaCertificate;

std::vector<std::string> texts(const Diagnostics& d) {
  std::vector<std::string> out;
  for (const auto& diag : d.all()) out.push_back(format(diag));
  return out;
}

std::string host(const std::string& list) {
  return "apiVersion: clawfleet.io/v1\nkind: Host\nspec:\n  caCertificates: " + list + "\n";
}

TEST(CaCertificates, PathsAreSortedAndChecked) {
  auto r = load({{"h.yaml", host("[/etc/ca/b.pem, /etc/ca/a.pem, /etc/ca/b.pem]")}});
  EXPECT_EQ(r.fleet.host.ca_certificates, (std::vector<std::string>{"/etc/ca/a.pem", "/etc/ca/b.pem"}));
  EXPECT_EQ(texts(r.diagnostics),
            std::vector<std::string>{
                "h.yaml:4:50: warning: spec.caCertificates[2]: /etc/ca/b.pem is listed twice; the repeat is ignored"});
  EXPECT_EQ(r.ca_origins.at("/etc/ca/a.pem"), (Location{"h.yaml", 4, 35}));

  EXPECT_EQ(
      texts(load({{"h.yaml", host("[ca.pem]")}}).diagnostics),
      std::vector<std::string>{
          "h.yaml:4:20: error: spec.caCertificates[0]: must be an absolute path without \".\" or \"..\" components or control characters, got \"ca.pem\""});
  std::string many = "[";
  for (int i = 0; i < 17; ++i) many += (i ? ", /c" : "/c") + std::to_string(i);
  EXPECT_EQ(texts(load({{"h.yaml", host(many + "]")}}).diagnostics),
            std::vector<std::string>{"h.yaml:4:19: error: spec.caCertificates: at most 16 entries, got 17"});
}

// A manifest writer is not root: a path to a root-only file that is not a
// certificate file is refused, and its content is not shown.
TEST(CaCertificates, ReadWhenTheDesiredStateIsLoaded) {
  testing::FakeFileReader fs;
  struct NoEnv : Environment {
    std::optional<std::string> get(const std::string&) const override { return std::nullopt; }
  } env;
  fs.file("/m/host.yaml", host("[/etc/ca/corp.pem, /etc/shadow, /etc/ca/gone.pem]"));
  fs.file("/etc/ca/corp.pem", "\n" + kCert);
  fs.file("/etc/shadow", "root:$6$SECRETHASH:19000:0:99999:7:::\n");
  LoadedDesired d = load_desired(fs, env, SourceSpec{"", {"/m/host.yaml"}});
  EXPECT_EQ(
      texts(d.diagnostics),
      (std::vector<std::string>{
          "/m/host.yaml:4:51: error: spec.caCertificates: CA certificate /etc/ca/gone.pem: cannot open /etc/ca/gone.pem: No such file or directory",
          "/m/host.yaml:4:38: error: spec.caCertificates: CA certificate /etc/shadow is not a PEM certificate file: line 1 is outside a BEGIN/END CERTIFICATE block; only certificates are allowed (the content is not shown)",
      }));
  EXPECT_EQ(d.state.ca_digests, (std::map<std::string, std::string>{{"/etc/ca/corp.pem", certificates_digest(kCert)}}));
  EXPECT_FALSE(d.complete());
}

}  // namespace
}  // namespace cf::manifest
