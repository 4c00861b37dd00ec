#include "manifest/document.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "core/text.h"
#include "manifest/defaults.h"
#include "manifest/fields.h"
#include "manifest/limits.h"
#include "manifest/loader.h"
#include "manifest/url.h"
#include "manifest/yaml_reader.h"

namespace cf::manifest {
namespace {

using model::SecretRef;

const Entry* find(const std::vector<Entry>& entries, std::string_view key) {
  for (const auto& e : entries)
    if (e.key == key) return &e;
  return nullptr;
}

// Reads one file's documents into Raw. Every problem is a diagnostic; a bad
// field is left unset and the rest of the document is still read.
class Parser {
 public:
  Parser(std::string file, Diagnostics& diags, Raw& raw) : r_(std::move(file), diags), raw_(raw) {}

  void document(const YAML::Node& root) {
    Entry doc{"", root, root};
    if (!root.IsMap()) {
      r_.error(root, "",
               "a document must be a mapping with apiVersion, kind, metadata and spec; got " + describe(root));
      return;
    }
    auto f = r_.fields(doc, "", {"apiVersion", "kind", "metadata", "spec"});
    const Entry* api = find(*f, "apiVersion");
    const Entry* kind = find(*f, "kind");
    if (!api)
      r_.error(root, "apiVersion", std::string("required field is missing (want ") + kApiVersion + ")");
    else if (auto v = r_.string(*api, "apiVersion"); v && *v != kApiVersion)
      r_.error(api->at(), "apiVersion",
               "unsupported version \"" + std::string(utf8_prefix(*v, 64)) + "\"; this clawfleet reads " + kApiVersion);
    if (!kind) {
      r_.error(root, "kind", "required field is missing (want Instance, Defaults or Host)");
      return;
    }
    auto k = r_.choice(*kind, "kind", {"Instance", "Defaults", "Host"});
    if (!k) return;
    const Entry* meta = find(*f, "metadata");
    const Entry* spec = find(*f, "spec");
    switch (*k) {
      case 0: instance(root, meta, spec); break;
      case 1: defaults(root, meta, spec); break;
      case 2: host(root, meta, spec); break;
    }
  }

 private:
  // A bad name does not stop the rest of the document from being checked;
  // the instance is only left out of the fleet.
  void instance(const YAML::Node& root, const Entry* meta, const Entry* spec) {
    RawInstance inst;
    bool named = false;
    if (!meta) r_.error(root, "metadata", "required field is missing (an Instance needs metadata.name)");
    if (!spec) r_.error(root, "spec", "required field is missing");
    if (auto m = meta ? r_.fields(*meta, "metadata", {"name", "labels", "previousNames"}) : std::nullopt) {
      const Entry* name = find(*m, "name");
      if (!name) {
        r_.error(meta->at(), "metadata.name", "required field is missing");
      } else if (auto n = r_.string(*name, "metadata.name")) {
        if (is_dns_label(*n)) {
          inst.name = {*n, r_.where(name->at())};
          named = true;
        } else {
          r_.error(
              name->at(), "metadata.name",
              "\"" + std::string(utf8_prefix(*n, 64)) +
                  "\" is not a DNS label: 1-63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit");
        }
      }
      if (const Entry* labels = find(*m, "labels")) inst.labels = this->labels(*labels);
      if (const Entry* previous = find(*m, "previousNames")) inst.previous_names = previous_names(*previous);
    }
    if (spec) inst.spec = this->spec(*spec, false);
    if (named) raw_.instances.push_back(std::move(inst));
  }

  void defaults(const YAML::Node& root, const Entry* meta, const Entry* spec) {
    optional_metadata(meta);
    RawDefaults d{r_.where(root), {}};
    if (spec) d.spec = this->spec(*spec, true);
    raw_.defaults.push_back(std::move(d));
  }

  void optional_metadata(const Entry* meta) {
    if (!meta) return;
    auto m = r_.fields(*meta, "metadata", {"name"});
    if (!m) return;
    if (const Entry* name = find(*m, "name"))
      if (auto n = r_.string(*name, "metadata.name"); n && !is_dns_label(*n))
        r_.error(
            name->at(), "metadata.name",
            "\"" + std::string(utf8_prefix(*n, 64)) +
                "\" is not a DNS label: 1-63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit");
  }

  std::vector<At<std::string>> previous_names(const Entry& e) {
    const std::string path = "metadata.previousNames";
    std::vector<At<std::string>> out;
    auto items = r_.list(e, path, kMaxPreviousNames);
    if (!items) return out;
    for (std::size_t i = 0; i < items->size(); ++i) {
      const Entry& item = (*items)[i];
      auto v = r_.string(item, index(path, i));
      if (!v) continue;
      if (!is_dns_label(*v)) {
        r_.error(
            item.at(), index(path, i),
            "\"" + std::string(utf8_prefix(*v, 64)) +
                "\" is not a DNS label: 1-63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit");
        continue;
      }
      out.push_back({*v, r_.where(item.at())});
    }
    return out;
  }

