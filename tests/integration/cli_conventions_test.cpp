// docs/cli.md's conventions, checked over every subcommand `gpumix --help`
// lists (a new command is covered without editing this file, or fails here
// until it says how to call it): the usage line of its help; `--format json`
// printing one document with schema_version and kind, numbers as numbers,
// JSON as JSON and RFC 3339 times; `-o FILE`; `--results` and GPUMIX_RESULTS;
// durations with units; renamed options failing with the new name.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "gpumix/probe/probe_store.hpp"
#include "harness.hpp"
#include "loadgen/kserve_test_server.hpp"

namespace gpumix::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// A subcommand's words: {"k8s", "render"}.
using Path = std::vector<std::string>;

std::string joined(const Path& p, const std::string& sep = " ") {
  std::string s;
  for (const auto& w : p) s += (s.empty() ? "" : sep) + w;
  return s;
}

std::string help_of(const Path& path) {
  auto args = path;
  args.push_back("--help");
  auto r = gpumix(args, std::filesystem::temp_directory_path());
  EXPECT_EQ(r.exit_code, 0) << joined(path) << ": " << r.err;
  return r.out;
}

// The subcommands a help lists under "Subcommands:".
std::vector<std::string> listed_subcommands(const std::string& help) {
  std::vector<std::string> out;
  std::istringstream in(help);
  bool in_list = false;
  for (std::string line; std::getline(in, line);) {
    if (line == "Subcommands:") in_list = true;
    else if (in_list && line.empty()) in_list = false;
    else if (in_list) out.push_back(line.substr(line.find_first_not_of(' '), line.find(' ', 2) - 2));
  }
  return out;
}

// Every subcommand, nested ones too ("k8s render"), with its help.
std::map<Path, std::string> every_command() {
  std::map<Path, std::string> out;
  std::vector<Path> todo = {{}};
  while (!todo.empty()) {
    const Path p = todo.back();
    todo.pop_back();
    const auto help = help_of(p);
    if (!p.empty()) out[p] = help;
    for (const auto& name : listed_subcommands(help)) {
      auto sub = p;
      sub.push_back(name);
      todo.push_back(sub);
    }
  }
  return out;
}

bool has_option(const std::string& help, const std::string& option) {
  return std::regex_search(help, std::regex("(^|\\n| |,)" + option + "( |\\n|,)"));
}

// Whether help's entry for --format (its choices, "TEXT:{table,csv,json}", or
// its description) names json.
bool format_takes_json(const std::string& help) {
  const auto at = help.find("  --format ");
  if (at == std::string::npos) return false;
  const auto entry = help.substr(at, help.find("\n  -", at + 1) - at);
  return std::regex_search(entry, std::regex("\\bjson\\b"));
}

// A mix file, and a results folder made from it on first use by one real run
// (a server with an SLO: latency, SLO verdicts, events) plus one probe session
// of each kind.
class Results {
 public:
  Results() {
    dir_.write("mix.yaml", R"(name: conventions
seed: 1
cell_duration: 400ms
stop_grace: 1s
modes: [timeslice]
workloads:
  - name: server
    command: [TESTLOAD, --iters, "0", --interval-ms, "5", --latency-ms, "2", --samples, "0"]
    role: server
    slo: {p99: 50ms}
)");
    dir_.write("tune.yaml", R"(name: conventions-tune
cell_duration: 500ms
stop_grace: 1s
workloads:
  - name: a
    command: [TESTLOAD, --iters, "0", --interval-ms, "5"]
  - name: b
    command: [TESTLOAD, --iters, "0", --interval-ms, "5"]
)");
  }
  const ScratchDir& dir() const { return dir_; }
  std::filesystem::path mix() const { return dir_ / "mix.yaml"; }
  std::filesystem::path results() {
    if (!made_) make();
    made_ = true;
    return dir_ / "results";
  }

 private:
  void make() {
    auto r = gpumix({"run", "mix.yaml", "--results", (dir_ / "results").string()}, dir_.path());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    probe::ProbeStore store(dir_ / "results");
    probe::SessionRow s{0, "timeslice", "running", "", 0, 0, "host", "NVIDIA H200", "GPU-1", "580.95.05",
                        R"({"modes":["timeslice"],"duration_ms":1500})"};
    const auto ts = store.begin_session(s);
    probe::TimesliceRow t;
    t.session_id = ts, t.mode = "timeslice", t.repeat = 1, t.processes = 2, t.valid = true, t.slice_p50_us = 2082.5;
    t.efficiency = 0.928, t.concurrency = 0.928, t.switches = 600, t.evidence_json = "{}";
    store.add(t);
    store.add(probe::SlowdownRow{ts, "timeslice", 1, 1, 104.2, 47.5, 2.19, 0.91, "{}"});
    store.end_session(ts, "ok", "");
    s.kind = "isolation";
    const auto iso = store.begin_session(s);
    store.add(probe::IsolationRow{iso, "mps", "fault", "next to 2", "both failed", false, 0.358, "s", "{}"});
    store.add(probe::IsolationRow{iso, "timeslice", "mps-memory-limit", "", "n/a", std::nullopt, std::nullopt, "", "{}"});
    store.end_session(iso, "ok", "");
  }

