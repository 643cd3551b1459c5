// Mix file parsing and validation: a corpus of malformed mixes (one problem
// each, the expected diagnostic in the file's first line), valid mixes with
// every default and every field checked, command-line overrides and the
// diagnostic format.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gpumix/spec/builtins.hpp"
#include "gpumix/spec/effective_plan.hpp"
#include "gpumix/spec/mix.hpp"
#include "gpumix/spec/parse.hpp"
#include "gpumix/spec/sharing_mode.hpp"
#include "gpumix/util/errors.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using gpumix::Duration;
using gpumix::InputError;
using gpumix::spec::Diagnostic;
using gpumix::spec::load_mix;
using gpumix::spec::Mix;
using gpumix::spec::Overrides;
using gpumix::spec::parse_mix;
using gpumix::spec::Role;
using gpumix::spec::SpecError;
using gpumix::spec::StopKind;
using gpumix::spec::EffectivePlan;
using gpumix::spec::slo_key;
using gpumix::spec::SloMetric;

namespace {

const fs::path kData = GPUMIX_TEST_DATA;
const std::string kTestload = GPUMIX_TESTLOAD;

std::vector<fs::path> yaml_files(const fs::path& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().extension() == ".yaml") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// "01-unknown-key.yaml" → "01_unknown_key": gtest names allow [A-Za-z0-9_].
std::string case_name(const fs::path& p) {
  std::string s = p.stem().string();
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

std::string dump(const std::vector<Diagnostic>& diags) {
  std::string s;
  for (const auto& d : diags)
    s += "  [" + std::to_string(d.line) + ":" + std::to_string(d.column) + "] field='" + d.field + "' message='" +
         d.message + "'\n";
  return s;
}

// A scratch folder, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "gpumix-spec-test-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    path_ = fs::canonical(pattern);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  fs::path write(const std::string& name, const std::string& text) const {
    auto p = path_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }

 private:
  fs::path path_;
};

// Parses and returns the diagnostics; fails the test when parsing succeeds.
std::vector<Diagnostic> errors_of(const std::string& text, const fs::path& file, const Overrides& ov = {}) {
  try {
    parse_mix(text, file, ov);
  } catch (const SpecError& e) {
    return e.diagnostics();
  }
  ADD_FAILURE() << "expected a SpecError for:\n" << text;
  return {};
}

const Diagnostic* find_field(const std::vector<Diagnostic>& diags, const std::string& field) {
  for (const auto& d : diags)
    if (d.field == field) return &d;
  return nullptr;
}

// ---------------------------------------------------------------------------
// The malformed corpus: tests/data/bad-mixes/NN-name.yaml, first line
//   # expect: LINE:COLUMN FIELD :: MESSAGE-SUBSTRING
// (FIELD may be left out for diagnostics without one, e.g. YAML syntax errors).

struct Expectation {
  int line = 0;
  int column = 0;
  std::string field;
  std::string message;
};

std::optional<Expectation> read_expectation(const fs::path& file) {
  std::ifstream in(file);
  std::string first;
  std::getline(in, first);
  static const std::regex re(R"(^# expect: (\d+):(\d+) (?:(\S+) )?:: (.+)$)");
  std::smatch m;
  if (!std::regex_match(first, m, re)) return std::nullopt;
  return Expectation{std::stoi(m[1]), std::stoi(m[2]), m[3], m[4]};
}

std::vector<fs::path> bad_mixes() { return yaml_files(kData / "bad-mixes"); }

class SpecBadMix : public ::testing::TestWithParam<fs::path> {};

TEST_P(SpecBadMix, ReportsFieldLineAndColumn) {
  const fs::path file = GetParam();
  auto expect = read_expectation(file);
  ASSERT_TRUE(expect) << file << ": the first line must be '# expect: LINE:COLUMN FIELD :: MESSAGE'";
  try {
    Mix mix = load_mix(file);
    FAIL() << file << " parsed without error";
  } catch (const SpecError& e) {
    const auto& diags = e.diagnostics();
    ASSERT_FALSE(diags.empty());
    const Diagnostic* match = nullptr;
    for (const auto& d : diags) {
      EXPECT_EQ(d.file, file.string()) << "every diagnostic names the mix file";
      if (d.line == expect->line && d.column == expect->column && d.field == expect->field &&
          d.message.find(expect->message) != std::string::npos)
        match = &d;
    }
    ASSERT_NE(match, nullptr) << "no diagnostic [" << expect->line << ":" << expect->column << "] field='"
                              << expect->field << "' containing '" << expect->message << "'; got:\n"
                              << dump(diags);
    // The message the user sees: "FILE:LINE:COLUMN: FIELD: MESSAGE".
    std::string prefix = file.string();
    if (expect->line > 0) prefix += ":" + std::to_string(expect->line) + ":" + std::to_string(expect->column);
    prefix += ": ";
    if (!expect->field.empty()) prefix += expect->field + ": ";
    const std::string what = e.what();
    EXPECT_NE(what.find(prefix + match->message), std::string::npos) << "what(): " << what;
    EXPECT_NE(what.find(expect->message), std::string::npos) << "what(): " << what;
  }
}

