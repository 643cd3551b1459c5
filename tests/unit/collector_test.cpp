#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "gpumix/run/collector.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix::run {
namespace {

TEST(CollectorParse, IterWithSamplesAndTime) {
  auto e = parse_event_line(R"({"ev":"iter","n":64,"ms":12.5,"loss":2.1})");
  EXPECT_EQ(e.ev, "iter");
  EXPECT_EQ(e.n, 64);
  EXPECT_DOUBLE_EQ(*e.ms, 12.5);
  EXPECT_EQ(e.data, R"({"ev":"iter","n":64,"ms":12.5,"loss":2.1})");
}

TEST(CollectorParse, LatencyNeedsNonNegativeMs) {
  EXPECT_EQ(parse_event_line(R"({"ev":"latency","ms":3.2})").ev, "latency");
  EXPECT_EQ(parse_event_line(R"({"ev":"latency"})").ev, "malformed");
  EXPECT_EQ(parse_event_line(R"({"ev":"latency","ms":-1})").ev, "malformed");
  EXPECT_EQ(parse_event_line(R"({"ev":"latency","ms":"3"})").ev, "malformed");
}

// A streamed completion's tokens (docs/metrics-protocol.md) are optional: one
// of the wrong type or negative is left out, the event stays a latency.
TEST(CollectorParse, LatencyCarriesTokensWhenWellTyped) {
  auto e = parse_event_line(R"({"ev":"latency","ms":130,"ttft_ms":12.5,"tpot_ms":2,"output_tokens":60})");
  EXPECT_EQ(e.ev, "latency");
  EXPECT_EQ(e.ttft_ms, 12.5);
  EXPECT_EQ(e.tpot_ms, 2.0);
  EXPECT_EQ(e.output_tokens, int64_t{60});
  e = parse_event_line(R"({"ev":"latency","ms":5,"ttft_ms":"fast","tpot_ms":-1,"output_tokens":1.5})");
  EXPECT_EQ(e.ev, "latency");
  EXPECT_FALSE(e.ttft_ms);
  EXPECT_FALSE(e.tpot_ms);
  EXPECT_FALSE(e.output_tokens);
  EXPECT_FALSE(parse_event_line(R"({"ev":"info","ttft_ms":3})").ttft_ms) << "only latency events carry tokens";
}

TEST(CollectorParse, IterNeedsIntegerSamples) {
  EXPECT_EQ(parse_event_line(R"({"ev":"iter","n":"eight"})").ev, "malformed");
  EXPECT_EQ(parse_event_line(R"({"ev":"iter","n":1.5})").ev, "malformed");
  EXPECT_EQ(parse_event_line(R"({"ev":"iter","n":-2})").ev, "malformed");
  EXPECT_EQ(parse_event_line(R"({"ev":"iter"})").ev, "malformed");
}

TEST(CollectorParse, NotAnEventIsMalformedButKept) {
  for (const char* line : {"not json", "[1,2]", R"({"n":3})", R"({"ev":5})", "{"}) {
    auto e = parse_event_line(line);
    EXPECT_EQ(e.ev, "malformed") << line;
    EXPECT_EQ(e.data, line);
  }
}

TEST(CollectorParse, UnknownEventKindsAreKept) {
  EXPECT_EQ(parse_event_line(R"({"ev":"checkpoint","step":3})").ev, "checkpoint");
  EXPECT_EQ(parse_event_line(R"({"ev":"ready"})").ev, "ready");
}

class CollectorPipe : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("gpumix-collector-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    store_.emplace(store::Store::open(dir_));
    store::RunRow run;
    run.mix_name = "m";
    run.started_ns = 1;
    run_id_ = store_->begin_run(run);
    store::CellRow cell;
    cell.run_id = run_id_;
    cell.label = "c";
    cell.mode = "timeslice";
    cell_id_ = store_->begin_cell(cell);
    store::WorkloadRow w;
    w.cell_id = cell_id_;
    w.name = "w";
    w.slo_json = "[]";
    wid_ = store_->add_workload(w);
    ASSERT_EQ(::pipe(fds_), 0);
  }
  void TearDown() override {
    if (fds_[1] >= 0) ::close(fds_[1]);
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void write_str(const std::string& s) { ASSERT_EQ(::write(fds_[1], s.data(), s.size()), static_cast<ssize_t>(s.size())); }

  std::filesystem::path dir_;
  std::optional<store::Store> store_;
  int64_t run_id_ = 0, cell_id_ = 0, wid_ = 0;
  int fds_[2] = {-1, -1};
};

TEST_F(CollectorPipe, SplitLinesAreJoinedAndStoredAsTheyArrive) {
  Collector c(*store_);
  c.add(wid_, fds_[0]);
  write_str(R"({"ev":"ready"})" "\n" R"({"ev":"iter",)");
  auto first = c.on_readable(fds_[0]);
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].ev, "ready");
  // Committed already: visible in the database before the channel ends.
  EXPECT_EQ(store_->workload_events(wid_).size(), 1u);

  write_str(R"("n":4})" "\n");
  auto second = c.on_readable(fds_[0]);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].ev, "iter");
  EXPECT_EQ(second[0].n, 4);
  EXPECT_GT(second[0].t_ns, 0);
}