  ScratchDir dir_;
  bool made_ = false;
};

// The fake NVIDIA driver (tests/fake_nvml) with one H200, for `gpu` and `monitor`.
std::map<std::string, std::string> fake_gpu(const ScratchDir& dir) {
  const json state = {{"driver_version", "580.95.05"},
                      {"cuda_driver_version", 13000},
                      {"gpus",
                       {{{"name", "NVIDIA H200"},
                         {"uuid", "GPU-00000000-1111-2222-3333-444444444444"},
                         {"pci_bus_id", "00000000:19:00.0"},
                         {"memory_total", 151397597184},
                         {"memory_used", 21474836480},
                         {"compute_mode", "Default"},
                         {"ecc", true},
                         {"utilization", {{"gpu", 87}, {"memory", 41}}},
                         {"power_mw", 350000},
                         {"energy_start_mj", 5000000},
                         {"processes", {{{"pid", 4001}, {"used_memory", 3221225472}}}}}}}};
  return {{"GPUMIX_NVML_LIBRARY", GPUMIX_FAKE_NVML},
          {"GPUMIX_FAKE_NVML_STATE", dir.write("nvml-state.json", state.dump()).string()}};
}

// How to call a command so that it prints its result: its arguments (without
// --format and -o), its environment, and the kind of its document.
struct Call {
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::string kind;            // default: "gpumix." + the words joined by "."
  bool json_lines = false;     // a document per line (monitor)
  bool same_every_time = true; // -o's file equals what standard output got
};

std::map<Path, Call> calls(Results& r, const std::string& loadgen_url) {
  const std::string res = r.results().string(), mix = r.mix().string();
  return {
      {{"validate"}, {{"validate", mix}}},
      {{"ls"}, {{"ls", "--results", res}}},
      {{"show"}, {{"show", "--results", res}}},
      {{"export"}, {{"export", "--results", res}}},
      {{"report"}, {{"report", "--results", res}}},
      {{"compare"}, {{"compare", "1", res + ":1", "--results", res}}},
      {{"workloads"}, {{"workloads"}}},
      {{"gpu"}, {{"gpu"}, fake_gpu(r.dir())}},
      {{"monitor"}, {{"monitor", "--duration", "300ms", "--interval", "100ms"}, fake_gpu(r.dir()), "", true, false}},
      {{"probe", "show"}, {{"probe", "show", "--results", res}}},
      {{"run"}, {{"run", mix, "--dry-run"}, {}, "gpumix.plan"}},
      // No MPS here: the search ends at its controls, and timeslice is the answer.
      {{"tune"},
       {{"tune", (r.dir() / "tune.yaml").string(), "--results", (r.dir() / "tune-results").string(), "--confirm", "0"},
        {},
        "",
        false,
        false}},
      {{"loadgen"},
       {{"loadgen", "--url", loadgen_url, "--model", "m", "--concurrency", "1", "--requests", "20", "--warmup", "0s"},
        {},
        "",
        false,
        false}},
  };
}

// A string that a number was written into, or JSON written into a string.
const std::regex kNumber("-?(\\d+\\.?\\d*|\\.\\d+)([eE][-+]?\\d+)?");
const std::regex kDateLike("\\d{4}-\\d{2}-\\d{2}.*");
const std::regex kRfc3339("\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z");

// Texts that may look like numbers: versions, hashes, argv words, a mix's
// text, the machine record copied as stored.
bool free_text(const std::string& key) {
  static const std::regex text("(.*version|.*sha.*|uuid|argv|command|mix_yaml|environment|host|name|driver)");
  return std::regex_match(key, text);
}

