#include "log/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace sluice::log::crc32c {
namespace {

// Vectors from RFC 3720 (iSCSI) appendix B.4 and the usual check value.
TEST(Crc32c, MatchesKnownVectors) {
  EXPECT_EQ(Value("123456789"), 0xE3069283u);
  EXPECT_EQ(Value(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Value(std::string(32, '\xff')), 0x62A8AB43u);
  std::string up, down;
  for (int i = 0; i < 32; ++i) {
    up.push_back(static_cast<char>(i));
    down.push_back(static_cast<char>(31 - i));
  }
  EXPECT_EQ(Value(up), 0x46DD794Eu);
  EXPECT_EQ(Value(down), 0x113FDB5Cu);
  EXPECT_EQ(Value(""), 0u);
}

TEST(Crc32c, ExtendEqualsValueOfConcatenation) {
  std::string a = "hello ", b = "world, this crosses an 8-byte boundary";
  EXPECT_EQ(Extend(Value(a), b.data(), b.size()), Value(a + b));
}

TEST(Crc32c, HardwareAndPortableAgreeAtEveryLengthAndAlignment) {
  std::mt19937 rng(42);
  std::string data(4096 + 16, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  for (size_t align = 0; align < 8; ++align) {
    for (size_t len = 0; len < 300; ++len) {
      uint32_t portable = internal::ExtendPortable(0x12345678u, data.data() + align, len);
      EXPECT_EQ(Extend(0x12345678u, data.data() + align, len), portable) << align << " " << len;
      if (internal::HardwareAvailable()) {
        EXPECT_EQ(internal::ExtendHardware(0x12345678u, data.data() + align, len), portable) << align << " " << len;
      }
    }
  }
  EXPECT_EQ(internal::ExtendPortable(0, "123456789", 9), 0xE3069283u);
  EXPECT_EQ(internal::ExtendPortable(0, data.data(), data.size()), Value(data));
}

TEST(Crc32c, MaskChangesTheValueAndUnmaskRestoresIt) {
  uint32_t crc = Value("foo");
  EXPECT_NE(Mask(crc), crc);
  EXPECT_NE(Mask(Mask(crc)), crc);
  EXPECT_EQ(Unmask(Mask(crc)), crc);
  EXPECT_EQ(Unmask(Unmask(Mask(Mask(crc)))), crc);
}

}  // namespace
}  // namespace sluice::log::crc32c
