#include "host/guest/skills_record.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace cf::host {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxSkills = 1024;
constexpr std::size_t kMaxNames = 32;  // per list
constexpr std::size_t kMaxNameBytes = 64;

// A skill, tool or system name as it may be shown in a plan: printable,
// short, nothing a terminal would interpret.
bool plain_name(const std::string& s) {
  if (s.empty() || s.size() > kMaxNameBytes) return false;
  for (unsigned char c : s)
    if (!(std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '+')) return false;
  return true;
}

Result<std::vector<std::string>> names(const json& missing, const char* key, const std::string& skill) {
  std::vector<std::string> out;
  auto it = missing.find(key);
  if (it == missing.end() || it->is_null()) return out;
  if (!it->is_array() || it->size() > kMaxNames)
    return Error{"skill " + skill + ": missing." + key + " is not a list of at most " + std::to_string(kMaxNames) +
                 " names"};
  for (const auto& n : *it) {
    if (!n.is_string() || !plain_name(n.get<std::string>()))
      return Error{"skill " + skill + ": missing." + key + " holds something that is not a plain name"};
    out.push_back(n.get<std::string>());
  }
  return out;
}

}  // namespace

std::string skills_record_path(const model::Image& image) {
  auto slash = image.rootfs.rfind('/');
  return (slash == std::string::npos ? std::string(".") : image.rootfs.substr(0, slash)) + "/skills.json";
}

Result<std::map<std::string, model::SkillRecord>> parse_skills_record(std::string_view text) {
  json doc = json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded()) return Error{"not JSON"};
  if (!doc.is_object() || !doc.contains("format") || doc["format"] != 1)
    return Error{"not a skills record of format 1"};
  auto skills = doc.find("skills");
  if (skills == doc.end() || !skills->is_array()) return Error{"no list of skills"};
  if (skills->size() > kMaxSkills) return Error{"more than " + std::to_string(kMaxSkills) + " skills"};
  std::map<std::string, model::SkillRecord> out;
  for (const auto& s : *skills) {
    if (!s.is_object() || !s.contains("name") || !s["name"].is_string() || !plain_name(s["name"].get<std::string>()))
      return Error{"a skill without a plain name"};
    const std::string name = s["name"].get<std::string>();
    json missing = s.contains("missing") ? s["missing"] : json::object();
    if (!missing.is_object()) return Error{"skill " + name + ": missing is not an object"};
    auto bins = names(missing, "bins", name);
    if (!bins) return bins.error();
    auto any = names(missing, "anyBins", name);
    if (!any) return any.error();
    auto os = names(missing, "os", name);
    if (!os) return os.error();
    out[name] = model::SkillRecord{bins.value(), any.value(), os.value()};
  }
  return out;
}

std::map<std::string, model::ObservedSkills> read_skills_records(const model::Host& host, FileReader& files) {
  std::map<std::string, model::ObservedSkills> out;
  for (const auto& [name, image] : host.images) {
    model::ObservedSkills& o = out[name];
    o.path = skills_record_path(image);
    // An image without a record (one built elsewhere) is not checked.
    const std::string dir = o.path.substr(0, o.path.rfind('/'));
    auto entries = files.list_dir(dir);
    if (!entries || std::none_of(entries.value().begin(), entries.value().end(),
                                 [](const DirEntry& e) { return e.name == "skills.json"; })) {
      o.absent = true;
      continue;
    }
    auto text = files.read_file(o.path, kMaxSkillsRecordBytes);
    if (!text) {
      o.problem = text.error().message;
      continue;
    }
    auto record = parse_skills_record(text.value());
    if (!record) {
      o.problem = o.path + ": " + record.error().message;
      continue;
    }
    o.bundled = std::move(record.value());
  }
  return out;
}

}  // namespace cf::host
