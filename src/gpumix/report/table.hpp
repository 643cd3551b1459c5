// One printer for everything tabular: a Table rendered as an aligned text
// table, CSV (RFC 4180) or JSON (an array of objects, numbers as numbers).
#pragma once

#include <optional>
#include <ostream>
#include <string>
#include <variant>
#include <vector>

namespace gpumix::report {

enum class Format { table, csv, json };
// Throws InputError naming the accepted formats.
Format parse_format(const std::string& text);

// A cell: empty (shown as "-" in tables, null in JSON), text or a number.
using Value = std::variant<std::monostate, std::string, int64_t, double>;

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

void render(std::ostream& out, const Table& table, Format format);

}  // namespace gpumix::report
