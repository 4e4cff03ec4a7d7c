// Fixed-width little-endian and varint encodings: the one place byte layouts
// are spelled out. Every on-disk format (log records, event payloads, offset
// files) uses these; none hand-rolls its own shifts.
//
// Threading: pure functions.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

inline void EncodeFixed32(char* dst, uint32_t v) { std::memcpy(dst, &v, sizeof v); }  // x86-64/aarch64 LE
inline void EncodeFixed64(char* dst, uint64_t v) { std::memcpy(dst, &v, sizeof v); }
inline uint32_t DecodeFixed32(const char* p) { uint32_t v; std::memcpy(&v, p, sizeof v); return v; }
inline uint64_t DecodeFixed64(const char* p) { uint64_t v; std::memcpy(&v, p, sizeof v); return v; }
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "fixed-width coding assumes a little-endian host");

inline void PutFixed32(std::string* dst, uint32_t v) { char b[4]; EncodeFixed32(b, v); dst->append(b, 4); }
inline void PutFixed64(std::string* dst, uint64_t v) { char b[8]; EncodeFixed64(b, v); dst->append(b, 8); }

inline void PutVarint64(std::string* dst, uint64_t v) {
  if (v < 0x80) {  // most encoded counts and deltas: no buffer, no memcpy
    dst->push_back(static_cast<char>(v));
    return;
  }
  char buf[10];
  int n = 0;
  while (v >= 0x80) { buf[n++] = static_cast<char>(v | 0x80); v >>= 7; }
  buf[n++] = static_cast<char>(v);
  dst->append(buf, n);
}

// Appends varint(len) then the bytes.
inline void PutLengthPrefixed(std::string* dst, std::string_view s) {
  PutVarint64(dst, s.size());
  dst->append(s.data(), s.size());
}
// varint count, then each string length-prefixed.
inline void PutLengthPrefixedList(std::string* dst, const std::vector<std::string>& list) {
  PutVarint64(dst, list.size());
  for (const std::string& s : list) PutLengthPrefixed(dst, s);
}

// Cursor over an encoded buffer. Each Get* returns false (and leaves the
// cursor unusable) when the input is short or malformed; callers turn that into
// Status::Corruption with their own context.
class Decoder {
 public:
  explicit Decoder(std::string_view in) : p_(in.data()), end_(in.data() + in.size()) {}

  bool GetFixed32(uint32_t* v) {
    if (end_ - p_ < 4) return false;
    *v = DecodeFixed32(p_); p_ += 4; return true;
  }
  bool GetFixed64(uint64_t* v) {
    if (end_ - p_ < 8) return false;
    *v = DecodeFixed64(p_); p_ += 8; return true;
  }
  bool GetByte(uint8_t* v) {
    if (p_ == end_) return false;
    *v = static_cast<uint8_t>(*p_++); return true;
  }
  bool GetVarint64(uint64_t* v) {
    uint64_t result = 0;
    for (int shift = 0; shift <= 63 && p_ < end_; shift += 7) {
      uint64_t byte = static_cast<unsigned char>(*p_++);
      result |= (byte & 0x7f) << shift;
      if (!(byte & 0x80)) { *v = result; return true; }
    }
    return false;
  }
  bool GetLengthPrefixed(std::string_view* s) {
    uint64_t n;
    if (!GetVarint64(&n) || static_cast<uint64_t>(end_ - p_) < n) return false;
    *s = std::string_view(p_, n); p_ += n; return true;
  }
  // What PutLengthPrefixedList wrote; replaces `out`'s contents.
  bool GetLengthPrefixedList(std::vector<std::string>* out) {
    uint64_t n;
    if (!GetVarint64(&n) || n > remaining()) return false;
    out->resize(n);
    for (std::string& s : *out) {
      std::string_view v;
      if (!GetLengthPrefixed(&v)) return false;
      s.assign(v);
    }
    return true;
  }
  bool done() const { return p_ == end_; }
  size_t remaining() const { return static_cast<size_t>(end_ - p_); }

 private:
  const char* p_;
  const char* end_;
};

}  // namespace sluice