void check_values(const json& j, const std::string& where, const std::string& key, std::vector<std::string>& problems) {
  if (j.is_object()) {
    for (const auto& [k, v] : j.items())
      if (!free_text(k)) check_values(v, where + "." + k, k, problems);
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) check_values(j[i], where + "[" + std::to_string(i) + "]", key, problems);
  } else if (j.is_string()) {
    const auto s = j.get<std::string>();
    if (std::regex_match(s, kNumber)) problems.push_back(where + ": a number in a string: \"" + s + "\"");
    const auto parsed = json::parse(s, nullptr, false);
    if (!parsed.is_discarded() && parsed.is_structured()) problems.push_back(where + ": JSON in a string: " + s);
    if (std::regex_match(s, kDateLike) && !std::regex_match(s, kRfc3339))
      problems.push_back(where + ": a time not in RFC 3339 UTC with milliseconds: " + s);
  }
  if ((key == "started" || key == "ended" || key == "time") && !j.is_null() &&
      !(j.is_string() && std::regex_match(j.get<std::string>(), kRfc3339)))
    problems.push_back(where + ": a time not in RFC 3339: " + j.dump());
}

void check_document(const json& doc, const std::string& kind, const std::string& what) {
  ASSERT_TRUE(doc.is_object()) << what << ": not one JSON object";
  EXPECT_TRUE(doc["schema_version"].is_number_integer()) << what << ": schema_version " << doc["schema_version"];
  EXPECT_EQ(doc["kind"], kind) << what;
  std::vector<std::string> problems;
  check_values(doc, "", "", problems);
  for (const auto& p : problems) ADD_FAILURE() << what << ": " << p;
}

// Each test is a process of its own (gtest_discover_tests): what they share is
// made on first use, so that a test pays only for what it needs.
class CliConventions : public ::testing::Test {
 protected:
  static const std::map<Path, std::string>& commands() {
    static const auto every = every_command();
    return every;
  }
  static Results& data() {
    static Results results;
    return results;
  }
  testing::KServeTestServer server_{[](uint64_t) { return testing::Reply{200, 1ms, false}; }, 8};
};

TEST_F(CliConventions, EveryCommandIsListedAndItsHelpShowsTheUsageLine) {
  for (const Path& p : {Path{"run"}, Path{"report"}, Path{"k8s", "render"}, Path{"probe", "show"}, Path{"merge"}})
    EXPECT_TRUE(commands().count(p)) << joined(p) << " is not listed by gpumix --help";
  EXPECT_FALSE(commands().count({"completion"})) << "completion and man are hidden";
  for (const auto& [path, help] : commands())
    EXPECT_NE(help.find("\nUsage: gpumix " + joined(path) + " "), std::string::npos) << joined(path) << ":\n" << help;
}

TEST_F(CliConventions, EveryFormatTakesJsonAndPrintsOneDocument) {
  const auto table = calls(data(), server_.url());
  int checked = 0;
  for (const auto& [path, help] : commands()) {
    if (!has_option(help, "--format")) continue;
    EXPECT_TRUE(format_takes_json(help)) << "gpumix " << joined(path) << " --format has no json";
    const auto call = table.find(path);
    if (call == table.end()) {
      ADD_FAILURE() << "gpumix " << joined(path) << " has --format: say how to call it in calls() so its JSON is checked";
      continue;
    }
    auto args = call->second.args;
    args.insert(args.end(), {"--format", "json"});
    auto r = gpumix(args, data().dir().path(), 60s, call->second.env);
    EXPECT_EQ(r.exit_code, 0) << joined(args) << ": " << r.err;
    const std::string kind = call->second.kind.empty() ? "gpumix." + joined(path, ".") : call->second.kind;
    if (call->second.json_lines) {
      std::istringstream lines(r.out);
      int n = 0;
      for (std::string line; std::getline(lines, line); ++n) check_document(json::parse(line), kind, joined(path) + " line");
      EXPECT_GE(n, 2) << joined(args) << ": " << r.out;
    } else {
      const auto doc = json::parse(r.out, nullptr, false);
      ASSERT_FALSE(doc.is_discarded()) << joined(args) << ": not JSON:\n" << r.out;
      check_document(doc, kind, joined(path));
    }
    ++checked;
  }
  EXPECT_GE(checked, 10);
}

TEST_F(CliConventions, OutWritesTheResultToAFile) {
  const auto table = calls(data(), server_.url());
  int checked = 0;
  for (const auto& [path, help] : commands()) {
    if (!has_option(help, "-o,--out")) continue;
    const auto call = table.find(path);
    if (call == table.end()) {
      ADD_FAILURE() << "gpumix " << joined(path) << " has -o: say how to call it in calls()";
      continue;
    }
    auto args = call->second.args;
    if (has_option(help, "--format") && format_takes_json(help)) args.insert(args.end(), {"--format", "json"});
    const auto to_stdout = gpumix(args, data().dir().path(), 60s, call->second.env);
    const auto file = data().dir() / ("out-" + joined(path, "-"));
    args.insert(args.end(), {"-o", file.string()});
    const auto to_file = gpumix(args, data().dir().path(), 60s, call->second.env);
    EXPECT_EQ(to_file.exit_code, to_stdout.exit_code) << joined(args) << ": " << to_file.err;
    EXPECT_EQ(to_file.out, "") << joined(args) << ": the result goes to the file only";
    std::ifstream in(file);
    std::stringstream written;
    written << in.rdbuf();
    EXPECT_FALSE(written.str().empty()) << joined(args);
    if (call->second.same_every_time) EXPECT_EQ(written.str(), to_stdout.out) << joined(args);
    ++checked;
  }
  EXPECT_GE(checked, 9);
}