INSTANTIATE_TEST_SUITE_P(SpecFiles, SpecBadMix, ::testing::ValuesIn(bad_mixes()),
                         [](const ::testing::TestParamInfo<fs::path>& info) { return case_name(info.param); });

TEST(SpecCorpus, HasAtLeastThirtyMalformedMixes) {
  auto files = bad_mixes();
  EXPECT_GE(files.size(), 30u) << "corpus: " << (kData / "bad-mixes");
  // Every file is in the corpus format, so none is silently skipped.
  for (const auto& f : files) EXPECT_TRUE(read_expectation(f)) << f;
}

// Valid mixes in tests/data/good-mixes must parse.
class SpecGoodMix : public ::testing::TestWithParam<fs::path> {};

TEST_P(SpecGoodMix, Parses) {
  try {
    Mix mix = load_mix(GetParam());
    EXPECT_FALSE(mix.workloads.empty());
  } catch (const SpecError& e) {
    FAIL() << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(SpecFiles, SpecGoodMix, ::testing::ValuesIn(yaml_files(kData / "good-mixes")),
                         [](const ::testing::TestParamInfo<fs::path>& info) { return case_name(info.param); });

// ---------------------------------------------------------------------------
// Valid mixes: effective values.

std::string full_mix_text() {
  return R"(name: full-mix
description: every field set
modes: [timeslice, exclusive]
repeats: 3
seed: 42
cell_duration: 2m
stop_grace: 1500ms
results_dir: out/results
env:
  SHARED: from-mix
  OVERRIDDEN: from-mix
workloads:
  - name: trainer
    command: [")" + kTestload + R"(", --iterations, "10"]
    role: training
    env:
      OVERRIDDEN: from-workload
      OWN: "1"
    workdir: sub/dir
    start_delay: 500ms
    stop: {duration: 90s}
    timeout: 5m
    slo: {p99: 50ms, p50: 10ms, p99.9: 0.2s}
    gpu_memory: 8GiB
    mps: {sm_percent: 50, pinned_memory_limit: 2G, priority: 1, weight: 2.5}
    mig: {instance: 1g.10gb}
  - name: server
    command: "exit 0"
    shell: true
    role: server
    stop: completion
    gpu_memory: 512MB
  - name: client
    command: ["true", "--quiet"]
    role: interactive
    start_after: server
    stop:
      iterations: 1000
    workdir: /
    slo:
      p95: 20ms
    mps:
      weight: 1
  - name: plain
    command: [sh, -c, "sleep 1"]
)";
}

TEST(SpecValid, FullMixHasEveryEffectiveValue) {
  TempDir dir;
  fs::create_directories(dir.path() / "sub" / "dir");
  const std::string text = full_mix_text();
  const auto file = dir.write("full.yaml", text);

  Mix mix;
  try {
    mix = load_mix(file);
  } catch (const SpecError& e) {
    FAIL() << e.what();
  }

  EXPECT_EQ(mix.name, "full-mix");
  EXPECT_EQ(mix.description, "every field set");
  EXPECT_EQ(mix.modes, (std::vector<std::string>{"timeslice", "exclusive"}));
  EXPECT_EQ(mix.repeats, 3);
  EXPECT_EQ(mix.seed, 42u);
  EXPECT_EQ(mix.cell_duration, Duration(120s));
  EXPECT_EQ(mix.stop_grace, Duration(1500ms));
  EXPECT_EQ(mix.results_dir, dir.path() / "out" / "results");
  EXPECT_EQ(mix.source_path, file);
  EXPECT_EQ(mix.source_text, text);
  ASSERT_EQ(mix.workloads.size(), 4u);

  const auto& t = mix.workloads[0];
  EXPECT_EQ(t.name, "trainer");
  EXPECT_EQ(t.role, Role::training);
  EXPECT_FALSE(t.builtin);
  EXPECT_FALSE(t.shell);
  EXPECT_EQ(t.argv, (std::vector<std::string>{kTestload, "--iterations", "10"}));
  EXPECT_EQ(t.env, (std::map<std::string, std::string>{
                       {"SHARED", "from-mix"}, {"OVERRIDDEN", "from-workload"}, {"OWN", "1"}}));
  EXPECT_EQ(t.workdir, dir.path() / "sub" / "dir");
  EXPECT_EQ(t.start_delay, Duration(500ms));
  EXPECT_FALSE(t.start_after);
  EXPECT_EQ(t.stop.kind, StopKind::duration);
  ASSERT_TRUE(t.stop.duration);
  EXPECT_EQ(*t.stop.duration, Duration(90s));
  ASSERT_TRUE(t.timeout);
  EXPECT_EQ(*t.timeout, Duration(300s));
  // SLOs come out in percentile order whatever the file's order.
  ASSERT_EQ(t.slos.size(), 3u);
  EXPECT_DOUBLE_EQ(t.slos[0].percentile, 50.0);
  EXPECT_EQ(t.slos[0].limit, Duration(10ms));
  EXPECT_DOUBLE_EQ(t.slos[1].percentile, 99.0);
  EXPECT_EQ(t.slos[1].limit, Duration(50ms));
  EXPECT_DOUBLE_EQ(t.slos[2].percentile, 99.9);
  EXPECT_EQ(t.slos[2].limit, Duration(200ms));
  ASSERT_TRUE(t.gpu_memory);
  EXPECT_EQ(*t.gpu_memory, int64_t{8} << 30);
  EXPECT_EQ(t.mps.sm_percent, 50);
  EXPECT_EQ(t.mps.pinned_memory_limit, int64_t{2} << 30);  // "G" alone is binary, as MPS reads it
  EXPECT_EQ(t.mps.priority, 1);
  EXPECT_EQ(t.mps.weight, 2.5);
  EXPECT_EQ(t.mig.instance, "1g.10gb");
  EXPECT_EQ(t.loc.line, 13);
  EXPECT_EQ(t.loc.column, 5);

  const auto& s = mix.workloads[1];
  EXPECT_EQ(s.name, "server");
  EXPECT_EQ(s.role, Role::server);
  EXPECT_TRUE(s.shell);
  EXPECT_EQ(s.argv, (std::vector<std::string>{"/bin/sh", "-c", "exit 0"}));
  EXPECT_EQ(s.stop.kind, StopKind::completion);
  EXPECT_FALSE(s.stop.duration);
  EXPECT_EQ(s.gpu_memory, int64_t{512000000});  // MB is decimal
  EXPECT_EQ(s.workdir, dir.path());
  EXPECT_EQ(s.env, (std::map<std::string, std::string>{{"SHARED", "from-mix"}, {"OVERRIDDEN", "from-mix"}}));
  EXPECT_FALSE(s.mps.sm_percent);
  EXPECT_FALSE(s.mps.weight);

  const auto& c = mix.workloads[2];
  EXPECT_EQ(c.role, Role::interactive);
  EXPECT_EQ(c.argv, (std::vector<std::string>{"true", "--quiet"}));
  EXPECT_EQ(c.start_after, "server");
  EXPECT_EQ(c.stop.kind, StopKind::iterations);
  EXPECT_EQ(c.stop.iterations, 1000);
  EXPECT_EQ(c.workdir, fs::path("/"));
  ASSERT_EQ(c.slos.size(), 1u);
  EXPECT_DOUBLE_EQ(c.slos[0].percentile, 95.0);
  EXPECT_EQ(c.slos[0].limit, Duration(20ms));
  EXPECT_EQ(c.mps.weight, 1.0);
  EXPECT_FALSE(c.mps.priority);
  EXPECT_FALSE(c.mig.instance);

  // A workload that sets only name and command gets every default.
  const auto& p = mix.workloads[3];
  EXPECT_EQ(p.role, Role::other);
  EXPECT_EQ(p.start_delay, Duration(0));
  EXPECT_EQ(p.stop.kind, StopKind::duration);
  EXPECT_FALSE(p.stop.duration);  // until the cell ends
  EXPECT_FALSE(p.timeout);
  EXPECT_TRUE(p.slos.empty());
  EXPECT_FALSE(p.gpu_memory);
  EXPECT_EQ(p.workdir, dir.path());

  EXPECT_EQ(mix.find("client"), &mix.workloads[2]);
  EXPECT_EQ(mix.find("nobody"), nullptr);
}

// Issue 19: objectives on a streamed completion's time to first token and
// time per output token, next to latency ones, each with its metric; they
// reach the stored plan and read back.
TEST(SpecValid, TokenSlosOnTtftAndTpot) {
  const Mix mix = parse_mix("workloads:\n  - name: llm\n    command: [run]\n"
                            "    slo: {tpot_p99: 50ms, p99: 20s, ttft_p99.9: 1s, ttft_p50: 120ms}\n",
                            "/tmp/m.yaml", [] {
                              Overrides o;
                              o.programs_elsewhere = true;
                              return o;
                            }());
  const auto& slos = mix.workloads[0].slos;
  ASSERT_EQ(slos.size(), 4u);  // latency first, then ttft, then tpot, each in percentile order
  EXPECT_EQ(slos[0].metric, SloMetric::latency);
  EXPECT_EQ(slos[0].limit, Duration(20s));
  EXPECT_EQ(slos[1].metric, SloMetric::ttft);
  EXPECT_DOUBLE_EQ(slos[1].percentile, 50);
  EXPECT_EQ(slos[2].metric, SloMetric::ttft);
  EXPECT_DOUBLE_EQ(slos[2].percentile, 99.9);
  EXPECT_EQ(slos[2].limit, Duration(1s));
  EXPECT_EQ(slos[3].metric, SloMetric::tpot);
  EXPECT_EQ(slos[3].limit, Duration(50ms));
  EXPECT_EQ(slo_key(SloMetric::ttft, 99.9), "ttft_p99.9");
  EXPECT_EQ(slo_key(SloMetric::latency, 50), "p50");
  const auto plan = EffectivePlan::from_json(EffectivePlan::of(mix, {}).to_json().dump());
  ASSERT_EQ(plan.workloads[0].slos.size(), 4u);
  EXPECT_EQ(plan.workloads[0].slos[3].metric, SloMetric::tpot);
  EXPECT_DOUBLE_EQ(plan.workloads[0].slos[3].limit_ms, 50);
  // A plan stored before token SLOs has latency ones.
  auto old = EffectivePlan::of(mix, {}).to_json();
  for (auto& slo : old["workloads"][0]["slo"]) slo.erase("metric");
  EXPECT_EQ(EffectivePlan::from_json(old.dump()).workloads[0].slos[3].metric, SloMetric::latency);
}

// Issue 15: a GPU list entry or a name of some tens of thousands of
// characters crashed validation (std::regex recursing per character). They
// are checked by scanning: a valid one passes, an invalid one is a located
// error, whatever the length.
TEST(SpecValid, VeryLongGpuEntriesAndNamesAreCheckedWithoutRunningOutOfStack) {
  const std::string uuid = "GPU-" + std::string(200000, 'a');
  const Mix mix = parse_mix("container: {image: x, gpus: [\"" + uuid + "\"]}\nworkloads:\n  - name: a\n    command: [run]\n",
                            "/tmp/m.yaml", [] {
                              Overrides o;
                              o.programs_elsewhere = true;
                              return o;
                            }());
  EXPECT_EQ(mix.workloads[0].container.gpus, std::vector<std::string>{uuid});
  auto diags = errors_of("container: {image: x, gpus: [\"" + uuid + " \"]}\nworkloads:\n  - name: a\n    command: [run]\n",
                         "/tmp/m.yaml");
  ASSERT_NE(find_field(diags, "container.gpus"), nullptr);
  diags = errors_of("workloads:\n  - name: " + std::string(200000, 'n') + "\n    command: [true]\n", "/tmp/m.yaml");
  ASSERT_NE(find_field(diags, "workloads[0].name"), nullptr);
}

// Issue 15: start_after was checked in cubic time (5,000 workloads took
// minutes). A chain of 4,000 with a cycle at its end: found, and only there.
TEST(SpecValid, StartAfterCyclesAreFoundInOnePassOverALongChain) {
  std::string text = "cell_duration: 10s\nworkloads:\n";
  const int n = 4000;
  for (int i = 0; i < n; ++i) {
    text += "  - name: w" + std::to_string(i) + "\n    command: [\"true\"]\n";
    if (i > 0) text += "    start_after: w" + std::to_string(i - 1) + "\n";
  }
  // w0 waits for the last: all of them form one cycle; a tail that leads into it does not.
  text += "  - name: tail\n    command: [\"true\"]\n    start_after: w0\n";
  text.replace(text.find("  - name: w0\n    command: [\"true\"]\n") + std::string("  - name: w0\n    command: [\"true\"]\n").size(), 0,
               "    start_after: w" + std::to_string(n - 1) + "\n");
  const auto diags = errors_of(text, "/tmp/m.yaml");
  EXPECT_EQ(diags.size(), static_cast<size_t>(n));
  EXPECT_NE(find_field(diags, "workloads[0].start_after"), nullptr);
  EXPECT_NE(find_field(diags, "workloads[3999].start_after"), nullptr);
  EXPECT_EQ(find_field(diags, "workloads[4000].start_after"), nullptr);
}

TEST(SpecValid, MinimalMixGetsTheDefaults) {
  TempDir dir;
  const auto file = dir.write("my-mix.yaml", "workloads:\n  - name: a\n    command: [\"true\"]\n");
  Mix mix = load_mix(file);
  EXPECT_EQ(mix.name, "my-mix");  // the file's stem
  EXPECT_EQ(mix.description, "");
  EXPECT_EQ(mix.modes, (std::vector<std::string>{"exclusive", "timeslice"}));
  EXPECT_EQ(mix.repeats, 1);
  EXPECT_EQ(mix.seed, 0u);
  EXPECT_EQ(mix.cell_duration, Duration(60s));
  EXPECT_EQ(mix.stop_grace, Duration(5s));
  EXPECT_EQ(mix.setup_timeout, Duration(5min));
  EXPECT_EQ(mix.results_dir, fs::current_path() / "results");
  ASSERT_EQ(mix.workloads.size(), 1u);
  EXPECT_TRUE(mix.workloads[0].env.empty());
  EXPECT_EQ(mix.workloads[0].workdir, dir.path());
}

TEST(SpecValid, PlainNumbersAreSecondsAndZeroDelayAndGraceAreAllowed) {
  TempDir dir;
  const auto file = dir.write("m.yaml",
                              "cell_duration: 90\nstop_grace: 0\nworkloads:\n  - name: a\n    command: [\"true\"]\n"
                              "    start_delay: 0\n    timeout: 2.5\n    stop: {duration: 89}\n");
  Mix mix = load_mix(file);
  EXPECT_EQ(mix.cell_duration, Duration(90s));
  EXPECT_EQ(mix.stop_grace, Duration(0));
  EXPECT_EQ(mix.workloads[0].start_delay, Duration(0));
  EXPECT_EQ(mix.workloads[0].timeout, Duration(2500ms));
  EXPECT_EQ(mix.workloads[0].stop.duration, Duration(89s));
}

TEST(SpecValid, AbsoluteResultsDirIsKept) {
  TempDir dir;
  const auto file = dir.write("m.yaml", "results_dir: /var/tmp/gpumix-results\nworkloads:\n  - name: a\n    command: [\"true\"]\n");
  EXPECT_EQ(load_mix(file).results_dir, fs::path("/var/tmp/gpumix-results"));
}

TEST(SpecValid, RelativeCommandResolvesAgainstWorkdir) {
  TempDir dir;
  const auto script = dir.write("bin/run.sh", "#!/bin/sh\nexit 0\n");
  fs::permissions(script, fs::perms::owner_all);
  const std::string body = "workloads:\n  - name: a\n    command: [./run.sh]\n    workdir: bin\n";
  Mix mix = parse_mix(body, dir.path() / "m.yaml");
  EXPECT_EQ(mix.workloads[0].argv, (std::vector<std::string>{"./run.sh"}));
  EXPECT_EQ(mix.workloads[0].workdir, dir.path() / "bin");
  // Without the workdir the same relative path is looked up in the mix's folder.
  auto diags = errors_of("workloads:\n  - name: a\n    command: [./run.sh]\n", dir.path() / "m.yaml");
  ASSERT_EQ(diags.size(), 1u) << dump(diags);
  EXPECT_EQ(diags[0].field, "workloads[0].command[0]");
  EXPECT_NE(diags[0].message.find(dir.path().string()), std::string::npos) << diags[0].message;
}

TEST(SpecValid, CommandIsLookedUpInTheWorkloadsPath) {
  TempDir dir;
  const fs::path exe(kTestload);
  const std::string name = exe.filename().string();
  // Found through the workload's own PATH (the mix-wide env is overridden).
  const std::string ok = "env:\n  PATH: /nonexistent\nworkloads:\n  - name: a\n    command: [" + name +
                         "]\n    env:\n      PATH: " + exe.parent_path().string() + "\n";
  Mix mix = parse_mix(ok, dir.path() / "m.yaml");
  EXPECT_EQ(mix.workloads[0].argv, (std::vector<std::string>{name}));
  EXPECT_EQ(mix.workloads[0].env.at("PATH"), exe.parent_path().string());
  // Through the mix-wide PATH only: not found.
  const std::string bad = "env:\n  PATH: /nonexistent\nworkloads:\n  - name: a\n    command: [" + name + "]\n";
  auto diags = errors_of(bad, dir.path() / "m.yaml");
  ASSERT_EQ(diags.size(), 1u) << dump(diags);
  EXPECT_EQ(diags[0].field, "workloads[0].command[0]");
  EXPECT_EQ(diags[0].line, 5);
  EXPECT_EQ(diags[0].column, 15);
  EXPECT_NE(diags[0].message.find("not found in PATH"), std::string::npos);
}

// A built-in resolved through a stand-in `gpumix-batch-infer --describe`.
TEST(SpecValid, BuiltinArgsAreCheckedAgainstItsDescription) {
  TempDir dir;
  const auto exe = dir.write("gpumix-batch-infer", R"(#!/bin/sh
[ "$1" = --describe ] || exit 3
echo '{"description": "stand-in", "role": "batch", "options": [
  {"name": "batch-size", "type": "int", "default": 32, "help": "h"},
  {"name": "precision", "type": "string", "default": "fp32", "choices": ["fp32", "bf16"]}]}'
)");
  fs::permissions(exe, fs::perms::owner_all);
  ::setenv("GPUMIX_WORKLOAD_DIR", dir.path().c_str(), 1);
  ::setenv("XDG_CACHE_HOME", (dir.path() / "cache").c_str(), 1);  // not the user's cache
  struct Unset {
    ~Unset() {
      ::unsetenv("GPUMIX_WORKLOAD_DIR");
      ::unsetenv("XDG_CACHE_HOME");
    }
  } unset;
  // Descriptions are cached per process by the program's path: this folder's.
  ASSERT_EQ(gpumix::spec::describe_builtin("batch-infer").command, std::vector<std::string>{exe.string()});

  Mix mix = parse_mix("workloads:\n  - name: infer\n    builtin: batch-infer\n    args: {batch_size: 64, precision: bf16}\n",
                      dir.path() / "m.yaml");
  const auto& w = mix.workloads[0];
  EXPECT_EQ(w.builtin, "batch-infer");
  EXPECT_EQ(w.role, Role::batch);  // the built-in's own role
  EXPECT_EQ(w.argv, (std::vector<std::string>{exe.string(), "--batch-size", "64", "--precision", "bf16"}));
  EXPECT_EQ(w.builtin_args, (std::map<std::string, std::string>{{"batch-size", "64"}, {"precision", "bf16"}}));

  // A role in the mix wins over the built-in's.
  EXPECT_EQ(parse_mix("workloads:\n  - name: infer\n    builtin: batch-infer\n    role: server\n", dir.path() / "m.yaml")
                .workloads[0]
                .role,
            Role::server);

  auto diags = errors_of(
      "workloads:\n  - name: infer\n    builtin: batch-infer\n    args:\n      batch_size: many\n      colour: red\n"
      "      precision: fp8\n",
      dir.path() / "m.yaml");
  ASSERT_EQ(diags.size(), 3u) << dump(diags);
  const auto* size = find_field(diags, "workloads[0].args.batch_size");
  ASSERT_NE(size, nullptr) << dump(diags);
  EXPECT_EQ(size->line, 5);
  EXPECT_NE(size->message.find("expected an integer, got 'many'"), std::string::npos) << size->message;
  const auto* colour = find_field(diags, "workloads[0].args.colour");
  ASSERT_NE(colour, nullptr) << dump(diags);
  EXPECT_EQ(colour->line, 6);
  EXPECT_NE(colour->message.find("unknown option of built-in 'batch-infer' (options: batch-size, precision)"),
            std::string::npos)
      << colour->message;
  const auto* precision = find_field(diags, "workloads[0].args.precision");
  ASSERT_NE(precision, nullptr) << dump(diags);
  EXPECT_EQ(precision->line, 7);
  EXPECT_NE(precision->message.find("must be one of fp32, bf16, got 'fp8'"), std::string::npos) << precision->message;
}

