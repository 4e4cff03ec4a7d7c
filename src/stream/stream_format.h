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

// UserFeatures (kUserFeaturesFormatVersion); varints are core/coding.h's,
// "zz" marks a zigzag-encoded signed varint.
//   version u8 | flags u8 (bit 0: has events)
//   [has events: newest zz | oldest zz]
//   feature count varint, then per feature:
//     fingerprint fixed64 | cell kind u8 (CellKind) | payload length-prefixed
// Payload of a windowed feature: bucket count varint, then per bucket
//   (ascending) index delta zz from the previous index (the first from 0) | cell.
// Cells:
//   count     n varint
//   sum       n varint | micros (int128, zigzag): low 64 bits varint | high 64 bits varint
//   min, max  has u8 [| bits fixed64]
//   distinct  saturated u8 | n varint | hashes ascending: first varint, deltas varint
//   first, last has u8 [| t zz | tie fixed64 | value]
//   time      has u8 [| t zz]
//   top       n varint | per entry: count varint | value bytes length-prefixed
//   session   sessions varint | total duration µs varint
// Payload of a session feature: the windowed payload of its session cells,
//   then open session count varint | per open session: start zz | length varint.
// Value: kind u8 | bool u8 / number bits fixed64 / string length-prefixed /
//   timestamp zz (null: nothing).
constexpr uint8_t kUserFeaturesFormatVersion = 1;
constexpr uint8_t kUserFeaturesHasEvents = 1;