  std::map<std::string, std::string> labels(const Entry& e) {
    std::map<std::string, std::string> out;
    auto m = r_.map(e, "metadata.labels");
    if (!m) return out;
    if (m->size() > kMaxLabels) {
      r_.error(e.at(), "metadata.labels",
               "at most " + std::to_string(kMaxLabels) + " labels, got " + std::to_string(m->size()));
      return out;
    }
    for (const auto& l : *m) {
      std::string path = child("metadata.labels", l.key);
      if (!is_name(l.key, 63, true, "-_.")) {
        r_.error(
            l.key_node, path,
            "label keys are 1-63 characters of A-Z, a-z, 0-9, '-', '_' and '.', starting and ending with a letter or digit");
        continue;
      }
      auto v = r_.string(l, path);
      if (!v) continue;
      if (!v->empty() && !is_name(*v, 63, true, "-_.")) {
        r_.error(
            l.at(), path,
            "label values are empty or 1-63 characters of A-Z, a-z, 0-9, '-', '_' and '.', starting and ending with a letter or digit");
        continue;
      }
      out.emplace(l.key, *v);
    }
    return out;
  }

  template <class T>
  At<T> at(const Entry& e, T value) {
    return At<T>{std::move(value), r_.where(e.at())};
  }

  RawSpec spec(const Entry& e, bool in_defaults) {
    RawSpec s;
    auto f = r_.fields(e, "spec",
                       {"model", "skills", "image", "resources", "telegram", "providerKeys", "providerBaseUrls",
                        "chatCompletions", "browser", "state", "protect", "network"});
    if (!f) return s;
    for (const auto& field : *f) {
      std::string path = child("spec", field.key);
      if (in_defaults && (field.key == "telegram" || field.key == "network")) {
        r_.error(field.key_node, path,
                 field.key == "telegram"
                     ? "not allowed in Defaults: a Telegram bot serves one instance; set it in that Instance"
                     : "not allowed in Defaults: addresses and ports are per instance; set them in that Instance");
      } else if (field.key == "model") {
        if (auto v = r_.string(field, path)) {
          if (is_model(*v))
            s.model = at(field, *v);
          else
            r_.error(
                field.at(), path,
                "\"" + std::string(utf8_prefix(*v, 64)) +
                    "\" is not provider/model (e.g. anthropic/claude-opus-4-6): provider of a-z, 0-9 and '-', at most 128 characters in all");
        }
      } else if (field.key == "skills") {
        s.skills = skills(field, path);
      } else if (field.key == "image") {
        if (auto v = r_.string(field, path)) {
          if (is_dns_label(*v))
            s.image = at(field, *v);
          else
            r_.error(field.at(), path,
                     "\"" + std::string(utf8_prefix(*v, 64)) + "\" is not an image name (a DNS label)");
        }
      } else if (field.key == "resources") {
        resources(field, s);
      } else if (field.key == "telegram") {
        s.telegram = telegram(field, s);
      } else if (field.key == "providerKeys") {
        provider_keys(field, s);
      } else if (field.key == "providerBaseUrls") {
        provider_base_urls(field, s);
      } else if (field.key == "state") {
        if (auto v = r_.choice(field, path, {"running", "stopped"}))
          s.state = at(field, *v == 0 ? model::RunState::Running : model::RunState::Stopped);
      } else if (field.key == "protect") {
        if (auto v = r_.boolean(field, path)) s.protect = at(field, *v);
      } else if (field.key == "chatCompletions") {
        if (auto v = r_.boolean(field, path)) s.chat_completions = at(field, *v);
      } else if (field.key == "browser") {
        if (auto v = r_.boolean(field, path)) s.browser = at(field, *v);
      } else if (field.key == "network") {
        network(field, s);
      }
    }
    return s;
  }

  std::optional<At<std::vector<std::string>>> skills(const Entry& e, const std::string& path) {
    auto items = r_.list(e, path, kMaxSkills);
    if (!items) return std::nullopt;
    std::set<std::string> seen;
    bool ok = true;
    for (std::size_t i = 0; i < items->size(); ++i) {
      const Entry& item = (*items)[i];
      auto v = r_.string(item, index(path, i));
      if (!v) {
        ok = false;
        continue;
      }
      if (!is_skill(*v)) {
        r_.error(item.at(), index(path, i),
                 "\"" + std::string(utf8_prefix(*v, 64)) +
                     "\" is not a skill name: 1-64 characters of a-z, 0-9 and '-', starting with a letter or digit");
        ok = false;
      } else if (!seen.insert(*v).second) {
        r_.warning(item.at(), index(path, i), "\"" + *v + "\" is listed twice; the repeat is ignored");
      }
    }
    if (!ok) return std::nullopt;
    return At<std::vector<std::string>>{{seen.begin(), seen.end()}, r_.where(e.at())};
  }

