// A plan for people (Terraform's layout) and for programs (JSON,
// docs/plan-format.md). Both show secrets only as the digests the plan
// carries.
#pragma once

#include <string>

#include "plan/plan.h"

namespace cf::cli {

// Ends with the summary line, "Plan: 2 to create, 1 to reprovision, 0 to
// destroy." (create and destroy always; every other action only when it
// occurs), or "No changes. The host matches the manifests.", and then the
// accelerator line; ANSI colour only when `color` (the caller decides: a
// terminal, and no NO_COLOR).
std::string render_plan_text(const plan::Plan& p, bool color);

// "Accelerator: tcg (qemu emulates: /dev/kvm cannot be opened)\n"; "" for
// a plan without the decision (not made by make_plan). Status shows it too.
std::string accelerator_line(const plan::Accelerator& a);

// format_version 1; "accelerator": {"name", "reason"} when decided; ends
// with a newline.
std::string render_plan_json(const plan::Plan& p);

}  // namespace cf::cli
