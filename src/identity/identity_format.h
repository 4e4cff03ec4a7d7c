// The binary layout of an encoded IdentityGraph (IdentityGraph::Encode/Decode),
// the value stored in RocksDB. Integers use core/coding.h: varint for counts,
// indexes and lengths, fixed64 for times and doubles (their IEEE-754 bits).
//
//   fixed32 magic  kGraphMagic
//   byte    version kGraphFormatVersion
//   varint  identifier count N, then N × { byte IdType, length-prefixed value }
//   varint  link count L, then L × {
//             varint a, varint b             (identifier indexes, a's key < b's key)
//             byte LinkState, length-prefixed refusal
//             length-prefixed rule
//             varint F, F × length-prefixed field
//             varint D, D × { length-prefixed field, varint distance, fixed64 similarity }
//             fixed64 score, fixed64 time_ms (two's complement)
//             varint M, M × length-prefixed message id }
//   varint  rejected requests in all (IdentityGraph::rejected_total)
//   varint  rejected count R (the most recent), then R × { 6 × length-prefixed (type_a, raw_a,
//             type_b, raw_b, reason, rule), fixed64 time_ms }
//
// One link on its own (EncodeLinkRecord), the value a store keeps per link:
//   byte version kLinkRecordVersion
//   2 × { byte IdType, length-prefixed value }   (a, then b)
//   byte LinkState, length-prefixed refusal
//   the evidence, laid out as in a link above (rule … message ids)
//
// Accepted/refused states are stored for readers of the bytes, but Decode
// recomputes them from the links under the loading configuration; kRemoved is
// kept as stored. Version changes: a reader refuses versions it does not know.
#pragma once

#include <cstdint>

namespace sluice::identity {

inline constexpr uint32_t kGraphMagic = 0x47444953;  // "SIDG" little-endian
inline constexpr uint8_t kGraphFormatVersion = 1;
inline constexpr uint8_t kMaxLinkState = 2;  // LinkState::kRemoved
inline constexpr uint8_t kLinkRecordVersion = 1;

}  // namespace sluice::identity
