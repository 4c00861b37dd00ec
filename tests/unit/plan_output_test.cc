// The plan as people and programs read it: exact text, with and without
// colour, and exact JSON (docs/plan-format.md).
#include "cli/plan_output.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace cf::cli {
namespace {

using plan::Action;
using plan::Plan;
using plan::Step;

// The case the issue quotes.
Plan creates_and_a_reprovision() {
  Plan p;
  p.steps = {
      {"a",
       Action::Create,
       {{"spec.model", std::nullopt, "openai/gpt-5.5"},
        {"spec.providerKeys.openai", std::nullopt, "sha256:0123456789ab", true}},
       plan::kReasonNewInstance,
       {}},
      {"b",
       Action::Create,
       {{"spec.model", std::nullopt, "ollama/qwen3"}},
       "only leftovers of it are on the host (units or a tap), which the create takes over",
       {}},
      {"c",
       Action::Reprovision,
       {{"spec.model", "ollama/a", "ollama/b"},
        {"spec.telegram.botToken", "sha256:aaaaaaaaaaaa", "sha256:bbbbbbbbbbbb", true}},
       "model changed (spec.model: ollama/a -> ollama/b)",
       {}},
  };
  return p;
}

// One step of every action, and refusals.
Plan every_action() {
  Plan p;
  p.steps = {
      {"", Action::Repair, {{"bridge cfbr0", std::nullopt, "up, 10.80.0.1/24"}}, "bridge cfbr0 is missing", {}},
      {"a", Action::Create, {{"spec.model", std::nullopt, "ollama/qwen3"}}, plan::kReasonNewInstance, {0}},
      {"b",
       Action::Reprovision,
       {{"spec.skills", "github", "github,tmux"}},
       "skills changed (spec.skills: github -> github,tmux)",
       {0}},
      {"c", Action::Restart, {{"spec.resources.vcpus", "2", "4"}}, "vCPUs changed (spec.resources.vcpus: 2 -> 4)", {0}},
      {"d",
       Action::GrowDisk,
       {{"spec.resources.disk", "10737418240", "21474836480"}},
       "disk grows (spec.resources.disk: 10GiB -> 20GiB)",
       {}},
      {"e", Action::Replace, {{"spec.image", "default", "v2"}}, "base image changed (spec.image: default -> v2)", {0}},
      {"f",
       Action::Start,
       {{"spec.state", "stopped", "running"}},
       "run state changed (spec.state: stopped -> running)",
       {0}},
      {"g",
       Action::Stop,
       {{"spec.state", "running", "stopped"}},
       "run state changed (spec.state: running -> stopped)",
       {}},
      {"h",
       Action::Repair,
       {{"clawfleet-vm@h.service", "failed", "active"}},
       "clawfleet-vm@h.service is failed (was running)",
       {0}},
      {"old",
       Action::Destroy,
       {{"spec.model", "ollama/qwen3", std::nullopt},
        {"spec.providerKeys.x", "sha256:cccccccccccc", std::nullopt, true}},
       "absent from every manifest",
       {}},
      {"p",
       Action::UpdateAllocation,
       {{"spec.network.hostPort", "18900", std::nullopt}, {"spec.network.ip", "10.80.0.2", "10.80.0.9"}},
       "spec.network.ip is pinned to 10.80.0.9 (allocated 10.80.0.2); host port 18900 is outside the range 20000-20999",
       {0}},
      {"r", Action::Reimage, {{"spec.image", "default", "v2"}}, "base image changed (spec.image: default -> v2)", {0}},
      {"s", Action::Rename, {{"metadata.name", "t", "s"}}, "it was t (metadata.previousNames)", {0}},
  };
  p.refused = {{"ghost", Action::Destroy, "not in the inventory; clawfleet does not touch it"},
               {"web", Action::Replace,
                "base image changed (spec.image: default -> v2); it is protected, and a replace loses its disk: rerun "
                "with --allow-destroy"}};
  return p;
}

TEST(PlanOutputText, TheQuotedSummary) {
  EXPECT_EQ(render_plan_text(creates_and_a_reprovision(), false), R"txt(clawfleet will perform the following actions:

  # a will be created
  + a
      spec.model: "openai/gpt-5.5"
      spec.providerKeys.openai: "sha256:0123456789ab" (secret)

  # b will be created: only leftovers of it are on the host (units or a tap), which the create takes over
  + b
      spec.model: "ollama/qwen3"

  # c will be reprovisioned: model changed (spec.model: ollama/a -> ollama/b)
  ~ c
      spec.model: "ollama/a" -> "ollama/b"
      spec.telegram.botToken: "sha256:aaaaaaaaaaaa" -> "sha256:bbbbbbbbbbbb" (secret)

Plan: 2 to create, 1 to reprovision, 0 to destroy.
)txt");
}

TEST(PlanOutputText, EveryAction) {
  EXPECT_EQ(render_plan_text(every_action(), false), R"txt(clawfleet will perform the following actions:

  # the host network will be repaired: bridge cfbr0 is missing
  ~ (host)
      bridge cfbr0: (none) -> "up, 10.80.0.1/24"

  # a will be created
  + a
      spec.model: "ollama/qwen3"

  # b will be reprovisioned: skills changed (spec.skills: github -> github,tmux)
  ~ b
      spec.skills: "github" -> "github,tmux"

  # c will be restarted: vCPUs changed (spec.resources.vcpus: 2 -> 4)
  ~ c
      spec.resources.vcpus: "2" -> "4"

  # d will be resized: disk grows (spec.resources.disk: 10GiB -> 20GiB)
  ~ d
      spec.resources.disk: "10737418240" -> "21474836480"

  # e must be replaced: base image changed (spec.image: default -> v2)
-/+ e
      spec.image: "default" -> "v2"

  # f will be started: run state changed (spec.state: stopped -> running)
  ~ f
      spec.state: "stopped" -> "running"

  # g will be stopped: run state changed (spec.state: running -> stopped)
  ~ g
      spec.state: "running" -> "stopped"

  # h will be repaired: clawfleet-vm@h.service is failed (was running)
  ~ h
      clawfleet-vm@h.service: "failed" -> "active"

  # old will be destroyed: absent from every manifest
  - old
      spec.model: "ollama/qwen3"
      spec.providerKeys.x: "sha256:cccccccccccc" (secret)

  # p will be reallocated: spec.network.ip is pinned to 10.80.0.9 (allocated 10.80.0.2); host port 18900 is outside the range 20000-20999
  ~ p
      spec.network.hostPort: "18900" -> (new allocation)
      spec.network.ip: "10.80.0.2" -> "10.80.0.9"

  # r will be reimaged: base image changed (spec.image: default -> v2)
  ~ r
      spec.image: "default" -> "v2"

  # s will be renamed: it was t (metadata.previousNames)
  ~ s
      metadata.name: "t" -> "s"

Refused:

  # ghost will not be destroyed: not in the inventory; clawfleet does not touch it
  # web will not be replaced: base image changed (spec.image: default -> v2); it is protected, and a replace loses its disk: rerun with --allow-destroy

Plan: 1 to create, 1 to reprovision, 1 to restart, 1 to resize, 1 to reimage, 1 to replace, 1 to start, 1 to stop, 2 to repair, 1 to reallocate, 1 to rename, 1 to destroy.
)txt");
}

TEST(PlanOutputText, Colour) {
  Plan p;
  p.steps = {
      {"a", Action::Create, {{"spec.model", std::nullopt, "ollama/qwen3"}}, plan::kReasonNewInstance, {}},
      {"e", Action::Replace, {{"spec.image", "default", "v2"}}, "base image changed (spec.image: default -> v2)", {}},
      {"f", Action::Start, {}, "run state changed (spec.state: stopped -> running)", {}},
      {"old", Action::Destroy, {}, "absent from every manifest", {}},
  };
  p.refused = {{"ghost", Action::Destroy, "not in the inventory; clawfleet does not touch it"}};
  EXPECT_EQ(render_plan_text(p, true),
            "clawfleet will perform the following actions:\n"
            "\n"
            "  \x1b[1m# a will be created\x1b[0m\n"
            "  \x1b[32m+\x1b[0m a\n"
            "      spec.model: \"ollama/qwen3\"\n"
            "\n"
            "  \x1b[1m# e must be replaced: base image changed (spec.image: default -> v2)\x1b[0m\n"
            "\x1b[31m-\x1b[0m/\x1b[32m+\x1b[0m e\n"
            "      spec.image: \"default\" -> \"v2\"\n"
            "\n"
            "  \x1b[1m# f will be started: run state changed (spec.state: stopped -> running)\x1b[0m\n"
            "  \x1b[33m~\x1b[0m f\n"
            "\n"
            "  \x1b[1m# old will be destroyed: absent from every manifest\x1b[0m\n"
            "  \x1b[31m-\x1b[0m old\n"
            "\n"
            "\x1b[1mRefused:\x1b[0m\n"
            "\n"
            "  \x1b[1m# ghost will not be destroyed: not in the inventory; clawfleet does not touch it\x1b[0m\n"
            "\n"
            "\x1b[1mPlan:\x1b[0m 1 to create, 1 to replace, 1 to start, 1 to destroy.\n");
  EXPECT_EQ(render_plan_text(creates_and_a_reprovision(), false).find('\x1b'), std::string::npos);
}

TEST(PlanOutputText, NoChanges) {
  EXPECT_EQ(render_plan_text(Plan{}, false), "No changes. The host matches the manifests.\n");
  EXPECT_EQ(render_plan_text(Plan{}, true), "\x1b[1;32mNo changes.\x1b[0m The host matches the manifests.\n");
  Plan refused_only;
  refused_only.refused = {{"ghost", Action::Destroy, "not in the inventory; clawfleet does not touch it"}};
  EXPECT_EQ(render_plan_text(refused_only, false), R"txt(Refused:

  # ghost will not be destroyed: not in the inventory; clawfleet does not touch it

No changes. The host matches the manifests.
)txt");
}

TEST(PlanOutputText, ValuesAreQuotedAndEscaped) {
  Plan p;
  p.steps = {{"a", Action::Reprovision, {{"metadata.labels.x", "say \"hi\"\\", "tab\there"}}, "x", {}}};
  EXPECT_NE(render_plan_text(p, false).find(R"(      metadata.labels.x: "say \"hi\"\\" -> "tab\x09here")"),
            std::string::npos);
}

// What the host said (an orphan's directory name, a unit's error, a
// warning) reaches the terminal escaped: colour codes are clawfleet's own.
TEST(PlanOutputText, TextFromTheHostIsEscaped) {
  Plan p;
  p.steps = {{"or\x1b[2Jphan", Action::Destroy, {}, "unit failed: \x1b]0;owned\x07", {}}};
  p.refused = {{"gh\x1bost", Action::Destroy, "not in\nthe inventory"}};
  p.warnings = {"skill \x1b[31mred"};
  p.accelerator = {false, "probe said \x1b[5m"};
  EXPECT_EQ(render_plan_text(p, false),
            "clawfleet will perform the following actions:\n\n"
            "  # or\\x1b[2Jphan will be destroyed: unit failed: \\x1b]0;owned\\x07\n"
            "  - or\\x1b[2Jphan\n\n"
            "Refused:\n\n"
            "  # gh\\x1bost will not be destroyed: not in\\x0athe inventory\n\n"
            "Plan: 0 to create, 1 to destroy.\n"
            "Accelerator: tcg (probe said \\x1b[5m)\n"
            "Warning: skill \\x1b[31mred.\n");
}

TEST(PlanOutputJson, Golden) {
  Plan p;
  p.steps = {
      {"",
       Action::Repair,
       {{"tables inet/bridge clawfleet", std::nullopt, "sha256:table"}},
       "nftables tables inet/bridge clawfleet are missing",
       {}},
      {"e",
       Action::Replace,
       {{"spec.image", "default", "v2"},
        {"spec.telegram.botToken", "sha256:aaaaaaaaaaaa", "sha256:bbbbbbbbbbbb", true}},
       "base image changed (spec.image: default -> v2)",
       {0}},
      {"old", Action::Destroy, {}, "absent from every manifest", {}},
  };
  p.refused = {{"ghost", Action::Destroy, "not in the inventory; clawfleet does not touch it"}};
  EXPECT_EQ(render_plan_json(p), R"json({
  "format_version": 1,
  "changes": true,
  "steps": [
    {
      "index": 0,
      "scope": "host",
      "instance": null,
      "action": "repair",
      "actions": [
        "update"
      ],
      "reason": "nftables tables inet/bridge clawfleet are missing",
      "depends_on": [],
      "changes": [
        {
          "path": "tables inet/bridge clawfleet",
          "before": null,
          "after": "sha256:table",
          "secret": false
        }
      ]
    },
    {
      "index": 1,
      "scope": "instance",
      "instance": "e",
      "action": "replace",
      "actions": [
        "delete",
        "create"
      ],
      "reason": "base image changed (spec.image: default -> v2)",
      "depends_on": [
        0
      ],
      "changes": [
        {
          "path": "spec.image",
          "before": "default",
          "after": "v2",
          "secret": false
        },
        {
          "path": "spec.telegram.botToken",
          "before": "sha256:aaaaaaaaaaaa",
          "after": "sha256:bbbbbbbbbbbb",
          "secret": true
        }
      ]
    },
    {
      "index": 2,
      "scope": "instance",
      "instance": "old",
      "action": "destroy",
      "actions": [
        "delete"
      ],
      "reason": "absent from every manifest",
      "depends_on": [],
      "changes": []
    }
  ],
  "refused": [
    {
      "instance": "ghost",
      "action": "destroy",
      "reason": "not in the inventory; clawfleet does not touch it"
    }
  ],
  "summary": {
    "create": 0,
    "reprovision": 0,
    "restart": 0,
    "grow-disk": 0,
    "reimage": 0,
    "replace": 1,
    "start": 0,
    "stop": 0,
    "repair": 1,
    "destroy": 1,
    "update-allocation": 0,
    "rename": 0,
    "steps": 3,
    "refused": 1
  }
}
)json");
}

