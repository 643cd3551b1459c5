// A small KServe v2 server for the load generator's tests, on loopback in the
// test's own process: it checks each request as the protocol says, and
// answers after a delay (or with a status, or not at all) chosen by the test
// per request from its sequence number, so that the latency distribution the
// load generator must measure is known.
#pragma once

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace gpumix::testing {

struct Reply {
  int status = 200;
  std::chrono::microseconds delay{0};
  bool stall = false;  // never answer (until the server closes)
};

// A server of `workers` that each take `service` per request, first come
// first served: the reply's delay is the request's wait in the queue plus its
// service. Capacity is workers / service; a request its client gave up on
// still takes its turn, as in a real server's queue.
inline std::function<Reply(uint64_t)> fifo_workers(int workers, std::chrono::microseconds service) {
  struct Queue {
    std::mutex m;
    std::vector<std::chrono::steady_clock::time_point> free_at;
  };
  auto q = std::make_shared<Queue>();
  q->free_at.assign(static_cast<size_t>(workers), std::chrono::steady_clock::time_point{});
  return [q, service](uint64_t) {
    std::lock_guard lock(q->m);
    const auto now = std::chrono::steady_clock::now();
    auto next = std::min_element(q->free_at.begin(), q->free_at.end());
    *next = std::max(*next, now) + service;
    return Reply{200, std::chrono::duration_cast<std::chrono::microseconds>(*next - now), false};
  };
}

class KServeTestServer {
 public:
  // `reply(n)`: what to do with the n-th inference request (from 0). Model
  // "m" takes UINT8 `shape` (batch 1).
  explicit KServeTestServer(std::function<Reply(uint64_t)> reply, int threads = 300,
                            std::vector<int64_t> shape = {1, 3, 8, 8})
      : reply_(std::move(reply)), shape_(std::move(shape)) {
    bytes_ = 1;
    for (auto d : shape_) bytes_ *= d;
    auto dims = nlohmann::json(shape_);
    dims[0] = -1;
    // One thread per keep-alive connection: the pool must hold every
    // connection the load generator opens.
    server_.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
    server_.set_keep_alive_max_count(1000000);
    server_.set_tcp_nodelay(true);  // else Nagle and delayed ACKs add 40 ms to a response
    server_.set_keep_alive_timeout(30);
    server_.Get("/v2/health/ready", [](const httplib::Request&, httplib::Response& res) { res.status = 200; });
    const std::string metadata = R"({"name":"m","platform":"test","inputs":[{"name":"in","datatype":"UINT8","shape":)" +
                                 dims.dump() + R"(}],"outputs":[{"name":"out","datatype":"FP32","shape":[-1,10]}]})";
    server_.Get("/v2/models/m", [metadata](const httplib::Request&, httplib::Response& res) {
      res.set_content(metadata, "application/json");
    });
    server_.Post("/v2/models/m/infer", [this](const httplib::Request& req, httplib::Response& res) { infer(req, res); });
    port_ = server_.bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("test server: cannot bind");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~KServeTestServer() { stop(); }

  // Stops listening and closes every connection once its request is done;
  // stalled requests are released.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      closing_ = true;
    }
    wake_.notify_all();
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  uint64_t requests() const { return count_; }
  int max_in_flight() const { return max_in_flight_; }
  int64_t bad_requests() const { return bad_; }  // requests that broke the protocol

 private:
  void infer(const httplib::Request& req, httplib::Response& res) {
    const uint64_t n = count_++;
    const int now = ++in_flight_;
    for (int m = max_in_flight_; now > m && !max_in_flight_.compare_exchange_weak(m, now);) {
    }
    if (auto problem = check(req)) {
      ++bad_;
      res.status = 400;
      res.set_content(nlohmann::json{{"error", *problem}}.dump(), "application/json");
      --in_flight_;
      return;
    }
    const Reply r = reply_(n);
    {
      std::unique_lock lock(mutex_);
      if (r.stall) wake_.wait(lock, [this] { return closing_; });
      else wake_.wait_for(lock, r.delay, [this] { return closing_; });
    }
    if (r.status != 200) {
      res.status = r.status;
      res.set_content(R"({"error":"test server says )" + std::to_string(r.status) + R"("})", "application/json");
    } else {
      // Binary output: JSON header, then 10 floats.
      const std::string header =
          R"({"model_name":"m","outputs":[{"name":"out","datatype":"FP32","shape":[1,10],"parameters":{"binary_data_size":40}}]})";
      res.set_header("Inference-Header-Content-Length", std::to_string(header.size()));
      res.set_content(header + std::string(40, '\0'), "application/octet-stream");
    }
    --in_flight_;
  }

  // The request as the binary tensor extension (or plain JSON) wants it.
  std::optional<std::string> check(const httplib::Request& req) const {
    size_t json_length = req.body.size();
    if (req.has_header("Inference-Header-Content-Length"))
      json_length = std::stoul(req.get_header_value("Inference-Header-Content-Length"));
    if (json_length > req.body.size()) return "header length past the body";
    auto j = nlohmann::json::parse(req.body.substr(0, json_length), nullptr, false);
    if (j.is_discarded()) return "JSON header does not parse";
    const auto& in = j["inputs"][0];
    if (in["name"] != "in" || in["datatype"] != "UINT8" || in["shape"] != nlohmann::json(shape_))
      return "wrong input " + in.dump().substr(0, 200);
    if (in.contains("data"))
      return in["data"].size() == static_cast<size_t>(bytes_) ? std::nullopt : std::optional<std::string>("data size");
    if (in["parameters"]["binary_data_size"] != bytes_ || req.body.size() != json_length + static_cast<size_t>(bytes_))
      return "binary size";
    return std::nullopt;
  }

  std::function<Reply(uint64_t)> reply_;
  std::vector<int64_t> shape_;
  int64_t bytes_ = 0;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<uint64_t> count_{0};
  std::atomic<int> in_flight_{0}, max_in_flight_{0};
  std::atomic<int64_t> bad_{0};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool closing_ = false;
};

}  // namespace gpumix::testing
