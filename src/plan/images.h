// Warnings about images in use whose identity by content is unknown
// (model::ObservedImage::problem): they still work, compared by their
// paths alone, but a file replaced at the same path is not noticed until
// the image is recorded again (docs/guest.md#image-identity).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "model/desired.h"
#include "model/observed.h"

namespace cf::plan {

// One sentence per image some instance uses, without a trailing period.
std::vector<std::string> image_warnings(const model::Fleet& fleet,
                                        const std::map<std::string, model::ObservedImage>& images);

}  // namespace cf::plan
