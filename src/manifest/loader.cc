#include "manifest/loader.h"

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "core/text.h"
#include "manifest/defaults.h"
#include "manifest/limits.h"
#include "manifest/yaml_reader.h"

namespace cf::manifest {
namespace {

using model::SecretRef;

// A value and where it was written.
template <class T>
struct At {
  T value;
  Location loc;
};

// The spec fields an Instance and Defaults share, as written (unset = absent).
struct RawSpec {
  std::optional<At<std::string>> model;
  std::optional<At<std::vector<std::string>>> skills;
  std::optional<At<std::string>> image;
  std::optional<At<int>> vcpus;
  std::optional<At<std::uint32_t>> memory_mib;
  std::optional<At<std::uint64_t>> disk_bytes;
  std::optional<model::Telegram> telegram;
  std::map<std::string, At<SecretRef>> provider_keys;
  std::set<std::string> providers_named;  // even with a bad reference: no "needs a key" on top
  std::optional<At<model::RunState>> state;
  std::optional<At<bool>> protect;
  std::optional<At<std::uint16_t>> host_port;
  std::optional<At<Ipv4>> ip;
  std::optional<At<Mac>> mac;
};

struct RawInstance {
  At<std::string> name;
  std::map<std::string, std::string> labels;
  RawSpec spec;
};

struct RawDefaults {
  Location loc;
  RawSpec spec;
};

struct RawHost {
  Location loc;
  std::optional<At<std::string>> bridge;
  std::optional<At<Cidr>> subnet;
  std::optional<At<Ipv4>> gateway;
  std::optional<At<std::uint16_t>> port_first;
  std::optional<At<std::uint16_t>> port_last;
  std::optional<At<model::VmmKind>> vmm_kind;
  std::optional<At<std::string>> vmm_binary;
  std::optional<At<bool>> smt;
  std::optional<At<std::map<std::string, model::Image>>> images;
  std::optional<At<model::Egress>> egress;
  std::optional<At<std::string>> state_root;
  std::optional<At<int>> max_vcpus;
  std::optional<At<std::uint32_t>> max_memory_mib;
};

struct Raw {
  std::vector<RawInstance> instances;
  std::vector<RawDefaults> defaults;
  std::vector<RawHost> hosts;
};

bool is_name(std::string_view s, std::size_t max, bool allow_upper, std::string_view extra) {
  if (s.empty() || s.size() > max) return false;
  auto alnum = [&](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (allow_upper && c >= 'A' && c <= 'Z');
  };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || extra.find(c) != std::string_view::npos; });
}

bool is_provider(std::string_view s) {
  if (s.empty() || s.size() > 32) return false;
  auto ok = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return ok(s[0]) && std::all_of(s.begin(), s.end(), [&](char c) { return ok(c) || c == '-'; });
}

bool is_model(std::string_view s) {
  auto slash = s.find('/');
  if (slash == std::string_view::npos || s.size() > 128 || !is_provider(s.substr(0, slash))) return false;
  auto name = s.substr(slash + 1);
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  return !name.empty() && alnum(name[0]) &&
         std::all_of(name.begin(), name.end(), [&](char c) { return alnum(c) || std::string_view("-._:/").find(c) != std::string_view::npos; });
}

bool is_skill(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  auto ok = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  return ok(s[0]) && std::all_of(s.begin(), s.end(), [&](char c) { return ok(c) || c == '-'; });
}

bool is_env_name(std::string_view s) {
  if (s.empty() || s.size() > 255 || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool is_credential_name(std::string_view s) {
  if (s.empty() || s.size() > 255 || s == "." || s == "..") return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
  });
}

const Entry* find(const std::vector<Entry>& entries, std::string_view key) {
  for (const auto& e : entries)
    if (e.key == key) return &e;
  return nullptr;
}

std::string where_text(const Location& l) {
  return l.file + ':' + std::to_string(l.line) + ':' + std::to_string(l.column);
}

// Reads one file's documents into Raw. Every problem is a diagnostic; a bad
// field is left unset and the rest of the document is still read.
class Parser {
 public:
  Parser(std::string file, Diagnostics& diags, Raw& raw) : r_(std::move(file), diags), raw_(raw) {}

