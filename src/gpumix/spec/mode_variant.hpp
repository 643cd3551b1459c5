// A configured mode: a mode of the table with per-workload MPS settings in
// its name, so that one run can compare several configurations of the same
// mode and every reader (analysis, reports, compare, merge) tells them apart
// by name alone:
//
//   mps[server=70,train=30,train.priority=1,train.pinned=8192M]
//
// `W=N` is workload W's active-thread percentage (sm_percent), `W.priority`
// its client priority (0 or 1), `W.pinned` its pinned device-memory limit.
// They replace the workload's own `mps:` settings for that mode's cells;
// what the label leaves out stays as the mix declares it. `gpumix tune` names
// its candidates this way, and a mix may list such modes itself.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpumix/spec/mix.hpp"

namespace gpumix::spec {

struct ModeVariant {
  std::string base;                       // a mode of spec::sharing_modes() that takes settings ("mps")
  std::map<std::string, MpsOptions> mps;  // workload → the settings the label gives it
  bool configured() const { return !mps.empty(); }
};

// The mode's name before any bracket: "mps" for "mps[a=50]".
std::string_view base_mode_name(std::string_view label);

// nullopt with the reason in *error for a label that is not a mode, names a
// setting a mode cannot take, or gives a value out of range. Workload names
// are not checked here (check_variant_workloads does it against a mix).
std::optional<ModeVariant> parse_mode_variant(std::string_view label, std::string* error);

// The canonical label: workloads in name order, settings in a fixed order;
// parse_mode_variant(variant_label(v)) == v.
std::string variant_label(const ModeVariant& variant);

// Why `variant` names a workload the mix does not have, or a load generator
// (a client runs on no GPU); nullopt when it does neither.
std::optional<std::string> variant_workload_problem(const ModeVariant& variant, const Mix& mix);

// "exclusive,mps[a=30,b=70]" → {"exclusive", "mps[a=30,b=70]"}: a list of
// modes on a command line, split at the commas outside brackets.
std::vector<std::string> split_mode_list(std::string_view text);

// `own` with every setting `over` gives in its place.
MpsOptions with_overrides(const MpsOptions& own, const MpsOptions& over);

bool operator==(const MpsOptions& a, const MpsOptions& b);
bool operator==(const ModeVariant& a, const ModeVariant& b);

}  // namespace gpumix::spec
