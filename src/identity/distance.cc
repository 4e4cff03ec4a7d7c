// Edit distances: Myers/Hyyrö bit-parallel Levenshtein and OSA-Damerau (Hyyrö
// 2003, "A bit-vector algorithm for computing Levenshtein and Damerau edit
// distances"), single-word and blocked for patterns longer than 64 units, and
// Jaro-Winkler. Written by hand: rapidfuzz-cpp is not packaged in Debian 12
// (docs/dependencies.md).
#include <algorithm>
#include <array>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include <utf8proc.h>

#include "identity/identity.h"

namespace sluice::identity {
namespace {

constexpr size_t kWordBits = 64;
// A byte that is not valid UTF-8 becomes a unit of its own above the code point range.
constexpr uint32_t kInvalidByteBase = 0x110000;

bool IsAscii(std::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

std::vector<uint32_t> DecodeUtf8(std::string_view s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(s.size());
  while (left > 0) {
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0) {
      out.push_back(kInvalidByteBase + *p);
      n = 1;
    } else {
      out.push_back(static_cast<uint32_t>(cp));
    }
    p += n;
    left -= n;
  }
  return out;
}

// For each symbol, the bits of the pattern positions holding it, one 64-bit
// word per 64 positions. Symbols below 256 are a table; others a hash map.
template <typename Char>
class PatternBits {
 public:
  PatternBits(const Char* s, size_t n) : words_((n + kWordBits - 1) / kWordBits), low_(256 * words_, 0) {
    for (size_t i = 0; i < n; ++i) {
      uint64_t bit = uint64_t{1} << (i % kWordBits);
      uint32_t c = static_cast<uint32_t>(s[i]);
      if (c < 256) {
        low_[c * words_ + i / kWordBits] |= bit;
      } else {
        std::vector<uint64_t>& v = high_[c];
        v.resize(words_, 0);
        v[i / kWordBits] |= bit;
      }
    }
  }
  uint64_t Get(size_t word, Char ch) const {
    uint32_t c = static_cast<uint32_t>(ch);
    if (c < 256) return low_[c * words_ + word];
    auto it = high_.find(c);
    return it == high_.end() ? 0 : it->second[word];
  }
  size_t words() const { return words_; }

 private:
  size_t words_;
  std::vector<uint64_t> low_;
  std::unordered_map<uint32_t, std::vector<uint64_t>> high_;
};

// Single word, ASCII: the table lives on the stack; no allocation.
class AsciiPatternBits {
 public:
  AsciiPatternBits(const unsigned char* s, size_t n) {
    for (size_t i = 0; i < n; ++i) bits_[s[i]] |= uint64_t{1} << i;
  }
  uint64_t Get(size_t, unsigned char c) const { return bits_[c]; }

