// Reading a mix file: YAML → spec::Mix with every default resolved, or a
// SpecError listing every problem with file:line:column and the field.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpumix/spec/mix.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix::spec {

struct Diagnostic {
  std::string file;
  int line = 0;    // 1-based; 0 when the problem has no place in the file
  int column = 0;  // 1-based
  std::string field;  // e.g. "workloads[1].mps.sm_percent"; empty for syntax errors
  std::string message;

  // "mix.yaml:12:7: workloads[1].mps.sm_percent: must be between 1 and 100, got 150"
  std::string str() const;
};

class SpecError : public InputError {
 public:
  explicit SpecError(std::vector<Diagnostic> diagnostics);
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }

 private:
  std::vector<Diagnostic> diagnostics_;
};

// Command-line values that replace the mix's own (`gpumix run --modes ...`).
struct Overrides {
  std::optional<std::vector<std::string>> modes;
  std::optional<int> repeats;
  bool repeats_auto = false;  // --repeats auto
  std::optional<Duration> cell_duration;
  std::optional<uint64_t> seed;
  std::optional<std::filesystem::path> results_dir;
  // The workloads run elsewhere (`gpumix k8s render`: in a container image):
  // commands and built-ins need not exist on this machine, so they are not
  // looked up here (a built-in's args are then checked in the image).
  bool programs_elsewhere = false;
};

// Reads, parses and validates `file`. Throws SpecError, or InputError when the
// file cannot be read.
Mix load_mix(const std::filesystem::path& file, const Overrides& overrides = {});

// Parses and validates `text` as if it were the content of `file` (relative
// paths resolve against file's folder). Throws SpecError.
Mix parse_mix(std::string_view text, const std::filesystem::path& file, const Overrides& overrides = {});

}  // namespace gpumix::spec
