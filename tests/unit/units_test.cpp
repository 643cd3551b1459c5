// Durations and byte sizes as a mix file writes them, and their formatting.
#include <gtest/gtest.h>

#include <cstdint>

#include "gpumix/util/units.hpp"

using namespace std::chrono_literals;
using gpumix::Duration;
using gpumix::format_bytes;
using gpumix::format_duration;
using gpumix::parse_bytes;
using gpumix::parse_duration;

namespace {

constexpr int64_t KiB = 1024, MiB = KiB * 1024, GiB = MiB * 1024, TiB = GiB * 1024;

TEST(UnitsDuration, Units) {
  EXPECT_EQ(parse_duration("30s"), Duration(30s));
  EXPECT_EQ(parse_duration("500ms"), Duration(500ms));
  EXPECT_EQ(parse_duration("250us"), Duration(250us));
  EXPECT_EQ(parse_duration("2m"), Duration(120s));
  EXPECT_EQ(parse_duration("2min"), Duration(120s));
  EXPECT_EQ(parse_duration("1.5h"), Duration(5400s));
  EXPECT_EQ(parse_duration("0.5ms"), Duration(500us));
  EXPECT_EQ(parse_duration("0"), Duration(0));
}

TEST(UnitsDuration, PlainNumberIsSeconds) {
  EXPECT_EQ(parse_duration("10"), Duration(10s));
  EXPECT_EQ(parse_duration("2.25"), Duration(2250ms));
  EXPECT_EQ(parse_duration("1e3"), Duration(1000s));
}

// Options and built-in arguments (docs/cli.md): a time always has its unit.
TEST(UnitsDuration, APlainNumberCanBeRefused) {
  using gpumix::BareNumber;
  EXPECT_EQ(parse_duration("10", BareNumber::refused), std::nullopt);
  EXPECT_EQ(parse_duration("0", BareNumber::refused), std::nullopt);
  EXPECT_EQ(parse_duration("10s", BareNumber::refused), Duration(10s));
  EXPECT_EQ(parse_duration("0s", BareNumber::refused), Duration(0));
  EXPECT_EQ(parse_duration(" 2 ms ", BareNumber::refused), Duration(2ms));
}

TEST(UnitsDuration, ErrorsSayWhatIsWrongWithTheValue) {
  using gpumix::duration_error;
  EXPECT_EQ(duration_error("30s"), std::nullopt);
  EXPECT_EQ(duration_error("0s"), std::nullopt);
  EXPECT_EQ(duration_error("30"), "'30' has no unit: write a duration such as 30s, 500ms or 2m");
  EXPECT_EQ(duration_error("soon"), "expected a duration (e.g. 500ms, 10s, 2m), got 'soon'");
  EXPECT_EQ(duration_error("-1"), "must not be negative, got '-1'");
  EXPECT_EQ(duration_error("-1s"), "must not be negative, got '-1s'");
}

TEST(UnitsDuration, NegativeIsReturnedAsNegative) {
  // So the parser can say "must not be negative" rather than "not a duration".
  EXPECT_EQ(parse_duration("-5s"), Duration(-5s));
  EXPECT_EQ(parse_duration("-250ms"), Duration(-250ms));
}

TEST(UnitsDuration, SpacesAroundAndBeforeTheUnit) {
  EXPECT_EQ(parse_duration("5 s"), Duration(5s));
  EXPECT_EQ(parse_duration("  7ms  "), Duration(7ms));
}

TEST(UnitsDuration, RejectsWhatIsNotADuration) {
  for (const char* text : {"", " ", "s", "5x", "5sec", "5S", "5 m s", "abc", "1h30m", "5s5", "nan", "inf", "-inf",
                           "0x10", "++5"})
    EXPECT_EQ(parse_duration(text), std::nullopt) << "'" << text << "'";
}

TEST(UnitsDuration, RejectsOverflow) {
  EXPECT_EQ(parse_duration("1e20h"), std::nullopt);
  EXPECT_EQ(parse_duration("1e300"), std::nullopt);
  EXPECT_EQ(parse_duration("-1e20s"), std::nullopt);
  EXPECT_EQ(parse_duration("1e400"), std::nullopt);  // beyond double
  // The largest that fits is still accepted (about 285 years).
  EXPECT_EQ(parse_duration("9e9s"), Duration(int64_t{9'000'000'000'000'000'000}));
}

TEST(UnitsBytes, DecimalAndBinaryUnits) {
  EXPECT_EQ(parse_bytes("100"), 100);
  EXPECT_EQ(parse_bytes("100B"), 100);
  EXPECT_EQ(parse_bytes("1KB"), 1000);
  EXPECT_EQ(parse_bytes("1KiB"), KiB);
  EXPECT_EQ(parse_bytes("512MB"), 512'000'000);
  EXPECT_EQ(parse_bytes("512MiB"), 512 * MiB);
  EXPECT_EQ(parse_bytes("8GB"), 8'000'000'000);
  EXPECT_EQ(parse_bytes("8GiB"), 8 * GiB);
  EXPECT_EQ(parse_bytes("2TB"), 2'000'000'000'000);
  EXPECT_EQ(parse_bytes("2TiB"), 2 * TiB);
}

TEST(UnitsBytes, SingleLetterUnitsAreBinaryAsInMps) {
  // CUDA_MPS_PINNED_DEVICE_MEM_LIMIT reads "8G" as 8 GiB.
  EXPECT_EQ(parse_bytes("8G"), 8 * GiB);
  EXPECT_EQ(parse_bytes("64K"), 64 * KiB);
  EXPECT_EQ(parse_bytes("300M"), 300 * MiB);
  EXPECT_EQ(parse_bytes("1T"), TiB);
}

TEST(UnitsBytes, Fractions) {
  EXPECT_EQ(parse_bytes("1.5GiB"), 1'610'612'736);
  EXPECT_EQ(parse_bytes("0.5K"), 512);
  EXPECT_EQ(parse_bytes("2.5 MB"), 2'500'000);
}

TEST(UnitsBytes, NegativeIsReturnedAsNegative) {
  EXPECT_EQ(parse_bytes("-1GiB"), -GiB);
  EXPECT_EQ(parse_bytes("-2G"), -2 * GiB);
}

TEST(UnitsBytes, RejectsBadUnitsAndOverflow) {
  for (const char* text : {"", "GiB", "8gb", "8gib", "8Gi", "8 G B", "8GiBs", "8 bytes", "eight", "nan", "inf", "1e30TB",
                           "1e19"})
    EXPECT_EQ(parse_bytes(text), std::nullopt) << "'" << text << "'";
}

TEST(UnitsFormat, Duration) {
  EXPECT_EQ(format_duration(Duration(0)), "0ms");
  EXPECT_EQ(format_duration(Duration(250ms)), "250ms");
  EXPECT_EQ(format_duration(Duration(1500ms)), "1.5s");
  EXPECT_EQ(format_duration(Duration(12345ms)), "12.3s");
  EXPECT_EQ(format_duration(Duration(90s)), "90s");
  EXPECT_EQ(format_duration(Duration(150s)), "2m30s");
  EXPECT_EQ(format_duration(Duration(600s)), "10m00s");
  EXPECT_EQ(format_duration(Duration(2h)), "120m00s");
  EXPECT_EQ(format_duration(Duration(-250ms)), "-250ms");
  EXPECT_EQ(format_duration(Duration(-5s)), "-5s");
}

TEST(UnitsFormat, DurationRoundsMinutesAndSecondsTogether) {
  // 179.6 s is 3m00s, not "2m60s".
  EXPECT_EQ(format_duration(Duration(179600ms)), "3m00s");
  EXPECT_EQ(format_duration(Duration(150400ms)), "2m30s");
  // Negative: one sign in front, not "-3m-30s".
  EXPECT_EQ(format_duration(Duration(-150s)), "-2m30s");
}

TEST(UnitsFormat, Bytes) {
  EXPECT_EQ(format_bytes(0), "0 B");
  EXPECT_EQ(format_bytes(1023), "1023 B");
  EXPECT_EQ(format_bytes(KiB), "1.0 KiB");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(512 * MiB), "512.0 MiB");
  EXPECT_EQ(format_bytes(8 * GiB), "8.0 GiB");
  EXPECT_EQ(format_bytes(1'610'612'736), "1.5 GiB");
  EXPECT_EQ(format_bytes(3 * TiB), "3.0 TiB");
  EXPECT_EQ(format_bytes(2048 * TiB), "2048.0 TiB");  // TiB is the largest unit
  EXPECT_EQ(format_bytes(-2 * KiB), "-2.0 KiB");
}

TEST(UnitsFormat, RoundTrip) {
  EXPECT_EQ(parse_bytes(format_bytes(8 * GiB).erase(3, 1)), 8 * GiB);  // "8.0GiB"
  EXPECT_EQ(parse_duration(format_duration(Duration(250ms))), Duration(250ms));
  EXPECT_EQ(parse_duration(format_duration(Duration(90s))), Duration(90s));
}

TEST(UnitsSeconds, ToSeconds) {
  EXPECT_DOUBLE_EQ(gpumix::to_seconds(Duration(1500ms)), 1.5);
  EXPECT_DOUBLE_EQ(gpumix::to_seconds(Duration(-2s)), -2.0);
  EXPECT_EQ(gpumix::format_timestamp(0), "-");
}

}  // namespace
