#include "manifest/desired_state.h"

#include "manifest/bot_tokens.h"
#include "manifest/ca_certificates.h"
#include "manifest/secrets.h"
#include "manifest/trust.h"

namespace cf::manifest {

Digests read_digests(const model::Fleet& fleet, FileReader& fs, const Environment& env) {
  Digests out;
  std::map<model::SecretRef, std::string> errors;  // each secret is read once
  for (const auto& i : fleet.instances)
    for (const auto& ref : model::secret_refs(i)) {
      if (out.digests.count(ref)) continue;
      auto err = errors.find(ref);
      if (err == errors.end()) {
        auto value = read_secret(ref, fs, env);
        if (value) {
          out.digests[ref] = secret_digest(value.value());
          continue;
        }
        err = errors.emplace(ref, value.error().message).first;
      }
      out.problems.push_back("instance " + i.name + ": " + err->second);
    }
  return out;
}

LoadedDesired load_desired(FileReader& fs, const Environment& env, const SourceSpec& spec) {
  LoadResult loaded = load(fs, spec);
  LoadedDesired out;
  out.state.fleet = std::move(loaded.fleet);
  out.diagnostics = std::move(loaded.diagnostics);
  if (out.diagnostics.has_errors()) return out;
  Digests d = read_digests(out.state.fleet, fs, env);
  out.state.digests = std::move(d.digests);
  out.secret_problems = std::move(d.problems);
  check_unique_bot_tokens(out.state.fleet, out.state.digests, loaded.origins, out.diagnostics);
  out.state.ca_digests = read_ca_digests(out.state.fleet.host, loaded.ca_origins, fs, out.diagnostics);
  check_host_files(out.state.fleet.host, loaded.host_files, loaded.host_origin, fs, out.diagnostics);
  return out;
}

}  // namespace cf::manifest
