#include <random>

#include <gtest/gtest.h>

#include "identity/identity.h"
#include "tests/testing/edit_distance_dp.h"

namespace sluice::identity {
namespace {

using sluice::testing::DpDistance;

// Random strings over a small alphabet (so that matches and transpositions are
// frequent) mixing ASCII with 2-, 3- and 4-byte code points.
std::string RandomString(std::mt19937_64& rng, size_t max_len, bool ascii_only) {
  static const char* const kUnits[] = {"a", "b", "c", "d", "e", "é", "ß", "中", "😀", "Ω"};
  const size_t alphabet = ascii_only ? 5 : 10;
  size_t len = std::uniform_int_distribution<size_t>(0, max_len)(rng);
  std::string s;
  for (size_t i = 0; i < len; ++i) s += kUnits[rng() % alphabet];
  return s;
}

// A copy of `s` with a few random edits, so distances are small as well as large.
std::string Mutate(std::mt19937_64& rng, std::string s) {
  size_t edits = rng() % 4;
  for (size_t k = 0; k < edits && !s.empty(); ++k) {
    size_t i = rng() % s.size();
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;  // inside a code point
    switch (rng() % 4) {
      case 0: s.insert(i, 1, 'x'); break;
      case 1: if (static_cast<unsigned char>(s[i]) < 0x80) s.erase(i, 1); break;
      case 2: if (static_cast<unsigned char>(s[i]) < 0x80) s[i] = 'z'; break;
      case 3:
        if (i + 1 < s.size() && static_cast<unsigned char>(s[i]) < 0x80 &&
            static_cast<unsigned char>(s[i + 1]) < 0x80) {
          std::swap(s[i], s[i + 1]);
        }
        break;
    }
  }
  return s;
}

void CheckAgainstDp(size_t max_len, bool ascii_only, int rounds, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (int round = 0; round < rounds; ++round) {
    std::string a = RandomString(rng, max_len, ascii_only);
    std::string b = rng() % 2 ? Mutate(rng, a) : RandomString(rng, max_len, ascii_only);
    ASSERT_EQ(LevenshteinDistance(a, b), DpDistance(a, b, false)) << "a=" << a << " b=" << b;
    ASSERT_EQ(OsaDistance(a, b), DpDistance(a, b, true)) << "a=" << a << " b=" << b;
  }
}

TEST(Distance, KnownValues) {
  EXPECT_EQ(LevenshteinDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(LevenshteinDistance("", "abc"), 3u);
  EXPECT_EQ(LevenshteinDistance("abc", ""), 3u);
  EXPECT_EQ(LevenshteinDistance("", ""), 0u);
  EXPECT_EQ(LevenshteinDistance("ca", "ac"), 2u);
  EXPECT_EQ(OsaDistance("ca", "ac"), 1u);
  EXPECT_EQ(OsaDistance("ca", "abc"), 3u);  // OSA, not unrestricted Damerau (2)
  EXPECT_EQ(OsaDistance("ann.smith@gmail.com", "ann.smtih@gmail.com"), 1u);
  EXPECT_EQ(LevenshteinDistance("josé", "jose"), 1u);  // code points, not bytes
  EXPECT_EQ(OsaDistance("中文", "文中"), 1u);
}

TEST(Distance, ShortAsciiStringsMatchThePlainDp) { CheckAgainstDp(20, true, 20000, 1); }

TEST(Distance, NonAsciiStringsMatchThePlainDp) { CheckAgainstDp(20, false, 20000, 2); }

TEST(Distance, StringsLongerThanOneWordMatchThePlainDp) {
  CheckAgainstDp(300, true, 500, 3);
  CheckAgainstDp(200, false, 300, 4);
}

TEST(Distance, WordBoundariesMatchThePlainDp) {
  // Lengths around 64 and 128, where a transposition or carry crosses words.
  std::mt19937_64 rng(5);
  for (size_t len : {63, 64, 65, 127, 128, 129}) {
    for (int round = 0; round < 300; ++round) {
      std::string a;
      for (size_t i = 0; i < len; ++i) a.push_back("ab"[rng() % 2]);
      std::string b = Mutate(rng, a);
      ASSERT_EQ(LevenshteinDistance(a, b), DpDistance(a, b, false)) << a << " / " << b;
      ASSERT_EQ(OsaDistance(a, b), DpDistance(a, b, true)) << a << " / " << b;
    }
  }
}

TEST(Distance, InvalidUtf8BytesCountAsUnits) {
  EXPECT_EQ(LevenshteinDistance("ab\xFF", "ab"), 1u);
  EXPECT_EQ(LevenshteinDistance("\xFF\xFE", "\xFE\xFF"), 2u);
  EXPECT_EQ(OsaDistance("\xFF\xFE", "\xFE\xFF"), 1u);
}

TEST(JaroWinkler, KnownValues) {
  EXPECT_DOUBLE_EQ(JaroWinklerSimilarity("", ""), 1.0);
  EXPECT_DOUBLE_EQ(JaroWinklerSimilarity("abc", ""), 0.0);
  EXPECT_DOUBLE_EQ(JaroWinklerSimilarity("martha", "martha"), 1.0);
  // Winkler's published examples.
  EXPECT_NEAR(JaroWinklerSimilarity("martha", "marhta"), 0.9611, 1e-4);
  EXPECT_NEAR(JaroWinklerSimilarity("dwayne", "duane"), 0.84, 1e-4);
  EXPECT_NEAR(JaroWinklerSimilarity("dixon", "dicksonx"), 0.8133, 1e-4);
  EXPECT_DOUBLE_EQ(JaroWinklerSimilarity("abc", "xyz"), 0.0);
  EXPECT_NEAR(JaroWinklerSimilarity("zoë", "zoe"), JaroWinklerSimilarity("zoa", "zoe"), 1e-12);
}

TEST(JaroWinkler, IsSymmetricAndBounded) {
  std::mt19937_64 rng(6);
  for (int i = 0; i < 5000; ++i) {
    std::string a = RandomString(rng, 12, false), b = RandomString(rng, 12, false);
    double x = JaroWinklerSimilarity(a, b);
    EXPECT_NEAR(x, JaroWinklerSimilarity(b, a), 1e-12);
    EXPECT_GE(x, 0.0);
    EXPECT_LE(x, 1.0);
  }
}

}  // namespace
}  // namespace sluice::identity
