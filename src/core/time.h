// Time as Sluice stores it: int64 microseconds since the Unix epoch, UTC.
// Parsing accepts ISO-8601 / RFC 3339 with any UTC offset and normalises it;
// formatting always writes UTC with a `Z`.
//
// Threading: pure functions (NowMicros reads the system clock).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"

namespace sluice {

// Microseconds since 1970-01-01T00:00:00Z.
using UnixMicros = int64_t;

constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kMicrosPerMinute = 60 * kMicrosPerSecond;
constexpr int64_t kMicrosPerHour = 60 * kMicrosPerMinute;
constexpr int64_t kMicrosPerDay = 24 * kMicrosPerHour;

// The system clock, in UnixMicros.
UnixMicros NowMicros();

// Parses `YYYY-MM-DD[Thh:mm[:ss[.fraction]]][Z|±hh[:]mm|±hh]` (`T` may be a
// space or `t`; a fraction has 1–9 digits, truncated to microseconds; no zone
// means UTC). Years 0001–9999. Returns InvalidArgument naming what is wrong.
Result<UnixMicros> ParseIso8601(std::string_view text);

// "2024-05-01T12:00:00.123Z" when the time is a whole millisecond, otherwise
// six fractional digits ("…00.123456Z"), matching what Segment's SDKs send.
std::string FormatIso8601(UnixMicros t);
// Appends the same text to `out` without allocating a temporary.
void AppendIso8601(std::string* out, UnixMicros t);

// "90" (seconds), "30s", "10m", "24h", "7d" → seconds. InvalidArgument otherwise.
// Config durations everywhere (server, quarantine, stream windows) use it.
Result<int64_t> ParseDurationSeconds(const std::string& text);

// Days since the epoch for a proleptic Gregorian date, and back.
int64_t DaysFromCivil(int year, unsigned month, unsigned day);
void CivilFromDays(int64_t days, int* year, unsigned* month, unsigned* day);

}  // namespace sluice
