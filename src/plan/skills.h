// Warnings about the skills instances list that their image cannot run,
// from the image's skills record (model::ObservedSkills): a skill OpenClaw
// does not bundle there (it may come from ClawHub, which clawfleet does not
// install), one whose tools the image lacks, one not made for Linux. They
// change nothing: OpenClaw itself leaves such a skill out.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "model/desired.h"
#include "model/observed.h"

namespace cf::plan {

// Sentences without a trailing period, instances by name, skills by name;
// one per image in use whose record is there but unusable. An image
// without a record is not checked.
std::vector<std::string> skill_warnings(const model::Fleet& fleet,
                                        const std::map<std::string, model::ObservedSkills>& records);

}  // namespace cf::plan
