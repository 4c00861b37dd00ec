// The agent's real log on stderr (what it uses outside the journal; the
// journal gets the same text): bytes from outside arrive escaped.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "agent/real.h"

namespace cf::agent {
namespace {

// What the log wrote to stderr while body ran.
std::string stderr_of(const std::function<void()>& body) {
  std::fflush(stderr);
  FILE* out = std::tmpfile();
  if (!out) return "tmpfile failed";
  const int saved = ::dup(2);
  ::dup2(::fileno(out), 2);
  body();
  std::fflush(stderr);
  ::dup2(saved, 2);
  ::close(saved);
  std::string text;
  std::rewind(out);
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, out)) > 0;) text.append(buf, n);
  std::fclose(out);
  return text;
}

TEST(AgentLog, TextFromOutsideIsEscaped) {
  const std::string text = stderr_of([] {
    auto log = journal_or_stderr_log(false);
    log->write(Level::Warning,
               "instance bot: health: \x1b]0;owned\x07 \x9b"
               "2J",
               {{"INSTANCE", "bot\x1b[2K"}});
  });
  EXPECT_NE(text.find("instance bot: health: \\x1b]0;owned\\x07 \\x9b2J [INSTANCE=bot\\x1b[2K]"), std::string::npos)
      << text;
  EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
}

}  // namespace
}  // namespace cf::agent
