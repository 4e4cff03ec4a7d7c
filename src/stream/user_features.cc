#include <boost/container/small_vector.hpp>
#include <simdjson.h>
#include <xxhash.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "core/coding.h"
#include "stream/feature_compiled.h"
#include "stream/stream.h"
#include "stream/stream_format.h"

namespace sluice::stream {
namespace {

namespace od = simdjson::ondemand;

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if (a % b != 0 && (a < 0) != (b < 0)) --q;
  return q;
}

uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
int64_t UnZigZag(uint64_t u) { return static_cast<int64_t>(u >> 1) ^ -static_cast<int64_t>(u & 1); }

void PutSigned(std::string* out, int64_t v) { PutVarint64(out, ZigZag(v)); }
bool GetSigned(Decoder* d, int64_t* v) {
  uint64_t u;
  if (!d->GetVarint64(&u)) return false;
  *v = UnZigZag(u);
  return true;
}
// An event time in encoded state: refused outside the accepted range so no
// later arithmetic on it can overflow.
bool GetTime(Decoder* d, UnixMicros* t) { return GetSigned(d, t) && *t >= kMinEventTime && *t <= kMaxEventTime; }

// -0 and 0 compare equal but differ in bits: one of them, so min/max and
// encodings do not depend on which arrived first.
double Canonical(double x) { return x == 0 ? 0.0 : x; }

// Keeps at most `max` bytes, cut before a UTF-8 continuation byte.
void AssignBounded(std::string* out, std::string_view s, size_t max = kMaxValueBytes) {
  if (s.size() > max) {
    size_t n = max;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    s = s.substr(0, n);
  }
  out->assign(s);
}

void AssignValue(Value* out, const Value& in) {
  out->kind = in.kind;
  out->boolean = in.boolean;
  out->number = Canonical(in.number);
  out->timestamp = in.timestamp;
  if (in.kind == ValueKind::kString) {
    AssignBounded(&out->string, in.string);
  } else {
    out->string.clear();
  }
}

// A total order on values: by kind, then content. Ties of first/last end here.
int ValueOrder(const Value& a, const Value& b) {
  if (a.kind != b.kind) return a.kind < b.kind ? -1 : 1;
  switch (a.kind) {
    case ValueKind::kNull: return 0;
    case ValueKind::kBool: return a.boolean == b.boolean ? 0 : (a.boolean ? 1 : -1);
    case ValueKind::kNumber: return a.number < b.number ? -1 : (b.number < a.number ? 1 : 0);
    case ValueKind::kString: return a.string.compare(b.string) < 0 ? -1 : (a.string == b.string ? 0 : 1);
    case ValueKind::kTimestamp: return a.timestamp < b.timestamp ? -1 : (b.timestamp < a.timestamp ? 1 : 0);
  }
  return 0;
}

void EncodeValue(std::string* out, const Value& v) {
  out->push_back(static_cast<char>(v.kind));
  switch (v.kind) {
    case ValueKind::kNull: break;
    case ValueKind::kBool: out->push_back(v.boolean ? 1 : 0); break;
    case ValueKind::kNumber: PutFixed64(out, std::bit_cast<uint64_t>(v.number)); break;
    case ValueKind::kString: PutLengthPrefixed(out, v.string); break;
    case ValueKind::kTimestamp: PutSigned(out, v.timestamp); break;
  }
}

bool DecodeValue(Decoder* d, Value* v) {
  uint8_t kind;
  if (!d->GetByte(&kind) || kind > static_cast<uint8_t>(ValueKind::kTimestamp)) return false;
  *v = Value();
  v->kind = static_cast<ValueKind>(kind);
  switch (v->kind) {
    case ValueKind::kNull: return true;
    case ValueKind::kBool: {
      uint8_t b;
      if (!d->GetByte(&b) || b > 1) return false;
      v->boolean = b == 1;
      return true;
    }
    case ValueKind::kNumber: {
      uint64_t bits;
      if (!d->GetFixed64(&bits)) return false;
      v->number = std::bit_cast<double>(bits);
      return std::isfinite(v->number);
    }
    case ValueKind::kString: {
      std::string_view s;
      if (!d->GetLengthPrefixed(&s) || s.size() > kMaxValueBytes) return false;
      v->string.assign(s);
      return true;
    }
    case ValueKind::kTimestamp: return GetTime(d, &v->timestamp);
  }
  return false;
}

// The text `top` counts: strings as they are, other scalars as JSON; at most
// kMaxTopValueBytes.
void TopText(const Value& v, std::string* out) {
  out->clear();
  if (v.kind == ValueKind::kString) {
    AssignBounded(out, v.string, kMaxTopValueBytes);
  } else {
    AppendValueJson(out, v);
  }
}

uint64_t HashText(std::string_view s) { return XXH3_64bits(s.data(), s.size()); }

// count_distinct's identity of a value: 1 and "1" are different values.
uint64_t DistinctHash(const Value& v) {
  char buf[9];
  buf[0] = static_cast<char>(v.kind);
  switch (v.kind) {
    case ValueKind::kString:
      return XXH3_64bits_withSeed(v.string.data(), v.string.size(), static_cast<uint64_t>(ValueKind::kString));
    case ValueKind::kNumber: {
      uint64_t bits = std::bit_cast<uint64_t>(Canonical(v.number));
      std::memcpy(buf + 1, &bits, 8);
      return XXH3_64bits(buf, 9);
    }
    case ValueKind::kTimestamp: {
      uint64_t bits = static_cast<uint64_t>(v.timestamp);
      std::memcpy(buf + 1, &bits, 8);
      return XXH3_64bits(buf, 9);
    }
    default:
      buf[1] = v.boolean ? 1 : 0;
      return XXH3_64bits(buf, 2);
  }
}

// One event as a feature sees it.
struct Input {
  UnixMicros t = 0;
  uint64_t tie = 0;  // first/last: hash of message_id
  const Value* value = nullptr;
};

struct EvalContext {
  UnixMicros as_of = 0;
  UnixMicros oldest = 0;
};

// ---------------------------------------------------------------- cells

// Makes room for one more element in a sample kept to at most `max`
// elements: capacity doubles from 1 but never passes `max`, so the memory
// bound holds while most cells (a bucket's one or two values) stay small.
// Before any iterator is taken: it may reallocate.
template <typename Container>
void GrowBounded(Container* v, size_t max) {
  if (v->size() < v->capacity()) return;
  v->reserve(std::min(max, std::max<size_t>(1, 2 * v->capacity())));
}
// Requests every cache line of [p, p + bytes).
void PrefetchBytes(const void* p, size_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch(c + b);
}
// Heap bytes of a vector that keeps its first N elements inline: none until
// it outgrows them.
template <typename T, size_t N>
size_t SpilledBytes(const boost::container::small_vector<T, N>& v) {
  return v.capacity() > N ? v.capacity() * sizeof(T) : 0;
}

// What a feature keeps per bucket. Each: Add one input, Merge another cell
// (`bounded`: a state merge keeps the cell's bound; a window sum for Evaluate
// need not), Encode/Decode, heap bytes, and the value of a window of them.
// kInlineBuckets: how many of a feature's buckets live inline in the user's
// slot (the most that fit in UserState::Slot::kStateBytes), so a feature
// with few buckets takes no heap block of its own.

struct CountCell {
  static constexpr CellKind kKind = CellKind::kCount;
  static constexpr size_t kMaxHeapBytes = 0;
  static constexpr size_t kInlineBuckets = 6;
  uint64_t n = 0;
  static bool Accepts(const Input&) { return true; }
  void Add(const Input&) { ++n; }
  void Merge(const CountCell& o, bool) { n += o.n; }
  void Encode(std::string* out) const { PutVarint64(out, n); }
  bool Decode(Decoder* d) { return d->GetVarint64(&n); }
  size_t HeapBytes() const { return 0; }
  Value Result(const FeatureDefinition&, const EvalContext&) const { return Value::Number(static_cast<double>(n)); }
};

struct SumCell {
  static constexpr CellKind kKind = CellKind::kSum;
  static constexpr size_t kMaxHeapBytes = 0;
  static constexpr size_t kInlineBuckets = 1;
  // Values are summed as integers of millionths: integer addition is
  // associative, so any order gives the same bits. 2^127 millionths is
  // far beyond any sum of doubles clamped to ±9.2e12 each.
  static constexpr double kScale = 1e6;
  static constexpr double kMaxMicros = 9.2e18;
  // A decoded sum beyond this is corruption: 2^100 millionths take 2^37
  // events at the per-value clamp, and keeping far below 2^127 keeps Add from overflowing.
  static constexpr __int128 kMaxDecodedMicros = static_cast<__int128>(1) << 100;
  uint64_t n = 0;
  __int128 micros = 0;
  static bool Accepts(const Input& in) { return in.value->kind == ValueKind::kNumber; }
  void Add(const Input& in) {
    double scaled = std::clamp(in.value->number * kScale, -kMaxMicros, kMaxMicros);
    ++n;
    micros += static_cast<int64_t>(std::llround(scaled));
  }
  void Merge(const SumCell& o, bool) {
    n += o.n;
    micros += o.micros;
  }
  void Encode(std::string* out) const {
    unsigned __int128 z = (static_cast<unsigned __int128>(micros) << 1) ^ static_cast<unsigned __int128>(micros >> 127);
    PutVarint64(out, n);
    PutVarint64(out, static_cast<uint64_t>(z));
    PutVarint64(out, static_cast<uint64_t>(z >> 64));
  }
  bool Decode(Decoder* d) {
    uint64_t lo, hi;
    if (!d->GetVarint64(&n) || !d->GetVarint64(&lo) || !d->GetVarint64(&hi)) return false;
    unsigned __int128 z = (static_cast<unsigned __int128>(hi) << 64) | lo;
    micros = static_cast<__int128>(z >> 1) ^ -static_cast<__int128>(z & 1);
    return micros < kMaxDecodedMicros && micros > -kMaxDecodedMicros;
  }
  size_t HeapBytes() const { return 0; }
  Value Result(const FeatureDefinition& def, const EvalContext&) const {
    double sum = static_cast<double>(micros) / kScale;
    if (def.aggregate == Aggregate::kSum) return Value::Number(sum);
    return n == 0 ? Value::Null() : Value::Number(sum / static_cast<double>(n));
  }
};

template <bool kIsMax>
struct ExtremeCell {
  static constexpr CellKind kKind = kIsMax ? CellKind::kMax : CellKind::kMin;
  static constexpr size_t kMaxHeapBytes = 0;
  static constexpr size_t kInlineBuckets = 4;
  bool has = false;
  double v = 0;
  void Offer(double x) {
    x = Canonical(x);
    if (!has || (kIsMax ? x > v : x < v)) v = x;
    has = true;
  }
  static bool Accepts(const Input& in) { return in.value->kind == ValueKind::kNumber; }
  void Add(const Input& in) { Offer(in.value->number); }
  void Merge(const ExtremeCell& o, bool) {
    if (o.has) Offer(o.v);
  }
  void Encode(std::string* out) const {
    out->push_back(has ? 1 : 0);
    if (has) PutFixed64(out, std::bit_cast<uint64_t>(v));
  }
  bool Decode(Decoder* d) {
    uint8_t b;
    if (!d->GetByte(&b) || b > 1) return false;
    has = b == 1;
    if (!has) return true;
    uint64_t bits;
    if (!d->GetFixed64(&bits)) return false;
    v = std::bit_cast<double>(bits);
    return std::isfinite(v);
  }
  size_t HeapBytes() const { return 0; }
  Value Result(const FeatureDefinition&, const EvalContext&) const { return has ? Value::Number(v) : Value::Null(); }
};

// KMV: the kDistinctSketchK smallest hashes of the distinct values. Which
// hashes are kept depends only on the set of values, never their order, and
// the union of two sketches cut to K is the sketch of the union.
struct DistinctCell {
  static constexpr CellKind kKind = CellKind::kDistinct;
  static constexpr size_t kMaxHeapBytes = (kDistinctSketchK + 1) * sizeof(uint64_t);
  static constexpr size_t kInlineHashes = 2;
  static constexpr size_t kInlineBuckets = 1;
  boost::container::small_vector<uint64_t, kInlineHashes> hashes;  // ascending
  bool saturated = false;        // a hash was ever cut: more than K distinct values
  void Insert(uint64_t h, bool bounded) {
    if (bounded) GrowBounded(&hashes, kDistinctSketchK + 1);
    auto it = std::lower_bound(hashes.begin(), hashes.end(), h);
    if (it != hashes.end() && *it == h) return;
    if (bounded && hashes.size() == kDistinctSketchK) {
      saturated = true;
      if (it == hashes.end()) return;
      hashes.pop_back();
      it = std::lower_bound(hashes.begin(), hashes.end(), h);
    }
    hashes.insert(it, h);
  }
  static bool Accepts(const Input& in) { return in.value->kind != ValueKind::kNull; }
  void Add(const Input& in) { Insert(DistinctHash(*in.value), true); }
  void Merge(const DistinctCell& o, bool bounded) {
    for (uint64_t h : o.hashes) Insert(h, true);
    saturated = saturated || o.saturated;
    (void)bounded;  // the union is cut to K either way: that is the KMV estimate
  }
  void Encode(std::string* out) const {
    out->push_back(saturated ? 1 : 0);
    PutVarint64(out, hashes.size());
    uint64_t prev = 0;
    for (uint64_t h : hashes) {
      PutVarint64(out, h - prev);
      prev = h;
    }
  }
  bool Decode(Decoder* d) {
    uint8_t s;
    uint64_t n;
    if (!d->GetByte(&s) || s > 1 || !d->GetVarint64(&n) || n > kDistinctSketchK) return false;
    saturated = s == 1;
    if (saturated && n != kDistinctSketchK) return false;
    hashes.clear();
    uint64_t prev = 0;
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t delta;
      if (!d->GetVarint64(&delta) || (i > 0 && delta == 0) || delta > UINT64_MAX - prev) return false;
      prev += delta;
      hashes.push_back(prev);
    }
    return true;
  }
  size_t HeapBytes() const { return SpilledBytes(hashes); }
  Value Result(const FeatureDefinition&, const EvalContext&) const {
    if (!saturated) return Value::Number(static_cast<double>(hashes.size()));
    // The K-th smallest of n uniform hashes sits near K/n of the range.
    double kth = (static_cast<double>(hashes.back()) + 1.0) / 18446744073709551616.0;
    return Value::Number(std::round((kDistinctSketchK - 1) / kth));
  }
};