// ---------------------------------------------------------------------------
// Errors.

TEST(SpecErrors, EveryProblemInAFileIsReported) {
  const std::string text = R"(name: several
repeats: 0
setup_timeout: 0s
workloads:
  - name: a
    command: ["true"]
    mps: {sm_percent: 101}
  - name: B
    command: ["true"]
    timeout: -1s
  - name: a
    command: ["true"]
    colour: blue
)";
  auto diags = errors_of(text, "/mixes/several.yaml");
  ASSERT_EQ(diags.size(), 7u) << dump(diags);
  struct Want {
    int line, column;
    const char* field;
    const char* message;
  };
  for (const Want& want : {Want{2, 10, "repeats", "must be between 1 and 1000, got 0"},
                           Want{3, 16, "setup_timeout", "must be greater than zero"},
                           Want{7, 23, "workloads[0].mps.sm_percent", "must be between 1 and 100, got 101"},
                           Want{8, 11, "workloads[1].name", "'B' is not a valid name"},
                           Want{10, 14, "workloads[1].timeout", "must not be negative, got -1s"},
                           Want{13, 5, "workloads[2].colour", "unknown field"},
                           Want{11, 11, "workloads[2].name", "duplicate workload name 'a'"}}) {
    const auto* d = find_field(diags, want.field);
    ASSERT_NE(d, nullptr) << want.field << " not reported; got:\n" << dump(diags);
    EXPECT_EQ(d->file, "/mixes/several.yaml");
    EXPECT_EQ(d->line, want.line) << want.field;
    EXPECT_EQ(d->column, want.column) << want.field;
    EXPECT_NE(d->message.find(want.message), std::string::npos) << want.field << ": " << d->message;
  }
}