  void document(const YAML::Node& root) {
    Entry doc{"", root, root};
    if (!root.IsMap()) {
      r_.error(root, "", "a document must be a mapping with apiVersion, kind, metadata and spec; got " + describe(root));
      return;
    }
    auto f = r_.fields(doc, "", {"apiVersion", "kind", "metadata", "spec"});
    const Entry* api = find(*f, "apiVersion");
    const Entry* kind = find(*f, "kind");
    if (!api) r_.error(root, "apiVersion", std::string("required field is missing (want ") + kApiVersion + ")");
    else if (auto v = r_.string(*api, "apiVersion"); v && *v != kApiVersion)
      r_.error(api->at(), "apiVersion", "unsupported version \"" + std::string(utf8_prefix(*v, 64)) + "\"; this clawfleet reads " + kApiVersion);
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
    if (auto m = meta ? r_.fields(*meta, "metadata", {"name", "labels"}) : std::nullopt) {
      const Entry* name = find(*m, "name");
      if (!name) {
        r_.error(meta->at(), "metadata.name", "required field is missing");
      } else if (auto n = r_.string(*name, "metadata.name")) {
        if (is_dns_label(*n)) {
          inst.name = {*n, r_.where(name->at())};
          named = true;
        } else {
          r_.error(name->at(), "metadata.name",
                   "\"" + std::string(utf8_prefix(*n, 64)) + "\" is not a DNS label: 1-63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit");
        }
      }
      if (const Entry* labels = find(*m, "labels")) inst.labels = this->labels(*labels);
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
        r_.error(name->at(), "metadata.name", "\"" + std::string(utf8_prefix(*n, 64)) + "\" is not a DNS label: 1-63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit");
  }

  std::map<std::string, std::string> labels(const Entry& e) {
    std::map<std::string, std::string> out;
    auto m = r_.map(e, "metadata.labels");
    if (!m) return out;
    if (m->size() > kMaxLabels) {
      r_.error(e.at(), "metadata.labels", "at most " + std::to_string(kMaxLabels) + " labels, got " + std::to_string(m->size()));
      return out;
    }
    for (const auto& l : *m) {
      std::string path = child("metadata.labels", l.key);
      if (!is_name(l.key, 63, true, "-_.")) {
        r_.error(l.key_node, path, "label keys are 1-63 characters of A-Z, a-z, 0-9, '-', '_' and '.', starting and ending with a letter or digit");
        continue;
      }
      auto v = r_.string(l, path);
      if (!v) continue;
      if (!v->empty() && !is_name(*v, 63, true, "-_.")) {
        r_.error(l.at(), path, "label values are empty or 1-63 characters of A-Z, a-z, 0-9, '-', '_' and '.', starting and ending with a letter or digit");
        continue;
      }
      out.emplace(l.key, *v);
    }
    return out;
  }

  template <class T>
  At<T> at(const Entry& e, T value) { return At<T>{std::move(value), r_.where(e.at())}; }

  RawSpec spec(const Entry& e, bool in_defaults) {
    RawSpec s;
    auto f = r_.fields(e, "spec", {"model", "skills", "image", "resources", "telegram", "providerKeys", "state", "protect", "network"});
    if (!f) return s;
    for (const auto& field : *f) {
      std::string path = child("spec", field.key);
      if (in_defaults && (field.key == "telegram" || field.key == "network")) {
        r_.error(field.key_node, path, field.key == "telegram"
                                           ? "not allowed in Defaults: a Telegram bot serves one instance; set it in that Instance"
                                           : "not allowed in Defaults: addresses and ports are per instance; set them in that Instance");
      } else if (field.key == "model") {
        if (auto v = r_.string(field, path)) {
          if (is_model(*v)) s.model = at(field, *v);
          else r_.error(field.at(), path, "\"" + std::string(utf8_prefix(*v, 64)) + "\" is not provider/model (e.g. anthropic/claude-opus-4-6): provider of a-z, 0-9 and '-', at most 128 characters in all");
        }
      } else if (field.key == "skills") {
        s.skills = skills(field, path);
      } else if (field.key == "image") {
        if (auto v = r_.string(field, path)) {
          if (is_dns_label(*v)) s.image = at(field, *v);
          else r_.error(field.at(), path, "\"" + std::string(utf8_prefix(*v, 64)) + "\" is not an image name (a DNS label)");
        }
      } else if (field.key == "resources") {
        resources(field, s);
      } else if (field.key == "telegram") {
        s.telegram = telegram(field);
      } else if (field.key == "providerKeys") {
        provider_keys(field, s);
      } else if (field.key == "state") {
        if (auto v = r_.choice(field, path, {"running", "stopped"}))
          s.state = at(field, *v == 0 ? model::RunState::Running : model::RunState::Stopped);
      } else if (field.key == "protect") {
        if (auto v = r_.boolean(field, path)) s.protect = at(field, *v);
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
      if (!v) { ok = false; continue; }
      if (!is_skill(*v)) {
        r_.error(item.at(), index(path, i), "\"" + std::string(utf8_prefix(*v, 64)) + "\" is not a skill name: 1-64 characters of a-z, 0-9 and '-', starting with a letter or digit");
        ok = false;
      } else if (!seen.insert(*v).second) {
        r_.warning(item.at(), index(path, i), "\"" + *v + "\" is listed twice; the repeat is ignored");
      }
    }
    if (!ok) return std::nullopt;
    return At<std::vector<std::string>>{{seen.begin(), seen.end()}, r_.where(e.at())};
  }

  void resources(const Entry& e, RawSpec& s) {
    auto f = r_.fields(e, "spec.resources", {"vcpus", "memoryMiB", "disk"});
    if (!f) return;
    for (const auto& field : *f) {
      std::string path = child("spec.resources", field.key);
      if (field.key == "vcpus") {
        if (auto v = r_.integer(field, path, 1, kMaxVcpus)) s.vcpus = at(field, int(*v));
      } else if (field.key == "memoryMiB") {
        if (auto v = r_.integer(field, path, kMinMemoryMiB, kMaxMemoryMiB)) s.memory_mib = at(field, std::uint32_t(*v));
      } else if (field.key == "disk") {
        if (!field.value.IsScalar()) {
          r_.error(field.at(), path, "must be a size such as 20GiB, got " + describe(field.value));
          continue;
        }
        auto bytes = parse_size(field.value.Scalar());
        if (!bytes) {
          r_.error(field.at(), path, bytes.error().message);
        } else if (bytes.value() < kMinDiskBytes || bytes.value() > kMaxDiskBytes) {
          r_.error(field.at(), path, "must be between " + format_size(kMinDiskBytes) + " and " + format_size(kMaxDiskBytes) + ", got " + field.value.Scalar());
        } else {
          s.disk_bytes = at(field, bytes.value());
        }
      }
    }
  }

  // Nothing written inside a secret reference is ever echoed: users paste
  // tokens into the wrong place ({env: sk-...}, or {123:abc}, which YAML
  // reads as a key).
  std::optional<SecretRef> secret(const Entry& e, const std::string& path) {
    static constexpr const char* kHow = "{file: /etc/clawfleet/secrets/NAME}, {env: VARIABLE} or {credential: NAME}";
    if (e.value.IsScalar()) {
      r_.error(e.at(), path, std::string("inline secret values are not allowed (the value is not shown); write a reference: ") + kHow);
      return std::nullopt;
    }
    if (!e.value.IsMap()) {
      r_.error(e.at(), path, std::string("must be a secret reference: ") + kHow + ", got " + (e.value.IsNull() ? "null" : "a list"));
      return std::nullopt;
    }
    if (e.value.size() != 1) {
      r_.error(e.at(), path, "a secret reference has exactly one of file, env or credential");
      return std::nullopt;
    }
    for (const auto& kv : e.value) {
      YAML::Node k = kv.first, v = kv.second;
      std::string key = k.IsScalar() ? k.Scalar() : "";
      auto source = key == "file" ? model::SecretSource::File
                  : key == "env" ? model::SecretSource::Env
                  : key == "credential" ? model::SecretSource::Credential
                  : std::optional<model::SecretSource>{};
      if (!source) {
        r_.error(k, path, std::string("unknown key in a secret reference (it is not shown); write ") + kHow);
        return std::nullopt;
      }
      std::string p = child(path, key);
      bool ok = v.IsScalar() && !(v.Tag() == "?" && v.Scalar().empty());
      const std::string value = ok ? v.Scalar() : "";
      if (*source == model::SecretSource::File) ok = ok && is_clean_absolute_path(value);
      else if (*source == model::SecretSource::Env) ok = ok && is_env_name(value);
      else ok = ok && is_credential_name(value);
      if (!ok) {
        static constexpr const char* kRule[] = {
            "must be an absolute path without \".\" or \"..\" components",
            "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*, at most 255 bytes)",
            "must be a credential name (A-Z, a-z, 0-9, '_', '.' and '-', at most 255 bytes, not . or ..)"};
        r_.error(Entry{key, k, v}.at(), p, std::string(kRule[int(*source)]) + " (the value is not shown)");
        return std::nullopt;
      }
      return SecretRef{*source, value};
    }
    return std::nullopt;
  }

  std::optional<model::Telegram> telegram(const Entry& e) {
    auto f = r_.fields(e, "spec.telegram", {"botToken", "allowFrom"});
    if (!f) return std::nullopt;
    const Entry* token = find(*f, "botToken");
    const Entry* allow = find(*f, "allowFrom");
    if (!token) r_.error(e.at(), "spec.telegram.botToken", "required field is missing (Telegram needs both botToken and allowFrom)");
    if (!allow) r_.error(e.at(), "spec.telegram.allowFrom", "required field is missing (Telegram needs both botToken and allowFrom)");
    std::optional<SecretRef> ref;
    if (token) ref = secret(*token, "spec.telegram.botToken");
    std::optional<std::vector<std::int64_t>> users;
    if (allow) users = allow_from(*allow);
    if (!ref || !users) return std::nullopt;
    return model::Telegram{*ref, *users};
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
      if (!v) { ok = false; continue; }
      if (!seen.insert(*v).second)
        r_.warning((*items)[i].at(), index(path, i), "user " + std::to_string(*v) + " is listed twice; the repeat is ignored");
    }
    if (!ok) return std::nullopt;
    return std::vector<std::int64_t>(seen.begin(), seen.end());
  }

  void provider_keys(const Entry& e, RawSpec& s) {
    auto m = r_.map(e, "spec.providerKeys");
    if (!m) return;
    if (m->size() > kMaxProviderKeys) {
      r_.error(e.at(), "spec.providerKeys", "at most " + std::to_string(kMaxProviderKeys) + " providers, got " + std::to_string(m->size()));
      return;
    }
    for (const auto& k : *m) {
      std::string path = child("spec.providerKeys", k.key);
      if (!is_provider(k.key)) {
        r_.error(k.key_node, path, "\"" + std::string(utf8_prefix(k.key, 64)) + "\" is not a provider name: 1-32 characters of a-z, 0-9 and '-'");
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
          if (auto ip = parse_ipv4(*v)) s.ip = at(field, ip.value());
          else r_.error(field.at(), path, ip.error().message + ", got \"" + std::string(utf8_prefix(*v, 64)) + "\"");
        }
      } else if (field.key == "mac") {
        if (auto v = r_.string(field, path)) {
          auto mac = parse_mac(*v);
          if (!mac) r_.error(field.at(), path, mac.error().message + ", got \"" + std::string(utf8_prefix(*v, 64)) + "\"");
          else if (mac.value().multicast()) r_.error(field.at(), path, *v + " is a multicast address; a NIC needs a unicast one (first octet even)");
          else s.mac = at(field, mac.value());
        }
      }
    }
  }