// first (kIsLast false) / last value: the extreme (time, message_id hash, value).
template <bool kIsLast>
struct PickCell {
  static constexpr CellKind kKind = kIsLast ? CellKind::kLast : CellKind::kFirst;
  static constexpr size_t kMaxHeapBytes = 2 * kMaxValueBytes + 1;
  static constexpr size_t kInlineBuckets = 1;
  bool has = false;
  UnixMicros t = 0;
  uint64_t tie = 0;
  Value v;
  bool Beats(UnixMicros t2, uint64_t tie2, const Value& v2) const {
    if (!has) return true;
    int order = t2 != t ? (t2 < t ? -1 : 1) : tie2 != tie ? (tie2 < tie ? -1 : 1) : ValueOrder(v2, v);
    return kIsLast ? order > 0 : order < 0;
  }
  static bool Accepts(const Input& in) { return in.value->kind != ValueKind::kNull; }
  void Add(const Input& in) {
    if (!Beats(in.t, in.tie, *in.value)) return;
    has = true;
    t = in.t;
    tie = in.tie;
    AssignValue(&v, *in.value);
  }
  void Merge(const PickCell& o, bool) {
    if (!o.has || !Beats(o.t, o.tie, o.v)) return;
    has = true;
    t = o.t;
    tie = o.tie;
    AssignValue(&v, o.v);
  }
  void Encode(std::string* out) const {
    out->push_back(has ? 1 : 0);
    if (!has) return;
    PutSigned(out, t);
    PutFixed64(out, tie);
    EncodeValue(out, v);
  }
  bool Decode(Decoder* d) {
    uint8_t b;
    if (!d->GetByte(&b) || b > 1) return false;
    has = b == 1;
    if (!has) return true;
    return GetTime(d, &t) && d->GetFixed64(&tie) && DecodeValue(d, &v) && v.kind != ValueKind::kNull;
  }
  size_t HeapBytes() const { return v.string.capacity() > 15 ? v.string.capacity() + 1 : 0; }
  Value Result(const FeatureDefinition&, const EvalContext&) const { return has ? v : Value::Null(); }
};

// last_seen / seconds_since_last: the newest event time.
struct TimeCell {
  static constexpr CellKind kKind = CellKind::kTime;
  static constexpr size_t kMaxHeapBytes = 0;
  static constexpr size_t kInlineBuckets = 4;
  bool has = false;
  UnixMicros t = 0;
  static bool Accepts(const Input&) { return true; }
  void Add(const Input& in) {
    if (!has || in.t > t) t = in.t;
    has = true;
  }
  void Merge(const TimeCell& o, bool) {
    if (o.has) Add(Input{o.t});
  }
  void Encode(std::string* out) const {
    out->push_back(has ? 1 : 0);
    if (has) PutSigned(out, t);
  }
  bool Decode(Decoder* d) {
    uint8_t b;
    if (!d->GetByte(&b) || b > 1) return false;
    has = b == 1;
    return !has || GetTime(d, &t);
  }
  size_t HeapBytes() const { return 0; }
  Value Result(const FeatureDefinition& def, const EvalContext& ctx) const {
    if (!has) return Value::Null();
    if (def.aggregate == Aggregate::kLastSeen) return Value::Timestamp(t);
    return Value::Number(static_cast<double>(std::max<int64_t>(0, ctx.as_of - t)) / kMicrosPerSecond);
  }
};