TEST(SpecErrors, WhatListsEveryDiagnosticOnItsOwnLine) {
  try {
    parse_mix("repeats: 0\nseed: -3\nworkloads: []\n", "m.yaml");
    FAIL() << "parsed";
  } catch (const SpecError& e) {
    // One line per diagnostic (in the order the parser met them).
    std::vector<std::string> lines;
    std::stringstream what(e.what());
    for (std::string line; std::getline(what, line);) lines.push_back(line);
    std::sort(lines.begin(), lines.end());
    EXPECT_EQ(lines, (std::vector<std::string>{"m.yaml:1:10: repeats: must be between 1 and 1000, got 0",
                                               "m.yaml:2:7: seed: must be at least 0, got -3",
                                               "m.yaml:3:12: workloads: the list is empty"}));
  }
}

TEST(SpecErrors, SpecErrorIsAnInputError) {
  // The CLI maps InputError to exit status 2.
  EXPECT_THROW(parse_mix("repeats: 0\n", "m.yaml"), InputError);
}

TEST(SpecErrors, UnreadableFileIsAnInputErrorNotASpecError) {
  const fs::path missing = "/nonexistent/gpumix/mix.yaml";
  try {
    load_mix(missing);
    FAIL() << "loaded";
  } catch (const SpecError&) {
    FAIL() << "a missing file is not a spec problem";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(missing.string() + ": cannot read the mix file"), std::string::npos)
        << e.what();
  }
}

