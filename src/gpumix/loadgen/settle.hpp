// Letting the server settle between sweep steps. A step that overloaded the
// server leaves work behind it that the load generator no longer waits for
// (requests it gave up on, still queued in the server); the next step would
// measure that backlog, not its own rate. So before each step after the
// first: a quiet period, then rounds of a few sequential requests until their
// median latency is back near the unloaded latency measured before the first
// step (at most 2 x + 1 ms), for at most a bound.
#pragma once

#include <optional>

#include "gpumix/loadgen/engine.hpp"
#include "gpumix/loadgen/summary.hpp"

namespace gpumix::loadgen {

// The median latency (ms) of `n` sequential requests over one connection
// (`base`'s endpoint, model and request); nothing when any failed or the
// load was stopped.
std::optional<double> probe_latency(const LoadSpec& base, int64_t n, int stop_fd);

// The latency a settled server must be back to, from the unloaded one.
double settle_target_ms(double unloaded_ms);

// Waits `quiet`, then probes until the server answers within
// settle_target_ms(unloaded_ms) (without a baseline: the quiet period only),
// for at most `bound` of probing or until `stop_fd` is readable.
Settle settle(const LoadSpec& base, std::optional<double> unloaded_ms, Duration quiet, Duration bound, int stop_fd);

}  // namespace gpumix::loadgen