  void host(const YAML::Node& root, const Entry* meta, const Entry* spec) {
    optional_metadata(meta);
    RawHost h;
    h.loc = r_.where(root);
    if (spec) {
      auto f = r_.fields(*spec, "spec", {"bridge", "subnet", "gateway", "ports", "vmm", "images", "egress", "stateRoot", "limits"});
      for (const auto& field : f ? *f : std::vector<Entry>{}) host_field(field, h);
    }
    raw_.hosts.push_back(std::move(h));
  }

  void host_field(const Entry& field, RawHost& h) {
    std::string path = child("spec", field.key);
    if (field.key == "bridge") {
      if (auto v = r_.string(field, path)) {
        if (is_ifname(*v)) h.bridge = at(field, *v);
        else r_.error(field.at(), path, "\"" + std::string(utf8_prefix(*v, 64)) + "\" is not an interface name: 1-15 bytes of A-Z, a-z, 0-9, '_', '.' and '-'");
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
        if (auto ip = parse_ipv4(*v)) h.gateway = at(field, ip.value());
        else r_.error(field.at(), path, ip.error().message + ", got \"" + std::string(utf8_prefix(*v, 64)) + "\"");
      }
    } else if (field.key == "ports") {
      auto f = r_.fields(field, path, {"first", "last"});
      for (const auto& p : f ? *f : std::vector<Entry>{}) {
        auto v = r_.integer(p, child(path, p.key), 1024, 65535);
        if (!v) continue;
        (p.key == "first" ? h.port_first : h.port_last) = at(p, std::uint16_t(*v));
      }
    } else if (field.key == "vmm") {
      auto f = r_.fields(field, path, {"kind", "binary", "smt"});
      for (const auto& p : f ? *f : std::vector<Entry>{}) {
        std::string sub = child(path, p.key);
        if (p.key == "kind") {
          if (auto v = r_.choice(p, sub, {"firecracker", "qemu"}))
            h.vmm_kind = at(p, *v == 0 ? model::VmmKind::Firecracker : model::VmmKind::Qemu);
        } else if (p.key == "binary") {
          if (auto v = r_.absolute_path(p, sub)) h.vmm_binary = at(p, *v);
        } else if (auto v = r_.boolean(p, sub)) {
          h.smt = at(p, *v);
        }
      }
    } else if (field.key == "images") {
      images(field, h);
    } else if (field.key == "egress") {
      if (auto v = r_.choice(field, path, {"allow", "deny"}))
        h.egress = at(field, *v == 0 ? model::Egress::Allow : model::Egress::Deny);
    } else if (field.key == "stateRoot") {
      if (auto v = r_.absolute_path(field, path)) h.state_root = at(field, *v);
    } else if (field.key == "limits") {
      auto f = r_.fields(field, path, {"vcpus", "memoryMiB"});
      for (const auto& p : f ? *f : std::vector<Entry>{}) {
        std::string sub = child(path, p.key);
        if (p.key == "vcpus") {
          if (auto v = r_.integer(p, sub, 1, kMaxVcpus)) h.max_vcpus = at(p, int(*v));
        } else if (auto v = r_.integer(p, sub, kMinMemoryMiB, kMaxMemoryMiB)) {
          h.max_memory_mib = at(p, std::uint32_t(*v));
        }
      }
    }
  }