TEST(SpecErrors, EmptyFileIsNotAMix) {
  auto diags = errors_of("", "empty.yaml");
  ASSERT_EQ(diags.size(), 1u) << dump(diags);
  EXPECT_EQ(diags[0].line, 1);
  EXPECT_NE(diags[0].message.find("must be a mapping"), std::string::npos);
}

TEST(SpecErrors, ModesPointAtTheirEntries) {
  auto diags = errors_of("modes: [timeslice, spatial, timeslice]\nworkloads:\n  - name: a\n    command: [\"true\"]\n",
                         "m.yaml");
  ASSERT_EQ(diags.size(), 2u) << dump(diags);
  EXPECT_EQ(diags[0].field, "modes[1]");
  EXPECT_EQ(diags[0].column, 20);
  EXPECT_NE(diags[0].message.find("unknown mode 'spatial'"), std::string::npos);
  EXPECT_EQ(diags[1].field, "modes[2]");
  EXPECT_EQ(diags[1].column, 29);
  EXPECT_NE(diags[1].message.find("listed twice"), std::string::npos);
}

// ---------------------------------------------------------------------------
// Command-line overrides.

const char* kSimpleMix = R"(modes: [exclusive]
repeats: 2
seed: 5
cell_duration: 30s
results_dir: from-file
workloads:
  - name: a
    command: ["true"]
    stop: {duration: 20s}
)";