  // A rate in bits per second, each direction: 50Mbit, 1Gbit (SI units,
  // as tc and every network datasheet write them).
  void bandwidth(const Entry& e, const std::string& path, RawSpec& s) {
    const std::string allowed = "a rate such as 50Mbit or 1Gbit (bits per second, each direction)";
    const std::string text = e.value.IsScalar() ? e.value.Scalar() : "";
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    const std::string unit = text.substr(digits);
    const std::uint64_t scale = unit == "Mbit" ? 1'000'000 : unit == "Gbit" ? 1'000'000'000 : 0;
    if (!e.value.IsScalar() || digits == 0 || digits > 6 || scale == 0) {
      r_.error(e.at(), path, "must be " + allowed + ", got " + describe(e.value));
      return;
    }
    const std::uint64_t bps = std::stoull(text.substr(0, digits)) * scale;
    if (bps < kMinBandwidthBps || bps > kMaxBandwidthBps) {
      r_.error(e.at(), path, "must be between 1Mbit and 100Gbit, got " + text);
      return;
    }
    s.bandwidth_bps = at(e, bps);
  }

  // A share of the host's CPUs in percent of one, as systemd's CPUQuota=
  // writes it: 50%, 150%. Its upper bound depends on vcpus (assemble.cc).
  void cpu_quota(const Entry& e, const std::string& path, RawSpec& s) {
    const std::string text = e.value.IsScalar() ? e.value.Scalar() : "";
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (!e.value.IsScalar() || digits == 0 || digits > 5 || text.substr(digits) != "%" || std::stoi(text) == 0) {
      r_.error(e.at(), path, "must be a percentage of one host CPU such as 50% or 150%, got " + describe(e.value));
      return;
    }
    s.cpu_quota_percent = at(e, std::stoi(text));
  }

  // A disk's size: 1GiB to 64TiB.
  std::optional<std::uint64_t> disk_size(const Entry& field, const std::string& path) {
    if (!field.value.IsScalar()) {
      r_.error(field.at(), path, "must be a size such as 20GiB, got " + describe(field.value));
      return std::nullopt;
    }
    auto bytes = parse_size(field.value.Scalar());
    if (!bytes) {
      r_.error(field.at(), path, bytes.error().message);
    } else if (bytes.value() < kMinDiskBytes || bytes.value() > kMaxDiskBytes) {
      r_.error(field.at(), path,
               "must be between " + format_size(kMinDiskBytes) + " and " + format_size(kMaxDiskBytes) + ", got " +
                   field.value.Scalar());
    } else {
      return bytes.value();
    }
    return std::nullopt;
  }

  void resources(const Entry& e, RawSpec& s) {
    auto f =
        r_.fields(e, "spec.resources", {"vcpus", "memoryMiB", "disk", "dataDisk", "bandwidth", "cpuQuota", "ioWeight"});
    if (!f) return;
    for (const auto& field : *f) {
      std::string path = child("spec.resources", field.key);
      if (field.key == "vcpus") {
        if (auto v = r_.integer(field, path, 1, kMaxVcpus)) s.vcpus = at(field, int(*v));
      } else if (field.key == "memoryMiB") {
        if (auto v = r_.integer(field, path, kMinMemoryMiB, kMaxMemoryMiB)) s.memory_mib = at(field, std::uint32_t(*v));
      } else if (field.key == "disk") {
        if (auto v = disk_size(field, path)) s.disk_bytes = at(field, *v);
      } else if (field.key == "dataDisk") {
        if (auto v = disk_size(field, path)) s.data_disk_bytes = at(field, *v);
      } else if (field.key == "bandwidth") {
        bandwidth(field, path, s);
      } else if (field.key == "cpuQuota") {
        cpu_quota(field, path, s);
      } else if (field.key == "ioWeight") {
        if (auto v = r_.integer(field, path, kMinIoWeight, kMaxIoWeight)) s.io_weight = at(field, int(*v));
      }
    }
  }

  // Nothing written inside a secret reference is ever echoed: users paste
  // tokens into the wrong place ({env: sk-...}, or {123:abc}, which YAML
  // reads as a key).
  std::optional<SecretRef> secret(const Entry& e, const std::string& path) {
    static constexpr const char* kHow = "{file: /etc/clawfleet/secrets/NAME}, {env: VARIABLE} or {credential: NAME}";
    if (e.value.IsScalar()) {
      r_.error(
          e.at(), path,
          std::string("inline secret values are not allowed (the value is not shown); write a reference: ") + kHow);
      return std::nullopt;
    }
    if (!e.value.IsMap()) {
      r_.error(e.at(), path,
               std::string("must be a secret reference: ") + kHow + ", got " + (e.value.IsNull() ? "null" : "a list"));
      return std::nullopt;
    }
    if (e.value.size() != 1) {
      r_.error(e.at(), path, "a secret reference has exactly one of file, env or credential");
      return std::nullopt;
    }
    for (const auto& kv : e.value) {
      YAML::Node k = kv.first, v = kv.second;
      std::string key = k.IsScalar() ? k.Scalar() : "";
      auto source = key == "file"         ? model::SecretSource::File
                    : key == "env"        ? model::SecretSource::Env
                    : key == "credential" ? model::SecretSource::Credential
                                          : std::optional<model::SecretSource>{};
      if (!source) {
        r_.error(k, path, std::string("unknown key in a secret reference (it is not shown); write ") + kHow);
        return std::nullopt;
      }
      std::string p = child(path, key);
      bool ok = v.IsScalar() && !(v.Tag() == "?" && v.Scalar().empty());
      const std::string value = ok ? v.Scalar() : "";
      if (*source == model::SecretSource::File)
        ok = ok && is_clean_absolute_path(value);
      else if (*source == model::SecretSource::Env)
        ok = ok && is_env_name(value);
      else
        ok = ok && is_credential_name(value);
      if (!ok) {
        static constexpr const char* kRule[] = {
            "must be an absolute path without \".\" or \"..\" components or control characters",
            "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*, at most 255 bytes)",
            "must be a credential name (A-Z, a-z, 0-9, '_', '.' and '-', at most 255 bytes, not . or ..)"};
        r_.error(Entry{key, k, v}.at(), p, std::string(kRule[int(*source)]) + " (the value is not shown)");
        return std::nullopt;
      }
      return SecretRef{*source, value};
    }
    return std::nullopt;
  }

