#include "plan/skills.h"

#include <set>

#include "core/text.h"

namespace cf::plan {

std::vector<std::string> skill_warnings(const model::Fleet& fleet,
                                        const std::map<std::string, model::ObservedSkills>& records) {
  std::vector<std::string> out;
  std::set<std::string> unchecked;  // images already warned about
  for (const auto& inst : fleet.instances) {
    if (inst.skills.empty()) continue;
    auto r = records.find(inst.image);
    if (r == records.end()) continue;  // not a Host image: the loader said so
    const model::ObservedSkills& rec = r->second;
    if (rec.absent) continue;
    if (!rec.bundled) {
      if (unchecked.insert(inst.image).second)
        out.push_back("image " + inst.image + " has an unusable skills record, so its skills are not checked (" +
                      rec.problem + ")");
      continue;
    }
    for (const auto& skill : inst.skills) {
      const std::string who = inst.name + ": skill " + skill;
      auto s = rec.bundled->find(skill);
      if (s == rec.bundled->end()) {
        out.push_back(who + " is not bundled with image " + inst.image +
                      " (it may come from ClawHub, which clawfleet does not install)");
        continue;
      }
      const model::SkillRecord& need = s->second;
      if (!need.missing_os.empty())
        out.push_back(who + " does not run on Linux (only on " + join(need.missing_os, ", ") + ")");
      else if (!need.missing_bins.empty())
        out.push_back(who + " needs " + join(need.missing_bins, ", ") + ", which image " + inst.image +
                      " does not have");
      else if (!need.missing_any_bins.empty())
        out.push_back(who + " needs one of " + join(need.missing_any_bins, ", ") + ", which image " + inst.image +
                      " does not have");
    }
  }
  return out;
}

}  // namespace cf::plan
