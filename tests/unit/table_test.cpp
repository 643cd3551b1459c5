#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "gpumix/report/table.hpp"
#include "gpumix/util/errors.hpp"
#include "gpumix/util/units.hpp"

namespace gpumix::report {
namespace {

Table sample() {
  Table t;
  t.columns = {"name", "n", "rate"};
  t.add({std::string("a,b"), int64_t{3}, 1.23456});
  t.add({std::string("say \"hi\""), std::monostate{}, std::monostate{}});
  return t;
}

std::string rendered(const Table& t, Format f) {
  std::ostringstream s;
  render(s, t, f);
  return s.str();
}

TEST(Table, CsvQuotesFieldsAndKeepsFullPrecision) {
  EXPECT_EQ(rendered(sample(), Format::csv), "name,n,rate\n\"a,b\",3,1.23456\n\"say \"\"hi\"\"\",,\n");
}

// CSV and JSON write each double in the same shortest form that reads back as
// the same double; only the text table rounds.
TEST(Table, CsvAndJsonWriteTheSameNumbers) {
  Table t;
  t.columns = {"x"};
  const std::vector<double> values = {0.1, 2.0, 1.0 / 3.0, 1e-7, 123456789.125, 1e21, -0.0, 2.2250738585072014e-308};
  for (double v : values) t.add({v});
  std::istringstream csv(rendered(t, Format::csv));
  auto json = nlohmann::json::parse(rendered(t, Format::json));
  std::string line;
  std::getline(csv, line);  // the header
  for (size_t i = 0; i < values.size(); ++i) {
    ASSERT_TRUE(std::getline(csv, line));
    EXPECT_EQ(line, json[i]["x"].dump()) << values[i];
    EXPECT_EQ(std::stod(line), values[i]) << line << " reads back as another double";
  }
  EXPECT_EQ(number_text(0.1), "0.1");
  EXPECT_EQ(number_text(2.0), "2.0");
  EXPECT_EQ(cell_text(Value(1.0 / 3.0), 2), "0.33");
}

TEST(Table, TypedCellsFormatFromTheirValue) {
  Table t;
  t.columns = {"when", "ok", "argv", "slo", "inf", "never"};
  const int64_t ns = 1'795'468'205'250'000'000;  // 2026-11-23T21:10:05.250Z
  t.add({Time{ns}, true, json_cell(R"(["a","b,c"])"), Json{nlohmann::json::array({1}), "p99<=5ms:met"},
         std::numeric_limits<double>::infinity(), Time{0}});
  auto j = nlohmann::json::parse(rendered(t, Format::json));
  EXPECT_EQ(j[0]["when"], "2026-11-23T21:10:05.250Z");
  EXPECT_EQ(j[0]["ok"], true);
  EXPECT_EQ(j[0]["argv"], nlohmann::json({"a", "b,c"}));
  EXPECT_EQ(j[0]["slo"], nlohmann::json::array({1}));
  EXPECT_TRUE(j[0]["inf"].is_null());
  EXPECT_TRUE(j[0]["never"].is_null());
  EXPECT_EQ(rendered(t, Format::csv),
            "when,ok,argv,slo,inf,never\n2026-11-23T21:10:05.250Z,true,\"[\"\"a\"\",\"\"b,c\"\"]\",[1],,\n");
  const auto text = rendered(t, Format::table);
  EXPECT_NE(text.find(format_timestamp(ns)), std::string::npos) << text;  // local time for people
  EXPECT_NE(text.find(" yes "), std::string::npos) << text;
  EXPECT_NE(text.find("p99<=5ms:met"), std::string::npos) << text;
}

// Stored text that is JSON becomes a JSON value, even with bytes that are not
// UTF-8 (as U+FFFD); anything else stays text.
TEST(Table, StoredJsonBecomesAValue) {
  EXPECT_TRUE(std::holds_alternative<std::monostate>(json_cell("")));
  EXPECT_EQ(std::get<std::string>(json_cell("not json {")), "not json {");
  EXPECT_EQ(std::get<Json>(json_cell(R"({"n":1})")).value["n"], 1);
  const auto bad = json_cell("{\"note\":\"\xff\"}");
  ASSERT_TRUE(std::holds_alternative<Json>(bad));
  EXPECT_EQ(std::get<Json>(bad).value["note"], "\xEF\xBF\xBD");
}

TEST(Table, JsonKeepsTypesAndNulls) {
  auto j = nlohmann::json::parse(rendered(sample(), Format::json));
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["name"], "a,b");
  EXPECT_EQ(j[0]["n"], 3);
  EXPECT_DOUBLE_EQ(j[0]["rate"].get<double>(), 1.23456);
  EXPECT_TRUE(j[1]["n"].is_null());
}

TEST(Table, TextAlignsColumnsAndShowsDashForEmpty) {
  EXPECT_EQ(rendered(sample(), Format::table),
            "name      n  rate\n"
            "a,b       3  1.23\n"
            "say \"hi\"  -     -\n");
}

TEST(Table, UnknownFormatIsAnInputError) {
  EXPECT_EQ(parse_format("csv"), Format::csv);
  EXPECT_THROW(parse_format("xml"), InputError);
}

}  // namespace
}  // namespace gpumix::report