TEST(SpecOverrides, ReplaceTheFilesValues) {
  Overrides ov;
  ov.modes = std::vector<std::string>{"timeslice", "exclusive"};
  ov.repeats = 7;
  ov.cell_duration = Duration(10min);
  ov.seed = 99;
  ov.results_dir = fs::path("cli/results");
  Mix mix = parse_mix(kSimpleMix, "/mixes/m.yaml", ov);
  EXPECT_EQ(mix.modes, (std::vector<std::string>{"timeslice", "exclusive"}));
  EXPECT_EQ(mix.repeats, 7);
  EXPECT_EQ(mix.cell_duration, Duration(600s));
  EXPECT_EQ(mix.seed, 99u);
  // Relative to the current directory, not to the mix file.
  EXPECT_EQ(mix.results_dir, fs::current_path() / "cli" / "results");
}

TEST(SpecOverrides, AbsentOverridesKeepTheFilesValues) {
  Mix mix = parse_mix(kSimpleMix, "/mixes/m.yaml", Overrides{});
  EXPECT_EQ(mix.modes, (std::vector<std::string>{"exclusive"}));
  EXPECT_EQ(mix.repeats, 2);
  EXPECT_EQ(mix.cell_duration, Duration(30s));
  EXPECT_EQ(mix.seed, 5u);
  EXPECT_EQ(mix.results_dir, fs::path("/mixes/from-file"));
}