// Folded sessions, by the bucket of their start.
struct SessionCell {
  static constexpr CellKind kKind = CellKind::kSession;
  static constexpr size_t kMaxHeapBytes = 0;
  static constexpr size_t kInlineBuckets = 1;
  uint64_t sessions = 0;
  uint64_t total_us = 0;
  void Merge(const SessionCell& o, bool) {
    sessions += o.sessions;
    total_us += o.total_us;
  }
  void Encode(std::string* out) const {
    PutVarint64(out, sessions);
    PutVarint64(out, total_us);
  }
  bool Decode(Decoder* d) { return d->GetVarint64(&sessions) && d->GetVarint64(&total_us); }
  size_t HeapBytes() const { return 0; }
};

// ---------------------------------------------------------------- per-feature state

class FeatureState {
 public:
  virtual ~FeatureState() = default;
  virtual CellKind kind() const = 0;
  // `newest`: the user's newest on-time event time, this event included.
  virtual void Add(const CompiledFeature& f, const FeatureDefinition& def, const WatermarkOptions& wo,
                   const Input& in, UnixMicros newest) = 0;
  // Drops (or folds) what `newest` has left behind.
  virtual void Advance(const CompiledFeature& f, const FeatureDefinition& def, const WatermarkOptions& wo,
                       UnixMicros newest) = 0;
  virtual void Merge(const CompiledFeature& f, const FeatureDefinition& def, const WatermarkOptions& wo,
                     const FeatureState& other, UnixMicros newest) = 0;
  // The value and its window; the caller fills in the name (reusing its storage).
  virtual FeatureValue Evaluate(const CompiledFeature& f, const FeatureDefinition& def, const EvalContext& ctx) const = 0;
  // The smallest newest event time at which Advance would change anything
  // (INT64_MAX: never): until then the user's Apply skips Advance, which
  // keeps the per-event cost to the features an event matches.
  virtual UnixMicros NextChange(const CompiledFeature& f, const FeatureDefinition& def, const WatermarkOptions& wo) const = 0;
  virtual void Encode(std::string* out) const = 0;
  virtual bool Decode(Decoder* d) = 0;
  // Heap bytes beyond the object itself (which lives inline in the user's slot).
  virtual size_t HeapBytes() const = 0;
  // Copy- / move-construct this state at `where` (a slot's inline storage).
  virtual void CloneInto(void* where) const = 0;
  virtual void MoveInto(void* where) = 0;
  // Starts loading the memory the next Add will touch, so the features an
  // event matches miss the cache in parallel rather than one after another.
  virtual void Prefetch() const = 0;
};

int64_t BucketOf(const CompiledFeature& f, UnixMicros t) { return f.lifetime ? 0 : FloorDiv(t, f.width_us); }

// BucketOf(f, t), without its division when `t` falls in bucket `*newest`
// (the state's newest, where events mostly land; null: no bucket yet).
int64_t BucketNear(const CompiledFeature& f, UnixMicros t, const int64_t* newest) {
  // Decoded indexes are only bounded by ±2^62: such a bucket's range may
  // not be representable, and then it is not the event's.
  UnixMicros start, end;
  if (newest && !f.lifetime && !__builtin_mul_overflow(*newest, f.width_us, &start) &&
      !__builtin_add_overflow(start, f.width_us, &end) && t >= start && t < end) {
    return *newest;
  }
  return BucketOf(f, t);
}

// Reads the next of an encoded state's ascending bucket indexes, `*index`
// holding the previous (delta-coded; the first from 0).
bool GetBucketIndex(Decoder* d, bool first, int64_t* index) {
  int64_t delta, next;
  // Bucket indexes are event times divided by ≥ 1 s: far inside ±2^62.
  constexpr int64_t kMaxIndex = int64_t{1} << 62;
  if (!GetSigned(d, &delta) || delta < -kMaxIndex || delta > kMaxIndex ||
      __builtin_add_overflow(first ? 0 : *index, delta, &next) || next < -kMaxIndex || next > kMaxIndex ||
      (!first && delta <= 0)) {
    return false;
  }
  *index = next;
  return true;
}

// The oldest bucket Evaluate can need for any as_of ≥ newest (see stream.h "Windows").
int64_t OldestBucket(const CompiledFeature& f, const FeatureDefinition& def, UnixMicros newest) {
  if (f.lifetime) return 0;
  if (def.window == WindowKind::kTumbling) return FloorDiv(newest, f.width_us) - 1;
  return FloorDiv(newest - f.window_us, f.width_us) + 1;
}

// The smallest newest at which OldestBucket passes `index` (the bucket is dropped).
UnixMicros DropTime(const CompiledFeature& f, const FeatureDefinition& def, int64_t index) {
  if (f.lifetime) return INT64_MAX;
  if (def.window == WindowKind::kTumbling) return (index + 2) * f.width_us;
  return index * f.width_us + f.window_us;
}

// The buckets [lo, hi] a window as of `as_of` covers and its time range.
struct WindowRange {
  int64_t lo, hi;
  UnixMicros start, end;
};
WindowRange RangeOf(const CompiledFeature& f, const FeatureDefinition& def, const EvalContext& ctx) {
  if (f.lifetime) return {0, 0, ctx.oldest, ctx.as_of};
  if (def.window == WindowKind::kTumbling) {
    int64_t k = FloorDiv(ctx.as_of, f.width_us);
    return {k - 1, k - 1, (k - 1) * f.width_us, k * f.width_us};
  }
  int64_t lo = FloorDiv(ctx.as_of - f.window_us, f.width_us) + 1;
  int64_t hi = FloorDiv(ctx.as_of, f.width_us);
  return {lo, hi, lo * f.width_us, (hi + 1) * f.width_us};
}

// Sparse buckets of cells, ascending by index; a lifetime feature has one, index 0.
template <typename Cell>
class Buckets {
 public:
  Cell* Find(int64_t index, bool create) {
    // Events mostly land in the newest bucket or open the next one: look
    // there first, so the older buckets are not even read.
    if (!buckets_.empty() && buckets_.back().first <= index) {
      if (buckets_.back().first == index) return &buckets_.back().second;
      if (!create) return nullptr;
      return &buckets_.emplace_back(index, Cell{}).second;
    }
    auto it = std::lower_bound(buckets_.begin(), buckets_.end(), index,
                               [](const auto& b, int64_t i) { return b.first < i; });
    if (it != buckets_.end() && it->first == index) return &it->second;
    if (!create) return nullptr;
    return &buckets_.insert(it, {index, Cell{}})->second;
  }
  int64_t IndexOf(const CompiledFeature& f, UnixMicros t) const {
    return BucketNear(f, t, buckets_.empty() ? nullptr : &buckets_.back().first);
  }
  void DropBefore(int64_t index) {
    auto it = std::lower_bound(buckets_.begin(), buckets_.end(), index,
                               [](const auto& b, int64_t i) { return b.first < i; });
    buckets_.erase(buckets_.begin(), it);
  }
  // Merges the cells of [lo, hi] into `out` (unbounded: a temporary).
  void Sum(int64_t lo, int64_t hi, Cell* out) const {
    for (const auto& [index, cell] : buckets_) {
      if (index >= lo && index <= hi) out->Merge(cell, false);
    }
  }
  void MergeFrom(const Buckets& other, int64_t oldest) {
    for (const auto& [index, cell] : other.buckets_) {
      if (index >= oldest) Find(index, true)->Merge(cell, true);
    }
  }
  void Encode(std::string* out) const {
    PutVarint64(out, buckets_.size());
    int64_t prev = 0;
    for (const auto& [index, cell] : buckets_) {
      PutSigned(out, index - prev);
      prev = index;
      cell.Encode(out);
    }
  }
  bool Decode(Decoder* d) {
    uint64_t n;
    if (!d->GetVarint64(&n) || n > d->remaining()) return false;
    buckets_.clear();
    buckets_.reserve(n);
    int64_t index = 0;
    for (uint64_t i = 0; i < n; ++i) {
      if (!GetBucketIndex(d, i == 0, &index)) return false;
      buckets_.emplace_back(index, Cell{});
      if (!buckets_.back().second.Decode(d)) return false;
    }
    return true;
  }
  size_t MemoryBytes() const {
    size_t bytes = SpilledBytes(buckets_);
    for (const auto& b : buckets_) bytes += b.second.HeapBytes();
    return bytes;
  }
  bool empty() const { return buckets_.empty(); }
  // The newest bucket, where events mostly land, and the oldest, which NextDrop reads.
  void Prefetch() const {
    if (buckets_.empty()) return;
    __builtin_prefetch(&buckets_.back());
    __builtin_prefetch(&buckets_.front());
  }
  UnixMicros NextDrop(const CompiledFeature& f, const FeatureDefinition& def) const {
    return buckets_.empty() ? INT64_MAX : DropTime(f, def, buckets_.front().first);
  }
 private:
  boost::container::small_vector<std::pair<int64_t, Cell>, Cell::kInlineBuckets> buckets_;
};

