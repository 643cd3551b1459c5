#include "gpumix/loadgen/engine.hpp"

#include <httplib.h>
#include <poll.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <semaphore>
#include <thread>

#include "gpumix/loadgen/schedule.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix::loadgen {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// A connection failure this close before a stop is blamed on the stop: the
// server is usually stopped at the same moment as the load generator.
constexpr Duration kStopBlame = 250ms;
constexpr Duration kLateAfter = 1ms;

// The response's Inference-Header-Content-Length, when it sent one.
std::optional<std::string_view> header_length(const httplib::Response& res) {
  const auto it = res.headers.find("Inference-Header-Content-Length");
  if (it == res.headers.end()) return std::nullopt;
  return std::string_view(it->second);
}

class Load {
 public:
  Load(const LoadSpec& spec, const LoadHooks& hooks)
      : spec_(spec), hooks_(hooks), schedule_(spec.rate > 0 ? spec.rate : 1.0, spec.seed) {
    path_ = spec.endpoint.prefix +
            (spec.api == Api::openai ? std::string("/v1/completions") : "/v2/models/" + spec.model + "/infer");
    if (spec.request && spec.request->header_length)
      headers_.emplace("Inference-Header-Content-Length", std::to_string(*spec.request->header_length));
    const int workers = spec.rate > 0 ? spec.connections : spec.concurrency;
    for (int i = 0; i < workers; ++i) {
      auto c = std::make_unique<httplib::Client>(spec.endpoint.host, spec.endpoint.port);
      c->set_keep_alive(true);
      c->set_tcp_nodelay(true);
      c->set_connection_timeout(spec.timeout);
      c->set_read_timeout(spec.timeout);
      c->set_write_timeout(spec.timeout);
      clients_.push_back(std::move(c));
      kept_.emplace_back();
    }
    planned_end_ = planned_end();
  }

  LoadResult run(int stop_fd) {
    std::vector<std::thread> threads;
    live_ = static_cast<int>(clients_.size());
    for (size_t i = 0; i < clients_.size(); ++i)
      threads.emplace_back([this, i] {
        if (connect(i)) {
          if (spec_.rate > 0) open_loop(i);
          else closed_loop(i);
        }
        --live_;
      });
    // Every connection is open before the first request is due: connecting
    // hundreds at once overflows a short accept backlog (cpp-httplib's is 5)
    // and costs SYN retransmissions (1 s, 3 s, ...), which are no latency of
    // the server's. Workers connect a few at a time (see connect()).
    const auto connect_deadline = Clock::now() + spec_.timeout;
    for (bool all = false; !all;) {
      {
        std::unique_lock lock(claim_mutex_);
        all = wake_.wait_for(lock, 10ms, [this] { return connected_ == clients_.size(); });
      }
      pollfd p{stop_fd, POLLIN, 0};
      if ((stop_fd >= 0 && ::poll(&p, 1, 0) > 0) || Clock::now() > connect_deadline) break;
    }
    {
      std::lock_guard lock(claim_mutex_);
      start_ = Clock::now();
      started_ = true;
    }
    wake_.notify_all();

    // The drain: outstanding requests get `timeout` past the schedule's end.
    std::optional<Clock::time_point> drain_deadline;
    if (planned_end_) drain_deadline = start_ + *planned_end_ + spec_.timeout;
    std::optional<Clock::time_point> stop_at;
    while (live_ > 0) {
      pollfd p{stop_fd, POLLIN, 0};
      const int n = ::poll(&p, stop_fd >= 0 ? 1 : 0, 10);
      const auto now = Clock::now();
      if (now >= start_ + spec_.warmup) {
        std::lock_guard lock(claim_mutex_);
        begin_measuring();
      }
      if (n > 0 && !stop_at) {
        stop_at = now;
        stop(now);
      }
      release_held(now);
      if (!stop_at && drain_deadline && now > *drain_deadline) {
        expire();
        // Every tick: a worker that claimed just before may have reconnected since.
        for (auto& c : clients_) c->stop();
      }
      if (stop_at && now > *stop_at + spec_.drain) {
        for (auto& c : clients_) c->stop();  // unblocks requests still in flight
        break;
      }
    }
    for (auto& t : threads) t.join();

    LoadResult r;
    r.streamed = spec_.api == Api::openai;
    r.stopped = stop_at.has_value();
    r.drain_expired = expired_ && !stopping_;
    release_held(Clock::now(), true);
    if (r.drain_expired && spec_.rate > 0) r.unsent = count_unsent(*drain_deadline - start_);
    r.discarded = discarded_;
    for (auto& k : kept_) {
      for (auto& rec : k) r.records.push_back(std::move(rec));
    }
    for (auto& rec : released_) r.records.push_back(std::move(rec));
    Duration last{};
    for (const auto& rec : r.records) last = std::max(last, rec.scheduled + rec.latency);
    r.span = std::max(Duration{}, last - spec_.warmup);
    Duration end = planned_end_.value_or(
        std::max(last_measured_at_, spec_.duration.count() > 0 ? spec_.warmup + spec_.duration : Duration{}));
    if (stop_at) end = std::min(end, std::chrono::duration_cast<Duration>(*stop_at - start_));
    r.window = std::max(Duration{}, end - spec_.warmup);
    return r;
  }

