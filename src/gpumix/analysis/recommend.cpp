#include "gpumix/analysis/recommend.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace gpumix::analysis {

std::string to_string(VerdictState s) {
  switch (s) {
    case VerdictState::recommended: return "recommended";
    case VerdictState::eligible: return "meets every SLO";
    case VerdictState::rejected: return "rejected";
    case VerdictState::skipped: return "skipped";
    case VerdictState::unmeasured: break;
  }
  return "not measured";
}

std::string to_string(NoMode n) {
  switch (n) {
    case NoMode::none: return "none";
    case NoMode::cpu_only: return "cpu_only";
    case NoMode::no_shared_mode: return "no_shared_mode";
    case NoMode::none_measured: return "none_measured";
    case NoMode::unranked: return "unranked";
    case NoMode::undecided: return "undecided";
    case NoMode::none_qualifies: return "none_qualifies";
  }
  return "none";
}

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

std::string stp_text(const ModeVerdict& v) {
  if (!v.stp) return "no STP";
  if (v.stp_margin) return fmt::format("STP {:.2f} ± {:.2f}", *v.stp, *v.stp_margin);
  return fmt::format("STP {:.2f}", *v.stp);
}

std::string broken_text(const SloVerdict& s) {
  std::string out;
  if (s.broken > 0 && s.worst_ms) {
    out = fmt::format("{} p{:g} {:.1f} ms > {:g} ms (+{:.0f}%) in {}", s.workload, s.percentile, *s.worst_ms, s.limit_ms,
                      100 * s.excess().value_or(0), s.worst_cell);
    if (s.repeats > 1) out += fmt::format(", {} of {} repeats", s.broken, s.repeats);
  }
  if (s.unmeasured > 0) {
    out += (out.empty() ? "" : "; ") + fmt::format("{} p{:g} <= {:g} ms unchecked: no requests in {} of {} repeat(s)",
                                                   s.workload, s.percentile, s.limit_ms, s.unmeasured, s.repeats);
  }
  return out;
}

std::string met_text(const SloVerdict& s) {
  return fmt::format("{} p{:g} {:.1f} ms <= {:g} ms", s.workload, s.percentile, s.worst_ms.value_or(0), s.limit_ms);
}

ModeVerdict judge(const ModeAnalysis& m) {
  ModeVerdict v;
  v.mode = m.mode;
  v.stp = m.stp.mean;
  v.stp_margin = m.stp.margin();
  if (m.skipped()) {
    v.state = VerdictState::skipped;
    v.reasons.push_back("skipped: " + (m.skip_reason.empty() ? std::string("the mode is unavailable") : m.skip_reason));
    return v;
  }
  if (!m.measured()) {
    v.state = VerdictState::unmeasured;
    v.reasons.push_back(m.cells_run == 0 ? "not run" : "nothing measured");
    return v;
  }
  for (const auto* s : m.slos()) {
    if (s->met) continue;
    v.worst_excess = std::max(v.worst_excess, s->unmeasured > 0 ? kInf : s->excess().value_or(kInf));
    v.reasons.push_back(broken_text(*s));
  }
  for (const auto& f : m.failures) {
    v.failures = true;
    v.reasons.push_back(f);
  }
  // No progress, or no NP for want of evidence: its STP would rank it on
  // part of the mix, so it is not ranked at all.
  for (const auto& d : m.disqualifications) {
    v.failures = true;
    v.reasons.push_back(d);
  }
  v.state = v.reasons.empty() ? VerdictState::eligible : VerdictState::rejected;
  if (v.state == VerdictState::eligible)
    for (const auto* s : m.slos()) v.reasons.push_back(met_text(*s));
  return v;
}

// What would separate two modes whose STPs the evidence cannot tell apart.
std::string settle_text(const Difference& d, double gap) {
  if (d.verdict == Noise::unknown || !d.ci_high || !d.ci_low || !d.dof)
    return "More repeats: run with `repeats: auto`, which adds interleaved repeats until the difference is clear or "
           "both STPs are known within its precision.";
  // The interval shrinks as 1/sqrt(n): the repeats at which its half-width
  // would fall below the gap seen (at least one more).
  const double n = *d.dof + 1;
  const double half = (*d.ci_high - *d.ci_low) / 2;
  if (gap <= 0) return "More repeats would only narrow an interval around no difference: the modes perform alike.";
  const int needed = std::max(static_cast<int>(n) + 1, static_cast<int>(std::ceil(n * (half / gap) * (half / gap))));
  return fmt::format("About {} repeats in all (now {}) would separate a difference of {:.2f} in STP from this noise; "
                     "`repeats: auto` stops as soon as it is clear.",
                     needed, static_cast<int>(n), gap);
}

