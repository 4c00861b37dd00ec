#include "core/text.h"

#include <gtest/gtest.h>

namespace cf {
namespace {

TEST(DnsLabel, Rules) {
  EXPECT_TRUE(is_dns_label("a"));
  EXPECT_TRUE(is_dns_label("support-bot"));
  EXPECT_TRUE(is_dns_label("0bot9"));
  EXPECT_TRUE(is_dns_label(std::string(63, 'a')));
  EXPECT_FALSE(is_dns_label(std::string(64, 'a')));
  for (const char* bad : {"", "-a", "a-", "Ab", "a_b", "a.b", "a b", "ä"}) EXPECT_FALSE(is_dns_label(bad)) << bad;
}

TEST(Ifname, FitsIfnamsiz) {
  EXPECT_TRUE(is_ifname("clawfleet0"));
  EXPECT_TRUE(is_ifname("br-fc.1_x"));
  EXPECT_TRUE(is_ifname(std::string(15, 'b')));
  EXPECT_FALSE(is_ifname(std::string(16, 'b')));
  for (const char* bad : {"", ".", "..", "a/b", "a b", "a:b"}) EXPECT_FALSE(is_ifname(bad)) << bad;
}

TEST(Utf8, AcceptsValidRejectsMalformed) {
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xc3"));              // truncated
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xff"));
}

// What reaches a terminal from outside: controls and broken UTF-8 as
// \xNN, everything else as it was.
TEST(Printable, EscapesWhatATerminalWouldActOn) {
  EXPECT_EQ(printable("plain text: ok/é/€/😀"), "plain text: ok/é/€/😀");
  EXPECT_EQ(printable("\x1b[2J\x1b]0;owned\x07"), "\\x1b[2J\\x1b]0;owned\\x07");
  EXPECT_EQ(printable("a\nb\rc\td\x7f"), "a\\x0ab\\x0dc\\x09d\\x7f");
  EXPECT_EQ(printable(std::string("nul\0x", 5)), "nul\\x00x");
  EXPECT_EQ(printable("\xc2\x9b"
                      "31m"),
            "\\xc2\\x9b31m");  // U+009B, the 8-bit CSI
  EXPECT_EQ(printable("\x9b"
                      "31m"),
            "\\x9b31m");                           // a lone byte: not UTF-8
  EXPECT_EQ(printable("\xe2\x82"), "\\xe2\\x82");  // cut short
  EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf");  // overlong '/'
  EXPECT_EQ(printable("\xc2\xa0"), "\xc2\xa0");    // U+00A0: printable
  EXPECT_EQ(printable(""), "");
}

TEST(Path, CleanAbsolute) {
  EXPECT_TRUE(is_clean_absolute_path("/"));
  EXPECT_TRUE(is_clean_absolute_path("/etc/clawfleet/secrets/a.token"));
  for (const char* bad : {"", "etc/x", "./x", "/etc/../x", "/etc/./x", "/etc//x", "/etc/x/"})
    EXPECT_FALSE(is_clean_absolute_path(bad)) << bad;
  EXPECT_FALSE(is_clean_absolute_path("/" + std::string(4096, 'a')));
}

TEST(Size, Units) {
  EXPECT_EQ(parse_size("20GiB").value(), 20ull << 30);
  EXPECT_EQ(parse_size("40G").value(), 40ull << 30);
  EXPECT_EQ(parse_size("512MiB").value(), 512ull << 20);
  EXPECT_EQ(parse_size("10GB").value(), 10000000000ull);
  EXPECT_EQ(parse_size("1TiB").value(), 1ull << 40);
  EXPECT_EQ(parse_size("3K").value(), 3072u);
}

TEST(Size, Errors) {
  EXPECT_EQ(parse_size("20").error().message, "size needs a unit (e.g. 20GiB): a bare number is ambiguous");
  EXPECT_EQ(parse_size("20 GiB").error().message,
            "unknown size unit \" GiB\" (use K, M, G, T, KiB, MiB, GiB, TiB, KB, MB, GB or TB)");
  EXPECT_EQ(parse_size("GiB").error().message, "not a size (want a number and a unit, e.g. 20GiB)");
  EXPECT_EQ(parse_size("-1GiB").error().message, "not a size (want a number and a unit, e.g. 20GiB)");
  EXPECT_EQ(parse_size("99999999999999999999GiB").error().message, "size is too large");
  EXPECT_EQ(parse_size("17179869184GiB").error().message, "size is too large");
}

TEST(Size, Format) {
  EXPECT_EQ(format_size(20ull << 30), "20GiB");
  EXPECT_EQ(format_size(64ull << 40), "64TiB");
  EXPECT_EQ(format_size(1536ull << 20), "1536MiB");
  EXPECT_EQ(format_size(1000), "1000B");
}

TEST(Plural, Counts) {
  EXPECT_EQ(plural(0, "error", "errors"), "0 errors");
  EXPECT_EQ(plural(1, "error", "errors"), "1 error");
  EXPECT_EQ(plural(2, "instance", "instances"), "2 instances");
}

}  // namespace
}  // namespace cf

namespace cf {
namespace {

TEST(Utf8Cut, NeverSplitsACharacter) {
  EXPECT_EQ(utf8_prefix("abc", 5), "abc");
  EXPECT_EQ(utf8_prefix("a\xc3\xa9", 2), "a");  // é is 2 bytes
  EXPECT_EQ(utf8_prefix("a\xc3\xa9", 3), "a\xc3\xa9");
  EXPECT_EQ(utf8_prefix("\xe2\x82\xac\xe2\x82\xac", 4), "\xe2\x82\xac");  // €€
  EXPECT_EQ(utf8_prefix("\xf0\x9f\x90\x99", 3), "");                      // one 4-byte character
  EXPECT_EQ(cut("short", 10), "short");
  EXPECT_EQ(cut("\xc3\xa9\xc3\xa9\xc3\xa9", 5), "\xc3\xa9...");
  for (std::size_t max = 3; max < 12; ++max) {
    const std::string c = cut("\xc3\xa9t\xc3\xa9 \xe2\x82\xac\xf0\x9f\x90\x99", max);
    EXPECT_LE(c.size(), max);
    EXPECT_TRUE(is_valid_utf8(c)) << max;
  }
}

}  // namespace
}  // namespace cf
