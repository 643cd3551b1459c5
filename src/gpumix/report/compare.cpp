#include "gpumix/report/compare.hpp"
#include "gpumix/spec/sharing_mode.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <tuple>

namespace gpumix::report {
namespace {

Value num(const std::optional<double>& v) {
  if (!v || !std::isfinite(*v)) return std::monostate{};
  return *v;
}

Value change_pct(const std::optional<double>& a, const std::optional<double>& b) {
  if (!a || !b || !std::isfinite(*a) || !std::isfinite(*b) || *a == 0) return std::monostate{};
  return 100 * (*b / *a - 1);
}

std::vector<std::string> union_of(const std::vector<std::string>& x, const std::vector<std::string>& y) {
  std::vector<std::string> out = x;
  for (const auto& v : y)
    if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  return out;
}

std::string noise_text(const analysis::Estimate& a, const analysis::Estimate& b) {
  if (a.n() == 0 || b.n() == 0) return "";
  const auto d = analysis::difference(a.values, b.values);
  return d.verdict == analysis::Noise::unknown ? "unknown (one repeat)" : to_string(d.verdict);
}

const analysis::SloVerdict* find_slo(const analysis::ModeAnalysis* m, const std::string& label) {
  if (!m) return nullptr;
  for (const auto* s : m->slos())
    if (s->label() == label) return s;
  return nullptr;
}

}  // namespace

Table compare_environment_table(const ComparedRun& a, const ComparedRun& b) {
  Table t;
  t.columns = {"field", "A", "B"};
  const auto ea = environment_fields(a.analysis.run), eb = environment_fields(b.analysis.run);
  std::vector<std::string> keys;
  for (const auto& [k, v] : ea) keys.push_back(k);
  for (const auto& [k, v] : eb)
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) keys.push_back(k);
  auto get = [](const auto& fields, const std::string& key) {
    for (const auto& [k, v] : fields)
      if (k == key) return v;
    return std::string();
  };
  for (const auto& k : keys) t.add({k, get(ea, k), get(eb, k)});
  t.add({"recommendation", a.recommendation.headline, b.recommendation.headline});
  return t;
}

Table compare_modes_table(const ComparedRun& a, const ComparedRun& b) {
  Table t;
  t.columns = {"mode", "stp_a", "stp_b", "stp_change_pct", "stp_difference", "antt_a", "antt_b", "fairness_a", "fairness_b",
               "energy_mj_per_sample_a", "energy_mj_per_sample_b"};
  for (const auto& mode : union_of(a.analysis.planned_modes, b.analysis.planned_modes)) {
    const auto *ma = a.analysis.mode(mode), *mb = b.analysis.mode(mode);
    if (spec::is_baseline(mode) || (ma && ma->baseline) || (mb && mb->baseline)) continue;
    const analysis::Estimate none;
    const auto& sa = ma ? ma->stp : none;
    const auto& sb = mb ? mb->stp : none;
    auto energy = [](const analysis::ModeAnalysis* m) -> Value {
      if (!m || !m->energy_per_sample_j.mean) return std::monostate{};
      return *m->energy_per_sample_j.mean * 1e3;
    };
    t.add({mode, num(sa.mean), num(sb.mean), change_pct(sa.mean, sb.mean), noise_text(sa, sb),
           num(ma ? ma->antt.mean : std::nullopt), num(mb ? mb->antt.mean : std::nullopt),
           num(ma ? ma->fairness.mean : std::nullopt), num(mb ? mb->fairness.mean : std::nullopt), energy(ma), energy(mb)});
  }
  return t;
}

Table compare_workloads_table(const ComparedRun& a, const ComparedRun& b) {
  Table t;
  t.columns = {"mode", "workload", "samples_per_s_a", "samples_per_s_b", "throughput_change_pct", "throughput_difference",
               "np_a", "np_b", "p99_ms_a", "p99_ms_b"};
  for (const auto& mode : union_of(a.analysis.planned_modes, b.analysis.planned_modes)) {
    const auto *ma = a.analysis.mode(mode), *mb = b.analysis.mode(mode);
    for (const auto& w : union_of(a.analysis.workloads, b.analysis.workloads)) {
      const auto* wa = ma ? ma->workload(w) : nullptr;
      const auto* wb = mb ? mb->workload(w) : nullptr;
      if (!wa && !wb) continue;
      const analysis::Estimate none;
      const auto& ta = wa ? wa->throughput : none;
      const auto& tb = wb ? wb->throughput : none;
      t.add({spec::is_baseline(mode) ? mode + " (alone)" : mode, w, num(ta.mean), num(tb.mean), change_pct(ta.mean, tb.mean),
             noise_text(ta, tb), num(wa ? wa->np.mean : std::nullopt), num(wb ? wb->np.mean : std::nullopt),
             num(wa ? wa->latency_p99_ms.mean : std::nullopt), num(wb ? wb->latency_p99_ms.mean : std::nullopt)});
    }
  }
  return t;
}