  void images(const Entry& e, RawHost& h) {
    auto m = r_.map(e, "spec.images");
    if (!m) return;
    if (m->size() > kMaxImages) {
      r_.error(e.at(), "spec.images", "at most " + std::to_string(kMaxImages) + " images, got " + std::to_string(m->size()));
      return;
    }
    if (m->empty()) {
      r_.error(e.at(), "spec.images", "must name at least one image");
      return;
    }
    std::map<std::string, model::Image> out;
    bool ok = true;
    for (const auto& img : *m) {
      std::string path = child("spec.images", img.key);
      if (!is_dns_label(img.key)) {
        r_.error(img.key_node, path, "\"" + std::string(utf8_prefix(img.key, 64)) + "\" is not an image name (a DNS label)");
        ok = false;
        continue;
      }
      auto f = r_.fields(img, path, {"kernel", "rootfs", "initrd"});
      if (!f) { ok = false; continue; }
      model::Image image;
      for (const char* required : {"kernel", "rootfs"})
        if (!find(*f, required)) {
          r_.error(img.at(), child(path, required), "required field is missing");
          ok = false;
        }
      for (const auto& p : *f) {
        auto v = r_.absolute_path(p, child(path, p.key));
        if (!v) { ok = false; continue; }
        if (p.key == "kernel") image.kernel = *v;
        else if (p.key == "rootfs") image.rootfs = *v;
        else image.initrd = *v;
      }
      out.emplace(img.key, std::move(image));
    }
    if (ok) h.images = At<std::map<std::string, model::Image>>{std::move(out), r_.where(e.at())};
  }

