#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "gpumix/report/table.hpp"
#include "gpumix/util/errors.hpp"

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
  EXPECT_EQ(rendered(sample(), Format::csv), "name,n,rate\n\"a,b\",3,1.2345600000000001\n\"say \"\"hi\"\"\",,\n");
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
