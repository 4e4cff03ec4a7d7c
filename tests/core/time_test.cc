#include "core/time.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice {
namespace {

UnixMicros ParseOk(std::string_view text) {
  Result<UnixMicros> r = ParseIso8601(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().ToString();
  return r.ok() ? *r : 0;
}

void ExpectInvalid(std::string_view text) {
  Result<UnixMicros> r = ParseIso8601(text);
  ASSERT_FALSE(r.ok()) << "accepted \"" << text << "\" as " << FormatIso8601(*r);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("ISO-8601"), std::string::npos) << r.status().message();
}

// 2024-05-01T12:00:00Z, computed independently: 19844 days after the epoch.
constexpr UnixMicros kMay1Noon = (19844LL * 86400 + 12 * 3600) * kMicrosPerSecond;

TEST(ParseIso8601, EpochAndKnownInstant) {
  EXPECT_EQ(ParseOk("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseOk("2024-05-01T12:00:00Z"), kMay1Noon);
  EXPECT_EQ(ParseOk("2024-05-01T12:00:00.000Z"), kMay1Noon);
}

TEST(ParseIso8601, OffsetsNormaliseToUtc) {
  EXPECT_EQ(ParseOk("2024-05-01T17:30:00+05:30"), kMay1Noon);
  EXPECT_EQ(ParseOk("2024-05-01T17:30:00+0530"), kMay1Noon);
  EXPECT_EQ(ParseOk("2024-05-01T04:00:00-0800"), kMay1Noon);
  EXPECT_EQ(ParseOk("2024-05-01T04:00:00-08:00"), kMay1Noon);
  EXPECT_EQ(ParseOk("2024-05-01T14:00:00+02"), kMay1Noon);
  EXPECT_EQ(ParseOk("2024-05-01T12:00:00+00:00"), kMay1Noon);
  EXPECT_EQ(ParseOk("2024-05-01T12:00:00-00:00"), kMay1Noon);
  EXPECT_EQ(ParseOk("2024-05-01T12:00:00z"), kMay1Noon);
  // An offset that crosses midnight moves the date.
  EXPECT_EQ(ParseOk("2024-05-02T01:00:00+13:00"), kMay1Noon);
}

TEST(ParseIso8601, NoZoneMeansUtc) {
  EXPECT_EQ(ParseOk("2024-05-01T12:00:00"), kMay1Noon);
  EXPECT_EQ(ParseOk("2024-05-01 12:00:00"), kMay1Noon);
  EXPECT_EQ(ParseOk("2024-05-01t12:00"), kMay1Noon);
  EXPECT_EQ(ParseOk("2024-05-01"), kMay1Noon - 12 * kMicrosPerHour);
}

TEST(ParseIso8601, FractionsOfOneToNineDigits) {
  EXPECT_EQ(ParseOk("1970-01-01T00:00:00.1Z"), 100000);
  EXPECT_EQ(ParseOk("1970-01-01T00:00:00.12Z"), 120000);
  EXPECT_EQ(ParseOk("1970-01-01T00:00:00.123Z"), 123000);
  EXPECT_EQ(ParseOk("1970-01-01T00:00:00.1234Z"), 123400);
  EXPECT_EQ(ParseOk("1970-01-01T00:00:00.12345Z"), 123450);
  EXPECT_EQ(ParseOk("1970-01-01T00:00:00.123456Z"), 123456);
  // Beyond microseconds the digits are truncated, not rounded.
  EXPECT_EQ(ParseOk("1970-01-01T00:00:00.1234567Z"), 123456);
  EXPECT_EQ(ParseOk("1970-01-01T00:00:00.12345678Z"), 123456);
  EXPECT_EQ(ParseOk("1970-01-01T00:00:00.999999999Z"), 999999);
  EXPECT_EQ(ParseOk("1970-01-01T00:00:00,5Z"), 500000);
  ExpectInvalid("1970-01-01T00:00:00.1234567891Z");
  ExpectInvalid("1970-01-01T00:00:00.Z");
}

TEST(ParseIso8601, LeapYears) {
  EXPECT_EQ(ParseOk("2024-02-29T00:00:00Z"), ParseOk("2024-03-01T00:00:00Z") - kMicrosPerDay);
  EXPECT_EQ(ParseOk("2000-02-29T00:00:00Z"), ParseOk("2000-03-01T00:00:00Z") - kMicrosPerDay);
  ExpectInvalid("2023-02-29T00:00:00Z");
  ExpectInvalid("1900-02-29T00:00:00Z");  // divisible by 100, not by 400
  ExpectInvalid("2024-02-30T00:00:00Z");
}

TEST(ParseIso8601, BeforeTheEpochIsNegative) {
  EXPECT_EQ(ParseOk("1969-12-31T23:59:59Z"), -kMicrosPerSecond);
  EXPECT_EQ(ParseOk("1969-12-31T23:59:59.5Z"), -500000);
  EXPECT_EQ(ParseOk("0001-01-01T00:00:00Z"), -62135596800LL * kMicrosPerSecond);
}

TEST(ParseIso8601, LeapSecondFoldsIntoNextMinute) {
  EXPECT_EQ(ParseOk("2016-12-31T23:59:60Z"), ParseOk("2017-01-01T00:00:00Z"));
}

TEST(ParseIso8601, RejectsInvalidDatesAndTimes) {
  ExpectInvalid("2024-13-01T00:00:00Z");
  ExpectInvalid("2024-00-10T00:00:00Z");
  ExpectInvalid("2024-04-31T00:00:00Z");
  ExpectInvalid("2024-01-00T00:00:00Z");
  ExpectInvalid("2024-01-32T00:00:00Z");
  ExpectInvalid("0000-01-01T00:00:00Z");
  ExpectInvalid("2024-01-01T24:00:00Z");
  ExpectInvalid("2024-01-01T12:60:00Z");
  ExpectInvalid("2024-01-01T12:00:61Z");
  ExpectInvalid("2024-01-01T12:00:00+24:00");
  ExpectInvalid("2024-01-01T12:00:00+05:60");
}

TEST(ParseIso8601, RejectsGarbage) {
  for (std::string_view text :
       {"", "garbage", "2024", "2024-05", "2024-5-01", "24-05-01", "2024/05/01", "2024-05-01T",
        "2024-05-01T12", "2024-05-01T12:", "2024-05-01T1:00", "2024-05-01T12:00:0",
        "2024-05-01T12:00:00ZZ", "2024-05-01T12:00:00 Z", "2024-05-01T12:00:00+5",
        "2024-05-01T12:00:00+05:", "2024-05-01T12:00:00+05:3", "2024-05-01T12:00:00+0530x",
        "2024-05-01T12:00:00UTC", " 2024-05-01T12:00:00Z", "2024-05-01T12:00:00Z ", "１９７０-01-01",
        "2024-05-01T12:00:00.12a"}) {
    ExpectInvalid(text);
  }
}

TEST(FormatIso8601, MillisecondsWhenWholeOtherwiseMicroseconds) {
  EXPECT_EQ(FormatIso8601(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatIso8601(kMay1Noon + 123000), "2024-05-01T12:00:00.123Z");
  EXPECT_EQ(FormatIso8601(kMay1Noon + 123456), "2024-05-01T12:00:00.123456Z");
  EXPECT_EQ(FormatIso8601(kMay1Noon + 1), "2024-05-01T12:00:00.000001Z");
}

TEST(FormatIso8601, NegativeTimes) {
  EXPECT_EQ(FormatIso8601(-1), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(FormatIso8601(-kMicrosPerSecond), "1969-12-31T23:59:59.000Z");
  EXPECT_EQ(FormatIso8601(-kMicrosPerDay), "1969-12-31T00:00:00.000Z");
  EXPECT_EQ(FormatIso8601(-62135596800LL * kMicrosPerSecond), "0001-01-01T00:00:00.000Z");
}

TEST(FormatIso8601, YearsPastFourDigitsKeepTheirDigits) {
  EXPECT_EQ(FormatIso8601(DaysFromCivil(10000, 1, 1) * kMicrosPerDay + 1), "10000-01-01T00:00:00.000001Z");
  EXPECT_EQ(FormatIso8601(DaysFromCivil(0, 12, 31) * kMicrosPerDay), "0000-12-31T00:00:00.000Z");
  EXPECT_EQ(FormatIso8601(DaysFromCivil(-1, 1, 1) * kMicrosPerDay), "-001-01-01T00:00:00.000Z");
}

TEST(FormatIso8601, RoundTripsThroughParse) {
  const UnixMicros kSamples[] = {
      0, 1, -1, 999, -999, 1000, kMay1Noon, kMay1Noon + 999999, -kMicrosPerDay - 1,
      -62135596800LL * kMicrosPerSecond,                       // 0001-01-01
      253402300799LL * kMicrosPerSecond + 999999,              // 9999-12-31T23:59:59.999999
      ParseOk("2024-02-29T23:59:59.5Z"), ParseOk("1900-03-01T00:00:00Z"),
  };
  for (UnixMicros t : kSamples) {
    std::string text = FormatIso8601(t);
    EXPECT_EQ(ParseOk(text), t) << text;
  }
  // A sweep over the whole supported range (years 0001–9999) in both
  // directions from the epoch, across leap days and month ends.
  for (int64_t day = -719000; day <= 2932000; day += 997) {
    UnixMicros t = day * kMicrosPerDay + (day % 86400) * kMicrosPerSecond + (day & 0xfffff);
    std::string text = FormatIso8601(t);
    ASSERT_EQ(ParseOk(text), t) << text;
  }
}

TEST(AppendIso8601, AppendsWithoutClearing) {
  std::string s = "at ";
  AppendIso8601(&s, kMay1Noon);
  EXPECT_EQ(s, "at 2024-05-01T12:00:00.000Z");
}

TEST(CivilDays, InverseOfEachOther) {
  for (int64_t days = -1000000; days <= 1000000; days += 371) {
    int y;
    unsigned m, d;
    CivilFromDays(days, &y, &m, &d);
    ASSERT_EQ(DaysFromCivil(y, m, d), days);
  }
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(DaysFromCivil(2000, 3, 1), 11017);
}

TEST(NowMicros, IsAfter2024) { EXPECT_GT(NowMicros(), ParseOk("2024-01-01T00:00:00Z")); }

}  // namespace
}  // namespace sluice
