// The load itself: worker threads, each with one persistent keep-alive HTTP
// connection, sending the same inference request (KServe), or streamed
// completions whose chunks are timestamped as they arrive (OpenAI).
//
// Open loop (rate > 0): send times come from a PoissonSchedule. A free worker
// claims the next send time and sleeps until it; when every connection is
// busy, the next one is claimed late and its latency still counts from the
// time it was scheduled (no coordinated omission). Closed loop (concurrency >
// 0): each worker sends its next request when the previous one is answered
// (plus think_time).
//
// The load ends with its schedule: requests outstanding then are awaited up
// to `timeout` past the schedule's end (the drain); whatever is still in
// flight or never sent by that deadline is a timeout of this load, never left
// to the next one.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gpumix/loadgen/kserve.hpp"
#include "gpumix/loadgen/openai.hpp"
#include "gpumix/util/units.hpp"

namespace gpumix::loadgen {

enum class Outcome { ok, error, timeout };

// The server's protocol: KServe v2 inference, or OpenAI streamed completions.
enum class Api { kserve, openai };
// What answers 200 once the server is ready (and opens each connection).
const char* ready_path(Api api);

struct Record {
  Duration scheduled{};  // send time as scheduled, from the start of the load
  Duration latency{};    // from `scheduled` to the response, or to the failure
  Outcome outcome = Outcome::ok;
  int status = 0;        // HTTP status; 0 when no response came (connection failed)
  bool late = false;     // claimed more than 1 ms after `scheduled`: no connection was free
  std::string message;   // why it failed
  // A streamed completion (Api::openai) that succeeded:
  std::optional<Duration> ttft;  // from `scheduled` to the first chunk carrying tokens
  std::optional<Duration> tpot;  // (last − first token's arrival) ÷ (tokens − 1); none for one token
  int64_t output_tokens = 0;
  std::vector<Duration> itl;     // every gap between chunks carrying tokens
};

struct LoadSpec {
  Endpoint endpoint;
  Api api = Api::kserve;
  std::string model;
  const kserve::EncodedMessage* request = nullptr;      // Api::kserve: the request every send repeats
  const openai::Completions* completions = nullptr;     // Api::openai: request n of the load
  double rate = 0;        // open loop: Poisson arrivals per second
  int connections = 256;  // open loop: workers (one connection each)
  int concurrency = 0;    // closed loop: clients
  Duration think_time{};  // closed loop: pause between a response and the next request
  Duration warmup{};      // requests scheduled before this are sent but not measured
  Duration duration{};    // measured time after warm-up; 0 = until stopped
  int64_t requests = 0;   // measured requests; 0 = no limit
  // With a duration: the schedule goes on past it until this many measured
  // requests (a sweep step; MLPerf LoadGen's min_query_count).
  int64_t min_requests = 0;
  Duration timeout = std::chrono::seconds(10);
  Duration drain = std::chrono::seconds(2);  // after a stop, the wait for requests in flight
  uint64_t seed = 0;
};

struct LoadHooks {
  std::function<void()> on_measuring;              // warm-up is over (main thread)
  std::function<void(const Record&)> on_record;    // each measured request kept (any thread)
};

struct LoadResult {
  std::vector<Record> records;  // measured requests, in no particular order
  bool streamed = false;        // streamed completions: the records carry tokens
  // The measured part of the schedule: from the end of warm-up to its end
  // (the duration, the last measured send time, or the stop).
  Duration window{};
  Duration span{};              // from the end of warm-up to the last measured response
  int64_t discarded = 0;        // failures caused by the stop itself (see run_load)
  int64_t unsent = 0;           // measured requests never sent by the drain's deadline (timeouts)
  bool stopped = false;         // ended by stop_fd rather than by duration or requests
  bool drain_expired = false;   // requests were still outstanding `timeout` after the schedule's end
};

// Runs the load. `stop_fd` (or -1): readable when the load must stop (the
// StopSignals pipe). After a stop no request is sent; requests in flight get
// `drain` to finish, then their connections are shut. Failures that come from
// the stop itself — any failure completing after it, and connection failures
// (refused, reset) completing in the 250 ms before it, since the server is
// usually stopped at the same moment — are counted in `discarded`, never as
// errors. Throws InputError for an impossible spec.
LoadResult run_load(const LoadSpec& spec, int stop_fd, const LoadHooks& hooks = {});

}  // namespace gpumix::loadgen