  std::optional<model::Telegram> telegram(const Entry& e, RawSpec& s) {
    auto f = r_.fields(e, "spec.telegram", {"botToken", "allowFrom", "apiRoot"});
    if (!f) return std::nullopt;
    const Entry* token = find(*f, "botToken");
    const Entry* allow = find(*f, "allowFrom");
    if (!token)
      r_.error(e.at(), "spec.telegram.botToken",
               "required field is missing (Telegram needs both botToken and allowFrom)");
    if (!allow)
      r_.error(e.at(), "spec.telegram.allowFrom",
               "required field is missing (Telegram needs both botToken and allowFrom)");
    std::optional<SecretRef> ref;
    if (token) {
      ref = secret(*token, "spec.telegram.botToken");
      s.bot_token_loc = r_.where(token->at());
    }
    std::optional<std::vector<std::int64_t>> users;
    if (allow) users = allow_from(*allow);
    bool ok = true;
    std::optional<std::string> api_root;
    if (const Entry* root = find(*f, "apiRoot")) {
      api_root = url(*root, "spec.telegram.apiRoot");
      ok = api_root.has_value();
    }
    if (!ref || !users || !ok) return std::nullopt;
    return model::Telegram{*ref, *users, api_root};
  }

  // An endpoint URL (url.h). The Bot API root is the server's root: a
  // path with /bot<TOKEN> would put the token into the manifest, so that is
  // checked first and never shown.
  std::optional<std::string> url(const Entry& e, const std::string& path) {
    auto v = r_.string(e, path);
    if (!v) return std::nullopt;
    if (path == "spec.telegram.apiRoot" && has_bot_token_path(*v)) {
      r_.error(e.at(), path,
               "must be the Bot API root only, without /bot<TOKEN> (the value is not shown), e.g. "
               "https://telegram-bot-api.internal:8081");
      return std::nullopt;
    }
    if (auto problem = endpoint_url_problem(*v)) {
      r_.error(e.at(), path, "must be " + *problem);
      return std::nullopt;
    }
    return v;
  }

  // A path component "bot" followed by a digit: the start of a bot token.
  static bool has_bot_token_path(const std::string& url) {
    for (std::size_t at = url.find("/bot"); at != std::string::npos; at = url.find("/bot", at + 1))
      if (at + 4 < url.size() && std::isdigit(static_cast<unsigned char>(url[at + 4]))) return true;
    return false;
  }

  // Where a model provider's API is (an LLM gateway): OpenClaw takes a
  // baseUrl overlay without a model list only for its bundled providers,
  // so only the providers clawfleet knows may be pointed elsewhere.
  void provider_base_urls(const Entry& e, RawSpec& s) {
    const std::string base = "spec.providerBaseUrls";
    auto m = r_.map(e, base);
    if (!m) return;
    if (m->size() > kMaxProviderKeys) {
      r_.error(e.at(), base,
               "at most " + std::to_string(kMaxProviderKeys) + " providers, got " + std::to_string(m->size()));
      return;
    }
    for (const auto& k : *m) {
      std::string path = child(base, k.key);
      if (std::find(std::begin(kKeyedProviders), std::end(kKeyedProviders), k.key) == std::end(kKeyedProviders)) {
        r_.error(k.key_node, path,
                 "\"" + std::string(utf8_prefix(k.key, 64)) +
                     "\" is not a provider whose base URL clawfleet sets (anthropic, minimax, openai)");
        continue;
      }
      if (auto v = url(k, path)) s.provider_base_urls.emplace(k.key, At<std::string>{*v, r_.where(k.at())});
    }
  }

  std::optional<std::vector<std::int64_t>> allow_from(const Entry& e) {
    const std::string path = "spec.telegram.allowFrom";
    auto items = r_.list(e, path, kMaxTelegramUsers);
    if (!items) return std::nullopt;
    if (items->empty()) {
      r_.error(e.at(), path, "must list at least one Telegram user id: only these users may message the bot");
      return std::nullopt;
    }
    std::set<std::int64_t> seen;
    bool ok = true;
    for (std::size_t i = 0; i < items->size(); ++i) {
      auto v = r_.integer((*items)[i], index(path, i), 1, kMaxTelegramUserId);
      if (!v) {
        ok = false;
        continue;
      }
      if (!seen.insert(*v).second)
        r_.warning((*items)[i].at(), index(path, i),
                   "user " + std::to_string(*v) + " is listed twice; the repeat is ignored");
    }
    if (!ok) return std::nullopt;
    return std::vector<std::int64_t>(seen.begin(), seen.end());
  }

