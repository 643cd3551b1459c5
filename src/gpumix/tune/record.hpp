// What `gpumix tune` stores with its run's plan (spec::EffectivePlan::
// search_json): the objective, the space, every point it tried or pruned and
// why it stopped. With the run's analysis this is all the answer needs, so
// `gpumix report` of a tuning run recomputes it (tune/answer.hpp).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpumix/spec/mix.hpp"
#include "gpumix/tune/search.hpp"

namespace gpumix::tune {

// What the search maximizes among the configurations that meet every SLO.
struct Objective {
  enum class Kind { stp, min_np, throughput } kind = Kind::stp;
  std::string workload;  // throughput:WORKLOAD
  std::string text() const;  // "stp", "min-np", "throughput:train"
};
// InputError naming --objective for anything else, or a workload `mix` lacks.
Objective parse_objective(std::string_view text, const spec::Mix& mix);

struct TrialRecord {
  std::string mode;      // the configured mode's label
  std::string settings;  // in words: "server 100%, train 30% (priority 1)"
  std::string status;    // Trial::Status
  std::string reason;    // why pruned
};

struct TuneRecord {
  Objective objective;
  std::optional<double> budget_s;
  std::vector<Knob> knobs;
  std::vector<std::string> controls;  // modes measured as references: timeslice, MPS without limits
  // An SLO measured at a load generator is its server's to keep: client → server.
  std::map<std::string, std::string> slo_owners;
  std::vector<TrialRecord> trials;    // in the order the search took them
  std::vector<std::string> confirmed;  // modes measured again (a second repeat) to confirm them
  std::string stopped_because;
  std::optional<double> elapsed_s;

  std::string to_json_text() const;
  // nullopt for text that is not a tuning record (a plain run's plan).
  static std::optional<TuneRecord> from_json_text(std::string_view text);
  const TrialRecord* trial(const std::string& mode) const;
};

}  // namespace gpumix::tune
