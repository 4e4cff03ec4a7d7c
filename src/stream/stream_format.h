// Byte layouts of the stream part's durable values: the Watermark and the
// UserFeatures state. Reader and writer both use these; bump a version when a
// layout changes and keep decoding the old one.
//
// Watermark (kWatermarkEncodedBytes):
//   version u8 | out_of_orderness_us fixed64 | max_event_time_us fixed64
#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice::stream {

constexpr uint8_t kWatermarkFormatVersion = 1;
constexpr size_t kWatermarkEncodedBytes = 1 + 8 + 8;

}  // namespace sluice::stream
