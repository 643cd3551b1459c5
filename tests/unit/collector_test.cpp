#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "gpumix/run/collector.hpp"

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
  EXPECT_EQ(got[0].data.size(), kMaxLineBytes);
  EXPECT_EQ(got[1].ev, "ready");
}

}  // namespace
}  // namespace gpumix::run