template <typename Cell>
class WindowedState final : public FeatureState {
 public:
  CellKind kind() const override { return Cell::kKind; }
  void Add(const CompiledFeature& f, const FeatureDefinition& def, const WatermarkOptions&, const Input& in,
           UnixMicros newest) override {
    // A bucket only for events the cell takes, so no empty cells are kept.
    if (!Cell::Accepts(in)) return;
    // Both without a division (a few per event otherwise): DropTime is the
    // test index < OldestBucket(newest) multiplied out.
    int64_t index = buckets_.IndexOf(f, in.t);
    if (newest >= DropTime(f, def, index)) return;
    buckets_.Find(index, true)->Add(in);
  }
  void Advance(const CompiledFeature& f, const FeatureDefinition& def, const WatermarkOptions&, UnixMicros newest) override {
    if (!f.lifetime) buckets_.DropBefore(OldestBucket(f, def, newest));
  }
  void Merge(const CompiledFeature& f, const FeatureDefinition& def, const WatermarkOptions&, const FeatureState& other,
             UnixMicros newest) override {
    buckets_.MergeFrom(static_cast<const WindowedState&>(other).buckets_, OldestBucket(f, def, newest));
  }
  FeatureValue Evaluate(const CompiledFeature& f, const FeatureDefinition& def, const EvalContext& ctx) const override {
    WindowRange range = RangeOf(f, def, ctx);
    Cell sum;
    buckets_.Sum(range.lo, range.hi, &sum);
    return FeatureValue{{}, sum.Result(def, ctx), range.start, range.end};
  }
  UnixMicros NextChange(const CompiledFeature& f, const FeatureDefinition& def, const WatermarkOptions&) const override {
    return buckets_.NextDrop(f, def);
  }
  void Encode(std::string* out) const override { buckets_.Encode(out); }
  bool Decode(Decoder* d) override { return buckets_.Decode(d); }
  size_t HeapBytes() const override { return buckets_.MemoryBytes(); }
  void CloneInto(void* where) const override { new (where) WindowedState(*this); }
  void MoveInto(void* where) override { new (where) WindowedState(std::move(*this)); }
  void Prefetch() const override { buckets_.Prefetch(); }

 private:
  Buckets<Cell> buckets_;
};

// Sessions: intervals of events closer than the gap, kept open while an
// on-time event could still touch them, then folded into per-bucket cells.
class SessionState final : public FeatureState {
 public:
  struct Interval {
    UnixMicros start, end;
  };

  CellKind kind() const override { return CellKind::kSession; }
  void Add(const CompiledFeature& f, const FeatureDefinition& def, const WatermarkOptions& wo, const Input& in,
           UnixMicros newest) override {
    Insert(Interval{in.t, in.t}, def.session_gap_us);
    Fold(f, def, wo, newest);
  }
  void Advance(const CompiledFeature& f, const FeatureDefinition& def, const WatermarkOptions& wo, UnixMicros newest) override {
    Fold(f, def, wo, newest);
    if (!f.lifetime) folded_.DropBefore(OldestBucket(f, def, newest));
  }
  void Merge(const CompiledFeature& f, const FeatureDefinition& def, const WatermarkOptions& wo, const FeatureState& other,
             UnixMicros newest) override {
    const auto& o = static_cast<const SessionState&>(other);
    for (const auto& iv : o.open_) Insert(iv, def.session_gap_us);
    folded_.MergeFrom(o.folded_, OldestBucket(f, def, newest));
    Advance(f, def, wo, newest);
  }
  FeatureValue Evaluate(const CompiledFeature& f, const FeatureDefinition& def, const EvalContext& ctx) const override {
    if (def.aggregate == Aggregate::kSessionLength) {
      if (open_.empty() || ctx.as_of - open_.back().end >= def.session_gap_us) {
        return FeatureValue{{}, Value::Number(0), ctx.as_of, ctx.as_of};
      }
      const Interval& current = open_.back();
      return FeatureValue{{}, Value::Number(static_cast<double>(current.end - current.start) / kMicrosPerSecond),
                          current.start, current.end};
    }
    WindowRange range = RangeOf(f, def, ctx);
    SessionCell sum;
    folded_.Sum(range.lo, range.hi, &sum);
    for (const auto& iv : open_) {
      int64_t index = BucketOf(f, iv.start);
      if (index < range.lo || index > range.hi) continue;
      sum.sessions += 1;
      sum.total_us += static_cast<uint64_t>(iv.end - iv.start);
    }
    Value v;
    if (def.aggregate == Aggregate::kSessions) {
      v = Value::Number(static_cast<double>(sum.sessions));
    } else if (sum.sessions > 0) {
      v = Value::Number(static_cast<double>(sum.total_us) / kMicrosPerSecond / static_cast<double>(sum.sessions));
    }
    return FeatureValue{{}, std::move(v), range.start, range.end};
  }
  UnixMicros NextChange(const CompiledFeature& f, const FeatureDefinition& def, const WatermarkOptions& wo) const override {
    UnixMicros next = folded_.NextDrop(f, def);
    if (!open_.empty()) {
      next = std::min(next, open_.front().end + wo.out_of_orderness_us + wo.allowed_lateness_us + def.session_gap_us + 1);
    }
    return next;
  }
  void Encode(std::string* out) const override {
    folded_.Encode(out);
    PutVarint64(out, open_.size());
    for (const auto& iv : open_) {
      PutSigned(out, iv.start);
      PutVarint64(out, static_cast<uint64_t>(iv.end - iv.start));
    }
  }
  bool Decode(Decoder* d) override {
    uint64_t n;
    if (!folded_.Decode(d) || !d->GetVarint64(&n) || n > d->remaining()) return false;
    open_.clear();
    for (uint64_t i = 0; i < n; ++i) {
      Interval iv;
      uint64_t length;
      if (!GetTime(d, &iv.start) || !d->GetVarint64(&length) || length > static_cast<uint64_t>(kMaxEventTime - iv.start)) {
        return false;
      }
      iv.end = iv.start + static_cast<int64_t>(length);
      if (!open_.empty() && open_.back().end >= iv.start) return false;
      open_.push_back(iv);
    }
    return true;
  }
  size_t HeapBytes() const override { return folded_.MemoryBytes() + SpilledBytes(open_); }
  void CloneInto(void* where) const override { new (where) SessionState(*this); }
  void MoveInto(void* where) override { new (where) SessionState(std::move(*this)); }
  void Prefetch() const override {
    if (!open_.empty()) __builtin_prefetch(&open_.back());
    folded_.Prefetch();
  }

 private:
  // Joins `n` with every open session closer than the gap to it.
  void Insert(Interval n, int64_t gap) {
    auto first = std::partition_point(open_.begin(), open_.end(), [&](const Interval& iv) { return n.start - iv.end >= gap; });
    auto last = first;
    while (last != open_.end() && last->start - n.end < gap) {
      n.start = std::min(n.start, last->start);
      n.end = std::max(n.end, last->end);
      ++last;
    }
    first = open_.erase(first, last);
    open_.insert(first, n);
  }

  // Sessions ending before the horizon can take no more on-time events
  // (those are ≥ newest − out_of_orderness − allowed_lateness, a gap or more after).
  void Fold(const CompiledFeature& f, const FeatureDefinition& def, const WatermarkOptions& wo, UnixMicros newest) {
    UnixMicros horizon = newest - wo.out_of_orderness_us - wo.allowed_lateness_us - def.session_gap_us;
    size_t folded = 0;
    while (folded < open_.size() && open_[folded].end < horizon) {
      const Interval& iv = open_[folded++];
      int64_t index = BucketOf(f, iv.start);
      if (newest >= DropTime(f, def, index)) continue;  // before OldestBucket(newest)
      SessionCell* cell = folded_.Find(index, true);
      cell->sessions += 1;
      cell->total_us += static_cast<uint64_t>(iv.end - iv.start);
    }
    open_.erase(open_.begin(), open_.begin() + static_cast<ptrdiff_t>(folded));
  }

  Buckets<SessionCell> folded_;
  // Ascending, each a gap or more after the previous; usually one or two.
  static constexpr size_t kInlineOpen = 2;
  boost::container::small_vector<Interval, kInlineOpen> open_;
};

