// The skills record of an image: skills.json beside its rootfs, written by
// the image's build from OpenClaw's own `skills list --json`
// (examples/guest-image/build.sh, docs/guest.md#skills). clawfleet reads
// it to tell an operator which listed skill cannot run in that image.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "core/fs.h"
#include "core/result.h"
#include "model/desired.h"
#include "model/observed.h"

namespace cf::host {

inline constexpr std::size_t kMaxSkillsRecordBytes = 1 << 20;

// Where an image's record is: skills.json in its rootfs's directory.
std::string skills_record_path(const model::Image& image);

// The bundled skills of a record. Errors never quote the file: a record
// path comes from a manifest, and the file may be anything.
Result<std::map<std::string, model::SkillRecord>> parse_skills_record(std::string_view text);

// The record of every image of the Host, read through `files`.
std::map<std::string, model::ObservedSkills> read_skills_records(const model::Host& host, FileReader& files);

}  // namespace cf::host