bool higher_stp(const ModeVerdict& a, const ModeVerdict& b) {
  return a.stp.value_or(-kInf) > b.stp.value_or(-kInf);
}

// The recommendation the figures give, as if they came from a GPU.
Recommendation rank_modes(const Analysis& a) {
  Recommendation r;
  std::vector<ModeVerdict> eligible, others;
  for (const auto& m : a.modes) {
    if (m.baseline) continue;
    auto v = judge(m);
    (v.state == VerdictState::eligible ? eligible : others).push_back(std::move(v));
  }
  const bool any_slo = std::any_of(a.modes.begin(), a.modes.end(), [](const auto& m) { return !m.slos().empty(); });
  std::stable_sort(eligible.begin(), eligible.end(), higher_stp);

  if (eligible.empty() && others.empty()) {
    r.headline = "Nothing to recommend: the run has no shared mode (only the exclusive baseline).";
    r.no_mode = NoMode::no_shared_mode;
    return r;
  }
  const bool any_measured = !eligible.empty() || std::any_of(others.begin(), others.end(), [](const auto& v) {
                              return v.state == VerdictState::rejected;
                            });
  if (!any_measured) {
    r.headline = "Nothing to recommend: no shared mode was measured (each was skipped or not run).";
    r.no_mode = NoMode::none_measured;
    r.verdicts = std::move(others);
    return r;
  }

  if (!eligible.empty()) {
    r.slos_met = true;
    auto& best = eligible.front();
    const bool ranked = best.stp.has_value();
    if (ranked || eligible.size() == 1) {
      r.mode = best.mode;
      best.state = VerdictState::recommended;
      if (ranked)
        r.headline = fmt::format("Use {}: the highest system throughput ({}) among the modes {}.", best.mode, stp_text(best),
                                 any_slo ? "meeting every SLO" : "under which every workload ran (no SLOs were set)");
      else
        r.headline = fmt::format("Use {}: the only mode {} (no STP: the workloads lack a baseline).", best.mode,
                                 any_slo ? "meeting every SLO" : "under which every workload ran");
    } else {
      std::string names;
      for (const auto& v : eligible) names += (names.empty() ? "" : ", ") + v.mode;
      r.headline = fmt::format("{} {}, but without baselines (no STP) they cannot be ranked.", names,
                               any_slo ? "meet every SLO" : "ran every workload");
      r.no_mode = NoMode::unranked;
    }
    // Is the lead over the runner-up more than noise? If not, neither is named.
    if (ranked && eligible.size() > 1 && eligible[1].stp) {
      const auto& second = eligible[1];
      const double precision = a.auto_repeats ? a.auto_repeats->precision : 0.05;
      for (const auto& c : a.comparisons) {
        if (c.metric != "STP") continue;
        const bool pair = (c.mode_a == best.mode && c.mode_b == second.mode) || (c.mode_b == best.mode && c.mode_a == second.mode);
        if (!pair) continue;
        const double gap = *best.stp - *second.stp;
        const bool one_repeat = c.difference.verdict == Noise::unknown;
        if (c.difference.verdict == Noise::within_noise || (one_repeat && gap <= precision * *best.stp)) {
          r.mode.reset();
          r.no_mode = NoMode::undecided;
          best.state = VerdictState::eligible;
          r.undecided = {best.mode, second.mode};
          r.headline = fmt::format("No significant difference between {} ({}) and {} ({}){}: either will do.", best.mode,
                                   stp_text(best), second.mode, stp_text(second),
                                   one_repeat ? fmt::format(" (one repeat; within {:.0f}%)", 100 * precision) : "");
          r.settle = settle_text(c.difference, gap);
        } else if (one_repeat) {
          r.notes.push_back(fmt::format(
              "Whether {}'s lead over {} ({}) is more than noise cannot be told from one repeat (set repeats: auto).",
              best.mode, second.mode, stp_text(second)));
        }
      }
    }
  } else {
    // No mode qualifies: the nearest miss.
    std::vector<const ModeVerdict*> measured;
    for (const auto& v : others)
      if (v.state == VerdictState::rejected) measured.push_back(&v);
    std::stable_sort(measured.begin(), measured.end(), [](const ModeVerdict* x, const ModeVerdict* y) {
      if (x->failures != y->failures) return !x->failures;
      if (x->worst_excess != y->worst_excess) return x->worst_excess < y->worst_excess;
      return higher_stp(*x, *y);
    });
    const auto* near = measured.front();
    r.closest = near->mode;
    r.no_mode = NoMode::none_qualifies;
    r.headline = fmt::format("{}. Closest: {} ({}; {}).",
                             any_slo ? "No mode meets the SLOs" : "No mode ran every workload without a failure", near->mode,
                             near->reasons.empty() ? "" : near->reasons.front(), stp_text(*near));
    // Would running alone meet them?
    if (const auto* ex = a.baseline(); ex && ex->measured() && any_slo) {
      std::vector<std::string> alone_broken;
      for (const auto* s : ex->slos())
        if (!s->met) alone_broken.push_back(broken_text(*s));
      if (alone_broken.empty())
        r.notes.push_back("Alone (exclusive baseline) every SLO is met: sharing is what breaks them. Run the latency-critical "
                          "workloads alone, or relax their SLOs.");
      else
        for (const auto& b : alone_broken) r.notes.push_back("Even alone the SLO is missed: " + b + ".");
    }
  }

  // Figures that cover only part of the mix.
  if (r.mode) {
    if (const auto* m = a.mode(*r.mode)) {
      std::vector<std::string> without;
      for (const auto& w : m->workloads)
        if (w.np.n() == 0 && w.role != spec::Role::client) without.push_back(w.workload);  // clients are out by design
      if (!without.empty() && m->stp.n() > 0) {
        std::string names;
        for (const auto& w : without) names += (names.empty() ? "" : ", ") + w;
        r.notes.push_back("STP leaves out " + names + " (no NP: no baseline measure).");
      }
    }
  }
  if (!r.settle.empty()) r.notes.push_back(r.settle);
  for (auto& v : eligible) r.verdicts.push_back(std::move(v));
  for (auto& v : others) r.verdicts.push_back(std::move(v));
  return r;
}

}  // namespace