TEST(PlanOutputJson, EmptyPlanAndEveryActionsArray) {
  auto empty = nlohmann::json::parse(render_plan_json(Plan{}));
  EXPECT_EQ(empty["format_version"], 1);
  EXPECT_EQ(empty["changes"], false);
  EXPECT_TRUE(empty["steps"].empty());
  EXPECT_TRUE(empty["refused"].empty());
  EXPECT_EQ(empty["summary"]["steps"], 0);

  auto all = nlohmann::json::parse(render_plan_json(every_action()));
  std::map<std::string, nlohmann::json> actions;
  for (const auto& s : all["steps"]) actions[s["action"]] = s["actions"];
  EXPECT_EQ(actions.size(), std::size(plan::kAllActions));
  for (const auto& [action, terraform] : actions) {
    using J = nlohmann::json;
    J want = action == "create"    ? J::array({"create"})
             : action == "replace" ? J::array({"delete", "create"})
             : action == "destroy" ? J::array({"delete"})
                                   : J::array({"update"});
    EXPECT_EQ(terraform, want) << action;
  }
  // Secret fields carry digests and say so; nothing else is marked.
  for (const auto& s : all["steps"])
    for (const auto& c : s["changes"]) EXPECT_EQ(c["secret"], c["path"] == "spec.providerKeys.x") << c["path"];
}