// top: per bucket, the exact counts of the kTopSampleK values with the
// smallest hash (a bottom-k sample of the bucket's distinct values). The
// sample depends only on the set of values; a value in it has been counted
// since its first event.
//
// Laid out for the memory an event touches, since the state is a user's
// largest (docs/benchmarks.md): a per-bucket cell of strings cost a third of
// the builder at 100 k users. Every bucket's counts are one array of 16-byte
// entries naming their value by number; the user's distinct values are one
// array of hashes and one string of texts, read only to add a value or to
// evaluate. An event reads the hashes and the newest bucket's entries.
class TopState final : public FeatureState {
 public:
  CellKind kind() const override { return CellKind::kTop; }
  void Add(const CompiledFeature& f, const FeatureDefinition& def, const WatermarkOptions&, const Input& in,
           UnixMicros newest) override {
    if (in.value->kind == ValueKind::kNull) return;
    int64_t index = BucketNear(f, in.t, counts_.empty() ? nullptr : &counts_.back().bucket);
    if (newest >= DropTime(f, def, index)) return;
    thread_local std::string text;
    TopText(*in.value, &text);
    Count(index, HashText(text), 1, text);
  }
  void Advance(const CompiledFeature& f, const FeatureDefinition& def, const WatermarkOptions&, UnixMicros newest) override {
    if (f.lifetime) return;
    int64_t oldest = OldestBucket(f, def, newest);
    auto end = std::partition_point(counts_.begin(), counts_.end(), [&](const Entry& e) { return e.bucket < oldest; });
    if (end == counts_.begin()) return;
    counts_.erase(counts_.begin(), end);
    DropUnusedValues();
  }
  void Merge(const CompiledFeature& f, const FeatureDefinition& def, const WatermarkOptions&, const FeatureState& other,
             UnixMicros newest) override {
    const auto& o = static_cast<const TopState&>(other);
    int64_t oldest = OldestBucket(f, def, newest);
    TextViews texts = o.Texts();
    for (const Entry& e : o.counts_) {
      if (e.bucket >= oldest) Count(e.bucket, o.hashes_[e.value], e.count, texts[e.value]);
    }
  }
  FeatureValue Evaluate(const CompiledFeature& f, const FeatureDefinition& def, const EvalContext& ctx) const override {
    WindowRange range = RangeOf(f, def, ctx);
    boost::container::small_vector<uint64_t, 16> sums(hashes_.size(), 0);
    for (const Entry& e : counts_) {
      if (e.bucket >= range.lo && e.bucket <= range.hi) sums[e.value] += e.count;
    }
    TextViews texts = Texts();
    int best = -1;
    for (size_t i = 0; i < sums.size(); ++i) {
      if (sums[i] == 0) continue;
      if (best < 0 || sums[i] > sums[best] || (sums[i] == sums[best] && texts[i] < texts[best])) best = static_cast<int>(i);
    }
    Value v = best < 0 ? Value::Null() : Value::String(std::string(texts[best]));
    return FeatureValue{{}, std::move(v), range.start, range.end};
  }
  UnixMicros NextChange(const CompiledFeature& f, const FeatureDefinition& def, const WatermarkOptions&) const override {
    return counts_.empty() ? INT64_MAX : DropTime(f, def, counts_.front().bucket);
  }
  // The format of a windowed state of per-bucket cells (see WindowedState):
  // buckets, each a delta-coded index and its entries by ascending hash, each
  // a count and the value's text.
  void Encode(std::string* out) const override {
    TextViews texts = Texts();
    size_t buckets = 0;
    for (size_t i = 0; i < counts_.size(); ++i) buckets += i == 0 || counts_[i].bucket != counts_[i - 1].bucket;
    PutVarint64(out, buckets);
    int64_t prev = 0;
    for (size_t i = 0; i < counts_.size();) {
      size_t end = i;
      while (end < counts_.size() && counts_[end].bucket == counts_[i].bucket) ++end;
      PutSigned(out, counts_[i].bucket - prev);
      prev = counts_[i].bucket;
      PutVarint64(out, end - i);
      for (; i < end; ++i) {
        PutVarint64(out, counts_[i].count);
        PutLengthPrefixed(out, texts[counts_[i].value]);
      }
    }
  }
  bool Decode(Decoder* d) override {
    counts_.clear();
    hashes_.clear();
    texts_.clear();
    uint64_t n;
    if (!d->GetVarint64(&n) || n > d->remaining()) return false;
    // Most buckets hold one value, of a few per user: one allocation each.
    counts_.reserve(n);
    hashes_.reserve(std::min<uint64_t>(n, kTopSampleK));
    texts_.reserve(std::min<uint64_t>(n, kTopSampleK) * 8);
    int64_t index = 0;
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t entries;
      if (!GetBucketIndex(d, i == 0, &index) || !d->GetVarint64(&entries) || entries > kTopSampleK) return false;
      for (uint64_t k = 0; k < entries; ++k) {
        uint64_t count;
        std::string_view text;
        if (!d->GetVarint64(&count) || count == 0 || count > kMaxCount || !d->GetLengthPrefixed(&text) ||
            text.size() > kMaxTopValueBytes) {
          return false;
        }
        uint64_t h = HashText(text);
        if (k > 0 && hashes_[counts_.back().value] >= h) return false;
        size_t value = FindValue(h);
        if (value == hashes_.size()) {
          if (hashes_.size() == kMaxValues) return false;
          AddValue(h, text);
        }
        counts_.push_back(Entry{index, count, value});
      }
    }
    return true;
  }
  size_t HeapBytes() const override {
    return SpilledBytes(counts_) + SpilledBytes(hashes_) + (texts_.capacity() > 15 ? texts_.capacity() + 1 : 0);
  }
  void CloneInto(void* where) const override { new (where) TopState(*this); }
  void MoveInto(void* where) override { new (where) TopState(std::move(*this)); }
  void Prefetch() const override {
    if (counts_.empty()) return;
    __builtin_prefetch(&counts_.back());
    __builtin_prefetch(&counts_.front());  // NextChange reads it
    __builtin_prefetch(hashes_.data());
  }

 private:
  struct Entry {
    int64_t bucket;
    uint64_t count : 48;  // an event per microsecond for 9 years
    uint64_t value : 16;  // index into hashes_ and the texts
  };
  static_assert(sizeof(Entry) == 16);

 public:
  // Heap bytes one bucket can add: its entries, and a value of its own for each.
  static constexpr size_t kMaxBytesPerBucket = kTopSampleK * (sizeof(Entry) + sizeof(uint64_t) + 1 + kMaxTopValueBytes);

 private:
  static constexpr uint64_t kMaxCount = (uint64_t{1} << 48) - 1;
  // More than a window's buckets can hold (4097 × kTopSampleK, feature_set.cc).
  static constexpr size_t kMaxValues = (size_t{1} << 16) - 1;

  // The i-th value's text is texts_ from the i-th length byte on.
  using TextViews = boost::container::small_vector<std::string_view, 16>;
  TextViews Texts() const {
    TextViews texts;
    for (size_t at = 0; at < texts_.size(); at += 1 + static_cast<uint8_t>(texts_[at])) {
      texts.emplace_back(texts_.data() + at + 1, static_cast<uint8_t>(texts_[at]));
    }
    return texts;
  }
  size_t FindValue(uint64_t h) const {
    return static_cast<size_t>(std::find(hashes_.begin(), hashes_.end(), h) - hashes_.begin());
  }
  void AddValue(uint64_t h, std::string_view text) {
    static_assert(kMaxTopValueBytes <= UINT8_MAX);
    hashes_.push_back(h);
    texts_.push_back(static_cast<char>(text.size()));
    texts_.append(text);
  }

  // Counts `count` more of the value (hash `h`, `text`) in bucket `index`,
  // keeping the bucket's kTopSampleK smallest hashes.
  void Count(int64_t index, uint64_t h, uint64_t count, std::string_view text) {
    // The bucket's entries [first, last): usually the newest, at the end.
    size_t first, last;
    if (!counts_.empty() && counts_.back().bucket == index) {
      last = counts_.size();
      first = last - 1;
      while (first > 0 && counts_[first - 1].bucket == index) --first;
    } else {
      auto lo = std::partition_point(counts_.begin(), counts_.end(), [&](const Entry& e) { return e.bucket < index; });
      auto hi = std::partition_point(lo, counts_.end(), [&](const Entry& e) { return e.bucket == index; });
      first = static_cast<size_t>(lo - counts_.begin());
      last = static_cast<size_t>(hi - counts_.begin());
    }
    size_t at = first;
    while (at < last && hashes_[counts_[at].value] < h) ++at;
    if (at < last && hashes_[counts_[at].value] == h) {
      counts_[at].count = std::min(kMaxCount, counts_[at].count + count);
      return;
    }
    size_t evicted = hashes_.size();
    if (last - first == kTopSampleK) {
      if (at == last) return;  // above the bucket's sample
      evicted = counts_[last - 1].value;
      counts_.erase(counts_.begin() + static_cast<ptrdiff_t>(last - 1));
    }
    size_t value = FindValue(h);
    if (value == hashes_.size()) {
      if (hashes_.size() == kMaxValues) return;  // unreachable within a window's buckets
      AddValue(h, text);
    }
    counts_.insert(counts_.begin() + static_cast<ptrdiff_t>(at), Entry{index, count, value});
    if (evicted < hashes_.size()) DropUnusedValues();
  }

  // Keeps only the values some entry counts, renumbered in their order.
  void DropUnusedValues() {
    boost::container::small_vector<uint32_t, 16> renumber(hashes_.size(), 0);
    size_t used = 0;
    for (const Entry& e : counts_) {
      used += renumber[e.value] == 0;
      renumber[e.value] = 1;
    }
    if (used == hashes_.size()) return;
    TextViews texts = Texts();
    std::string kept_texts;
    size_t kept = 0;
    for (size_t i = 0; i < hashes_.size(); ++i) {
      if (!renumber[i]) continue;
      renumber[i] = static_cast<uint32_t>(kept);
      hashes_[kept++] = hashes_[i];
      kept_texts.push_back(static_cast<char>(texts[i].size()));
      kept_texts.append(texts[i]);
    }
    hashes_.resize(kept);
    texts_ = std::move(kept_texts);
    for (Entry& e : counts_) e.value = renumber[e.value];
  }

  // Ascending (bucket, hash of the value).
  boost::container::small_vector<Entry, 2> counts_;
  // The distinct values the entries count, each once: hashes, and texts as
  // a length byte and the bytes (short enough for one text to stay inline).
  boost::container::small_vector<uint64_t, 1> hashes_;
  std::string texts_;
};