 private:
  struct Claim {
    Duration at;
    bool measured;
    uint64_t n;  // claims before this one: request n of the load (its lengths, for a completion)
  };

  // Whether a request at `at` is past the schedule's end, `measured` before it.
  bool past_end(Duration at, bool is_measured, int64_t measured) const {
    return (spec_.duration.count() > 0 && at >= spec_.warmup + spec_.duration && measured >= spec_.min_requests) ||
           (is_measured && spec_.requests > 0 && measured >= spec_.requests);
  }

  // When the schedule ends (the later of its duration and its last measured
  // send time), when that is known in advance: open loop with a bound, or
  // closed loop with a plain duration.
  std::optional<Duration> planned_end() const {
    const Duration duration_end = spec_.duration.count() > 0 ? spec_.warmup + spec_.duration : Duration{};
    if (spec_.rate <= 0)
      return spec_.duration.count() > 0 && spec_.min_requests == 0 ? std::optional(duration_end) : std::nullopt;
    if (spec_.duration.count() == 0 && spec_.requests == 0) return std::nullopt;
    PoissonSchedule copy(spec_.rate, spec_.seed);  // the same points the workers will claim
    Duration last{};
    for (int64_t measured = 0;;) {
      const Duration at = copy.next();
      const bool is_measured = at >= spec_.warmup;
      if (past_end(at, is_measured, measured)) break;
      if (is_measured) ++measured, last = at;
    }
    return std::max(last, duration_end);
  }

  // The next request, or nothing when the load is over. Open loop: at the
  // next scheduled time; closed loop: at `now`.
  std::optional<Claim> claim(std::optional<Duration> now) {
    std::lock_guard lock(claim_mutex_);
    if (stopping_ || expired_) return std::nullopt;
    return take(now);
  }

  // Called with claim_mutex_ held (or after the workers are gone).
  std::optional<Claim> take(std::optional<Duration> now) {
    if (exhausted_) return std::nullopt;
    const Duration at = now ? *now : schedule_.next();
    const bool measured = at >= spec_.warmup;
    if (past_end(at, measured, measured_claims_)) {
      exhausted_ = true;
      return std::nullopt;
    }
    if (measured) {
      begin_measuring();  // before this request's record: `ready` precedes every latency event
      ++measured_claims_;
      last_measured_at_ = std::max(last_measured_at_, at);
    }
    return Claim{at, measured, claims_++};
  }

  // The drain is over: no more sends; requests in flight become timeouts.
  void expire() {
    {
      std::lock_guard lock(claim_mutex_);
      expired_ = true;
    }
    wake_.notify_all();
  }

  bool expired_now() {
    std::lock_guard lock(claim_mutex_);
    return expired_;
  }

  // After an expired drain, the schedule's measured points no worker got to
  // send: timeouts of this load, at the drain's deadline (`deadline`, from
  // the start). Returns how many.
  int64_t count_unsent(Duration deadline) {
    int64_t n = 0;
    while (auto c = take(std::nullopt)) {
      if (!c->measured) continue;
      Record rec;
      rec.scheduled = c->at;
      rec.latency = deadline - c->at;
      rec.outcome = Outcome::timeout;
      rec.late = true;
      rec.message = "never sent: every connection was busy until the drain ended";
      if (hooks_.on_record) hooks_.on_record(rec);
      released_.push_back(std::move(rec));
      ++n;
    }
    return n;
  }

  // Called with claim_mutex_ held.
  void begin_measuring() {
    if (measuring_) return;
    measuring_ = true;
    if (hooks_.on_measuring) hooks_.on_measuring();
  }

