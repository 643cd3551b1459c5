// Kubernetes manifests as YAML text: the one emitter `gpumix k8s render`
// writes with. Collections are block style; every string goes through one
// decision (string_style) so that any value, whatever it holds, reads back
// the same in yaml-cpp, libyaml and go-yaml (kubectl, the API server).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace gpumix::k8s {

enum class StringStyle {
  plain,          // printable ASCII that no YAML reader takes for anything but this string
  literal,        // several lines of printable text: `|`, with `2` when it starts with a space, a tab or an
                  // empty line, `-` without a final line break, `+` with several
  double_quoted,  // everything else, with escapes (\t, \r, \x00, \u2028, ...)
};

StringStyle string_style(std::string_view s);

// `document` (ordered JSON: keys in the order written) as YAML text ending in
// a line break. Throws InputError for a string that is not UTF-8, which no
// YAML file can hold.
std::string to_yaml(const nlohmann::ordered_json& document);

}  // namespace gpumix::k8s
