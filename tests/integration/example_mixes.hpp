// The shipped example mixes, for the tests that validate or render every one.
#pragma once

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "harness.hpp"

namespace gpumix::test {

// Whether the example mix `file` names the llm-server built-in while this
// build has no gpumix-llm-server beside gpumix (issue 19: the server comes in
// its own change); those tests skip it then.
inline bool needs_absent_llm_server(const std::filesystem::path& file) {
  std::ifstream in(file);
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  return text.find("builtin: llm-server") != std::string::npos &&
         !std::filesystem::exists(std::filesystem::path(kGpumix).parent_path() / "gpumix-llm-server");
}

}  // namespace gpumix::test
