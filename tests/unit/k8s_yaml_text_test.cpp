// k8s::to_yaml, the emitter of every file `gpumix k8s render` writes: any
// string, in any place of a document (a value, a list entry, a key, nested),
// reads back unchanged with yaml-cpp; multi-line text stays a readable
// literal block; what YAML cannot carry is refused.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "fixtures/hostile_strings.hpp"
#include "fixtures/k8s_round_trip.hpp"
#include "gpumix/k8s/yaml_text.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix::k8s {
namespace {

using Json = nlohmann::ordered_json;

// Where `want` and `got` differ, as a path; empty when they are the same.
std::string difference(const Json& want, const YAML::Node& got, const std::string& path = "") {
  if (want.is_object()) {
    if (!got.IsMap() || got.size() != want.size()) return path + ": not a mapping of " + std::to_string(want.size());
    for (const auto& [k, v] : want.items()) {
      if (!got[k]) return path + "." + test::shown(k) + ": missing";
      if (auto d = difference(v, got[k], path + "." + test::shown(k)); !d.empty()) return d;
    }
    return "";
  }
  if (want.is_array()) {
    if (!got.IsSequence() || got.size() != want.size()) return path + ": not a list of " + std::to_string(want.size());
    for (size_t i = 0; i < want.size(); ++i)
      if (auto d = difference(want[i], got[i], path + "[" + std::to_string(i) + "]"); !d.empty()) return d;
    return "";
  }
  if (!got.IsScalar()) return path + ": not a scalar";
  const auto text = want.is_string() ? want.get<std::string>() : want.dump();
  if (got.Scalar() != text) return path + ": " + test::shown(got.Scalar()) + " instead of " + test::shown(text);
  // A string must not read as another type: Kubernetes' reader resolves plain scalars.
  if (want.is_string() && got.Tag() != "!" && string_style(text) != StringStyle::plain && text.find('\n') == std::string::npos)
    return path + ": not quoted";
  return "";
}

TEST(K8sYamlText, EveryHostileStringReadsBackInEveryPlace) {
  const auto values = test::hostile_strings();
  ASSERT_GE(values.size(), 1000u);
  size_t literal = 0;
  for (const auto& v : values) {
    Json doc = {{"value", v},
                {"list", Json::array({v, Json{{"inner", v}, {"after", "x"}}, Json::array({v, v})})},
                {"nested", {{"deeper", {{"deepest", v}}}}},
                {"last", v}};
    if (v.size() <= 200) doc["keys"] = Json{{v, v}};  // an implicit key is at most 1024 characters
    const auto text = to_yaml(doc);
    YAML::Node back;
    try {
      back = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      ADD_FAILURE() << test::shown(v) << ": the YAML does not parse: " << e.what() << "\n" << text.substr(0, 2000);
      continue;
    }
    const auto d = difference(doc, back);
    EXPECT_TRUE(d.empty()) << test::shown(v) << ": " << d << "\n" << text.substr(0, 2000);
    if (string_style(v) == StringStyle::literal) ++literal;
  }
  EXPECT_GT(literal, 100u) << "multi-line printable text is written as literal blocks";
}

// The mix as its author wrote it stays readable in its ConfigMap, whatever
// its first line or its last line breaks.
TEST(K8sYamlText, MultiLineTextIsALiteralBlockWithTheIndicatorsItNeeds) {
  const auto value_of = [](const std::string& s) { return to_yaml(Json{{"data", {{"mix.yaml", s}}}}); };
  EXPECT_EQ(value_of("name: x\nworkloads: []\n"), "data:\n  mix.yaml: |\n    name: x\n    workloads: []\n");
  EXPECT_EQ(value_of("  # indented comment\nname: x\n"), "data:\n  mix.yaml: |2\n      # indented comment\n    name: x\n");
  EXPECT_EQ(value_of("name: x\nworkloads: []"), "data:\n  mix.yaml: |-\n    name: x\n    workloads: []\n");
  EXPECT_EQ(value_of("name: x\n\n\n"), "data:\n  mix.yaml: |+\n    name: x\n\n\n");
  EXPECT_EQ(value_of("\tname: x\n"), "data:\n  mix.yaml: |2\n    \tname: x\n");
  // What a literal block would change (CR, the YAML 1.1 line breaks) is double-quoted.
  EXPECT_EQ(value_of("a\r\nb\n"), "data:\n  mix.yaml: \"a\\r\\nb\\n\"\n");
  EXPECT_EQ(value_of("a\xE2\x80\xA8" "b\n"), "data:\n  mix.yaml: \"a\\u2028b\\n\"\n");
  EXPECT_EQ(value_of(std::string("a\0b\x7F\n", 5)), "data:\n  mix.yaml: \"a\\x00b\\x7F\\n\"\n");
}

TEST(K8sYamlText, PlainOnlyWhatEveryReaderTakesForThatString) {
  for (const char* plain : {"gpumix:gpu", "/results/mix/$(POD_NAME).jsonl", "--epochs", "-c", "1g.10gb", "a b",
                            "metadata.labels['x']"})
    EXPECT_EQ(string_style(plain), StringStyle::plain) << plain;
  for (const char* quoted : {"", "yes", "No", "on", "~", "null", "0x1F", "1e3", "017", "0b101", "2001-12-14", "12:30",
                             ".inf", "-", "- x", "a: b", "a #b", "#x", "x:", " x", "x ", "---", "...", "*a", "&a", "!a",
                             "@a", "%a", "\"", "'", "caf\xC3\xA9", "a\tb"})
    EXPECT_EQ(string_style(quoted), StringStyle::double_quoted) << test::shown(quoted);
}

TEST(K8sYamlText, TextThatIsNotUtf8IsRefused) {
  EXPECT_THROW(to_yaml(Json{{"image", std::string("a\xFF")}}), InputError);
  EXPECT_THROW(to_yaml(Json{{"image", std::string("\xED\xA0\x80")}}), InputError);  // a surrogate
}

}  // namespace
}  // namespace gpumix::k8s