// The accelerator decision ends the text and has its own JSON object; a
// plan that carries none (not made by make_plan) shows nothing of it.
TEST(PlanOutput, TheAcceleratorIsShown) {
  Plan p;
  p.accelerator = {false, "qemu emulates: /dev/kvm cannot be opened"};
  EXPECT_EQ(render_plan_text(p, false),
            "No changes. The host matches the manifests.\n"
            "Accelerator: tcg (qemu emulates: /dev/kvm cannot be opened)\n");
  auto j = nlohmann::json::parse(render_plan_json(p));
  EXPECT_EQ(j["accelerator"],
            (nlohmann::json{{"name", "tcg"}, {"reason", "qemu emulates: /dev/kvm cannot be opened"}}));
  EXPECT_FALSE(nlohmann::json::parse(render_plan_json(Plan{})).contains("accelerator"));

  p.accelerator = {true, "firecracker always uses KVM"};
  p.steps.push_back(plan::Step{"bot", Action::Start, {}, "desired state is running", {}});
  const std::string text = render_plan_text(p, false);
  EXPECT_EQ(text.substr(text.find("Plan:")),
            "Plan: 0 to create, 1 to start, 0 to destroy.\nAccelerator: kvm (firecracker always uses KVM)\n");
}

}  // namespace
}  // namespace cf::cli
