#include "manifest/secrets.h"

#include <map>

#include "core/sha256.h"
#include "manifest/bot_tokens.h"
#include "manifest/trust.h"

namespace cf::manifest {
namespace {

Result<std::string> check_value(const model::SecretRef& ref, std::string value) {
  if (ref.source != model::SecretSource::Env && !value.empty() && value.back() == '\n') value.pop_back();
  if (!value.empty() && value.back() == '\r') value.pop_back();
  std::string what = "secret " + describe(ref);
  if (value.empty()) return Error{what + " is empty"};
  // Values end up in KEY=value env files in the guest: one line, no NUL.
  if (value.find_first_of(std::string("\n\r\0", 3)) != std::string::npos)
    return Error{what + " holds a line break or NUL byte; a secret must be one line"};
  return value;
}

}  // namespace

std::string describe(const model::SecretRef& ref) { return std::string(model::to_string(ref.source)) + ' ' + ref.name; }

Result<std::string> read_secret(const model::SecretRef& ref, FileReader& fs, const Environment& env) {
  std::string what = "secret " + describe(ref);
  switch (ref.source) {
    case model::SecretSource::File: {
      // Checked before it is read: a file that fails is never quoted.
      if (auto rule = host_file_rule(fs, ref.name, true)) return Error{said_of(what, ref.name, *rule)};
      auto content = fs.read_file(ref.name, kMaxSecretBytes);
      if (!content) return Error{what + ": " + without_path(content.error().message, ref.name)};
      return check_value(ref, std::move(content.value()));
    }
    case model::SecretSource::Env: {
      auto v = env.get(ref.name);
      if (!v) return Error{what + ": the variable is not set in clawfleet's environment"};
      if (v->size() > kMaxSecretBytes)
        return Error{what + " is larger than " + std::to_string(kMaxSecretBytes) + " bytes"};
      return check_value(ref, std::move(*v));
    }
    case model::SecretSource::Credential: {
      auto dir = env.get("CREDENTIALS_DIRECTORY");
      if (!dir || dir->empty())
        return Error{what + ": $CREDENTIALS_DIRECTORY is not set; run under a unit with LoadCredential=" + ref.name +
                     ":PATH"};
      auto content = fs.read_file(*dir + "/" + ref.name, kMaxSecretBytes);
      if (!content) return Error{what + ": " + without_path(content.error().message, *dir + "/" + ref.name)};
      return check_value(ref, std::move(content.value()));
    }
  }
  return Error{what + ": unknown source"};
}

void check_secrets(LoadResult& loaded, FileReader& fs, const Environment& env) {
  std::map<model::SecretRef, Result<std::string>> cache;
  auto check = [&](const model::Instance& i, const std::string& path, const model::SecretRef& ref) {
    auto it = cache.find(ref);
    if (it == cache.end()) it = cache.emplace(ref, read_secret(ref, fs, env)).first;
    if (!it->second.ok()) loaded.diagnostics.error(loaded.origins.at(i.name), path, it->second.error().message);
  };
  for (const auto& i : loaded.fleet.instances) {
    if (i.telegram) check(i, "spec.telegram.botToken", i.telegram->bot_token);
    for (const auto& [provider, ref] : i.provider_keys) check(i, "spec.providerKeys." + provider, ref);
  }
  std::map<model::SecretRef, std::string> digests;
  for (const auto& [ref, value] : cache)
    if (value.ok()) digests.emplace(ref, secret_digest(value.value()));
  check_unique_bot_tokens(loaded.fleet, digests, loaded.origins, loaded.diagnostics);
}

std::function<Result<std::string>(const model::SecretRef&)> real_secret_reader() {
  return [](const model::SecretRef& ref) -> Result<std::string> {
    RealFileReader files;
    RealEnvironment env;
    return read_secret(ref, files, env);
  };
}

std::string secret_digest(const std::string& value) { return "sha256:" + sha256_hex(value).substr(0, 12); }

}  // namespace cf::manifest