  void provider_keys(const Entry& e, RawSpec& s) {
    auto m = r_.map(e, "spec.providerKeys");
    if (!m) return;
    if (m->size() > kMaxProviderKeys) {
      r_.error(e.at(), "spec.providerKeys",
               "at most " + std::to_string(kMaxProviderKeys) + " providers, got " + std::to_string(m->size()));
      return;
    }
    for (const auto& k : *m) {
      std::string path = child("spec.providerKeys", k.key);
      if (!is_provider(k.key)) {
        r_.error(k.key_node, path,
                 "\"" + std::string(utf8_prefix(k.key, 64)) +
                     "\" is not a provider name: 1-32 characters of a-z, 0-9 and '-'");
        continue;
      }
      s.providers_named.insert(k.key);
      if (auto ref = secret(k, path)) s.provider_keys.emplace(k.key, At<SecretRef>{*ref, r_.where(k.at())});
    }
  }

  void network(const Entry& e, RawSpec& s) {
    auto f = r_.fields(e, "spec.network", {"hostPort", "ip", "mac"});
    if (!f) return;
    for (const auto& field : *f) {
      std::string path = child("spec.network", field.key);
      if (field.key == "hostPort") {
        if (auto v = r_.integer(field, path, 1024, 65535)) s.host_port = at(field, std::uint16_t(*v));
      } else if (field.key == "ip") {
        if (auto v = r_.string(field, path)) {
          if (auto ip = parse_ipv4(*v))
            s.ip = at(field, ip.value());
          else
            r_.error(field.at(), path, ip.error().message + ", got \"" + std::string(utf8_prefix(*v, 64)) + "\"");
        }
      } else if (field.key == "mac") {
        if (auto v = r_.string(field, path)) {
          auto mac = parse_mac(*v);
          if (!mac)
            r_.error(field.at(), path, mac.error().message + ", got \"" + std::string(utf8_prefix(*v, 64)) + "\"");
          else if (mac.value().multicast())
            r_.error(field.at(), path, *v + " is a multicast address; a NIC needs a unicast one (first octet even)");
          else
            s.mac = at(field, mac.value());
        }
      }
    }
  }

  void host(const YAML::Node& root, const Entry* meta, const Entry* spec) {
    optional_metadata(meta);
    RawHost h;
    h.loc = r_.where(root);
    if (spec) {
      auto f = r_.fields(*spec, "spec",
                         {"bridge", "subnet", "gateway", "ports", "vmm", "images", "egress", "dns", "stateRoot",
                          "limits", "caCertificates", "secretRoots", "liveness", "rollout"});
      for (const auto& field : f ? *f : std::vector<Entry>{}) host_field(field, h);
    }
    raw_.hosts.push_back(std::move(h));
  }