// Constructs an empty state of `kind` at `where` (a slot's inline storage).
void EmplaceState(CellKind kind, void* where) {
  switch (kind) {
    case CellKind::kCount: new (where) WindowedState<CountCell>(); return;
    case CellKind::kSum: new (where) WindowedState<SumCell>(); return;
    case CellKind::kMin: new (where) WindowedState<ExtremeCell<false>>(); return;
    case CellKind::kMax: new (where) WindowedState<ExtremeCell<true>>(); return;
    case CellKind::kDistinct: new (where) WindowedState<DistinctCell>(); return;
    case CellKind::kFirst: new (where) WindowedState<PickCell<false>>(); return;
    case CellKind::kLast: new (where) WindowedState<PickCell<true>>(); return;
    case CellKind::kTime: new (where) WindowedState<TimeCell>(); return;
    case CellKind::kTop: new (where) TopState(); return;
    case CellKind::kSession: new (where) SessionState(); return;
  }
}

size_t CellBytes(CellKind kind) {
  switch (kind) {
    case CellKind::kCount: return sizeof(std::pair<int64_t, CountCell>) + CountCell::kMaxHeapBytes;
    case CellKind::kSum: return sizeof(std::pair<int64_t, SumCell>) + SumCell::kMaxHeapBytes;
    case CellKind::kMin:
    case CellKind::kMax: return sizeof(std::pair<int64_t, ExtremeCell<true>>);
    case CellKind::kDistinct: return sizeof(std::pair<int64_t, DistinctCell>) + DistinctCell::kMaxHeapBytes;
    case CellKind::kFirst:
    case CellKind::kLast: return sizeof(std::pair<int64_t, PickCell<true>>) + PickCell<true>::kMaxHeapBytes;
    case CellKind::kTime: return sizeof(std::pair<int64_t, TimeCell>);
    case CellKind::kTop: return TopState::kMaxBytesPerBucket;
    case CellKind::kSession: return sizeof(std::pair<int64_t, SessionCell>);
  }
  return 0;
}

// ---------------------------------------------------------------- the event, as features read it

// The values of a set's event paths for one event, filled on demand: JSON
// objects are parsed (one On-Demand pass each) only when a matching feature
// reads a path inside them.
class EventView {
 public:
  void Reset(const FeatureSet::Compiled& set, const Event& e) {
    set_ = &set;
    event_ = &e;
    filled_ = 0;
    if (values_.size() < set.paths.size()) values_.resize(set.paths.size());
  }

  const Value& Get(size_t id) {
    if (!(filled_ >> id & 1)) Fill(uint64_t{1} << id);
    return values_[id];
  }

  void Fill(uint64_t mask) {
    mask &= ~filled_;
    if (mask == 0) return;
    uint64_t json[3] = {0, 0, 0};
    for (uint64_t m = mask; m != 0; m &= m - 1) {
      size_t id = static_cast<size_t>(std::countr_zero(m));
      const EventPath& path = set_->paths[id];
      Value& v = values_[id];
      v.kind = ValueKind::kString;
      switch (path.source) {
        case PathSource::kType: v.string.assign(EventTypeName(event_->type)); break;
        case PathSource::kEvent: v.string.assign(event_->event); break;
        case PathSource::kName: v.string.assign(event_->name); break;
        case PathSource::kUserId: v.string.assign(event_->user_id); break;
        case PathSource::kAnonymousId: v.string.assign(event_->anonymous_id); break;
        case PathSource::kMessageId: v.string.assign(event_->message_id); break;
        case PathSource::kTimestamp:
          v.kind = ValueKind::kTimestamp;
          v.timestamp = event_->timestamp_us;
          break;
        case PathSource::kProperties: json[0] |= uint64_t{1} << id; break;
        case PathSource::kTraits: json[1] |= uint64_t{1} << id; break;
        case PathSource::kContext: json[2] |= uint64_t{1} << id; break;
      }
      // An empty field is a missing one: `userId == null` holds for anonymous events.
      if (v.kind == ValueKind::kString && v.string.empty() && path.source <= PathSource::kMessageId) v.kind = ValueKind::kNull;
    }
    const std::string* texts[3] = {&event_->properties, &event_->traits, &event_->context};
    for (int source = 0; source < 3; ++source) {
      if (json[source] != 0) Extract(*texts[source], json[source]);
    }
    filled_ |= mask;
  }

 private:
  // Every path in `mask` gets its value from `json`, or null.
  void Extract(const std::string& json, uint64_t mask) {
    size_t ids[kMaxEventPaths];
    size_t n = 0;
    for (uint64_t m = mask; m != 0; m &= m - 1) {
      size_t id = static_cast<size_t>(std::countr_zero(m));
      values_[id] = Value();
      ids[n++] = id;
    }
    if (json.empty()) return;
    padded_.assign(json);
    padded_.resize(json.size() + simdjson::SIMDJSON_PADDING);
    od::document doc;
    if (parser_.iterate(padded_.data(), json.size(), padded_.size()).get(doc) != simdjson::SUCCESS) return;
    od::object object;
    if (doc.get_object().get(object) != simdjson::SUCCESS) return;
    // Properties that are not a valid JSON object read as missing, all of
    // them: ingest accepts only valid JSON, so this is damage upstream, and
    // the event still counts where no property is needed.
    if (Walk(object, 0, ids, n) != simdjson::SUCCESS) {
      for (size_t i = 0; i < n; ++i) values_[ids[i]] = Value();
    }
  }

  simdjson::error_code Walk(od::object& object, size_t depth, const size_t* ids, size_t n) {
    size_t found = 0;
    for (auto field_result : object) {
      od::field field;
      SIMDJSON_TRY(std::move(field_result).get(field));
      std::string_view key;
      SIMDJSON_TRY(field.unescaped_key().get(key));
      size_t deeper[kMaxEventPaths];
      size_t n_deeper = 0;
      bool here = false;
      for (size_t i = 0; i < n; ++i) {
        const auto& keys = set_->paths[ids[i]].keys;
        if (keys[depth] != key) continue;
        if (keys.size() == depth + 1) {
          here = true;
        } else {
          deeper[n_deeper++] = ids[i];
        }
      }
      if (!here && n_deeper == 0) continue;
      od::value value = field.value();
      od::json_type type;
      SIMDJSON_TRY(value.type().get(type));
      if (type == od::json_type::object) {
        if (n_deeper > 0) {
          od::object inner;
          SIMDJSON_TRY(value.get_object().get(inner));
          SIMDJSON_TRY(Walk(inner, depth + 1, deeper, n_deeper));
        }
        continue;  // a path ending at an object reads null
      }
      if (!here) continue;
      Value scalar;
      switch (type) {
        case od::json_type::number: {
          double d;
          SIMDJSON_TRY(value.get_double().get(d));
          scalar = Value::Number(d);
          break;
        }
        case od::json_type::string: {
          std::string_view s;
          SIMDJSON_TRY(value.get_string().get(s));
          scalar.kind = ValueKind::kString;
          scalar.string.assign(s);
          break;
        }
        case od::json_type::boolean: {
          bool b;
          SIMDJSON_TRY(value.get_bool().get(b));
          scalar = Value::Bool(b);
          break;
        }
        default:
          break;  // null, arrays: null
      }
      for (size_t i = 0; i < n; ++i) {
        if (set_->paths[ids[i]].keys.size() == depth + 1 && set_->paths[ids[i]].keys[depth] == key) {
          values_[ids[i]] = scalar;
          ++found;
        }
      }
      // Every path that ends here found its value: stop reading the object.
      // Only at the top: leaving a nested object half read would confuse the parent's iteration.
      if (depth == 0 && found == n) break;
    }
    return simdjson::SUCCESS;
  }