  YamlReader r_;
  Raw& raw_;
};

// Combines the raw documents of all files into the fleet, checking every
// rule that spans documents. Runs only on what parsed.
class Assembler {
 public:
  Assembler(Diagnostics& diags) : d_(diags) {}

  model::Fleet run(const Raw& raw, std::map<std::string, Location>& origins) {
    model::Fleet fleet;
    for (std::size_t i = 1; i < raw.hosts.size(); ++i)
      d_.error(raw.hosts[i].loc, "kind", "a second Host document; the first is at " + where_text(raw.hosts[0].loc) + " (at most one per fleet)");
    for (std::size_t i = 1; i < raw.defaults.size(); ++i)
      d_.error(raw.defaults[i].loc, "kind", "a second Defaults document; the first is at " + where_text(raw.defaults[0].loc) + " (at most one per fleet)");
    RawHost no_host;
    const RawHost& rh = raw.hosts.empty() ? no_host : raw.hosts[0];
    host_ = host(rh);
    fleet.host = host_;
    RawDefaults no_defaults;
    defaults_ = raw.defaults.empty() ? &no_defaults : &raw.defaults[0];

    std::map<std::string, Location> names;
    for (const auto& ri : raw.instances) {
      auto [it, fresh] = names.emplace(ri.name.value, ri.name.loc);
      if (!fresh) {
        d_.error(ri.name.loc, "metadata.name", "instance \"" + ri.name.value + "\" is already defined at " + where_text(it->second));
        continue;
      }
      if (names.size() > kMaxInstances) {
        d_.error(ri.name.loc, "metadata.name", "the fleet has more than " + std::to_string(kMaxInstances) + " instances");
        break;
      }
      fleet.instances.push_back(instance(ri));
      origins.emplace(ri.name.value, ri.name.loc);
    }
    capacity(raw, rh, fleet);
    std::sort(fleet.instances.begin(), fleet.instances.end(),
              [](const model::Instance& a, const model::Instance& b) { return a.name < b.name; });
    return fleet;
  }