  void stop(Clock::time_point now) {
    {
      std::lock_guard lock(held_mutex_);
      stop_time_ = now;
    }
    {
      std::lock_guard lock(claim_mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
  }

  // Sleeps until `t`; false when the load was stopped meanwhile.
  bool sleep_until(Clock::time_point t) {
    std::unique_lock lock(claim_mutex_);
    return !wake_.wait_until(lock, t, [this] { return stopping_ || expired_; });
  }

  // Opens the worker's keep-alive connection (a GET of the health endpoint),
  // then waits for the start. False when the load was stopped meanwhile.
  bool connect(size_t worker) {
    connecting_.acquire();
    clients_[worker]->Get(spec_.endpoint.prefix + ready_path(spec_.api));
    connecting_.release();
    std::unique_lock lock(claim_mutex_);
    if (++connected_ == clients_.size()) wake_.notify_all();
    wake_.wait(lock, [this] { return started_; });
    return !stopping_;
  }

  // A completion's body, made before its send time (KServe: one shared request).
  std::string body(const Claim& c) const {
    return spec_.api == Api::openai ? spec_.completions->make(c.n).body : std::string();
  }

  void open_loop(size_t worker) {
    while (auto c = claim(std::nullopt)) {
      std::string b = body(*c);
      const auto due = start_ + c->at;
      const bool late = Clock::now() - due > kLateAfter;
      if (!late && !sleep_until(due)) return;
      send(worker, *c, due, late, std::move(b));
    }
  }

  void closed_loop(size_t worker) {
    while (auto c = claim(Clock::now() - start_)) {
      send(worker, *c, start_ + c->at, false, body(*c));
      if (spec_.think_time.count() > 0 && !sleep_until(Clock::now() + spec_.think_time)) return;
    }
  }

  void send(size_t worker, const Claim& c, Clock::time_point due, bool late, std::string body) {
    if (spec_.api == Api::openai) return send_completion(worker, c, due, late, std::move(body));
    const auto& req = *spec_.request;
    const auto sent = Clock::now();
    auto res = clients_[worker]->Post(path_, headers_, req.body.data(), req.body.size(), req.content_type);
    const auto end = Clock::now();
    if (!c.measured) return;

    Record rec;
    rec.scheduled = c.at;
    rec.latency = end - due;
    rec.late = late;
    const bool too_slow = end - sent >= spec_.timeout - spec_.timeout / 20;
    bool connection_failure = false;
    if (!res) {
      const bool cut = expired_now();  // by the end of the drain
      rec.outcome = too_slow || cut ? Outcome::timeout : Outcome::error;
      rec.message = cut ? "still outstanding when the drain ended" : httplib::to_string(res.error());
      connection_failure = !too_slow && !cut;
    } else if (res->status != 200) {
      rec.outcome = Outcome::error;
      rec.status = res->status;
      rec.message = kserve::error_message(res->body);
    } else if (end - sent > spec_.timeout) {
      rec.outcome = Outcome::timeout;
      rec.status = res->status;
    } else if (auto problem = kserve::check_infer_response(res->body, header_length(*res))) {
      rec.outcome = Outcome::error;
      rec.status = res->status;
      rec.message = *problem;
    }
    keep(worker, std::move(rec), connection_failure, end);
  }

  // A streamed completion: the server-sent events read as they arrive, each
  // chunk carrying tokens timestamped on arrival (docs/loadgen.md, "LLM
  // serving"). The stream's time limit is `timeout` for the whole response.
  void send_completion(size_t worker, const Claim& c, Clock::time_point due, bool late, std::string body) {
    httplib::Request req;
    req.method = "POST";
    req.path = path_;
    req.headers = {{"Accept", "text/event-stream"}};
    req.set_header("Content-Type", "application/json");
    req.body = std::move(body);
    int status = 0;
    std::string error_body;
    openai::StreamReader reader;
    bool too_long = false;
    const auto sent = Clock::now();
    req.response_handler = [&](const httplib::Response& r) {
      status = r.status;
      return true;
    };
    req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
      const auto now = Clock::now();
      if (status != 200) {
        if (error_body.size() < 4096) error_body.append(data, std::min<size_t>(n, 4096 - error_body.size()));
        return true;
      }
      if (!reader.feed(std::string_view(data, n), now)) return false;
      too_long = now - sent > spec_.timeout;
      return !too_long;
    };
    httplib::Response res;
    httplib::Error error = httplib::Error::Success;
    const bool ok = clients_[worker]->send(req, res, error);
    const auto end = Clock::now();
    // A stream cut short (the receiver said stop) fails the send, and
    // cpp-httplib closes a connection whose request failed: the next send
    // opens a new one, never reading this one's rest.
    if (!c.measured) return;

    Record rec;
    rec.scheduled = c.at;
    rec.latency = end - due;
    rec.late = late;
    rec.status = status;
    bool connection_failure = false;
    if (status == 200 && reader.error()) {
      rec.outcome = Outcome::error;
      rec.message = *reader.error();
    } else if (!ok || too_long) {
      const bool cut = expired_now();
      const bool too_slow = too_long || end - sent >= spec_.timeout - spec_.timeout / 20;
      rec.outcome = too_slow || cut ? Outcome::timeout : Outcome::error;
      rec.message = cut ? "still outstanding when the drain ended" : httplib::to_string(error);
      rec.status = 0;
      connection_failure = !too_slow && !cut;
    } else if (status != 200) {
      rec.outcome = Outcome::error;
      rec.message = openai::error_message(error_body);
    } else if (reader.finish(); reader.error()) {
      rec.outcome = Outcome::error;
      rec.message = *reader.error();
    } else {
      rec.ttft = *reader.first() - due;
      rec.output_tokens = reader.tokens();
      if (rec.output_tokens > 1) rec.tpot = (*reader.last() - *reader.first()) / (rec.output_tokens - 1);
      rec.itl = reader.gaps();
    }
    keep(worker, std::move(rec), connection_failure, end);
  }

  // A measured request's record: kept, held (a connection failure, which a
  // stop may yet explain) or discarded (a failure after the stop).
  void keep(size_t worker, Record rec, bool connection_failure, Clock::time_point end) {
    if (rec.outcome != Outcome::ok) {
      std::lock_guard lock(held_mutex_);
      if (stopping_now()) {
        ++discarded_;
        return;
      }
      if (connection_failure) {  // released (or discarded) by the main thread
        held_.push_back({end, std::move(rec)});
        return;
      }
    }
    if (hooks_.on_record) hooks_.on_record(rec);
    kept_[worker].push_back(std::move(rec));
  }

  bool stopping_now() {
    std::lock_guard lock(claim_mutex_);
    return stopping_;
  }

  // Connection failures older than kStopBlame are real errors when no stop
  // came; at a stop, those younger than kStopBlame then are the stop's. At the
  // natural end of the load (`all`), every one is real.
  void release_held(Clock::time_point now, bool all = false) {
    std::lock_guard lock(held_mutex_);
    const bool stopping = stopping_now();
    while (!held_.empty()) {
      auto& [at, rec] = held_.front();
      if (stopping && at + kStopBlame > stop_time_) {
        ++discarded_;
      } else if (stopping || all || at + kStopBlame <= now) {
        if (hooks_.on_record) hooks_.on_record(rec);
        released_.push_back(std::move(rec));
      } else {
        break;
      }
      held_.pop_front();
    }
  }

  const LoadSpec& spec_;
  const LoadHooks& hooks_;
  std::string path_;
  httplib::Headers headers_;
  std::vector<std::unique_ptr<httplib::Client>> clients_;
  std::vector<std::vector<Record>> kept_;  // per worker: no lock on the hot path
  Clock::time_point start_;
  std::atomic<int> live_{0};

  std::mutex claim_mutex_;
  std::condition_variable wake_;
  PoissonSchedule schedule_;
  bool stopping_ = false;  // stopped by stop_fd
  bool expired_ = false;   // the drain after the schedule's end is over
  bool exhausted_ = false;
  bool measuring_ = false;
  size_t connected_ = 0;
  std::counting_semaphore<> connecting_{4};  // connections being opened at once
  bool started_ = false;
  int64_t measured_claims_ = 0;
  uint64_t claims_ = 0;
  Duration last_measured_at_{};
  std::optional<Duration> planned_end_;

  std::mutex held_mutex_;
  std::deque<std::pair<Clock::time_point, Record>> held_;
  std::vector<Record> released_;
  int64_t discarded_ = 0;
  Clock::time_point stop_time_{};
};

}  // namespace

const char* ready_path(Api api) { return api == Api::openai ? "/v1/models" : "/v2/health/ready"; }

LoadResult run_load(const LoadSpec& spec, int stop_fd, const LoadHooks& hooks) {
  if ((spec.rate > 0) == (spec.concurrency > 0))
    throw InputError("give either a rate (open loop) or a concurrency (closed loop)");
  if (spec.rate > 0 && spec.connections < 1) throw InputError("--connections must be at least 1");
  if (spec.api == Api::kserve ? !spec.request : !spec.completions) throw InputError("no request to send");
  Load load(spec, hooks);
  return load.run(stop_fd);
}

}  // namespace gpumix::loadgen
