// The on-disk layout of one log record, shared by the writer and the reader.
//
//   +-----------+-----------+--------+-----------+-------------------+
//   | length u32| crc32c u32| type u8| version u8| payload (length B) |
//   +-----------+-----------+--------+-----------+-------------------+
//
// Little-endian fixed-width integers (core/coding.h). `length` counts the
// payload only. `crc32c` covers type, version and payload, masked as LevelDB
// does so that a CRC stored inside a payload does not confuse recovery.
// A record with length 0 and crc 0 is never written: zeros mark the end.
//
// A consumer offset file (DATA/log/consumers/<name>.offset) is
//
//   +-----------+------------------------------+
//   | next u64  | masked crc32c(next bytes) u32|
//   +-----------+------------------------------+
#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice::log {

constexpr uint32_t kFormatVersion = 1;  // bump on any layout change

constexpr size_t kLengthBytes = 4;
constexpr size_t kCrcBytes = 4;
constexpr size_t kTypeBytes = 1;
constexpr size_t kVersionBytes = 1;
constexpr size_t kRecordHeaderBytes = kLengthBytes + kCrcBytes + kTypeBytes + kVersionBytes;  // 10

constexpr size_t kLengthOffset = 0;
constexpr size_t kCrcOffset = kLengthOffset + kLengthBytes;
constexpr size_t kTypeOffset = kCrcOffset + kCrcBytes;
constexpr size_t kVersionOffset = kTypeOffset + kTypeBytes;

// One record is one event (≤ 32 KB by the API's limit) or a small control
// record; 16 MiB leaves room while letting recovery reject absurd lengths.
constexpr uint32_t kMaxRecordPayloadBytes = 16u << 20;

constexpr const char* kSegmentSuffix = ".wal";
constexpr int kSegmentNameDigits = 20;  // zero-padded first offset

constexpr const char* kConsumersDirName = "consumers";
constexpr const char* kConsumerOffsetSuffix = ".offset";
constexpr const char* kTempSuffix = ".tmp";      // written, synced, then renamed
constexpr size_t kConsumerOffsetValueBytes = 8;
constexpr size_t kConsumerOffsetFileBytes = kConsumerOffsetValueBytes + kCrcBytes;  // 12
constexpr size_t kMaxConsumerNameBytes = 128;  // keeps file names far below NAME_MAX

}  // namespace sluice::log