 private:
  std::array<uint64_t, 128> bits_{};
};

// Levenshtein, or with kTranspose the optimal string alignment distance.
// REQUIRES: 0 < m <= 64.
template <bool kTranspose, typename Bits, typename Char>
size_t DistanceWord(const Bits& pm, size_t m, const Char* t, size_t n) {
  uint64_t vp = ~uint64_t{0};
  uint64_t vn = 0;
  uint64_t d0 = 0;
  uint64_t pm_prev = 0;
  const uint64_t last = uint64_t{1} << (m - 1);
  size_t dist = m;
  for (size_t j = 0; j < n; ++j) {
    uint64_t x = pm.Get(0, t[j]);
    uint64_t tr = 0;
    if constexpr (kTranspose) {
      // A transposition: this symbol matched one row up in the previous column
      // where the diagonal did not, and the previous symbol matches here.
      tr = (((~d0) & x) << 1) & pm_prev;
      pm_prev = x;
    }
    d0 = (((x & vp) + vp) ^ vp) | x | vn | tr;
    uint64_t hp = vn | ~(d0 | vp);
    uint64_t hn = d0 & vp;
    dist += (hp & last) != 0;
    dist -= (hn & last) != 0;
    hp = (hp << 1) | 1;
    hn = hn << 1;
    vp = hn | ~(d0 | hp);
    vn = hp & d0;
  }
  return dist;
}

// The same over ceil(m / 64) words, carries passed from word to word.
template <bool kTranspose, typename Char>
size_t DistanceBlocks(const PatternBits<Char>& pm, size_t m, const Char* t, size_t n) {
  struct Column {
    uint64_t vp = ~uint64_t{0};
    uint64_t vn = 0;
    uint64_t d0 = 0;
    uint64_t pm = 0;
  };
  const size_t words = pm.words();
  // Index w + 1 holds word w; index 0 is an all-zero word below the pattern.
  std::vector<Column> prev(words + 1), next(words + 1);
  prev[0] = next[0] = Column{0, 0, 0, 0};
  const uint64_t last = uint64_t{1} << ((m - 1) % kWordBits);
  size_t dist = m;
  for (size_t j = 0; j < n; ++j) {
    // Row 0 of the DP grows by one per column: a +1 horizontal delta enters word 0.
    uint64_t hp_carry = 1;
    uint64_t hn_carry = 0;
    for (size_t w = 0; w < words; ++w) {
      const Column& old = prev[w + 1];
      uint64_t x = pm.Get(w, t[j]);
      uint64_t tr = 0;
      if constexpr (kTranspose) {
        tr = (((~old.d0) & x) << 1) | (((~prev[w].d0) & next[w].pm) >> 63);
        tr &= old.pm;
      }
      uint64_t xc = x | hn_carry;
      uint64_t d0 = (((xc & old.vp) + old.vp) ^ old.vp) | xc | old.vn | tr;
      uint64_t hp = old.vn | ~(d0 | old.vp);
      uint64_t hn = d0 & old.vp;
      if (w == words - 1) {
        dist += (hp & last) != 0;
        dist -= (hn & last) != 0;
      }
      uint64_t hp_in = hp_carry;
      hp_carry = hp >> 63;
      hp = (hp << 1) | hp_in;
      uint64_t hn_in = hn_carry;
      hn_carry = hn >> 63;
      hn = (hn << 1) | hn_in;
      next[w + 1] = Column{hn | ~(d0 | hp), hp & d0, d0, x};
    }
    std::swap(prev, next);
  }
  return dist;
}

template <bool kTranspose, typename Char>
size_t Distance(const Char* a, size_t m, const Char* b, size_t n) {
  // The shorter string is the pattern: fewer words per column.
  if (m > n) {
    std::swap(a, b);
    std::swap(m, n);
  }
  if (m == 0) return n;
  if constexpr (sizeof(Char) == 1) {
    if (m <= kWordBits) {
      AsciiPatternBits pm(a, m);
      return DistanceWord<kTranspose>(pm, m, b, n);
    }
  }
  PatternBits<Char> pm(a, m);
  if (m <= kWordBits) return DistanceWord<kTranspose>(pm, m, b, n);
  return DistanceBlocks<kTranspose>(pm, m, b, n);
}

template <bool kTranspose>
size_t Distance(std::string_view a, std::string_view b) {
  if (IsAscii(a) && IsAscii(b)) {
    return Distance<kTranspose>(reinterpret_cast<const unsigned char*>(a.data()), a.size(),
                                reinterpret_cast<const unsigned char*>(b.data()), b.size());
  }
  std::vector<uint32_t> ua = DecodeUtf8(a);
  std::vector<uint32_t> ub = DecodeUtf8(b);
  return Distance<kTranspose>(ua.data(), ua.size(), ub.data(), ub.size());
}

template <typename Char>
double JaroWinkler(const Char* a, size_t m, const Char* b, size_t n) {
  if (m == 0 && n == 0) return 1.0;
  if (m == 0 || n == 0) return 0.0;
  const size_t window = std::max(m, n) / 2 > 0 ? std::max(m, n) / 2 - 1 : 0;
  std::vector<char> a_matched(m, 0), b_matched(n, 0);
  size_t matches = 0;
  for (size_t i = 0; i < m; ++i) {
    size_t lo = i > window ? i - window : 0;
    size_t hi = std::min(n, i + window + 1);
    for (size_t j = lo; j < hi; ++j) {
      if (!b_matched[j] && a[i] == b[j]) {
        a_matched[i] = b_matched[j] = 1;
        ++matches;
        break;
      }
    }
  }
  if (matches == 0) return 0.0;
  size_t half_transpositions = 0;
  for (size_t i = 0, j = 0; i < m; ++i) {
    if (!a_matched[i]) continue;
    while (!b_matched[j]) ++j;
    half_transpositions += a[i] != b[j];
    ++j;
  }
  const double mt = static_cast<double>(matches);
  const double jaro = (mt / m + mt / n + (mt - half_transpositions / 2.0) / mt) / 3.0;
  constexpr size_t kMaxPrefix = 4;
  constexpr double kPrefixScale = 0.1;
  size_t prefix = 0;
  while (prefix < std::min({m, n, kMaxPrefix}) && a[prefix] == b[prefix]) ++prefix;
  return jaro + prefix * kPrefixScale * (1.0 - jaro);
}

}  // namespace

size_t LevenshteinDistance(std::string_view a, std::string_view b) { return Distance<false>(a, b); }

size_t OsaDistance(std::string_view a, std::string_view b) { return Distance<true>(a, b); }

double JaroWinklerSimilarity(std::string_view a, std::string_view b) {
  if (IsAscii(a) && IsAscii(b)) {
    return JaroWinkler(a.data(), a.size(), b.data(), b.size());
  }
  std::vector<uint32_t> ua = DecodeUtf8(a);
  std::vector<uint32_t> ub = DecodeUtf8(b);
  return JaroWinkler(ua.data(), ua.size(), ub.data(), ub.size());
}

}  // namespace sluice::identity
