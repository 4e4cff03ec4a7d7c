// The dedup snapshot file, DATA/state/dedup.snap: every live, committed key
// of every window, and the log offset the snapshot covers. Written by
// Deduplicator::SaveSnapshot, read by LoadSnapshot (fixed-width fields via
// core/coding.h).
//
//   header   magic        8 bytes  "SLDEDUP\0"
//            version      4 bytes  kSnapshotVersion
//            covered      8 bytes  log offset: every durable record below it is included
//            written_at   8 bytes  UnixMicros
//            kinds        4 bytes  kKindCount
//   per kind count        8 bytes
//            entries      count × kSnapshotEntryBytes:
//                         key_lo 8 | key_hi32 4 | expiry second (unix) 8
//   trailer  crc          4 bytes  masked CRC-32C of everything before it
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sluice::dedup::format {

constexpr std::string_view kSnapshotMagic{"SLDEDUP\0", 8};
constexpr uint32_t kSnapshotVersion = 2;  // 2: fingerprint and composite keys are structural hashes (keys.cc)
constexpr size_t kHeaderBytes = 8 /*magic*/ + 4 /*version*/ + 8 /*covered*/ + 8 /*written_at*/ + 4 /*kinds*/;
constexpr size_t kCountBytes = 8;
constexpr size_t kSnapshotEntryBytes = 8 /*key lo*/ + 4 /*key hi32*/ + 8 /*expiry unix seconds*/;
constexpr size_t kTrailerBytes = 4;  // masked crc32c

}  // namespace sluice::dedup::format