  void host_field(const Entry& field, RawHost& h) {
    std::string path = child("spec", field.key);
    if (field.key == "bridge") {
      if (auto v = r_.string(field, path)) {
        if (is_ifname(*v))
          h.bridge = at(field, *v);
        else
          r_.error(field.at(), path,
                   "\"" + std::string(utf8_prefix(*v, 64)) +
                       "\" is not an interface name: 1-15 bytes of A-Z, a-z, 0-9, '_', '.' and '-'");
      }
    } else if (field.key == "subnet") {
      auto v = r_.string(field, path);
      if (!v) return;
      auto c = parse_cidr(*v);
      if (!c) {
        r_.error(field.at(), path, c.error().message + ", got \"" + std::string(utf8_prefix(*v, 64)) + "\"");
      } else if (c.value().prefix < 16 || c.value().prefix > 29) {
        r_.error(field.at(), path, "prefix must be between /16 and /29, got /" + std::to_string(c.value().prefix));
      } else if ((c.value().network.value & ~c.value().mask()) != 0) {
        Cidr fixed{Ipv4{c.value().network.value & c.value().mask()}, c.value().prefix};
        r_.error(field.at(), path, *v + " has host bits set; did you mean " + to_string(fixed) + "?");
      } else {
        h.subnet = at(field, c.value());
      }
    } else if (field.key == "gateway") {
      if (auto v = r_.string(field, path)) {
        if (auto ip = parse_ipv4(*v))
          h.gateway = at(field, ip.value());
        else
          r_.error(field.at(), path, ip.error().message + ", got \"" + std::string(utf8_prefix(*v, 64)) + "\"");
      }
    } else if (field.key == "ports") {
      auto f = r_.fields(field, path, {"first", "last"});
      for (const auto& p : f ? *f : std::vector<Entry>{}) {
        auto v = r_.integer(p, child(path, p.key), 1024, 65535);
        if (!v) continue;
        (p.key == "first" ? h.port_first : h.port_last) = at(p, std::uint16_t(*v));
      }
    } else if (field.key == "vmm") {
      auto f = r_.fields(field, path, {"kind", "binary", "jailer", "smt", "accel"});
      for (const auto& p : f ? *f : std::vector<Entry>{}) {
        std::string sub = child(path, p.key);
        if (p.key == "kind") {
          if (auto v = r_.choice(p, sub, {"firecracker", "qemu"}))
            h.vmm_kind = at(p, *v == 0 ? model::VmmKind::Firecracker : model::VmmKind::Qemu);
        } else if (p.key == "accel") {
          if (auto v = r_.choice(p, sub, {"auto", "kvm", "tcg"}))
            h.accel = at(p, *v == 0 ? model::Accel::Auto : *v == 1 ? model::Accel::Kvm : model::Accel::Tcg);
        } else if (p.key == "binary") {
          if (auto v = r_.absolute_path(p, sub)) h.vmm_binary = at(p, *v);
        } else if (p.key == "jailer") {
          if (auto v = r_.absolute_path(p, sub)) h.jailer = at(p, *v);
        } else if (auto v = r_.boolean(p, sub)) {
          h.smt = at(p, *v);
        }
      }
    } else if (field.key == "images") {
      images(field, h);
    } else if (field.key == "egress") {
      egress(field, path, h);
    } else if (field.key == "dns") {
      h.dns = dns(field, path);
    } else if (field.key == "stateRoot") {
      if (auto v = r_.absolute_path(field, path)) h.state_root = at(field, *v);
    } else if (field.key == "caCertificates") {
      h.ca_certificates = paths(field, path, kMaxCaCertificates);
    } else if (field.key == "secretRoots") {
      h.secret_roots = paths(field, path, kMaxSecretRoots);
    } else if (field.key == "liveness") {
      auto f = r_.fields(field, path, {"failAfter"});
      for (const auto& p : f ? *f : std::vector<Entry>{}) liveness_fail_after(p, child(path, p.key), h);
    } else if (field.key == "rollout") {
      auto f = r_.fields(field, path, {"maxUnavailable"});
      for (const auto& p : f ? *f : std::vector<Entry>{})
        if (auto v = r_.integer(p, child(path, p.key), 1, kMaxInstances)) h.max_unavailable = at(p, std::uint32_t(*v));
    } else if (field.key == "limits") {
      auto f = r_.fields(field, path, {"vcpus", "memoryMiB", "connections"});
      for (const auto& p : f ? *f : std::vector<Entry>{}) {
        std::string sub = child(path, p.key);
        if (p.key == "vcpus") {
          if (auto v = r_.integer(p, sub, 1, kMaxVcpus)) h.max_vcpus = at(p, int(*v));
        } else if (p.key == "connections") {
          if (auto v = r_.integer(p, sub, model::kMinMaxConnections, model::kMaxMaxConnections))
            h.max_connections = at(p, std::uint32_t(*v));
        } else if (auto v = r_.integer(p, sub, kMinMemoryMiB, kMaxMemoryMiB)) {
          h.max_memory_mib = at(p, std::uint32_t(*v));
        }
      }
    }
  }

  // A duration as --resync takes it (300, 90s, 5m, 1h), or off (also 0).
  void liveness_fail_after(const Entry& e, const std::string& path, RawHost& h) {
    const std::string allowed = "a duration such as 90s, 5m or 1h, or off";
    if (!e.value.IsScalar()) {
      r_.error(e.at(), path, "must be " + allowed + ", got " + describe(e.value));
      return;
    }
    const std::string& text = e.value.Scalar();
    if (text == "off" || text == "0") {
      h.liveness_fail_after_ms = at(e, std::int64_t{0});
      return;
    }
    auto d = parse_duration(text);
    if (!d) {
      r_.error(e.at(), path, "\"" + std::string(utf8_prefix(text, 64)) + "\" is not " + allowed);
    } else if (d.value().count() < kMinLivenessFailAfterMs || d.value().count() > kMaxLivenessFailAfterMs) {
      r_.error(e.at(), path, "must be between 30s and 24h (or off), got " + text);
    } else {
      h.liveness_fail_after_ms = at(e, std::int64_t(d.value().count()));
    }
  }

  // `egress: MODE`, or `egress: {mode: MODE, proxy: {url}, allowTo: [...]}`;
  // the choices are in the order of model::Egress.
  void egress(const Entry& e, const std::string& path, RawHost& h) {
    if (!e.value.IsMap()) {
      if (e.value.IsScalar() && e.value.Scalar() == "proxy") {
        r_.error(e.at(), path,
                 "mode proxy needs the proxy's address: write egress: {proxy: {url: http://ADDRESS:PORT}}");
        return;
      }
      if (auto v = r_.choice(e, path, {"deny", "internet", "allow"})) h.egress = at(e, model::Egress(*v));
      return;
    }
    auto f = r_.fields(e, path, {"mode", "proxy", "allowTo"});
    if (!f) return;
    const Entry* mode = find(*f, "mode");
    const Entry* proxy = find(*f, "proxy");
    std::optional<model::Egress> m;
    if (mode) {
      auto v = r_.choice(*mode, child(path, "mode"), {"deny", "internet", "allow", "proxy"});
      if (!v) return;
      m = model::Egress(*v);
    }
    if (!m) m = proxy ? model::Egress::Proxy : model::Egress::Internet;
    if (*m == model::Egress::Proxy && !proxy)
      r_.error(e.at(), child(path, "proxy"),
               "required field is missing (mode proxy needs proxy: {url: http://ADDRESS:PORT})");
    else if (*m != model::Egress::Proxy && proxy)
      r_.error(proxy->key_node, child(path, "proxy"),
               std::string("only with mode proxy; this egress is ") + model::to_string(*m));
    else if (proxy)
      h.proxy = proxy_of(*proxy, child(path, "proxy"));
    h.egress = at(e, *m);
    if (const Entry* allow = find(*f, "allowTo")) h.allow_to = allow_to(*allow, child(path, "allowTo"));
  }