  const FeatureSet::Compiled* set_ = nullptr;
  const Event* event_ = nullptr;
  uint64_t filled_ = 0;
  std::vector<Value> values_;
  od::parser parser_;
  std::string padded_;
};

}  // namespace

size_t MaxFeatureStateBytes(const CompiledFeature& f, const WatermarkOptions& wo) {
  size_t buckets = 1;
  if (!f.lifetime) {
    // Kept: the window's buckets plus the one it straddles; tumbling: two.
    buckets = f.window_us > 0 ? static_cast<size_t>((f.window_us + f.width_us - 1) / f.width_us) + 1 : 2;
  }
  // A vector grown one push at a time holds at most twice its size. The
  // state object and its first kInlineBuckets cells are inline in the user's
  // slot (BaseUserStateBytes): heap only beyond them, counted here in full.
  size_t bytes = 2 * buckets * CellBytes(f.cell);
  if (f.session) {
    // Open sessions are a gap apart within out_of_orderness + allowed_lateness + gap of the newest.
    size_t open = 2 + static_cast<size_t>((wo.out_of_orderness_us + wo.allowed_lateness_us) /
                                          std::max<int64_t>(1, wo.session_gap_us));
    bytes += 2 * open * sizeof(SessionState::Interval);
  }
  return bytes;
}

// ---------------------------------------------------------------- UserFeatures

namespace {

// UserFeatures' state, at namespace scope so the set's memory bound can size it.
struct UserState {
  // One feature's state, held inline: the user's slots are one array, so an
  // event reaches a feature's buckets without first loading a heap object.
  class Slot {
   public:
    // Room for a state and its first buckets (each cell's kInlineBuckets).
    static constexpr size_t kStateBytes = 128;
    uint64_t fingerprint = 0;
    // The state's NextChange, so Apply need not touch a state whose Advance
    // would do nothing (derived, not encoded).
    UnixMicros next_change = INT64_MIN;

    Slot() = default;
    Slot(uint64_t fp, CellKind kind) : fingerprint(fp), has_(true) { EmplaceState(kind, storage_); }
    Slot(const Slot& o) : fingerprint(o.fingerprint), next_change(o.next_change), has_(o.has_) {
      if (has_) o.state()->CloneInto(storage_);
    }
    Slot(Slot&& o) noexcept : fingerprint(o.fingerprint), next_change(o.next_change), has_(o.has_) {
      if (has_) o.state()->MoveInto(storage_);
    }
    Slot& operator=(const Slot& o) {
      if (this != &o) {
        this->~Slot();
        new (this) Slot(o);
      }
      return *this;
    }
    Slot& operator=(Slot&& o) noexcept {
      if (this != &o) {
        this->~Slot();
        new (this) Slot(std::move(o));
      }
      return *this;
    }
    ~Slot() {
      if (has_) state()->~FeatureState();
    }

    bool has_state() const { return has_; }
    FeatureState* state() { return std::launder(reinterpret_cast<FeatureState*>(storage_)); }
    const FeatureState* state() const { return std::launder(reinterpret_cast<const FeatureState*>(storage_)); }

   private:
    // Aligned for SumCell's __int128.
    alignas(16) unsigned char storage_[kStateBytes];
    bool has_ = false;
  };
  template <typename... States>
  static constexpr bool kFitSlot = ((sizeof(States) <= Slot::kStateBytes && alignof(States) <= 16) && ...);
  static_assert(kFitSlot<WindowedState<CountCell>, WindowedState<SumCell>, WindowedState<ExtremeCell<false>>,
                         WindowedState<ExtremeCell<true>>, WindowedState<DistinctCell>, WindowedState<PickCell<false>>,
                         WindowedState<PickCell<true>>, WindowedState<TimeCell>, TopState, SessionState>);
  // First, so what every Apply reads before the slots (and the slots'
  // address) is one cache line.
  uint64_t aligned_to = 0;  // FeatureSet::Compiled::id the slots follow, 0: unknown
  // min over slots' next_change (derived, not encoded).
  UnixMicros next_advance = INT64_MIN;
  bool has_events = false;
  UnixMicros newest = 0;
  UnixMicros oldest = 0;
  // Inline up to kInlineSlots features (the defaults have 11): the slots share
  // the state's allocation, so reaching them is not a second dependent miss.
  static constexpr size_t kInlineSlots = 12;
  using Slots = boost::container::small_vector<Slot, kInlineSlots>;
  Slots slots;

  void PrefetchSlots() const {
    PrefetchBytes(slots.data(), slots.size() * sizeof(Slot));
  }

  // Advances the states `newest` has reached. REQUIRES: aligned to `set`.
  void AdvanceAll(const FeatureSet::Compiled& set) {
    next_advance = INT64_MAX;
    for (size_t i = 0; i < set.compiled.size(); ++i) {
      Slot& slot = slots[i];
      if (newest >= slot.next_change) {
        slot.state()->Advance(set.compiled[i], set.features[i], set.watermark, newest);
        slot.next_change = slot.state()->NextChange(set.compiled[i], set.features[i], set.watermark);
      }
      next_advance = std::min(next_advance, slot.next_change);
    }
  }

  // Makes slots[i] the state of set.compiled[i]: kept when its fingerprint
  // matches, empty when the feature is new; states of features the set no
  // longer has are dropped.
  void Align(const FeatureSet::Compiled& set) {
    if (aligned_to == set.id && set.id != 0) return;
    Slots aligned;
    aligned.reserve(set.compiled.size());
    for (size_t i = 0; i < set.compiled.size(); ++i) {
      const CompiledFeature& f = set.compiled[i];
      Slot* kept = nullptr;
      for (auto& slot : slots) {
        if (slot.has_state() && slot.fingerprint == f.fingerprint && slot.state()->kind() == f.cell) {
          kept = &slot;
          break;
        }
      }
      if (kept) {
        aligned.push_back(std::move(*kept));
        *kept = Slot();  // taken: a second feature with this fingerprint starts empty
      } else {
        aligned.emplace_back(f.fingerprint, f.cell);
      }
    }
    slots = std::move(aligned);
    aligned_to = set.id;
    next_advance = INT64_MIN;
  }
};

}  // namespace

struct UserFeatures::State : UserState {};

size_t BaseUserStateBytes(size_t feature_count) {
  return sizeof(UserFeatures) + sizeof(UserState) +
         (feature_count > UserState::kInlineSlots ? 2 * feature_count * sizeof(UserState::Slot) : 0);
}

UserFeatures::UserFeatures() : state_(std::make_unique<State>()) {}
UserFeatures::~UserFeatures() = default;
UserFeatures::UserFeatures(const UserFeatures& o) : state_(std::make_unique<State>(*o.state_)) {}
UserFeatures& UserFeatures::operator=(const UserFeatures& o) {
  if (this != &o) state_ = std::make_unique<State>(*o.state_);
  return *this;
}
UserFeatures::UserFeatures(UserFeatures&& o) noexcept : state_(std::exchange(o.state_, std::make_unique<State>())) {}
UserFeatures& UserFeatures::operator=(UserFeatures&& o) noexcept {
  if (this != &o) state_ = std::exchange(o.state_, std::make_unique<State>());
  return *this;
}

ApplyOutcome UserFeatures::Apply(const FeatureSet& set, const Event& event, const Watermark& watermark) {
  const FeatureSet::Compiled& c = *set.compiled_;
  const WatermarkOptions& wo = c.watermark;
  UnixMicros t = event.timestamp_us;
  if (t < kMinEventTime || t > kMaxEventTime) return ApplyOutcome::kOutOfRange;
  State& s = *state_;
  s.Align(c);

  UnixMicros reference = watermark.Current();
  if (s.has_events) reference = std::max(reference, SaturatingSub(s.newest, wo.out_of_orderness_us));
  bool late = reference != Watermark::kNoWatermark && t < SaturatingSub(reference, wo.allowed_lateness_us);
  ApplyOutcome outcome = ApplyOutcome::kApplied;
  if (late) {
    switch (wo.late_policy) {
      case LatePolicy::kDrop: return ApplyOutcome::kLateDropped;
      case LatePolicy::kQuarantine: return ApplyOutcome::kLateQuarantine;
      case LatePolicy::kLifetimeOnly: outcome = ApplyOutcome::kLateLifetimeOnly; break;
    }
  }
  bool advanced = false;
  if (!late && (!s.has_events || t > s.newest)) {
    s.newest = t;
    advanced = true;
  }
  if (!s.has_events || t < s.oldest) s.oldest = t;
  s.has_events = true;

  thread_local EventView view;
  view.Reset(c, event);
  static const Value kNull;
  const uint8_t type_bit = static_cast<uint8_t>(1u << static_cast<unsigned>(event.type));
  const std::string& name = event.type == EventType::kTrack ? event.event : event.name;
  auto may_match = [&](const CompiledFeature& f) {
    return !(late && (!f.lifetime || f.session)) && (f.type_mask == 0 || (f.type_mask & type_bit)) &&
           (!f.event_name || *f.event_name == name);
  };
  // A user's state is usually out of cache: request the slot array, then the
  // memory of every feature the event may update, so those misses overlap.
  s.PrefetchSlots();
  for (size_t i = 0; i < c.compiled.size(); ++i) {
    if (may_match(c.compiled[i])) s.slots[i].state()->Prefetch();
  }
  uint64_t tie = 0;
  bool have_tie = false;
  for (size_t i = 0; i < c.compiled.size(); ++i) {
    const CompiledFeature& f = c.compiled[i];
    if (!may_match(f)) continue;
    if (f.needs != 0) view.Fill(f.needs);
    if (f.where && !f.where->compiled_->Test(f.where->compiled_->root,
                                             [&](size_t k) -> const Value& { return view.Get(f.where_paths[k]); })) {
      continue;
    }
    Input in{t, 0, f.property_path >= 0 ? &view.Get(static_cast<size_t>(f.property_path)) : &kNull};
    if (f.needs_tie) {
      if (!have_tie) {
        tie = XXH3_64bits(event.message_id.data(), event.message_id.size());
        have_tie = true;
      }
      in.tie = tie;
    }
    auto& slot = s.slots[i];
    slot.state()->Add(f, c.features[i], wo, in, s.newest);
    slot.next_change = slot.state()->NextChange(f, c.features[i], wo);
    s.next_advance = std::min(s.next_advance, slot.next_change);
  }
  if (advanced && s.newest >= s.next_advance) s.AdvanceAll(c);
  return outcome;
}

