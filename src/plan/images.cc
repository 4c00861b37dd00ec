#include "plan/images.h"

#include <set>

namespace cf::plan {

std::vector<std::string> image_warnings(const model::Fleet& fleet,
                                        const std::map<std::string, model::ObservedImage>& images) {
  std::set<std::string> used;
  for (const auto& inst : fleet.instances) used.insert(inst.image);
  std::vector<std::string> out;
  for (const auto& name : used) {
    auto it = images.find(name);
    if (it == images.end() || it->second.problem.empty()) continue;
    out.push_back("image " + name + " is not identified by its content, only by its paths (" + it->second.problem +
                  "); record it to notice a file replaced at the same path (docs/guest.md#image-identity)");
  }
  return out;
}

}  // namespace cf::plan
