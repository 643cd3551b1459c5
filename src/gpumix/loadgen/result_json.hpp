// `gpumix loadgen --format json`: one document for a run or a sweep
// (docs/loadgen.md, "JSON output"), following docs/cli.md: schema_version and
// kind, numbers as numbers, null for absent or non-finite, RFC 3339 UTC times.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "gpumix/loadgen/summary.hpp"
#include "gpumix/loadgen/sweep.hpp"

namespace gpumix::loadgen {

inline constexpr int kLoadgenSchemaVersion = 1;

// What was driven.
struct Target {
  std::string url, model, input, datatype;
  std::vector<int64_t> shape;
  int64_t request_bytes = 0;
  bool binary = true;  // the binary tensor extension, else JSON data
  std::string api = "kserve";  // or openai: no tensor (input .. binary unused)
};

// One step (a plain run has one).
nlohmann::json step_json(const Summary& s);

// The verdict of a whole run: a plain run's step's; a sweep's is met when it
// has an answer, missed otherwise; none without objectives.
Verdict overall_verdict(const std::vector<Summary>& steps, const SweepResult* sweep);

// {schema_version, kind: "gpumix.loadgen", mode, started, ended, target,
// settings, steps, result}. `settings` are the effective settings as the
// command resolved them; `sweep` is null for a plain run; `unloaded_ms` the
// sweep's baseline latency.
nlohmann::json loadgen_json(const Target& target, nlohmann::json settings, const std::vector<Summary>& steps,
                            const SweepResult* sweep, std::optional<double> unloaded_ms, int64_t started_ns,
                            int64_t ended_ns);

}  // namespace gpumix::loadgen
