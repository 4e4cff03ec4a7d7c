// Watermark: newest event time minus out-of-orderness, monotone, encodable.
#include <gtest/gtest.h>

#include "stream/stream.h"

namespace sluice::stream {
namespace {

TEST(WatermarkTest, TrailsTheNewestEventAndNeverMovesBack) {
  Watermark w(5 * kMicrosPerMinute);
  EXPECT_EQ(w.Current(), Watermark::kNoWatermark);
  w.Observe(10 * kMicrosPerMinute);
  EXPECT_EQ(w.Current(), 5 * kMicrosPerMinute);
  w.Observe(7 * kMicrosPerMinute);
  EXPECT_EQ(w.Current(), 5 * kMicrosPerMinute);
  w.Observe(20 * kMicrosPerMinute);
  EXPECT_EQ(w.Current(), 15 * kMicrosPerMinute);
  EXPECT_EQ(w.max_event_time(), 20 * kMicrosPerMinute);
}

TEST(WatermarkTest, SaturatesAtTheBottomOfTheRange) {
  Watermark w(kMicrosPerHour);
  w.Observe(Watermark::kNoWatermark + 1);
  EXPECT_EQ(w.Current(), Watermark::kNoWatermark);
}

TEST(WatermarkTest, EncodesToSeventeenBytesAndBack) {
  Watermark w(90 * kMicrosPerSecond);
  w.Observe(1'700'000'000'000'000);
  std::string bytes;
  w.Encode(&bytes);
  EXPECT_EQ(bytes.size(), 17u);
  auto back = Watermark::Decode(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, w);
  EXPECT_EQ(back->Current(), w.Current());

  std::string empty;
  Watermark(kMicrosPerSecond).Encode(&empty);
  auto fresh = Watermark::Decode(empty);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->Current(), Watermark::kNoWatermark);
}

TEST(WatermarkTest, BadBytesAreCorruption) {
  Watermark w(kMicrosPerSecond);
  w.Observe(42);
  std::string bytes;
  w.Encode(&bytes);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_EQ(Watermark::Decode(bytes.substr(0, n)).status().code(), StatusCode::kCorruption) << n;
  }
  std::string bad_version = bytes;
  bad_version[0] = 9;
  EXPECT_EQ(Watermark::Decode(bad_version).status().code(), StatusCode::kCorruption);
  std::string negative = bytes;
  negative[8] = static_cast<char>(0x80);  // top byte of out_of_orderness
  EXPECT_EQ(Watermark::Decode(negative).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(Watermark::Decode(bytes + "x").status().code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace sluice::stream