 private:
  model::Host host(const RawHost& rh) {
    model::Host h = default_host();
    if (rh.state_root) h.state_root = rh.state_root->value;
    h.images = rh.images ? rh.images->value : default_images(h.state_root);
    if (rh.bridge) h.bridge = rh.bridge->value;
    if (rh.subnet) h.subnet = rh.subnet->value;
    h.gateway = rh.gateway ? rh.gateway->value : Ipv4{h.subnet.network.value + 1};
    if (rh.gateway) {
      if (!h.subnet.contains(h.gateway))
        d_.error(rh.gateway->loc, "spec.gateway", to_string(h.gateway) + " is outside the subnet " + to_string(h.subnet));
      else if (h.gateway == h.subnet.network || h.gateway == h.subnet.broadcast())
        d_.error(rh.gateway->loc, "spec.gateway", to_string(h.gateway) + " is the " + (h.gateway == h.subnet.network ? "network" : "broadcast") + " address of " + to_string(h.subnet));
    }
    if (rh.port_first) h.port_first = rh.port_first->value;
    if (rh.port_last) h.port_last = rh.port_last->value;
    if (h.port_first > h.port_last) {
      const Location& loc = rh.port_first ? rh.port_first->loc : rh.port_last->loc;
      d_.error(loc, "spec.ports", "first (" + std::to_string(h.port_first) + ") is greater than last (" + std::to_string(h.port_last) + ")");
    }
    if (rh.vmm_kind) h.vmm.kind = rh.vmm_kind->value;
    h.vmm.binary = rh.vmm_binary ? rh.vmm_binary->value : default_vmm_binary(h.vmm.kind);
    if (rh.smt) h.vmm.smt = rh.smt->value;
    if (rh.egress) h.egress = rh.egress->value;
    if (rh.max_vcpus) h.max_vcpus = rh.max_vcpus->value;
    if (rh.max_memory_mib) h.max_memory_mib = rh.max_memory_mib->value;
    return h;
  }

  // Where to report a rule broken by a merged value, and a note when the
  // value came from Defaults (reported at the instance's name).
  template <class T>
  std::pair<Location, std::string> blame(const std::optional<At<T>>& mine, const std::optional<At<T>>& theirs,
                                         const RawInstance& ri) {
    if (mine) return {mine->loc, ""};
    if (theirs) return {ri.name.loc, " (the value comes from Defaults at " + where_text(theirs->loc) + ")"};
    return {ri.name.loc, " (the built-in default)"};
  }

  template <class T, class U>
  static T pick(const std::optional<At<T>>& mine, const std::optional<At<T>>& theirs, U fallback) {
    return mine ? mine->value : theirs ? theirs->value : T(fallback);
  }

  model::Instance instance(const RawInstance& ri) {
    const RawSpec& s = ri.spec;
    const RawSpec& def = defaults_->spec;
    model::Instance i;
    i.name = ri.name.value;
    i.labels = ri.labels;
    i.model = pick(s.model, def.model, kDefaultModel);
    if (s.skills) i.skills = s.skills->value;
    else if (def.skills) i.skills = def.skills->value;
    else i.skills.assign(std::begin(kDefaultSkills), std::end(kDefaultSkills)), std::sort(i.skills.begin(), i.skills.end());
    i.image = pick(s.image, def.image, kDefaultImage);
    i.resources.vcpus = pick(s.vcpus, def.vcpus, kDefaultVcpus);
    i.resources.memory_mib = pick(s.memory_mib, def.memory_mib, kDefaultMemoryMiB);
    i.resources.disk_bytes = pick(s.disk_bytes, def.disk_bytes, kDefaultDiskBytes);
    i.telegram = s.telegram;
    for (const auto& [provider, ref] : def.provider_keys) i.provider_keys[provider] = ref.value;
    for (const auto& [provider, ref] : s.provider_keys) i.provider_keys[provider] = ref.value;
    i.state = pick(s.state, def.state, model::RunState::Running);
    i.protect = pick(s.protect, def.protect, false);
    if (s.host_port) i.network.host_port = s.host_port->value;
    if (s.ip) i.network.ip = s.ip->value;
    if (s.mac) i.network.mac = s.mac->value;
    check(ri, i);
    return i;
  }

