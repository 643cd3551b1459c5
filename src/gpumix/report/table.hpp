// One printer for everything tabular: a Table rendered as an aligned text
// table, CSV (RFC 4180) or JSON (an array of objects). Each cell holds a typed
// value, and each format writes it from the value: the text table rounds for
// people; CSV and JSON write every number in the same shortest form that reads
// back as the same double, times in RFC 3339 UTC, and JSON values as JSON
// (docs/cli.md, "Machine-readable output").
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <variant>
#include <vector>

namespace gpumix::report {

enum class Format { table, csv, json };
// Throws InputError naming the accepted formats.
Format parse_format(const std::string& text);

// A point in time, Unix nanoseconds: local time in the text table, RFC 3339
// UTC with milliseconds in CSV and JSON; 0 or less is absent (null).
struct Time {
  int64_t unix_ns = 0;
};

// A JSON value (an array or an object: an argv, a mode's evidence, a
// workload's event): JSON embeds it, CSV writes it compactly; the text table
// shows `text` when given, else the compact JSON.
struct Json {
  nlohmann::json value;
  std::string text;
};

// A cell: empty (shown as "-" in tables, empty in CSV, null in JSON), text,
// an integer, a number (non-finite: null), yes/no, a time, or a JSON value.
using Value = std::variant<std::monostate, std::string, int64_t, double, bool, Time, Json>;

struct Table {
  std::vector<std::string> columns;
  std::vector<std::vector<Value>> rows;
  // Digits after the point for doubles in the text table (CSV/JSON keep all).
  int precision = 2;

  void add(std::vector<Value> row) { rows.push_back(std::move(row)); }
};

template <typename T>
Value opt(const std::optional<T>& v) {
  if (!v) return std::monostate{};
  if constexpr (std::is_floating_point_v<T>) return static_cast<double>(*v);
  else return static_cast<int64_t>(*v);
}

// Stored JSON text as a value: its JSON when it parses, the text as it is
// otherwise (a malformed line stays a string), null when empty.
Value json_cell(const std::string& stored, std::string table_text = {});

// Stored JSON text as a value; null when empty or not JSON.
nlohmann::json parsed_or_null(const std::string& stored);

// How the text table (and the text and markdown reports) show a cell, with
// `precision` digits for doubles; "-" when empty.
std::string cell_text(const Value& v, int precision);
// Numbers are right-aligned in tables.
bool is_number(const Value& v);

// The shortest text that reads back as the same double, exactly as JSON
// writes it ("2.0", "0.1", "1e+20"); CSV uses it, so the two never differ.
std::string number_text(double v);
// A CSV field, quoted when it holds a comma, a quote or a line break.
std::string csv_field(const std::string& s);

// Unix nanoseconds → "2026-11-23T21:10:05.250Z"; null for 0 (never happened)
// or negative.
nlohmann::json rfc3339_utc(int64_t unix_ns);

// The rows as JSON objects keyed by column: the `rows` of a command's document.
nlohmann::json table_json(const Table& table);

// Table or CSV; JSON writes table_json (commands put it in their document).
void render(std::ostream& out, const Table& table, Format format);

}  // namespace gpumix::report
