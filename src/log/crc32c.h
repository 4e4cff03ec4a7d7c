// CRC-32C (Castagnoli polynomial), the checksum of log records and consumer
// offset files. Written by hand because no Debian 12 package ships a CRC-32C
// library; the SSE4.2 instruction is used when the CPU has it (chosen once at
// run time), a slicing-by-8 table otherwise. Both give identical results.
//
// Threading: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sluice::log::crc32c {

// Returns the crc32c of A + data[0, n) where `init_crc` is the crc32c of A.
uint32_t Extend(uint32_t init_crc, const char* data, size_t n);

inline uint32_t Value(const char* data, size_t n) { return Extend(0, data, n); }
inline uint32_t Value(std::string_view s) { return Extend(0, s.data(), s.size()); }

// A CRC stored next to the data it covers is masked (as LevelDB does): the
// CRC of a string that itself contains CRCs is then not a CRC of a CRC, which
// would otherwise make embedded records look valid to recovery.
constexpr uint32_t kMaskDelta = 0xa282ead8u;

inline uint32_t Mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + kMaskDelta; }
inline uint32_t Unmask(uint32_t masked_crc) {
  uint32_t rot = masked_crc - kMaskDelta;
  return (rot >> 17) | (rot << 15);
}

// Exposed so tests can check both implementations against each other.
namespace internal {
uint32_t ExtendPortable(uint32_t init_crc, const char* data, size_t n);
// True when ExtendHardware may be called on this CPU.
bool HardwareAvailable();
// REQUIRES: HardwareAvailable().
uint32_t ExtendHardware(uint32_t init_crc, const char* data, size_t n);
}  // namespace internal

}  // namespace sluice::log::crc32c
