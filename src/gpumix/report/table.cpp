#include "gpumix/report/table.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "gpumix/json_text.hpp"
#include "gpumix/util/errors.hpp"
#include "gpumix/util/units.hpp"

namespace gpumix::report {

Format parse_format(const std::string& text) {
  if (text == "table") return Format::table;
  if (text == "csv") return Format::csv;
  if (text == "json") return Format::json;
  throw InputError("unknown format '" + text + "' (formats: table, csv, json)");
}

Value json_cell(const std::string& stored, std::string table_text) {
  if (stored.empty()) return std::monostate{};
  auto j = nlohmann::json::parse(stored, nullptr, false);
  if (j.is_discarded()) {
    // Bytes that are not UTF-8 fail the parse: JSON apart from them is JSON, with U+FFFD for them.
    const auto text = nlohmann::json::parse(json_text(stored)).get<std::string>();
    if (text != stored) j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded()) return stored;
  }
  return Json{std::move(j), std::move(table_text)};
}

nlohmann::json parsed_or_null(const std::string& stored) {
  if (stored.empty()) return nullptr;
  auto j = nlohmann::json::parse(stored, nullptr, false);
  return j.is_discarded() ? nlohmann::json(nullptr) : j;
}

nlohmann::json rfc3339_utc(int64_t unix_ns) {
  if (unix_ns <= 0) return nullptr;
  const auto t = static_cast<std::time_t>(unix_ns / 1'000'000'000);
  const auto ms = static_cast<int>((unix_ns % 1'000'000'000) / 1'000'000);
  std::tm tm{};
  if (!::gmtime_r(&t, &tm)) return nullptr;
  char buf[32];
  if (std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm) == 0) return nullptr;
  return fmt::format("{}.{:03d}Z", buf, ms);
}

std::string number_text(double v) { return nlohmann::json(v).dump(); }

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

bool is_number(const Value& v) { return std::holds_alternative<int64_t>(v) || std::holds_alternative<double>(v); }

namespace {

struct TableText {
  int precision;
  std::string operator()(std::monostate) const { return "-"; }
  std::string operator()(const std::string& s) const { return s; }
  std::string operator()(int64_t i) const { return std::to_string(i); }
  std::string operator()(double d) const {
    if (!std::isfinite(d)) return "-";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*f", precision, d);
    return buf;
  }
  std::string operator()(bool b) const { return b ? "yes" : "no"; }
  std::string operator()(Time t) const { return t.unix_ns > 0 ? format_timestamp(t.unix_ns) : "-"; }
  std::string operator()(const Json& j) const { return j.text.empty() ? json_text(j.value) : j.text; }
};

// CSV holds what JSON holds, as text: the same numbers, times and JSON values.
struct CsvText {
  std::string operator()(std::monostate) const { return ""; }
  std::string operator()(const std::string& s) const { return s; }
  std::string operator()(int64_t i) const { return std::to_string(i); }
  std::string operator()(double d) const { return std::isfinite(d) ? number_text(d) : ""; }
  std::string operator()(bool b) const { return b ? "true" : "false"; }
  std::string operator()(Time t) const {
    const auto j = rfc3339_utc(t.unix_ns);
    return j.is_null() ? "" : j.get<std::string>();
  }
  std::string operator()(const Json& j) const { return json_text(j.value); }
};

struct JsonValue {
  nlohmann::json operator()(std::monostate) const { return nullptr; }
  nlohmann::json operator()(const std::string& s) const { return s; }
  nlohmann::json operator()(int64_t i) const { return i; }
  nlohmann::json operator()(double d) const { return std::isfinite(d) ? nlohmann::json(d) : nlohmann::json(nullptr); }
  nlohmann::json operator()(bool b) const { return b; }
  nlohmann::json operator()(Time t) const { return rfc3339_utc(t.unix_ns); }
  nlohmann::json operator()(const Json& j) const { return j.value; }
};

}  // namespace

std::string cell_text(const Value& v, int precision) { return std::visit(TableText{precision}, v); }

nlohmann::json table_json(const Table& t) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& row : t.rows) {
    nlohmann::json obj = nlohmann::json::object();
    for (size_t i = 0; i < t.columns.size() && i < row.size(); ++i) obj[t.columns[i]] = std::visit(JsonValue{}, row[i]);
    arr.push_back(std::move(obj));
  }
  return arr;
}

void render(std::ostream& out, const Table& t, Format format) {
  if (format == Format::json) {
    out << json_text(table_json(t), 2) << "\n";
    return;
  }
  if (format == Format::csv) {
    for (size_t i = 0; i < t.columns.size(); ++i) out << (i ? "," : "") << csv_field(t.columns[i]);
    out << "\n";
    for (const auto& row : t.rows) {
      for (size_t i = 0; i < row.size(); ++i) out << (i ? "," : "") << csv_field(std::visit(CsvText{}, row[i]));
      out << "\n";
    }
    return;
  }
  std::vector<size_t> width(t.columns.size());
  for (size_t i = 0; i < t.columns.size(); ++i) width[i] = t.columns[i].size();
  std::vector<std::vector<std::string>> cells;
  for (const auto& row : t.rows) {
    std::vector<std::string> r;
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      r.push_back(cell_text(row[i], t.precision));
      width[i] = std::max(width[i], r.back().size());
    }
    cells.push_back(std::move(r));
  }
  auto line = [&](const std::vector<std::string>& r, const std::vector<bool>& right) {
    for (size_t i = 0; i < r.size(); ++i) {
      std::string pad(width[i] - r[i].size(), ' ');
      out << (i ? "  " : "") << (right[i] ? pad + r[i] : (i + 1 == r.size() ? r[i] : r[i] + pad));
    }
    out << "\n";
  };
  // Numbers right-aligned, text left-aligned (by the first row's types).
  std::vector<bool> right(t.columns.size(), false);
  if (!t.rows.empty())
    for (size_t i = 0; i < t.rows[0].size() && i < right.size(); ++i) right[i] = is_number(t.rows[0][i]);
  line(t.columns, right);
  for (const auto& r : cells) line(r, right);
}

}  // namespace gpumix::report
