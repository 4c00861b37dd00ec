#include "cli/saved_plan.h"

#include <nlohmann/json.hpp>

#include "core/sha256.h"
#include "manifest/secrets.h"

namespace cf::cli {
namespace {

using nlohmann::json;

json to_json(const model::ObservedUnit& u) {
  return {{"load", u.load_state},      {"active", u.active_state},    {"sub", u.sub_state},
          {"file", u.unit_file_state}, {"fragment", u.fragment_path}, {"fragmentHash", u.fragment_hash},
          {"dropins", u.dropin_hashes}};
}

}  // namespace

std::string manifest_digest(const model::Fleet& fleet, const std::map<model::SecretRef, std::string>& digests,
                            const std::map<std::string, std::string>& ca_digests) {
  json secrets = json::array();
  for (const auto& [ref, digest] : digests) secrets.push_back({manifest::describe(ref), digest});
  // A CA file whose certificates changed makes a saved plan stale too;
  // without CAs the digest is the one it always was.
  std::string cas;
  for (const auto& [path, digest] : ca_digests) cas += "\n" + path + " " + digest;
  return "sha256:" + sha256_hex(model::canonical_json(fleet) + "\n" + secrets.dump() + cas);
}

std::string observed_fingerprint(const model::Observed& o) {
  json instances = json::object();
  for (const auto& [name, i] : o.instances) {
    json units = json::object();
    for (const auto& [unit, u] : i.units) units[unit] = to_json(u);
    json files = json::object();
    for (const auto& [f, mode] : i.dir.files) files[f] = mode;
    instances[name] = {{"inInventory", i.in_inventory},
                       {"protect", i.protect},
                       {"allocation", i.allocation ? json{to_string(i.allocation->ip), to_string(i.allocation->mac),
                                                          i.allocation->host_port, i.allocation->tap}
                                                   : json(nullptr)},
                       {"desiredHash", i.desired_hash},
                       {"appliedGeneration", i.applied_generation ? json(*i.applied_generation) : json(nullptr)},
                       {"dir", {i.dir.exists, i.dir.mode, i.dir.uid, files}},
                       {"units", units},
                       {"tap", {i.tap.present, i.tap.master, i.tap.up, i.tap.isolated, i.tap.alias}},
                       {"vm", model::to_string(i.vm_state)},
                       {"applied", i.applied}};
  }
  json addresses = json::array();
  for (const auto& a : o.bridge.addresses) addresses.push_back(to_string(a));
  json doc = {{"bridge", {o.bridge.present, o.bridge.up, addresses}},
              {"table", o.table_hash ? json(*o.table_hash) : json(nullptr)},
              {"ipForward", o.ip_forward},
              {"instances", instances}};
  return "sha256:" + sha256_hex(doc.dump());
}

std::string to_json(const SavedPlan& s) {
  json plan = json::parse(s.plan_json, nullptr, false);
  return json{{"format_version", 1},
              {"manifest_digest", s.manifest_digest},
              {"observed_fingerprint", s.observed_fingerprint},
              {"options", {{"max_destroy", s.options.max_destroy}, {"allow_destroy", s.options.allow_destroy}}},
              {"plan", plan}}
             .dump(2) +
         "\n";
}

Result<SavedPlan> saved_plan_from_json(const std::string& text) {
  try {
    json j = json::parse(text);
    if (!j.is_object() || j.value("format_version", 0) != 1)
      return Error{"not a saved plan (want \"format_version\": 1)"};
    SavedPlan s;
    s.manifest_digest = j.at("manifest_digest").get<std::string>();
    s.observed_fingerprint = j.at("observed_fingerprint").get<std::string>();
    s.options.max_destroy = j.at("options").at("max_destroy").get<std::size_t>();
    s.options.allow_destroy = j.at("options").at("allow_destroy").get<bool>();
    s.plan_json = j.at("plan").dump(2) + "\n";
    return s;
  } catch (const json::exception& e) {
    return Error{std::string("not a saved plan: ") + e.what()};
  }
}

std::optional<std::string> stale_because(const SavedPlan& saved, const SavedPlan& now) {
  if (saved.manifest_digest != now.manifest_digest)
    return "the manifests (or a secret they reference) changed since the plan was made";
  if (saved.observed_fingerprint != now.observed_fingerprint)
    return "the host changed since the plan was made (a unit, tap, file or the firewall table is not as observed then)";
  // Compared as JSON values: key order and spacing do not matter.
  if (json::parse(saved.plan_json, nullptr, false) != json::parse(now.plan_json, nullptr, false))
    return "planning again gives a different plan";
  return std::nullopt;
}

}  // namespace cf::cli