  void check(const RawInstance& ri, const model::Instance& i) {
    const RawSpec& s = ri.spec;
    const RawSpec& def = defaults_->spec;
    if (!host_.images.count(i.image)) {
      std::string have;
      for (const auto& [name, _] : host_.images) have += (have.empty() ? "" : ", ") + name;
      auto [loc, note] = blame(s.image, def.image, ri);
      d_.error(loc, "spec.image", "no image \"" + i.image + "\" in the Host's spec.images (it has: " + have + ")" + note);
    }
    if (host_.vmm.smt && i.resources.vcpus > 1 && i.resources.vcpus % 2) {
      auto [loc, note] = blame(s.vcpus, def.vcpus, ri);
      d_.error(loc, "spec.resources.vcpus", std::to_string(i.resources.vcpus) + " vCPUs: must be 1 or even when the Host's spec.vmm.smt is true" + note);
    }
    if (host_.max_vcpus && i.resources.vcpus > *host_.max_vcpus) {
      auto [loc, note] = blame(s.vcpus, def.vcpus, ri);
      d_.error(loc, "spec.resources.vcpus", std::to_string(i.resources.vcpus) + " vCPUs is above the Host's spec.limits.vcpus (" + std::to_string(*host_.max_vcpus) + ")" + note);
    }
    if (host_.max_memory_mib && i.resources.memory_mib > *host_.max_memory_mib) {
      auto [loc, note] = blame(s.memory_mib, def.memory_mib, ri);
      d_.error(loc, "spec.resources.memoryMiB", std::to_string(i.resources.memory_mib) + " MiB is above the Host's spec.limits.memoryMiB (" + std::to_string(*host_.max_memory_mib) + ")" + note);
    }
    std::string provider = i.model.substr(0, i.model.find('/'));
    bool keyed = std::find(std::begin(kKeyedProviders), std::end(kKeyedProviders), provider) != std::end(kKeyedProviders);
    bool named = s.providers_named.count(provider) || def.providers_named.count(provider);
    if (keyed && !named) {
      auto [loc, note] = blame(s.model, def.model, ri);
      d_.error(loc, "spec.model", "model \"" + i.model + "\" needs an API key: set spec.providerKeys." + provider + " in this Instance or in Defaults" + note);
    }
    if (s.ip) {
      const Ipv4 ip = s.ip->value;
      const char* what = nullptr;
      if (!host_.subnet.contains(ip)) what = "outside the subnet";
      else if (ip == host_.subnet.network) what = "the network address of";
      else if (ip == host_.subnet.broadcast()) what = "the broadcast address of";
      else if (ip == host_.gateway) what = "the gateway of";
      if (what) d_.error(s.ip->loc, "spec.network.ip", to_string(ip) + " is " + what + " " + to_string(host_.subnet));
      unique(ips_, ip, s.ip->loc, "spec.network.ip", "address " + to_string(ip), i.name);
    }
    if (s.host_port) unique(ports_, s.host_port->value, s.host_port->loc, "spec.network.hostPort", "port " + std::to_string(s.host_port->value), i.name);
    if (s.mac) unique(macs_, s.mac->value, s.mac->loc, "spec.network.mac", "MAC " + to_string(s.mac->value), i.name);
  }

  template <class K>
  void unique(std::map<K, std::pair<std::string, Location>>& seen, const K& key, const Location& loc,
              const std::string& path, const std::string& what, const std::string& name) {
    auto [it, fresh] = seen.emplace(key, std::make_pair(name, loc));
    if (!fresh)
      d_.error(loc, path, what + " is already pinned by instance \"" + it->second.first + "\" at " + where_text(it->second.second));
  }

  // Every instance must be able to get an address and a port.
  void capacity(const Raw& raw, const RawHost& rh, const model::Fleet& fleet) {
    const std::uint64_t guests = host_.subnet.size() - 3;  // network, broadcast, gateway
    std::uint64_t in_range = 0;
    for (const auto& [port, _] : ports_)
      if (port >= host_.port_first && port <= host_.port_last) ++in_range;
    std::uint64_t need_port = 0;
    for (const auto& i : fleet.instances) need_port += !i.network.host_port;
    const std::uint64_t ports = host_.port_first <= host_.port_last ? host_.port_last - host_.port_first + 1u : 0u;
    std::size_t n = fleet.instances.size();
    Location fallback = n > 0 ? raw.instances.back().name.loc : rh.loc;
    if (n > guests) {
      Location loc = rh.subnet ? rh.subnet->loc : fallback;
      d_.error(loc, "spec.subnet", to_string(host_.subnet) + " has room for " + plural(guests, "guest", "guests") + ", but the fleet has " + plural(n, "instance", "instances"));
    }
    if (ports >= in_range && need_port > ports - in_range && ports > 0) {
      Location loc = rh.port_first ? rh.port_first->loc : rh.port_last ? rh.port_last->loc : fallback;
      d_.error(loc, "spec.ports", std::to_string(host_.port_first) + "-" + std::to_string(host_.port_last) + " has room for " + plural(ports - in_range, "port", "ports") + ", but " + plural(need_port, "instance needs", "instances need") + " one");
    }
  }

  Diagnostics& d_;
  model::Host host_;
  const RawDefaults* defaults_ = nullptr;
  std::map<Ipv4, std::pair<std::string, Location>> ips_;
  std::map<std::uint16_t, std::pair<std::string, Location>> ports_;
  std::map<Mac, std::pair<std::string, Location>> macs_;
};

// yaml-cpp 0.7 (Debian 12) loops forever in LoadAll, allocating a null
// document per turn, on streams such as "," (upstream issue #1040, fixed
// after 0.8). A first pass over the events finds such a stream: two
// consecutive documents that are one null at the same place mean the
// parser made no progress. It also enforces the per-file document limit
// before any node tree is built.
class DocumentCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override { events_ = 0, null_only_ = false; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& m, YAML::anchor_t) override { null_only_ = events_++ == 0, mark_ = m; }
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override { ++events_; }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override { ++events_; }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override { ++events_; }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override { ++events_; }
  void OnMapEnd() override {}

  bool lone_null() const { return null_only_ && events_ == 1; }
  const YAML::Mark& mark() const { return mark_; }

 private:
  int events_ = 0;
  bool null_only_ = false;
  YAML::Mark mark_;
};

