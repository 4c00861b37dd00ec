#include "core/sha256.h"

#include <gtest/gtest.h>

namespace cf {
namespace {

// FIPS 180-4 / NIST CAVS example vectors.
TEST(Sha256, NistVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, IncrementalEqualsOneShotAcrossBlockBoundaries) {
  std::string data;
  for (int i = 0; i < 200; ++i) data += char('a' + i % 26);
  for (std::size_t split = 0; split <= data.size(); split += 7) {
    Sha256 s;
    s.update(std::string_view(data).substr(0, split));
    s.update(std::string_view(data).substr(split));
    auto digest = s.finish();
    std::string hex;
    for (auto b : digest) hex += "0123456789abcdef"[b >> 4], hex += "0123456789abcdef"[b & 15];
    EXPECT_EQ(hex, sha256_hex(data)) << "split at " << split;
  }
}

}  // namespace
}  // namespace cf