TEST(SpecOverrides, UnknownModeIsReportedAgainstTheCommandLine) {
  Overrides ov;
  ov.modes = std::vector<std::string>{"spatial", "timeslice", "timeslice"};
  auto diags = errors_of(kSimpleMix, "/mixes/m.yaml", ov);
  ASSERT_EQ(diags.size(), 2u) << dump(diags);
  EXPECT_EQ(diags[0].file, "command line");
  EXPECT_EQ(diags[0].field, "--modes[0]");
  EXPECT_EQ(diags[0].line, 0);
  EXPECT_EQ(diags[0].column, 0);
  EXPECT_NE(diags[0].message.find("unknown mode 'spatial'"), std::string::npos) << diags[0].message;
  EXPECT_EQ(diags[0].str(), "command line: --modes[0]: " + diags[0].message);
  EXPECT_EQ(diags[1].file, "command line");
  EXPECT_EQ(diags[1].field, "--modes[2]");
  EXPECT_NE(diags[1].message.find("listed twice"), std::string::npos);
}

TEST(SpecOverrides, EmptyModesOverrideIsRejected) {
  Overrides ov;
  ov.modes = std::vector<std::string>{};
  auto diags = errors_of(kSimpleMix, "/mixes/m.yaml", ov);
  ASSERT_EQ(diags.size(), 1u) << dump(diags);
  EXPECT_EQ(diags[0].file, "command line");
  EXPECT_EQ(diags[0].field, "--modes");
  EXPECT_NE(diags[0].message.find("at least one mode"), std::string::npos);
}

