#include "core/coding.h"
#include "stream/stream.h"
#include "stream/stream_format.h"

namespace sluice::stream {

Watermark::Watermark(int64_t out_of_orderness_us) : out_of_orderness_us_(out_of_orderness_us) {}

void Watermark::Observe(UnixMicros event_time) {
  if (event_time > max_event_time_) max_event_time_ = event_time;
}

UnixMicros Watermark::Current() const {
  if (max_event_time_ == kNoWatermark) return kNoWatermark;
  // Saturate instead of wrapping for event times near the bottom of the range.
  if (max_event_time_ < kNoWatermark + out_of_orderness_us_) return kNoWatermark;
  return max_event_time_ - out_of_orderness_us_;
}

void Watermark::Encode(std::string* out) const {
  out->push_back(static_cast<char>(kWatermarkFormatVersion));
  PutFixed64(out, static_cast<uint64_t>(out_of_orderness_us_));
  PutFixed64(out, static_cast<uint64_t>(max_event_time_));
}

Result<Watermark> Watermark::Decode(std::string_view bytes) {
  if (bytes.size() != kWatermarkEncodedBytes) {
    return Status::Corruption("watermark: " + std::to_string(bytes.size()) + " bytes, expected " +
                              std::to_string(kWatermarkEncodedBytes));
  }
  Decoder d(bytes);
  uint8_t version = 0;
  uint64_t ooo = 0, max_time = 0;
  if (!d.GetByte(&version) || !d.GetFixed64(&ooo) || !d.GetFixed64(&max_time)) {
    return Status::Corruption("watermark: truncated");
  }
  if (version != kWatermarkFormatVersion) {
    return Status::Corruption("watermark: unknown format version " + std::to_string(version));
  }
  if (static_cast<int64_t>(ooo) < 0) return Status::Corruption("watermark: negative out_of_orderness");
  Watermark w(static_cast<int64_t>(ooo));
  w.max_event_time_ = static_cast<int64_t>(max_time);
  return w;
}

}  // namespace sluice::stream
