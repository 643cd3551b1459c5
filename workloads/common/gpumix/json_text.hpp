// One policy for text that is not UTF-8 at every JSON output of gpumix and
// its workloads: invalid bytes become U+FFFD when serialized, so a stray byte
// in a workload's output, a request's path or a stored event never stops a
// report, an export or a server. (nlohmann::json's plain dump() throws
// type_error 316 instead.) Input that gpumix validates, such as a mix file,
// is rejected with its location before it gets here.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace gpumix {

inline std::string json_text(const nlohmann::json& value, int indent = -1) {
  return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace gpumix
