#include "gpumix/report/table.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "gpumix/util/errors.hpp"
#include "gpumix/json_text.hpp"

namespace gpumix::report {

Format parse_format(const std::string& text) {
  if (text == "table") return Format::table;
  if (text == "csv") return Format::csv;
  if (text == "json") return Format::json;
  throw InputError("unknown format '" + text + "' (formats: table, csv, json)");
}

namespace {

std::string text_of(const Value& v, int precision, bool full) {
  if (std::holds_alternative<std::monostate>(v)) return full ? "" : "-";
  if (auto s = std::get_if<std::string>(&v)) return *s;
  if (auto i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  double d = std::get<double>(v);
  char buf[64];
  if (full)
    std::snprintf(buf, sizeof buf, "%.17g", d);
  else
    std::snprintf(buf, sizeof buf, "%.*f", precision, d);
  return buf;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace

void render(std::ostream& out, const Table& t, Format format) {
  if (format == Format::json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& row : t.rows) {
      nlohmann::json obj = nlohmann::json::object();
      for (size_t i = 0; i < t.columns.size() && i < row.size(); ++i) {
        const auto& v = row[i];
        if (std::holds_alternative<std::monostate>(v)) obj[t.columns[i]] = nullptr;
        else if (auto s = std::get_if<std::string>(&v)) obj[t.columns[i]] = *s;
        else if (auto n = std::get_if<int64_t>(&v)) obj[t.columns[i]] = *n;
        else obj[t.columns[i]] = std::isfinite(std::get<double>(v)) ? nlohmann::json(std::get<double>(v)) : nlohmann::json(nullptr);
      }
      arr.push_back(std::move(obj));
    }
    out << json_text(arr, 2) << "\n";
    return;
  }
  if (format == Format::csv) {
    for (size_t i = 0; i < t.columns.size(); ++i) out << (i ? "," : "") << csv_field(t.columns[i]);
    out << "\n";
    for (const auto& row : t.rows) {
      for (size_t i = 0; i < row.size(); ++i) out << (i ? "," : "") << csv_field(text_of(row[i], t.precision, true));
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
      r.push_back(text_of(row[i], t.precision, false));
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
    for (size_t i = 0; i < t.rows[0].size() && i < right.size(); ++i)
      right[i] = std::holds_alternative<int64_t>(t.rows[0][i]) || std::holds_alternative<double>(t.rows[0][i]);
  line(t.columns, right);
  for (const auto& r : cells) line(r, right);
}

}  // namespace gpumix::report