std::vector<FeatureValue> UserFeatures::Evaluate(const FeatureSet& set, UnixMicros as_of) const {
  std::vector<FeatureValue> out;
  EvaluateInto(set, as_of, &out);
  return out;
}

void UserFeatures::EvaluateInto(const FeatureSet& set, UnixMicros as_of, std::vector<FeatureValue>* out) const {
  thread_local std::vector<size_t> all;
  const size_t n = set.compiled_->compiled.size();
  if (all.size() != n) {
    all.resize(n);
    for (size_t i = 0; i < n; ++i) all[i] = i;
  }
  EvaluateInto(set, as_of, all, out);
}

void UserFeatures::EvaluateInto(const FeatureSet& set, UnixMicros as_of, std::span<const size_t> indexes,
                                std::vector<FeatureValue>* out) const {
  const FeatureSet::Compiled& c = *set.compiled_;
  const State& s = *state_;
  const bool aligned = s.aligned_to == c.id && c.id != 0;
  // Resized, not cleared: the names' strings keep their storage from the last call.
  out->resize(c.compiled.size());
  if (indexes.size() < c.compiled.size()) {
    for (size_t i = 0; i < c.compiled.size(); ++i) {
      FeatureValue& to = (*out)[i];
      to.name.assign(c.features[i].name);
      to.value = Value();
      to.window_start = to.window_end = 0;
    }
  }
  EvalContext ctx;
  ctx.as_of = std::clamp(as_of, kMinEventTime, kMaxEventTime);
  ctx.oldest = s.has_events ? s.oldest : ctx.as_of;
  s.PrefetchSlots();
  if (aligned) {
    for (size_t i : indexes) s.slots[i].state()->Prefetch();
  }
  for (size_t i : indexes) {
    const CompiledFeature& f = c.compiled[i];
    const FeatureState* state = nullptr;
    if (aligned) {
      state = s.slots[i].state();
    } else {
      for (const auto& slot : s.slots) {
        if (slot.fingerprint == f.fingerprint && slot.state()->kind() == f.cell) state = slot.state();
      }
    }
    FeatureValue v = state ? state->Evaluate(f, c.features[i], ctx)
                           : UserState::Slot(f.fingerprint, f.cell).state()->Evaluate(f, c.features[i], ctx);
    FeatureValue& to = (*out)[i];
    to.name.assign(c.features[i].name);
    to.value = std::move(v.value);
    to.window_start = v.window_start;
    to.window_end = v.window_end;
  }
}

void UserFeatures::Encode(std::string* out) const {
  const State& s = *state_;
  out->push_back(static_cast<char>(kUserFeaturesFormatVersion));
  out->push_back(static_cast<char>(s.has_events ? kUserFeaturesHasEvents : 0));
  if (s.has_events) {
    PutSigned(out, s.newest);
    PutSigned(out, s.oldest);
  }
  PutVarint64(out, s.slots.size());
  s.PrefetchSlots();
  for (const auto& slot : s.slots) slot.state()->Prefetch();
  thread_local std::string payload;  // a checkpoint encodes many users: one buffer, not one each
  for (const auto& slot : s.slots) {
    PutFixed64(out, slot.fingerprint);
    out->push_back(static_cast<char>(slot.state()->kind()));
    payload.clear();
    slot.state()->Encode(&payload);
    PutLengthPrefixed(out, payload);
  }
}

Status UserFeatures::Decode(std::string_view bytes) {
  auto decoded = std::make_unique<State>();
  auto corrupt = [&](const std::string& why) {
    state_ = std::make_unique<State>();
    return Status::Corruption("user features: " + why);
  };
  Decoder d(bytes);
  uint8_t version, flags;
  if (!d.GetByte(&version)) return corrupt("empty");
  if (version != kUserFeaturesFormatVersion) return corrupt("unknown format version " + std::to_string(version));
  if (!d.GetByte(&flags) || (flags & ~kUserFeaturesHasEvents) != 0) return corrupt("bad flags");
  decoded->has_events = flags & kUserFeaturesHasEvents;
  if (decoded->has_events) {
    if (!GetTime(&d, &decoded->newest) || !GetTime(&d, &decoded->oldest)) return corrupt("bad event times");
  }
  uint64_t n;
  // A feature takes at least 10 bytes (fingerprint, kind, payload length).
  if (!d.GetVarint64(&n) || n > d.remaining() / 10) return corrupt("bad feature count");
  decoded->slots.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t fingerprint;
    uint8_t kind;
    std::string_view payload;
    if (!d.GetFixed64(&fingerprint) || !d.GetByte(&kind) || !d.GetLengthPrefixed(&payload)) {
      return corrupt("feature " + std::to_string(i) + " truncated");
    }
    if (kind < static_cast<uint8_t>(CellKind::kCount) || kind > static_cast<uint8_t>(CellKind::kSession)) {
      return corrupt("feature " + std::to_string(i) + ": unknown kind " + std::to_string(kind));
    }
    UserState::Slot& slot = decoded->slots.emplace_back(fingerprint, static_cast<CellKind>(kind));
    Decoder fd(payload);
    if (!slot.state()->Decode(&fd) || !fd.done()) return corrupt("feature " + std::to_string(i) + ": bad state");
  }
  if (!d.done()) return corrupt("trailing bytes");
  state_ = std::move(decoded);
  return Status::Ok();
}

void UserFeatures::Merge(const FeatureSet& set, const UserFeatures& other) {
  const FeatureSet::Compiled& c = *set.compiled_;
  const WatermarkOptions& wo = c.watermark;
  State& s = *state_;
  const State& o = *other.state_;
  s.Align(c);
  if (!o.has_events) return;
  bool advanced = !s.has_events || o.newest > s.newest;
  if (advanced) s.newest = o.newest;
  if (!s.has_events || o.oldest < s.oldest) s.oldest = o.oldest;
  s.has_events = true;
  for (size_t i = 0; i < c.compiled.size(); ++i) {
    const CompiledFeature& f = c.compiled[i];
    for (const auto& slot : o.slots) {
      if (slot.fingerprint == f.fingerprint && slot.state()->kind() == f.cell) {
        s.slots[i].state()->Merge(f, c.features[i], wo, *slot.state(), s.newest);
        s.slots[i].next_change = INT64_MIN;  // recomputed by AdvanceAll
        break;
      }
    }
  }
  s.AdvanceAll(c);
}

void UserFeatures::PrefetchHead() const {
  PrefetchBytes(state_.get(), sizeof(State));
}

void UserFeatures::Prefetch() const {
  const State& s = *state_;
  s.PrefetchSlots();
  for (const auto& slot : s.slots) {
    if (slot.has_state()) slot.state()->Prefetch();
  }
}

UnixMicros UserFeatures::newest_event_time() const {
  return state_->has_events ? state_->newest : Watermark::kNoWatermark;
}

size_t UserFeatures::MemoryBytes() const {
  size_t bytes = sizeof(*this) + sizeof(State) + SpilledBytes(state_->slots);
  for (const auto& slot : state_->slots) bytes += slot.state()->HeapBytes();
  return bytes;
}

bool UserFeatures::empty() const { return !state_->has_events; }

bool UserFeatures::operator==(const UserFeatures& other) const {
  std::string a, b;
  Encode(&a);
  other.Encode(&b);
  return a == b;
}

}  // namespace sluice::stream