Recommendation recommend(const Analysis& a) {
  Recommendation r = rank_modes(a);
  if (a.cpu_only) {
    // The verdicts stay, for what they say about the pipeline; no mode is
    // named, nor any advice that would read as one.
    Recommendation cpu;
    cpu.no_mode = NoMode::cpu_only;
    cpu.slos_met = r.slos_met;
    cpu.verdicts = std::move(r.verdicts);
    for (auto& v : cpu.verdicts)
      if (v.state == VerdictState::recommended) v.state = VerdictState::eligible;
    cpu.headline = "No recommendation: the cells ran on the CPU, so the sharing modes were not exercised on a GPU and "
                   "their figures say nothing about sharing one. Run the mix on a GPU machine.";
    r = std::move(cpu);
  }
  if (a.auto_repeats && a.auto_repeats->repeats_run)
    r.notes.push_back(fmt::format("repeats: auto ran {} repeat(s){} and stopped: {}.", *a.auto_repeats->repeats_run,
                                  a.gpu_time_s ? fmt::format(" in {:.1f} min of GPU time", *a.gpu_time_s / 60) : "",
                                  a.auto_repeats->stopped_because));
  return r;
}

RepeatDecision decide_repeats(const Analysis& a, const Recommendation& r, double precision) {
  RepeatDecision d;
  std::vector<const ModeVerdict*> ranked;
  for (const auto& v : r.verdicts)
    if ((v.state == VerdictState::recommended || v.state == VerdictState::eligible) && v.stp) ranked.push_back(&v);
  if (ranked.size() < 2) {
    d.stop = true;
    d.reason = ranked.empty() ? "no shared mode is eligible: more repeats cannot change the answer"
                              : "only " + ranked.front()->mode + " is eligible: there is nothing to separate";
    return d;
  }
  // (Not r.mode: a run on the CPU names no mode, yet its repeats stop the same way.)
  for (const auto& c : a.comparisons)
    if (c.metric == "STP" && c.difference.verdict == Noise::distinct &&
        ((c.mode_a == ranked[0]->mode && c.mode_b == ranked[1]->mode) || (c.mode_b == ranked[0]->mode && c.mode_a == ranked[1]->mode))) {
      d.stop = true;
      d.reason = fmt::format("{}'s STP exceeds {}'s: difference {:.3f}, 95% interval [{:.3f}, {:.3f}]", ranked[0]->mode,
                             ranked[1]->mode, std::abs(*c.difference.delta), std::min(std::abs(*c.difference.ci_low), std::abs(*c.difference.ci_high)),
                             std::max(std::abs(*c.difference.ci_low), std::abs(*c.difference.ci_high)));
      return d;
    }
  const bool precise = std::all_of(ranked.begin(), ranked.end(), [&](const ModeVerdict* v) {
    return v->stp_margin && *v->stp > 0 && *v->stp_margin / *v->stp <= precision;
  });
  if (precise) {
    d.stop = true;
    d.reason = fmt::format("every eligible mode's STP is known within ±{:.0f}% and {} and {} do not differ by more",
                           100 * precision, ranked[0]->mode, ranked[1]->mode);
  }
  return d;
}

}  // namespace gpumix::analysis