TEST_F(CollectorPipe, LastLineWithoutNewlineCountsAtEndOfFile) {
  Collector c(*store_);
  c.add(wid_, fds_[0]);
  write_str(R"({"ev":"done"})");
  ::close(fds_[1]);
  fds_[1] = -1;
  auto events = c.finish(wid_);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].ev, "done");
  EXPECT_TRUE(c.pollfds().empty());
}

TEST_F(CollectorPipe, OverlongLinesAreTruncatedNotUnbounded) {
  Collector c(*store_);
  c.add(wid_, fds_[0]);
  std::string huge(kMaxLineBytes * 2, 'x');
  std::thread writer([&] {
    write_str(huge + "\n" + R"({"ev":"ready"})" "\n");
  });
  std::vector<Event> got;
  while (got.size() < 2) {
    auto more = c.on_readable(fds_[0]);
    got.insert(got.end(), more.begin(), more.end());
  }
  writer.join();
  EXPECT_EQ(got[0].ev, "malformed");
  // Its first kMaxLineBytes, marked as cut.
  EXPECT_EQ(got[0].data, std::string(kMaxLineBytes, 'x') + std::string(kCutMark));
  EXPECT_EQ(got[1].ev, "ready");
}

TEST(LineSplitter, HoldsAtMostTheBoundWhateverTheLineLength) {
  LineSplitter lines;
  std::vector<std::pair<std::string, bool>> got;
  auto keep = [&](std::string_view line, bool cut) { got.emplace_back(std::string(line), cut); };
  const std::string chunk(1 << 20, 'y');
  for (int i = 0; i < 8; ++i) lines.feed(chunk, keep);  // 8 MiB, no newline yet
  lines.feed("tail\nshort\n\nlast", keep);
  lines.finish(keep);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].first, std::string(kMaxLineBytes, 'y'));
  EXPECT_TRUE(got[0].second);
  EXPECT_EQ(got[1], std::make_pair(std::string("short"), false));
  EXPECT_EQ(got[2], std::make_pair(std::string("last"), false));
}

// A 1 MiB pipe (fs.pipe-max-size's default) filled at once with 2-byte lines.
class CollectorFlood : public CollectorPipe {
 protected:
  size_t fill_pipe() {
    const int size = ::fcntl(fds_[1], F_SETPIPE_SZ, 1 << 20);
    EXPECT_GE(size, 1 << 20) << "cannot enlarge the pipe";
    std::string lines;
    for (int i = 0; i < size / 2; ++i) lines += "1\n";
    write_str(lines);
    return lines.size() / 2;
  }
};

TEST_F(CollectorFlood, OneWakeUpReadsABoundedAmount) {
  fill_pipe();
  Collector c(*store_);
  c.add(wid_, fds_[0]);
  // The runner gets its loop back after kReadPerWakeup bytes, not after the pipe is empty.
  EXPECT_EQ(c.on_readable(fds_[0]).size(), kReadPerWakeup / 2);
}

TEST_F(CollectorFlood, EventsBeyondTheRateAreCountedAndStoredAsDropped) {
  const size_t written = fill_pipe();
  ::close(fds_[1]);
  fds_[1] = -1;
  const int64_t limit = 20'000;
  const auto start = std::chrono::steady_clock::now();
  Collector c(*store_, limit);
  c.add(wid_, fds_[0]);
  while (!c.pollfds().empty()) c.on_readable(fds_[0]);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  int64_t stored = 0, dropped_reported = 0;
  for (const auto& e : store_->workload_events(wid_)) {
    if (e.ev != "dropped") {
      ++stored;
      continue;
    }
    ASSERT_TRUE(e.n.has_value());
    dropped_reported += *e.n;
    EXPECT_NE(e.data.find("events dropped: more than 20000 events/s"), std::string::npos) << e.data;
  }
  // Every line is either stored or counted, and every count is stored.
  EXPECT_EQ(stored + c.dropped(wid_), static_cast<int64_t>(written));
  EXPECT_EQ(dropped_reported, c.dropped(wid_));
  // At most `limit` per started second: 524,288 lines take far longer than
  // that at 20,000 a second, so most are dropped however slow the machine.
  EXPECT_LE(stored, limit * (static_cast<int64_t>(seconds) + 1));
  EXPECT_GT(c.dropped(wid_), 0);
}

TEST(CollectorLimit, ComesFromTheEnvironmentAndBadValuesAreNamed) {
  ::unsetenv("GPUMIX_MAX_EVENTS_PER_SECOND");
  EXPECT_EQ(events_per_second_limit(), kDefaultMaxEventsPerSecond);
  ::setenv("GPUMIX_MAX_EVENTS_PER_SECOND", "1500", 1);
  EXPECT_EQ(events_per_second_limit(), 1500);
  for (const char* bad : {"0", "-3", "12k", "1e9"}) {
    ::setenv("GPUMIX_MAX_EVENTS_PER_SECOND", bad, 1);
    try {
      events_per_second_limit();
      ADD_FAILURE() << bad << " was accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("GPUMIX_MAX_EVENTS_PER_SECOND: '"), std::string::npos) << e.what();
    }
  }
  ::unsetenv("GPUMIX_MAX_EVENTS_PER_SECOND");
}

}  // namespace
}  // namespace gpumix::run