Table compare_slo_table(const ComparedRun& a, const ComparedRun& b) {
  Table t;
  t.columns = {"mode", "slo", "worst_ms_a", "worst_ms_b", "met_a", "met_b"};
  for (const auto& mode : union_of(a.analysis.planned_modes, b.analysis.planned_modes)) {
    const auto *ma = a.analysis.mode(mode), *mb = b.analysis.mode(mode);
    std::vector<std::string> labels;
    for (const auto* m : {ma, mb})
      if (m)
        for (const auto* s : m->slos())
          if (std::find(labels.begin(), labels.end(), s->label()) == labels.end()) labels.push_back(s->label());
    for (const auto& l : labels) {
      const auto *sa = find_slo(ma, l), *sb = find_slo(mb, l);
      auto met = [](const analysis::SloVerdict* s) -> Value {
        if (!s) return std::monostate{};
        return std::string(s->met ? "met" : "MISSED");
      };
      t.add({mode, l, num(sa ? sa->worst_ms : std::nullopt), num(sb ? sb->worst_ms : std::nullopt), met(sa), met(sb)});
    }
  }
  return t;
}

std::vector<std::string> compare_notes(const ComparedRun& a, const ComparedRun& b) {
  std::vector<std::string> notes;
  // First: a run on the CPU, whose figures say nothing about sharing a GPU.
  for (const auto* r : {&a, &b})
    if (r->analysis.cpu_only)
      notes.push_back(fmt::format("{} ran on the CPU, without an NVIDIA GPU ({}): its figures check gpumix's pipeline and "
                                  "say nothing about sharing a GPU; it recommends no mode.",
                                  r->label, *r->analysis.cpu_only));
  const auto &ra = a.analysis.run, &rb = b.analysis.run;
  if (ra.mix_sha256 != rb.mix_sha256)
    notes.push_back(fmt::format("The runs used different mix files ({} sha256 {} vs {} sha256 {}): only the modes and "
                                "workloads both have are comparable.",
                                ra.mix_name, ra.mix_sha256.substr(0, 12), rb.mix_name, rb.mix_sha256.substr(0, 12)));
  for (const auto& [x, y, name] : {std::tuple{&a, &b, "B"}, std::tuple{&b, &a, "A"}})
    for (const auto& m : x->analysis.planned_modes)
      if (!y->analysis.mode(m)) notes.push_back(fmt::format("Mode {} is not in run {}.", m, name));
  for (const auto* r : {&a, &b})
    if (const auto missing = missing_list(r->analysis); !missing.empty())
      notes.push_back(fmt::format("{} is incomplete: {}", r->label, missing.front()));
  return notes;
}

void write_comparison(std::ostream& out, const ComparedRun& a, const ComparedRun& b, DocFormat format) {
  const bool md = format == DocFormat::markdown;
  const std::string title = "gpumix compare: A = " + a.label + ", B = " + b.label;
  out << (md ? "# " : "") << title << "\n\n";
  const auto notes = compare_notes(a, b);
  if (!notes.empty()) {
    out << (md ? "## Notes\n\n" : "NOTES\n");
    for (const auto& n : notes) out << (md ? "- " : "  - ") << n << "\n";
    out << "\n";
  }
  const std::vector<std::pair<std::string, Table>> sections = {
      {"Runs", compare_environment_table(a, b)},
      {"Modes (change = B vs A; difference: Welch 95% over repeats)", compare_modes_table(a, b)},
      {"Workloads per mode", compare_workloads_table(a, b)},
      {"SLOs", compare_slo_table(a, b)}};
  for (const auto& [name, table] : sections) {
    if (table.rows.empty()) continue;
    if (md) {
      out << "## " << name << "\n\n";
      render_markdown(out, table);
    } else {
      out << "== " << name << " ==\n";
      render(out, table, Format::table);
    }
    out << "\n";
  }
}

}  // namespace gpumix::report