  // http://ADDRESS:PORT: an address, so the table needs no DNS; no
  // credentials, which would be a secret written in the manifest.
  std::optional<At<model::EgressProxy>> proxy_of(const Entry& e, const std::string& path) {
    auto f = r_.fields(e, path, {"url"});
    if (!f) return std::nullopt;
    const Entry* url = find(*f, "url");
    if (!url) {
      r_.error(e.at(), child(path, "url"), "required field is missing (http://ADDRESS:PORT)");
      return std::nullopt;
    }
    auto v = r_.string(*url, child(path, "url"));
    if (!v) return std::nullopt;
    const std::string shown = std::string(utf8_prefix(*v, 64));
    const std::string scheme = "http://";
    std::string rest = v->rfind(scheme, 0) == 0 ? v->substr(scheme.size()) : "";
    if (!rest.empty() && rest.back() == '/') rest.pop_back();
    const auto colon = rest.find(':');
    auto ip = parse_ipv4(rest.substr(0, colon));
    const std::string port = colon == std::string::npos ? "" : rest.substr(colon + 1);
    const bool digits = !port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos;
    if (v->find('@') != std::string::npos) {
      r_.error(url->at(), child(path, "url"),
               "credentials in the proxy URL are not supported (the value is not shown)");
    } else if (!ip || !digits || std::stoul(port) == 0 || std::stoul(port) > 65535 || port[0] == '0') {
      r_.error(url->at(), child(path, "url"),
               "must be http://ADDRESS:PORT with an IPv4 address and a port 1-65535, got \"" + shown + "\"");
    } else if ((ip.value().value >> 24) == 127) {
      r_.error(url->at(), child(path, "url"),
               "\"" + shown + "\" is a loopback address: inside a guest that is the guest itself");
    } else {
      return At<model::EgressProxy>{{*v, ip.value(), std::uint16_t(std::stoul(port))}, r_.where(url->at())};
    }
    return std::nullopt;
  }

  // Destinations reachable in every mode: a CIDR, an address, or
  // ADDRESS:PORT (TCP and UDP to that port). Never loopback (the guest
  // itself) or the metadata address.
  std::optional<At<std::vector<model::EgressException>>> allow_to(const Entry& e, const std::string& path) {
    auto items = r_.list(e, path, kMaxEgressExceptions);
    if (!items) return std::nullopt;
    std::vector<model::EgressException> out;
    bool ok = true;
    for (std::size_t i = 0; i < items->size(); ++i) {
      const Entry& item = (*items)[i];
      const std::string p = index(path, i);
      auto v = r_.string(item, p);
      if (!v) {
        ok = false;
        continue;
      }
      std::optional<model::EgressException> x;
      const auto colon = v->find(':');
      if (colon != std::string::npos) {
        auto ip = parse_ipv4(v->substr(0, colon));
        const std::string port = v->substr(colon + 1);
        const bool digits = !port.empty() && port.size() <= 5 && port[0] != '0' &&
                            port.find_first_not_of("0123456789") == std::string::npos;
        if (ip && digits && std::stoul(port) <= 65535)
          x = model::EgressException{Cidr{ip.value(), 32}, std::uint16_t(std::stoul(port))};
      } else if (v->find('/') != std::string::npos) {
        auto c = parse_cidr(*v);
        if (c && (c.value().network.value & ~c.value().mask()) == 0) x = model::EgressException{c.value(), {}};
      } else if (auto ip = parse_ipv4(*v)) {
        x = model::EgressException{Cidr{ip.value(), 32}, {}};
      }
      std::string problem;
      if (!x)
        problem = "must be a network (10.0.0.0/8, host bits zero), an address or ADDRESS:PORT, got \"" +
                  std::string(utf8_prefix(*v, 64)) + "\"";
      else if ((x->to.network.value >> 24) == 127 || x->to.prefix < 8)
        problem = *v + " would reach the guest itself or everything; name the destination";
      else if (x->to.contains(Ipv4{0xa9fea9fe}))
        problem = *v + " holds the metadata address 169.254.169.254, which guests never reach";
      else if (std::find(out.begin(), out.end(), *x) != out.end())
        problem = *v + " is listed twice";
      if (!problem.empty()) {
        r_.error(item.at(), p, problem);
        ok = false;
        continue;
      }
      out.push_back(*x);
    }
    if (!ok) return std::nullopt;
    return At<std::vector<model::EgressException>>{std::move(out), r_.where(e.at())};
  }