// GPUMIX_RESULTS stands for --results everywhere: help says so, and a command
// reading results given only the variable prints what it prints with --results.
TEST_F(CliConventions, ResultsHonoursGpumixResults) {
  const auto table = calls(data(), server_.url());
  int read = 0;
  for (const auto& [path, help] : commands()) {
    if (!has_option(help, "--results")) continue;
    EXPECT_NE(help.find("(Env:GPUMIX_RESULTS)"), std::string::npos) << "gpumix " << joined(path) << " --results:\n" << help;
    const auto call = table.find(path);
    if (call == table.end()) continue;
    auto args = call->second.args;
    if (format_takes_json(help)) args.insert(args.end(), {"--format", "json"});
    const auto flag = std::find(args.begin(), args.end(), "--results");
    if (flag == args.end() || !call->second.same_every_time) continue;
    const auto with_flag = gpumix(args, data().dir().path(), 60s, call->second.env);
    args.erase(flag, flag + 2);
    auto env = call->second.env;
    env["GPUMIX_RESULTS"] = data().results().string();
    ScratchDir elsewhere;  // no ./results there
    const auto with_env = gpumix(args, elsewhere.path(), 60s, env);
    EXPECT_EQ(with_env.exit_code, 0) << joined(args) << ": " << with_env.err;
    EXPECT_EQ(with_env.out, with_flag.out) << joined(args);
    ++read;
  }
  EXPECT_GE(read, 5);
  // monitor stores samples where the variable says.
  ScratchDir dir;
  auto env = fake_gpu(dir);
  env["GPUMIX_RESULTS"] = (dir / "stored").string();
  auto m = gpumix({"monitor", "--duration", "300ms", "--interval", "100ms", "--format", "csv"}, dir.path(), 30s, env);
  EXPECT_EQ(m.exit_code, 0) << m.err;
  EXPECT_TRUE(std::filesystem::exists(dir / "stored" / "gpumix.db")) << m.err;
}

TEST_F(CliConventions, DurationsNeedAUnit) {
  const std::vector<std::vector<std::string>> calls = {{"monitor", "--duration", "5"},
                                                       {"monitor", "--interval", "100"},
                                                       {"probe", "timeslice", "--duration", "2"},
                                                       {"probe", "timeslice", "--min-gap", "50"},
                                                       {"run", data().mix().string(), "--cell-duration", "30"}};
  for (const auto& args : calls) {
    auto r = gpumix(args, data().dir().path());
    EXPECT_EQ(r.exit_code, 2) << joined(args) << ": " << r.err;
    EXPECT_NE(r.err.find(args[args.size() - 2] + ": a duration needs a unit"), std::string::npos) << joined(args) << ": " << r.err;
  }
}

TEST_F(CliConventions, RenamedOptionsSayWhatToUse) {
  ScratchDir dir;
  struct Case {
    Path command;
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"monitor"}, {"--duration", "1s", "--out", "somewhere"}, "--out: the results folder that stores the samples is now --results DIR"},
      {{"k8s", "render"}, {data().mix().string(), "--mode", "timeslice", "--out", "k8s"}, "--out: the folder to write into is now --out-dir DIR"},
      {{"merge"}, {"merged", data().dir().path().string()}, "--results: name the results folder to merge into"}};
  for (const auto& c : cases) {
    auto args = c.command;
    args.insert(args.end(), c.args.begin(), c.args.end());
    auto r = gpumix(args, dir.path());
    EXPECT_EQ(r.exit_code, 2) << joined(args) << ": " << r.err;
    EXPECT_NE(r.err.find("gpumix: error: " + c.message), std::string::npos) << joined(args) << ": " << r.err;
    EXPECT_FALSE(has_option(help_of(c.command), "--out")) << joined(c.command) << " still lists --out";
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "somewhere"));
  EXPECT_FALSE(std::filesystem::exists(dir / "k8s"));
  EXPECT_FALSE(std::filesystem::exists(dir / "merged"));
}

}  // namespace
}  // namespace gpumix::test