TEST(SpecOverrides, CellDurationOverrideIsCheckedAgainstTheWorkloads) {
  Overrides ov;
  ov.cell_duration = Duration(10s);  // shorter than the workload's stop.duration (20s)
  auto diags = errors_of(kSimpleMix, "/mixes/m.yaml", ov);
  ASSERT_EQ(diags.size(), 1u) << dump(diags);
  EXPECT_EQ(diags[0].field, "workloads[0].stop.duration");
  EXPECT_EQ(diags[0].line, 9);
  EXPECT_EQ(diags[0].column, 22);
  EXPECT_NE(diags[0].message.find("exceeds cell_duration (10s)"), std::string::npos) << diags[0].message;
}

// ---------------------------------------------------------------------------
// Diagnostic::str()

TEST(SpecDiagnostic, StrFormat) {
  EXPECT_EQ((Diagnostic{"mix.yaml", 12, 7, "workloads[1].mps.sm_percent", "must be between 1 and 100, got 150"}).str(),
            "mix.yaml:12:7: workloads[1].mps.sm_percent: must be between 1 and 100, got 150");
  // No field (YAML syntax errors).
  EXPECT_EQ((Diagnostic{"mix.yaml", 3, 1, "", "YAML syntax error: illegal map value"}).str(),
            "mix.yaml:3:1: YAML syntax error: illegal map value");
  // No place in the file.
  EXPECT_EQ((Diagnostic{"command line", 0, 0, "--modes[0]", "unknown mode 'x'"}).str(),
            "command line: --modes[0]: unknown mode 'x'");
}

// The table every part of gpumix asks about a mode (spec/sharing_mode.hpp).
TEST(SharingModes, OneBaselineDistinctNamesAndColoursAndKnownDefaults) {
  using namespace gpumix::spec;
  std::set<std::string> names, colours;
  int baselines = 0;
  for (const auto& m : sharing_modes()) {
    EXPECT_TRUE(names.insert(std::string(m.name)).second) << m.name;
    EXPECT_TRUE(colours.insert(std::string(m.colour)).second) << m.name;
    EXPECT_FALSE(m.summary.empty()) << m.name;
    EXPECT_EQ(m.baseline, m.sharing == GpuSharing::alone) << m.name;
    if (m.baseline) ++baselines;
    EXPECT_EQ(find_sharing_mode(m.name), &m);
  }
  EXPECT_EQ(baselines, 1);
  EXPECT_TRUE(is_baseline(baseline_mode().name));
  EXPECT_EQ(find_sharing_mode("spatial"), nullptr);
  EXPECT_EQ(default_modes(), (std::vector<std::string>{"exclusive", "timeslice"}));
  EXPECT_EQ(probed_modes(), (std::vector<std::string>{"timeslice", "mps"}));
  // A mix that names no modes compares the default ones.
  EXPECT_EQ(parse_mix("workloads: [{name: a, command: [sh]}]\n", "m.yaml").modes, default_modes());
}

}  // namespace
