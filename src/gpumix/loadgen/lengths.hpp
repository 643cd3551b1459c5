// Prompt and output lengths (in tokens) of the LLM load: a fixed length, a
// uniform or a normal distribution, or a file of lengths replayed in order.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace gpumix::loadgen {

class Lengths {
 public:
  // "N", "uniform:A-B", "normal:MEAN,SD" or "file:PATH" (one integer ≥ 1 a
  // line; blank lines and lines starting with # are skipped). Throws
  // InputError naming `option` and the bad part (file:line for a file).
  static Lengths parse(const std::string& option, const std::string& text);

  // The length of request number `index`: from `rng` (uniform, normal: the
  // normal rounded and clamped to at least 1); a file's lengths in order,
  // from the first again after the last.
  int64_t draw(std::mt19937_64& rng, uint64_t index) const;

  const std::string& text() const { return text_; }  // as given
  int64_t max() const;                               // the longest it can draw (normal: mean + 6 SD)

 private:
  enum class Kind { fixed, uniform, normal, file };
  Kind kind_ = Kind::fixed;
  std::string text_;
  int64_t a_ = 1, b_ = 1;
  double mean_ = 1, sd_ = 0;
  std::vector<int64_t> values_;
};

}  // namespace gpumix::loadgen
