// A Prometheus histogram with fixed upper bounds, rendered in the text
// exposition format (cumulative buckets, _sum, _count); shared by the
// built-in servers' /metrics pages. Not thread-safe: the caller locks.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace gpumix::metrics {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), counts_(bounds_.size() + 1) {}
  void observe(double v) {
    size_t i = 0;
    while (i < bounds_.size() && v > bounds_[i]) ++i;
    ++counts_[i];
    sum_ += v;
    ++count_;
  }
  void render(std::ostream& out, const std::string& name, const std::string& help, const std::string& labels) const {
    out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " histogram\n";
    int64_t cumulative = 0;
    for (size_t i = 0; i < bounds_.size(); ++i) {
      cumulative += counts_[i];
      out << name << "_bucket{" << labels << ",le=\"" << bounds_[i] << "\"} " << cumulative << '\n';
    }
    out << name << "_bucket{" << labels << ",le=\"+Inf\"} " << count_ << '\n';
    out << name << "_sum{" << labels << "} " << sum_ << '\n' << name << "_count{" << labels << "} " << count_ << '\n';
  }

 private:
  std::vector<double> bounds_;
  std::vector<int64_t> counts_;
  double sum_ = 0;
  int64_t count_ = 0;
};

}  // namespace gpumix::metrics
