#include "core/time.h"

#include <chrono>
#include <cstdio>

namespace sluice {

UnixMicros NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Howard Hinnant's algorithms (public domain, http://howardhinnant.github.io/date_algorithms.html).
int64_t DaysFromCivil(int y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int* year, unsigned* month, unsigned* day) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *day = doy - (153 * mp + 2) / 5 + 1;
  *month = mp < 10 ? mp + 3 : mp - 9;
  *year = static_cast<int>(y + (*month <= 2));
}

namespace {

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Reads exactly n digits at text[*pos]; false when they are not all digits.
bool ReadDigits(std::string_view text, size_t* pos, int n, int* out) {
  if (*pos + n > text.size()) return false;
  int v = 0;
  for (int i = 0; i < n; ++i) {
    char c = text[*pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *pos += n;
  *out = v;
  return true;
}

Status Bad(std::string_view text, const char* why) {
  std::string m = "invalid ISO-8601 timestamp \"";
  m.append(text.substr(0, 64));
  m += "\": ";
  m += why;
  return Status::InvalidArgument(std::move(m));
}

}  // namespace

Result<UnixMicros> ParseIso8601(std::string_view text) {
  size_t pos = 0;
  int year, month, day, hour = 0, minute = 0, second = 0;
  if (!ReadDigits(text, &pos, 4, &year) || pos >= text.size() || text[pos++] != '-' ||
      !ReadDigits(text, &pos, 2, &month) || pos >= text.size() || text[pos++] != '-' ||
      !ReadDigits(text, &pos, 2, &day)) {
    return Bad(text, "expected YYYY-MM-DD");
  }
  if (year < 1 || month < 1 || month > 12 || day < 1 ||
      static_cast<unsigned>(day) > DaysInMonth(year, static_cast<unsigned>(month))) {
    return Bad(text, "date out of range");
  }
  int64_t micros_fraction = 0;
  if (pos < text.size() && (text[pos] == 'T' || text[pos] == 't' || text[pos] == ' ')) {
    ++pos;
    if (!ReadDigits(text, &pos, 2, &hour) || pos >= text.size() || text[pos++] != ':' ||
        !ReadDigits(text, &pos, 2, &minute)) {
      return Bad(text, "expected hh:mm");
    }
    if (pos < text.size() && text[pos] == ':') {
      ++pos;
      if (!ReadDigits(text, &pos, 2, &second)) return Bad(text, "expected ss");
      if (pos < text.size() && (text[pos] == '.' || text[pos] == ',')) {
        ++pos;
        int digits = 0;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
          if (digits < 6) micros_fraction = micros_fraction * 10 + (text[pos] - '0');
          ++digits;
          ++pos;
        }
        if (digits == 0 || digits > 9) return Bad(text, "fraction needs 1 to 9 digits");
        for (int i = digits; i < 6; ++i) micros_fraction *= 10;
      }
    }
    // 60 is accepted as a leap second and folds into the next minute, as RFC 3339 allows.
    if (hour > 23 || minute > 59 || second > 60) return Bad(text, "time out of range");
  }
  int64_t offset_minutes = 0;
  if (pos < text.size()) {
    char z = text[pos];
    if (z == 'Z' || z == 'z') {
      ++pos;
    } else if (z == '+' || z == '-') {
      ++pos;
      int oh, om = 0;
      if (!ReadDigits(text, &pos, 2, &oh)) return Bad(text, "expected a ±hh:mm offset");
      // ±hh, ±hhmm or ±hh:mm; a colon must be followed by the minutes.
      const bool colon = pos < text.size() && text[pos] == ':';
      if (colon) ++pos;
      if ((colon || pos < text.size()) && !ReadDigits(text, &pos, 2, &om)) {
        return Bad(text, "expected a ±hh:mm offset");
      }
      if (oh > 23 || om > 59) return Bad(text, "offset out of range");
      offset_minutes = (oh * 60 + om) * (z == '-' ? -1 : 1);
    }
  }
  if (pos != text.size()) return Bad(text, "unexpected trailing characters");
  int64_t days = DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  return seconds * kMicrosPerSecond + micros_fraction;
}

void AppendIso8601(std::string* out, UnixMicros t) {
  int64_t days = t / kMicrosPerDay;
  int64_t rem = t % kMicrosPerDay;
  if (rem < 0) { rem += kMicrosPerDay; --days; }
  int y; unsigned mo, d;
  CivilFromDays(days, &y, &mo, &d);
  const int secs = static_cast<int>(rem / kMicrosPerSecond);
  const int frac = static_cast<int>(rem % kMicrosPerSecond);
  const bool millis = frac % 1000 == 0;
  if (y < 0 || y > 9999) {  // outside what events carry: not worth the fast path below
    char buf[48];
    int n = millis ? std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", y, mo, d, secs / 3600,
                                   secs / 60 % 60, secs % 60, frac / 1000)
                   : std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%06dZ", y, mo, d, secs / 3600,
                                   secs / 60 % 60, secs % 60, frac);
    out->append(buf, static_cast<size_t>(n));
    return;
  }
  // Digit by digit: a profile response formats a dozen of these and
  // snprintf was a fifth of its CPU time.
  char buf[28] = "0000-00-00T00:00:00.000000Z";
  auto put = [&buf](size_t at, unsigned v, int width) {
    for (int i = width - 1; i >= 0; --i, v /= 10) buf[at + i] = static_cast<char>('0' + v % 10);
  };
  put(0, static_cast<unsigned>(y), 4);
  put(5, mo, 2);
  put(8, d, 2);
  put(11, static_cast<unsigned>(secs / 3600), 2);
  put(14, static_cast<unsigned>(secs / 60 % 60), 2);
  put(17, static_cast<unsigned>(secs % 60), 2);
  if (millis) {
    put(20, static_cast<unsigned>(frac / 1000), 3);
    buf[23] = 'Z';
    out->append(buf, 24);
  } else {
    put(20, static_cast<unsigned>(frac), 6);
    out->append(buf, 27);
  }
}

std::string FormatIso8601(UnixMicros t) {
  std::string s;
  AppendIso8601(&s, t);
  return s;
}

Result<int64_t> ParseDurationSeconds(const std::string& text) {
  size_t pos = 0;
  long long v = 0;
  try {
    v = std::stoll(text, &pos);
  } catch (...) {
    return Status::InvalidArgument("duration \"" + text + "\": expected e.g. 90, 30s, 10m, 24h, 7d");
  }
  std::string unit = text.substr(pos);
  int64_t scale = unit.empty() || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : 0;
  if (scale == 0 || v < 0) {
    return Status::InvalidArgument("duration \"" + text + "\": expected e.g. 90, 30s, 10m, 24h, 7d");
  }
  return static_cast<int64_t>(v) * scale;
}

}  // namespace sluice
