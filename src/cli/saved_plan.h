// Saved plans (`plan -o FILE`, `apply FILE`): the plan together with what it
// was made from, so that apply can refuse a plan the world has moved past.
//
//   {"format_version": 1, "manifest_digest": "sha256:…",
//    "observed_fingerprint": "sha256:…", "options": {...}, "plan": {…}}
//
// `plan` is render_plan_json()'s document, for review; apply does not trust
// it: it plans again and requires the same plan.
#pragma once

#include <string>

#include "core/result.h"
#include "model/desired.h"
#include "model/observed.h"
#include "plan/plan.h"

namespace cf::cli {

// What the manifests ask for, secrets included by digest.
std::string manifest_digest(const model::Fleet& fleet, const std::map<model::SecretRef, std::string>& digests,
                            const std::map<std::string, std::string>& ca_digests);
// Every observed fact a plan depends on.
std::string observed_fingerprint(const model::Observed& observed);

struct SavedPlan {
  std::string manifest_digest;
  std::string observed_fingerprint;
  plan::Options options;
  std::string plan_json;  // render_plan_json of the plan
};

std::string to_json(const SavedPlan& s);
Result<SavedPlan> saved_plan_from_json(const std::string& text);

// nullopt when `now` matches `saved`; otherwise why apply must refuse.
std::optional<std::string> stale_because(const SavedPlan& saved, const SavedPlan& now);

}  // namespace cf::cli