  // The guests' resolvers, in the order they ask them. A loopback address
  // inside a guest is the guest itself, never the host's resolver.
  std::optional<At<std::vector<Ipv4>>> dns(const Entry& e, const std::string& path) {
    auto items = r_.list(e, path, model::kMaxDnsServers);
    if (!items) return std::nullopt;
    if (items->empty()) {
      r_.error(e.at(), path, "must name at least one resolver; leave spec.dns out to use the host's own");
      return std::nullopt;
    }
    std::vector<Ipv4> out;
    bool ok = true;
    for (std::size_t i = 0; i < items->size(); ++i) {
      const Entry& item = (*items)[i];
      const std::string p = index(path, i);
      auto v = r_.string(item, p);
      auto ip = v ? parse_ipv4(*v) : Result<Ipv4>(Error{""});
      std::string problem;
      if (!v)
        ok = false;
      else if (!ip)
        problem = ip.error().message + ", got \"" + std::string(utf8_prefix(*v, 64)) + "\"";
      else if ((ip.value().value >> 24) == 127)
        problem = *v +
                  " is a loopback address: inside a guest that is the guest itself; name the host's upstream "
                  "resolver, or the Host's gateway address for a resolver bound there";
      else if (ip.value().value == 0 || (ip.value().value >> 28) == 0xe || ip.value().value == 0xffffffff)
        problem = *v + " is not a unicast address";
      else if (std::find(out.begin(), out.end(), ip.value()) != out.end())
        // At the list, as a schema's uniqueItems reports it.
        r_.error(e.at(), path, *v + " is listed twice"), ok = false;
      else
        out.push_back(ip.value());
      if (!problem.empty()) {
        r_.error(item.at(), p, problem);
        ok = false;
      }
    }
    if (!ok) return std::nullopt;
    return At<std::vector<Ipv4>>{std::move(out), r_.where(e.at())};
  }

  // A list of absolute paths (spec.caCertificates, spec.secretRoots); a
  // repeat is a warning. CA files are read, and checked to hold
  // certificates only, when the desired state is loaded (ca_certificates.h).
  std::optional<std::vector<At<std::string>>> paths(const Entry& e, const std::string& path, std::size_t limit) {
    auto items = r_.list(e, path, limit);
    if (!items) return std::nullopt;
    std::vector<At<std::string>> out;
    std::set<std::string> seen;
    bool ok = true;
    for (std::size_t i = 0; i < items->size(); ++i) {
      const Entry& item = (*items)[i];
      auto v = r_.absolute_path(item, index(path, i));
      if (!v) {
        ok = false;
      } else if (!seen.insert(*v).second) {
        r_.warning(item.at(), index(path, i), *v + " is listed twice; the repeat is ignored");
      } else {
        out.push_back(at(item, *v));
      }
    }
    if (!ok) return std::nullopt;
    return out;
  }

  void images(const Entry& e, RawHost& h) {
    auto m = r_.map(e, "spec.images");
    if (!m) return;
    if (m->size() > kMaxImages) {
      r_.error(e.at(), "spec.images",
               "at most " + std::to_string(kMaxImages) + " images, got " + std::to_string(m->size()));
      return;
    }
    if (m->empty()) {
      r_.error(e.at(), "spec.images", "must name at least one image");
      return;
    }
    std::map<std::string, model::Image> out;
    std::vector<std::pair<std::string, At<std::string>>> files;
    bool ok = true;
    for (const auto& img : *m) {
      std::string path = child("spec.images", img.key);
      if (!is_dns_label(img.key)) {
        r_.error(img.key_node, path,
                 "\"" + std::string(utf8_prefix(img.key, 64)) + "\" is not an image name (a DNS label)");
        ok = false;
        continue;
      }
      auto f = r_.fields(img, path, {"kernel", "rootfs", "initrd"});
      if (!f) {
        ok = false;
        continue;
      }
      model::Image image;
      for (const char* required : {"kernel", "rootfs"})
        if (!find(*f, required)) {
          r_.error(img.at(), child(path, required), "required field is missing");
          ok = false;
        }
      for (const auto& p : *f) {
        auto v = r_.absolute_path(p, child(path, p.key));
        if (!v) {
          ok = false;
          continue;
        }
        files.emplace_back(child(path, p.key), at(p, *v));
        if (p.key == "kernel")
          image.kernel = *v;
        else if (p.key == "rootfs")
          image.rootfs = *v;
        else
          image.initrd = *v;
      }
      out.emplace(img.key, std::move(image));
    }
    if (!ok) return;
    h.images = At<std::map<std::string, model::Image>>{std::move(out), r_.where(e.at())};
    h.image_files = std::move(files);
  }

  YamlReader r_;
  Raw& raw_;
};

}  // namespace

void read_document(const std::string& file, const YAML::Node& root, Diagnostics& diags, Raw& raw) {
  Parser(file, diags, raw).document(root);
}

}  // namespace cf::manifest
