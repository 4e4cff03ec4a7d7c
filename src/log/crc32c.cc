#include "log/crc32c.h"

#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace sluice::log::crc32c {
namespace {

// The reflected form of the Castagnoli polynomial 0x1EDC6F41.
constexpr uint32_t kReflectedPoly = 0x82f63b78u;
constexpr int kSliceCount = 8;  // slicing-by-8: one 64-bit word per step

struct Tables {
  uint32_t t[kSliceCount][256];
};

// t[0] is the classic byte table; t[k][b] is the CRC of byte b followed by
// k zero bytes, which lets eight bytes be folded in one step.
constexpr Tables MakeTables() {
  Tables tables{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (kReflectedPoly & (0u - (crc & 1u)));
    tables.t[0][i] = crc;
  }
  for (uint32_t i = 0; i < 256; ++i) {
    for (int k = 1; k < kSliceCount; ++k) {
      uint32_t prev = tables.t[k - 1][i];
      tables.t[k][i] = (prev >> 8) ^ tables.t[0][prev & 0xff];
    }
  }
  return tables;
}

constexpr Tables kTables = MakeTables();

inline uint32_t StepByte(uint32_t crc, char byte) {
  return kTables.t[0][(crc ^ static_cast<uint8_t>(byte)) & 0xff] ^ (crc >> 8);
}

inline uint64_t LoadWord(const char* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof w);  // little-endian host, see core/coding.h
  return w;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) uint32_t ExtendSse42(uint32_t init_crc, const char* p, size_t n) {
  uint64_t crc = static_cast<uint32_t>(~init_crc);
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    crc = _mm_crc32_u8(static_cast<uint32_t>(crc), static_cast<uint8_t>(*p++));
    --n;
  }
  while (n >= 8) {
    crc = _mm_crc32_u64(crc, LoadWord(p));
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    crc = _mm_crc32_u8(static_cast<uint32_t>(crc), static_cast<uint8_t>(*p++));
    --n;
  }
  return ~static_cast<uint32_t>(crc);
}
#endif

using ExtendFn = uint32_t (*)(uint32_t, const char*, size_t);

ExtendFn ChooseExtend() {
  return internal::HardwareAvailable() ? internal::ExtendHardware : internal::ExtendPortable;
}

}  // namespace

namespace internal {

uint32_t ExtendPortable(uint32_t init_crc, const char* p, size_t n) {
  uint32_t crc = ~init_crc;
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7) != 0) {
    crc = StepByte(crc, *p++);
    --n;
  }
  const auto& t = kTables.t;
  while (n >= 8) {
    uint64_t w = LoadWord(p) ^ crc;
    // The lowest byte is furthest from the end of the word, so it needs the
    // table that appends the most zero bytes.
    crc = t[7][w & 0xff] ^ t[6][(w >> 8) & 0xff] ^ t[5][(w >> 16) & 0xff] ^ t[4][(w >> 24) & 0xff] ^
          t[3][(w >> 32) & 0xff] ^ t[2][(w >> 40) & 0xff] ^ t[1][(w >> 48) & 0xff] ^ t[0][w >> 56];
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    crc = StepByte(crc, *p++);
    --n;
  }
  return ~crc;
}

bool HardwareAvailable() {
#if defined(__x86_64__)
  // Needed when this runs before constructors (it may, via a static).
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
#else
  return false;
#endif
}

uint32_t ExtendHardware(uint32_t init_crc, const char* data, size_t n) {
#if defined(__x86_64__)
  return ExtendSse42(init_crc, data, n);
#else
  return ExtendPortable(init_crc, data, n);
#endif
}

}  // namespace internal

uint32_t Extend(uint32_t init_crc, const char* data, size_t n) {
  static const ExtendFn extend = ChooseExtend();
  return extend(init_crc, data, n);
}

}  // namespace sluice::log::crc32c
