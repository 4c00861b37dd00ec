#include "core/diagnostic.h"

#include <gtest/gtest.h>

namespace cf {
namespace {

TEST(Diagnostic, FormatLikeACompiler) {
  EXPECT_EQ(format({Severity::Error, {"a.yaml", 12, 15}, "spec.resources.vcpus", "must be between 1 and 32, got 48"}),
            "a.yaml:12:15: error: spec.resources.vcpus: must be between 1 and 32, got 48");
  EXPECT_EQ(format({Severity::Warning, {"a.yaml", 3, 0}, "", "odd"}), "a.yaml:3: warning: odd");
  EXPECT_EQ(format({Severity::Error, {"/etc/clawfleet", 0, 0}, "", "cannot open"}),
            "/etc/clawfleet: error: cannot open");
}

TEST(Diagnostics, CountsAndSortsByFileOrderThenPosition) {
  Diagnostics d;
  d.error({"b.yaml", 1, 1}, "", "b1");
  d.warning({"a.yaml", 9, 1}, "", "a9");
  d.error({"a.yaml", 2, 5}, "", "a2");
  d.error({"a.yaml", 2, 5}, "", "a2 second");
  d.sort({"b.yaml", "a.yaml"});
  ASSERT_EQ(d.all().size(), 4u);
  EXPECT_EQ(d.all()[0].message, "b1");
  EXPECT_EQ(d.all()[1].message, "a2");
  EXPECT_EQ(d.all()[2].message, "a2 second");
  EXPECT_EQ(d.all()[3].message, "a9");
  EXPECT_EQ(d.error_count(), 3u);
  EXPECT_EQ(d.warning_count(), 1u);
  EXPECT_TRUE(d.has_errors());
}

TEST(Diagnostics, CapsTheListButKeepsCounting) {
  Diagnostics d;
  for (std::size_t i = 0; i < Diagnostics::kMaxReported + 5; ++i) d.error({"x", 1, 1}, "", "e");
  EXPECT_EQ(d.all().size(), Diagnostics::kMaxReported);
  EXPECT_EQ(d.error_count(), Diagnostics::kMaxReported + 5);
  EXPECT_TRUE(d.truncated());
  EXPECT_EQ(d.dropped(), 5u);
}

}  // namespace
}  // namespace cf