Location to_location(const std::string& file, const YAML::Mark& m) {
  return {file, m.line >= 0 ? m.line + 1 : 0, m.line >= 0 && m.column >= 0 ? m.column + 1 : 0};
}

// Parses a file into its documents, or reports why not.
std::optional<std::vector<YAML::Node>> parse_documents(const SourceFile& f, Diagnostics& diags) {
  try {
    std::istringstream in(f.content);
    YAML::Parser parser(in);
    DocumentCounter counter;
    std::size_t docs = 0;
    std::optional<YAML::Mark> previous_lone_null;
    while (parser.HandleNextDocument(counter)) {
      if (++docs > kMaxDocumentsPerFile) {
        diags.error({f.path, 0, 0}, "", "more than " + std::to_string(kMaxDocumentsPerFile) + " documents in one file");
        return std::nullopt;
      }
      if (counter.lone_null()) {
        const YAML::Mark& m = counter.mark();
        if (previous_lone_null && previous_lone_null->pos == m.pos) {
          diags.error(to_location(f.path, m), "", "invalid YAML: unexpected token");
          return std::nullopt;
        }
        previous_lone_null = m;
      } else {
        previous_lone_null.reset();
      }
    }
    return YAML::LoadAll(f.content);
  } catch (const YAML::Exception& e) {
    diags.error(to_location(f.path, e.mark), "", "invalid YAML: " + e.msg);
    return std::nullopt;
  }
}

}  // namespace

LoadResult load(const std::vector<SourceFile>& files) {
  LoadResult out;
  Raw raw;
  std::vector<std::string> order;
  for (const auto& f : files) {
    order.push_back(f.path);
    ++out.files;
    if (f.content.size() > kMaxFileBytes) {
      out.diagnostics.error({f.path, 0, 0}, "", "file is larger than the limit of " + std::to_string(kMaxFileBytes) + " bytes");
      continue;
    }
    auto docs = parse_documents(f, out.diagnostics);
    if (!docs) continue;
    Parser parser(f.path, out.diagnostics, raw);
    for (const auto& doc : *docs) {
      if (doc.IsNull()) continue;  // "---" with only comments
      ++out.documents;
      parser.document(doc);
    }
  }
  out.fleet = Assembler(out.diagnostics).run(raw, out.origins);
  out.diagnostics.sort(order);
  return out;
}

std::vector<std::string> select_manifests(const std::vector<DirEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) {
    const std::string& n = e.name;
    if (!e.regular || n.empty() || n[0] == '.' || n[0] == '#') continue;
    auto ends = [&](std::string_view suffix) {
      return n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0;
    };
    if (ends(".yaml") || ends(".yml")) out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

LoadResult load(FileReader& fs, const SourceSpec& spec) {
  Diagnostics read_errors;
  std::vector<std::string> paths = spec.files;
  if (paths.empty()) {
    auto entries = fs.list_dir(spec.dir);
    if (!entries) {
      read_errors.error({spec.dir, 0, 0}, "", entries.error().message);
    } else {
      for (const auto& name : select_manifests(entries.value()))
        paths.push_back(spec.dir + (spec.dir.ends_with('/') ? "" : "/") + name);
      if (paths.empty()) read_errors.warning({spec.dir, 0, 0}, "", "no manifests (*.yaml, *.yml) in this directory");
    }
  }
  if (paths.size() > kMaxFiles) {
    read_errors.error({spec.files.empty() ? spec.dir : paths[kMaxFiles], 0, 0}, "",
                      "more than " + std::to_string(kMaxFiles) + " manifest files");
    paths.resize(kMaxFiles);
  }
  std::vector<SourceFile> sources;
  for (const auto& p : paths) {
    auto content = fs.read_file(p, kMaxFileBytes);
    if (!content) {
      // The location already names the file; drop a "PATH: " prefix.
      std::string msg = content.error().message;
      if (msg.starts_with(p + ": ")) msg.erase(0, p.size() + 2);
      read_errors.error({p, 0, 0}, "", std::move(msg));
    }
    else sources.push_back({p, std::move(content.value())});
  }
  LoadResult out = load(sources);
  out.files = paths.size();
  for (const auto& d : out.diagnostics.all()) read_errors.add(d);
  out.diagnostics = std::move(read_errors);
  out.diagnostics.sort(paths);
  return out;
}

}  // namespace cf::manifest
