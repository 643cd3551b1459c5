// The guarded HTTP server both gpumix servers use, on loopback with real
// sockets: header and body limits (also after gzip), head deadlines and
// slowloris, the connection cap, load shedding with a priority lane,
// pipelined keep-alive requests, and the in-memory path the fuzz target uses.
#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fixtures/raw_tcp.hpp"
#include "gpumix/guarded_http.hpp"

namespace gpumix::http {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::RawConnection;
using test::rss_kb;

// A GuardedServer on a free loopback port, serving on its own thread.
struct Running {
  GuardedServer server;
  std::thread thread;
  int port = 0;
  std::atomic<int> handled{0};

  explicit Running(GuardLimits limits) : server(limits) {
    server.Get("/health", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok", "text/plain"); });
    // A route matched by a regex that recurses per character, as the infer server's model routes are.
    server.Get("/models/([^/]+)", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(std::to_string(req.matches[1].length()), "text/plain");
    });
    server.Get("/slow", [this](const httplib::Request&, httplib::Response& res) {
      ++handled;
      std::this_thread::sleep_for(300ms);
      res.set_content("slow", "text/plain");
    });
    server.Post("/echo", [this](const httplib::Request& req, httplib::Response& res) {
      ++handled;
      res.set_content(std::to_string(req.body.size()) + ":" + req.body.substr(0, 32), "text/plain");
    });
    server.set_priority([](std::string_view method, std::string_view target) {
      return method == "GET" && target == "/health";
    });
    port = server.bind_to_any_port("127.0.0.1");
    if (port <= 0) throw std::runtime_error("no free port");
    thread = std::thread([this] { server.listen_after_bind(); });
    while (!server.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~Running() {
    server.stop();
    thread.join();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(20, 0);
    c.set_connection_timeout(20, 0);
    return c;
  }
  bool healthy() const {
    auto r = client().Get("/health");
    return r && r->status == 200 && r->body == "ok";
  }
};

int status_of(const std::string& response) {
  return response.rfind("HTTP/1.1 ", 0) == 0 ? std::stoi(response.substr(9, 3)) : -1;
}

// A path of 40,000 characters overflowed the stack inside std::regex (the
// routing's), killing the server: the request line is bounded first (issue 15).
TEST(GuardedHttp, ALongRequestLineGets414AndTheServerStaysUp) {
  Running s({});
  {
    RawConnection raw(s.port);
    ASSERT_TRUE(raw.send("GET /models/" + std::string(40000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    const auto answer = raw.read_all(10s);
    EXPECT_EQ(status_of(answer), 414) << answer.substr(0, 200);
    EXPECT_NE(answer.find("request line longer than 8192 bytes"), std::string::npos) << answer.substr(0, 200);
  }
  // Within the bound the route still matches, and the server is up.
  auto r = s.client().Get(("/models/" + std::string(8000, 'a')).c_str());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "8000");
  EXPECT_TRUE(s.healthy());
}

TEST(GuardedHttp, TooManyHeadersGet431AndTheServerStaysUp) {
  Running s({});
  std::string head = "GET /health HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 150; ++i) head += "X-" + std::to_string(i) + ": y\r\n";
  RawConnection raw(s.port);
  ASSERT_TRUE(raw.send(head + "\r\n"));
  const auto answer = raw.read_all(10s);
  EXPECT_EQ(status_of(answer), 431) << answer;
  EXPECT_NE(answer.find("more than 100 header lines"), std::string::npos) << answer;
  EXPECT_EQ(s.server.stats().rejected, 1);
  EXPECT_TRUE(s.healthy());

  // 100 headers are fine.
  head = "GET /health HTTP/1.1\r\n";
  for (int i = 0; i < 99; ++i) head += "X-" + std::to_string(i) + ": y\r\n";
  RawConnection ok(s.port);
  ASSERT_TRUE(ok.send(head + "Connection: close\r\n\r\n"));
  EXPECT_EQ(status_of(ok.read_all(10s)), 200);
}

TEST(GuardedHttp, ALargeHeadGets431WithoutBeingHeldWhole) {
  Running s({});
  RawConnection raw(s.port);
  const std::string head = "GET /health HTTP/1.1\r\nX-Big: " + std::string(1 << 20, 'a') + "\r\n\r\n";
  raw.send(head);  // the server may close before taking it all
  const auto answer = raw.read_all(10s);
  EXPECT_EQ(status_of(answer), 431) << answer.substr(0, 200);
  EXPECT_NE(answer.find("larger than 65536 bytes"), std::string::npos);
  EXPECT_TRUE(s.healthy());
}

TEST(GuardedHttp, AHeadNotFinishedInTimeGets408AndTheConnectionIsClosed) {
  GuardLimits limits;
  limits.head_timeout = 1s;
  Running s(limits);
  RawConnection raw(s.port);
  ASSERT_TRUE(raw.send("GET /health HTTP/1.1\r\nX-Slow: "));
  const auto start = Clock::now();
  bool closed = false;
  std::string answer;
  // A slowloris keeps sending, one byte at a time; the deadline is for the whole head.
  while (!closed && Clock::now() - start < 15s) {
    raw.send("a");
    answer += raw.read_all(200ms, &closed);
  }
  EXPECT_TRUE(closed) << "still open after 15 s";
  EXPECT_EQ(status_of(answer), 408) << answer;
  // Generous: the deadline is 1 s, the sweep runs every 100 ms; a loaded CI machine adds seconds.
  EXPECT_LT(Clock::now() - start, 10s);
}

TEST(GuardedHttp, HealthAnswersWithinSecondsDuring200SlowlorisConnections) {
  Running s({});
  std::vector<std::unique_ptr<RawConnection>> slow;
  for (int i = 0; i < 200; ++i) {
    slow.push_back(std::make_unique<RawConnection>(s.port));
    slow.back()->drip("GET /health HTTP/1.1\r\nX-a: ");
  }
  std::this_thread::sleep_for(200ms);
  for (int round = 0; round < 5; ++round) {
    for (auto& r : slow) r->drip("b");
    const auto start = Clock::now();
    EXPECT_TRUE(s.healthy());
    // Generous for a loaded 2-core machine: a thread-per-connection server never answers here.
    EXPECT_LT(Clock::now() - start, 5s);
  }
  EXPECT_GE(s.server.stats().open_connections, 200);
}

TEST(GuardedHttp, AtTheConnectionCapTheLongestWaitingConnectionMakesRoom) {
  GuardLimits limits;
  limits.max_connections = 50;
  Running s(limits);
  std::vector<std::unique_ptr<RawConnection>> slow;
  for (int i = 0; i < 80; ++i) {
    slow.push_back(std::make_unique<RawConnection>(s.port));
    slow.back()->drip("GET /health HTTP/1.1\r\n");
  }
  EXPECT_TRUE(s.healthy());
  std::this_thread::sleep_for(200ms);
  const auto stats = s.server.stats();
  EXPECT_LE(stats.open_connections, 50);
  EXPECT_GE(stats.evicted, 30) << "open " << stats.open_connections;
  // The server closed the evicted ones (among the oldest: those that arrived together are equals).
  int closed = 0;
  for (auto& r : slow) {
    bool gone = false;
    r->read_all(10ms, &gone);
    closed += gone;
  }
  EXPECT_GE(closed, 30);
}

std::string gzip_of_zeros(size_t total, size_t* compressed_size) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out;
  const std::string zeros(1 << 20, '\0');
  std::vector<char> buf(1 << 16);
  for (size_t done = 0; done < total;) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(zeros.data()));
    z.avail_in = static_cast<uInt>(std::min(zeros.size(), total - done));
    done += z.avail_in;
    const int flush = done < total ? Z_NO_FLUSH : Z_FINISH;
    do {
      z.next_out = reinterpret_cast<Bytef*>(buf.data());
      z.avail_out = static_cast<uInt>(buf.size());
      deflate(&z, flush);
      out.append(buf.data(), buf.size() - z.avail_out);
    } while (z.avail_out == 0);
  }
  deflateEnd(&z);
  *compressed_size = out.size();
  return out;
}

TEST(GuardedHttp, AGzipBombGets413AndMemoryStaysBounded) {
  GuardLimits limits;
  limits.max_body_bytes = 8 << 20;
  Running s(limits);
  size_t size = 0;
  const std::string bomb = gzip_of_zeros(size_t{256} << 20, &size);  // 256 MiB of zeros in about 250 KB
  ASSERT_LT(size, limits.max_body_bytes) << "the bomb must pass the limit on what is sent";
  const int64_t before = rss_kb();
  auto c = s.client();
  httplib::Headers headers{{"Content-Encoding", "gzip"}};
  auto r = c.Post("/echo", headers, bomb, "application/octet-stream");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->status, 413) << r->body;
  EXPECT_NE(r->body.find("once decoded"), std::string::npos) << r->body;
  EXPECT_EQ(s.handled, 0);
  // The limit is 8 MiB; unguarded, httplib held all 256 MiB.
  EXPECT_LT(rss_kb() - before, 64 * 1024);
  // The same bomb to a route without a body is not read at all.
  auto elsewhere = c.Post("/nowhere", headers, bomb, "application/octet-stream");
  ASSERT_TRUE(elsewhere);
  EXPECT_EQ(elsewhere->status, 404);
  // A small gzip body still works.
  size_t small_size = 0;
  auto small = c.Post("/echo", headers, gzip_of_zeros(1000, &small_size), "application/octet-stream");
  ASSERT_TRUE(small);
  EXPECT_EQ(small->status, 200);
  EXPECT_EQ(small->body.substr(0, 5), "1000:");
  EXPECT_TRUE(s.healthy());
}

TEST(GuardedHttp, BodiesOverTheLimitOrWithoutALengthAreRefused) {
  GuardLimits limits;
  limits.max_body_bytes = 1 << 20;
  Running s(limits);
  auto c = s.client();
  auto big = c.Post("/echo", std::string(2 << 20, 'x'), "text/plain");
  ASSERT_TRUE(big) << "the client reads the 413 (the server discards the rest of the body)";
  EXPECT_EQ(big->status, 413);
  EXPECT_NE(big->body.find("more than the 1048576 accepted"), std::string::npos) << big->body;

  RawConnection chunked(s.port);
  chunked.send("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  EXPECT_EQ(status_of(chunked.read_all(5s)), 411);

  RawConnection two(s.port);
  two.send("POST /echo HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab");
  EXPECT_EQ(status_of(two.read_all(5s)), 400);
  EXPECT_EQ(s.handled, 0);
  EXPECT_TRUE(s.healthy());
}

TEST(GuardedHttp, BodiesHeldOverAllConnectionsAreBounded) {
  GuardLimits limits;
  limits.max_body_bytes = 1 << 20;
  limits.max_buffered_bytes = 3 << 19;  // room for one and a half bodies
  Running s(limits);
  const std::string head = "POST /echo HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n";
  RawConnection first(s.port);
  ASSERT_TRUE(first.send(head + std::string(900000, 'a')));
  std::this_thread::sleep_for(300ms);  // the reception holds 900 kB of it
  RawConnection second(s.port);
  ASSERT_TRUE(second.send(head));
  const auto refused = second.read_all(5s);
  EXPECT_EQ(status_of(refused), 503) << refused;
  EXPECT_NE(refused.find("Retry-After: 1"), std::string::npos) << refused;
  ASSERT_TRUE(first.send(std::string(100000, 'a') + ""));
  EXPECT_NE(first.read_all(2s).find("1000000:aaa"), std::string::npos);
  // Answered, the first body no longer counts.
  auto c = s.client();
  auto r = c.Post("/echo", std::string(1000000, 'b'), "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(GuardedHttp, PipelinedKeepAliveRequestsAreAnsweredInOrder) {
  Running s({});
  RawConnection raw(s.port);
  ASSERT_TRUE(raw.send("GET /health HTTP/1.1\r\n\r\n"
                       "POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
                       "POST /echo HTTP/1.1\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc"
                       "GET /health HTTP/1.1\r\nConnection: close\r\n\r\n"));
  bool closed = false;
  const auto answer = raw.read_all(10s, &closed);
  EXPECT_TRUE(closed);
  const auto first = answer.find("ok"), second = answer.find("5:hello"), third = answer.find("3:abc"),
             fourth = answer.rfind("ok");
  ASSERT_NE(first, std::string::npos) << answer;
  ASSERT_NE(second, std::string::npos) << answer;
  ASSERT_NE(third, std::string::npos) << answer;
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
  EXPECT_LT(third, fourth);
  // The body arrived with the head: no 100 Continue, from httplib or from the guard.
  EXPECT_EQ(answer.find("100 Continue"), std::string::npos) << answer;

  // A keep-alive connection serves request after request.
  auto c = s.client();
  for (int i = 0; i < 20; ++i) EXPECT_EQ(c.Post("/echo", "x", "text/plain")->body, "1:x");
}

TEST(GuardedHttp, OverloadGets503WithRetryAfterWhileThePriorityLaneAnswers) {
  GuardLimits limits;
  limits.workers = 2;
  limits.max_waiting = 4;
  limits.max_wait = 500ms;
  Running s(limits);
  std::vector<int> statuses(40);
  std::vector<std::string> retry_after(40);
  std::vector<std::thread> clients;
  for (int i = 0; i < 40; ++i)
    clients.emplace_back([&, i] {
      auto r = s.client().Get("/slow");
      statuses[i] = r ? r->status : -1;
      if (r) retry_after[i] = r->get_header_value("Retry-After");
    });
  std::this_thread::sleep_for(100ms);
  int health_ok = 0;
  for (int i = 0; i < 5; ++i) {
    const auto start = Clock::now();
    health_ok += s.healthy();
    EXPECT_LT(Clock::now() - start, 3s) << "the priority worker answers health at once";
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(health_ok, 5);
  int ok = 0, shed = 0;
  for (int i = 0; i < 40; ++i) {
    if (statuses[i] == 200) ++ok;
    if (statuses[i] == 503) {
      ++shed;
      EXPECT_EQ(retry_after[i], "1");
    }
  }
  EXPECT_GT(ok, 0);
  EXPECT_GT(shed, 0);
  EXPECT_EQ(ok + shed, 40);
  EXPECT_EQ(s.server.stats().shed, shed);
  // Each slow request takes 300 ms on one of 2 workers: unshed, the last would wait 6 s.
  EXPECT_LT(s.handled, 40);
}

// RFC 9110: a known path asked with a method it is not served with is 405
// with Allow, unknown paths 404; a refused body is never read (a POST to a
// GET route used to be 404).
TEST(GuardedHttp, AKnownPathWithAnotherMethodGets405WithAllow) {
  Running s{GuardLimits{}};
  auto c = s.client();
  struct Case {
    std::string method, path, allow;
    int status;
  };
  for (const auto& k : std::vector<Case>{{"POST", "/health", "GET, HEAD", 405},
                                         {"PUT", "/echo", "POST", 405},
                                         {"GET", "/echo", "POST", 405},
                                         {"HEAD", "/echo", "POST", 405},
                                         {"DELETE", "/models/m", "GET, HEAD", 405},
                                         {"PATCH", "/nowhere", "", 404},
                                         {"GET", "/nowhere", "", 404},
                                         {"HEAD", "/health", "", 200}}) {
    httplib::Request req;
    req.method = k.method;
    req.path = k.path;
    if (k.method != "GET" && k.method != "HEAD") {
      req.body = std::string(1 << 20, 'x');  // refused unread: no handler counts it
      req.set_header("Content-Type", "text/plain");
    }
    auto r = c.send(req);
    ASSERT_TRUE(r) << k.method << " " << k.path << ": " << httplib::to_string(r.error());
    EXPECT_EQ(r->status, k.status) << k.method << " " << k.path;
    EXPECT_EQ(r->get_header_value("Allow"), k.allow) << k.method << " " << k.path;
    if (k.status == 405 && k.method != "HEAD")
      EXPECT_NE(r->body.find("method " + k.method + " is not allowed on " + k.path + " (allowed: " + k.allow + ")"),
                std::string::npos)
          << r->body;
  }
  EXPECT_EQ(s.handled, 0);
  EXPECT_TRUE(s.healthy());
}

// A body reaches a Post route as sent, whatever its Content-Type: httplib
// would parse a form's or a multipart one's for itself.
TEST(GuardedHttp, APostRouteGetsTheBodyAsSentWhateverItsContentType) {
  Running s{GuardLimits{}};
  auto c = s.client();
  const std::string body = R"({"inputs": [1, 2, 3]})";
  for (const char* type : {"application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b",
                           "text/plain"}) {
    auto r = c.Post("/echo", body, type);
    ASSERT_TRUE(r) << type;
    EXPECT_EQ(r->status, 200) << type;
    EXPECT_EQ(r->body, std::to_string(body.size()) + ":" + body.substr(0, 32)) << type;
  }
}

TEST(GuardedHttp, ServeBytesFramesRequestsAsTheSocketPathDoes) {
  GuardedServer server{GuardLimits{}};
  server.Get("/health", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok", "text/plain"); });
  server.Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(req.body, "text/plain");
  });
  auto out = server.serve_bytes("POST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /health HTTP/1.1\r\n\r\n");
  EXPECT_NE(out.find("\r\n\r\nhi"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\n\r\nok"), std::string::npos) << out;
  EXPECT_EQ(status_of(server.serve_bytes("GET /nowhere HTTP/1.1\r\n\r\n")), 404);
  EXPECT_EQ(status_of(server.serve_bytes("PUT /echo HTTP/1.1\r\nContent-Length: 1\r\n\r\nx")), 405);
  EXPECT_EQ(status_of(server.serve_bytes("POST /echo HTTP/1.1\r\nContent-Length: 9999999999\r\n\r\n")), 413);
  EXPECT_EQ(status_of(server.serve_bytes("GET /\xff\xfe HTTP/1.1\r\n\r\n")), 404);
  EXPECT_EQ(server.serve_bytes("GET /health HTTP/1.1\r\nX: y"), "") << "an unfinished head waits (for its deadline)";
}

}  // namespace
}  // namespace gpumix::http
