// The analysis as one versioned JSON document, for CI pipelines and scripts:
// `gpumix report --format json` and `gpumix compare --format json`. The
// schema, field by field, is docs/report-json.md.
//
// Conventions: numbers are JSON numbers, never strings; an absent optional,
// and any non-finite double (an infinite ANTT, a NaN), is null; timestamps
// are RFC 3339 in UTC with a 'Z' and milliseconds
// ("2026-11-23T21:10:05.250Z"). Strings are copied as stored: they may carry
// invalid UTF-8 (workload output, mix names), so serialize with dump_report,
// which replaces it with U+FFFD instead of throwing.
//
// Versioning: additive changes (a new field, a new value of an open set) keep
// kReportSchemaVersion; removing or renaming a field, or changing its type
// or meaning, bumps it.
#pragma once

#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "gpumix/analysis/interference.hpp"
#include "gpumix/analysis/recommend.hpp"
#include "gpumix/report/compare.hpp"
#include "gpumix/report/table.hpp"  // rfc3339_utc

namespace gpumix::report {

// A figure as JSON: null when absent or not finite (JSON has neither infinity nor NaN).
inline nlohmann::json json_number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
inline nlohmann::json json_number(const std::optional<double>& v) { return v ? json_number(*v) : nlohmann::json(nullptr); }

inline constexpr int kReportSchemaVersion = 1;

// {schema_version, kind: "gpumix.report", run, recommendation, verdicts,
// evidence, missing, modes, comparisons, cells}.
nlohmann::json analysis_json(const analysis::Analysis& analysis, const analysis::Recommendation& rec);

// {schema_version, kind: "gpumix.compare", labels, a, b, diff}: both runs'
// analysis_json and what `gpumix compare` prints side by side (modes and
// workloads both runs have, with b ÷ a ratios; SLOs; environment; notes).
nlohmann::json compare_json(const ComparedRun& a, const ComparedRun& b);

// Pretty-printed (two spaces), invalid UTF-8 replaced by U+FFFD; no trailing newline.
std::string dump_report(const nlohmann::json& doc);

}  // namespace gpumix::report
