#include "gpumix/loadgen/lengths.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>

#include "gpumix/util/errors.hpp"

namespace gpumix::loadgen {

namespace {

constexpr int64_t kMaxLength = 1 << 20;  // a million tokens: beyond any context

template <typename T>
bool parse_number(const std::string& s, T& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

Lengths Lengths::parse(const std::string& option, const std::string& text) {
  const auto bad = [&](const std::string& why) {
    return InputError(option + ": '" + text + "': " + why +
                      " (expected N, uniform:A-B, normal:MEAN,SD or file:PATH)");
  };
  const auto length = [&](const std::string& s, const char* what) {
    int64_t v = 0;
    if (!parse_number(s, v) || v < 1 || v > kMaxLength)
      throw bad(std::string(what) + " must be an integer in 1.." + std::to_string(kMaxLength) + ", got '" + s + "'");
    return v;
  };
  Lengths l;
  l.text_ = text;
  const auto colon = text.find(':');
  const std::string kind = colon == std::string::npos ? "" : text.substr(0, colon);
  const std::string rest = colon == std::string::npos ? text : text.substr(colon + 1);
  if (colon == std::string::npos) {
    l.kind_ = Kind::fixed;
    l.a_ = l.b_ = length(text, "the length");
  } else if (kind == "uniform") {
    const auto dash = rest.find('-');
    if (dash == std::string::npos) throw bad("a uniform range is A-B");
    l.kind_ = Kind::uniform;
    l.a_ = length(rest.substr(0, dash), "A");
    l.b_ = length(rest.substr(dash + 1), "B");
    if (l.b_ < l.a_) throw bad("B must be at least A");
  } else if (kind == "normal") {
    const auto comma = rest.find(',');
    if (comma == std::string::npos) throw bad("a normal distribution is MEAN,SD");
    l.kind_ = Kind::normal;
    const std::string m = rest.substr(0, comma), s = rest.substr(comma + 1);
    if (!parse_number(m, l.mean_) || !(l.mean_ >= 1 && l.mean_ <= kMaxLength))
      throw bad("MEAN must be a number in 1.." + std::to_string(kMaxLength) + ", got '" + m + "'");
    if (!parse_number(s, l.sd_) || !(l.sd_ >= 0 && std::isfinite(l.sd_)))
      throw bad("SD must be a number ≥ 0, got '" + s + "'");
  } else if (kind == "file") {
    l.kind_ = Kind::file;
    std::ifstream in(rest);
    if (rest.empty() || !in) throw bad("cannot read the file");
    int line_no = 0;
    for (std::string line; std::getline(in, line);) {
      ++line_no;
      line.erase(std::find_if(line.rbegin(), line.rend(), [](unsigned char c) { return !std::isspace(c); }).base(),
                 line.end());
      line.erase(line.begin(), std::find_if(line.begin(), line.end(), [](unsigned char c) { return !std::isspace(c); }));
      if (line.empty() || line[0] == '#') continue;
      int64_t v = 0;
      if (!parse_number(line, v) || v < 1 || v > kMaxLength)
        throw InputError(option + ": " + rest + ":" + std::to_string(line_no) + ": expected a length (an integer in 1.." +
                         std::to_string(kMaxLength) + "), got '" + line.substr(0, 40) + "'");
      l.values_.push_back(v);
    }
    if (l.values_.empty()) throw InputError(option + ": " + rest + ": no lengths in the file");
  } else {
    throw bad("unknown distribution '" + kind + "'");
  }
  return l;
}

int64_t Lengths::draw(std::mt19937_64& rng, uint64_t index) const {
  switch (kind_) {
    case Kind::fixed: return a_;
    case Kind::uniform: return std::uniform_int_distribution<int64_t>(a_, b_)(rng);
    case Kind::normal: {
      const double v = sd_ > 0 ? std::normal_distribution<double>(mean_, sd_)(rng) : mean_;
      return std::clamp<int64_t>(std::llround(v), 1, kMaxLength);
    }
    case Kind::file: return values_[index % values_.size()];
  }
  return 1;
}

int64_t Lengths::max() const {
  switch (kind_) {
    case Kind::fixed:
    case Kind::uniform: return b_;
    case Kind::normal: return std::clamp<int64_t>(std::llround(mean_ + 6 * sd_), 1, kMaxLength);
    case Kind::file: return *std::max_element(values_.begin(), values_.end());
  }
  return 1;
}

}  // namespace gpumix::loadgen
