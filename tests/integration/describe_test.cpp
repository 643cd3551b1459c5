// How gpumix learns a built-in's options without starting it: the description
// written beside the program at build time, the user cache, and real
// `--describe`s in parallel (src/gpumix/spec/builtins.cpp). The built-ins are
// stand-in scripts in a GPUMIX_WORKLOAD_DIR that count their `--describe`s in
// a file; the last test checks the real build.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "gpumix/util/subprocess.hpp"
#include "harness.hpp"

namespace gpumix::test {
namespace {

namespace fs = std::filesystem;

const fs::path kExamples = GPUMIX_EXAMPLES;

// A stand-in for gpumix-<name>: each --describe adds a line to `counter`.
// The name is in the script, so every stand-in has its own bytes (its own
// identity); `extra_option` changes them again.
fs::path write_builtin(const ScratchDir& dir, const std::string& name, const std::string& extra_option = "") {
  std::string options = R"({"name": "batch-size", "type": "int", "default": 32, "help": "h"})";
  if (!extra_option.empty()) options += R"(, {"name": ")" + extra_option + R"(", "type": "string", "default": "x"})";
  const auto exe = dir.write("bin/gpumix-" + name, "#!/bin/sh\n[ \"$1\" = --describe ] || exit 3\necho " + name +
                                                       " >> \"" + (dir / "describes").string() + "\"\necho '{\"description\": \"stand-in " +
                                                       name + "\", \"role\": \"batch\", \"options\": [" + options + "]}'\n");
  fs::permissions(exe, fs::perms::owner_all);
  return exe;
}

// How many --describe the stand-ins ran.
int describes(const ScratchDir& dir) {
  std::ifstream in(dir / "describes");
  int lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  return lines;
}

// The build's own step (cmake/write_description.cmake): runs --describe once.
void describe_at_build_time(const fs::path& exe, const std::string& name) {
  auto r = run_and_capture({GPUMIX_CMAKE, "-DEXE=" + exe.string(),
                            "-DOUT=" + (exe.parent_path() / ("gpumix-" + name + ".describe.json")).string(), "-P",
                            GPUMIX_DESCRIBE_SCRIPT},
                           std::chrono::seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(fs::exists(exe.parent_path() / ("gpumix-" + name + ".describe.json"))) << r.err;
}

std::map<std::string, std::string> env_of(const ScratchDir& dir) {
  return {{"GPUMIX_WORKLOAD_DIR", (dir / "bin").string()}, {"XDG_CACHE_HOME", (dir / "cache").string()}};
}

std::vector<fs::path> cache_files(const ScratchDir& dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir / "cache" / "gpumix", ec)) files.push_back(e.path());
  return files;
}

// One batch-infer workload using `args`.
fs::path write_mix(const ScratchDir& dir, const std::string& args) {
  return dir.write("mix.yaml", "workloads:\n  - name: infer\n    builtin: batch-infer\n    args: {" + args + "}\n");
}

TEST(DescribeCache, TheDescriptionBesideTheProgramIsUsed) {
  ScratchDir dir;
  describe_at_build_time(write_builtin(dir, "batch-infer"), "batch-infer");
  ASSERT_EQ(describes(dir), 1);

  auto r = gpumix({"validate", write_mix(dir, "batch_size: 64").string()}, dir.path(), std::chrono::seconds(90), env_of(dir));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = gpumix({"validate", write_mix(dir, "colour: red").string()}, dir.path(), std::chrono::seconds(90), env_of(dir));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown option of built-in 'batch-infer' (options: batch-size)"), std::string::npos) << r.err;
  r = gpumix({"workloads", "batch-infer"}, dir.path(), std::chrono::seconds(90), env_of(dir));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("stand-in batch-infer"), std::string::npos) << r.out;
  EXPECT_EQ(describes(dir), 1) << "the program was started although its description was beside it";
  EXPECT_TRUE(cache_files(dir).empty());
}

TEST(DescribeCache, ADescriptionOfAnotherBinaryIsNotUsed) {
  ScratchDir dir;
  describe_at_build_time(write_builtin(dir, "batch-infer"), "batch-infer");
  // Rebuilt after its description was written: a new option.
  write_builtin(dir, "batch-infer", "precision");
  auto r = gpumix({"validate", write_mix(dir, "precision: bf16").string()}, dir.path(), std::chrono::seconds(90), env_of(dir));
  EXPECT_EQ(r.exit_code, 0) << "the stale description was used: " << r.err;
  EXPECT_EQ(describes(dir), 2);

  // Another program's description copied beside it (a foreign file).
  ScratchDir other;
  describe_at_build_time(write_builtin(other, "batch-infer", "colour"), "batch-infer");
  fs::copy_file(other / "bin/gpumix-batch-infer.describe.json", dir / "bin/gpumix-batch-infer.describe.json",
                fs::copy_options::overwrite_existing);
  fs::remove_all(dir / "cache");
  r = gpumix({"validate", write_mix(dir, "colour: red").string()}, dir.path(), std::chrono::seconds(90), env_of(dir));
  EXPECT_EQ(r.exit_code, 2) << "a foreign description was used";
  EXPECT_EQ(describes(dir), 3);
}

TEST(DescribeCache, TheUserCacheIsWrittenUsedAndRepaired) {
  ScratchDir dir;
  write_builtin(dir, "batch-infer");
  const auto mix = write_mix(dir, "batch_size: 64").string();
  auto r = gpumix({"validate", mix}, dir.path(), std::chrono::seconds(90), env_of(dir));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(describes(dir), 1);
  const auto files = cache_files(dir);
  ASSERT_EQ(files.size(), 1u) << "no description in the user cache (or a temporary left)";
  EXPECT_EQ(files[0].filename().string().rfind("describe-", 0), 0u) << files[0];

  r = gpumix({"validate", mix}, dir.path(), std::chrono::seconds(90), env_of(dir));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(describes(dir), 1) << "the user cache was not used";

  for (const std::string damage : {"{\"format\": \"gpumix-describe/1\", \"binary_sha256\": \"0\", \"describe\": {}}",
                                   "{not json", ""}) {
    std::ofstream(files[0], std::ios::trunc) << damage;
    const int before = describes(dir);
    r = gpumix({"validate", mix}, dir.path(), std::chrono::seconds(90), env_of(dir));
    EXPECT_EQ(r.exit_code, 0) << damage << ": " << r.err;
    EXPECT_EQ(describes(dir), before + 1) << damage;
    std::ifstream in(files[0]);
    const auto j = nlohmann::json::parse(in, nullptr, false);
    EXPECT_TRUE(j.is_object() && j.contains("describe")) << damage << ": the cache file was not replaced";
  }

  // A cache folder that cannot be made (a file is in the way): no cache, no error.
  auto env = env_of(dir);
  env["XDG_CACHE_HOME"] = dir.write("not-a-folder", "").string();
  for (int run = 0; run < 2; ++run) {
    const int before = describes(dir);
    r = gpumix({"validate", mix}, dir.path(), std::chrono::seconds(90), env);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(describes(dir), before + 1);
  }
}

// Each stand-in waits (up to 20 s) until all three have started: described one
// after another, the first would give up and the mix would not validate. This
// shows the parallelism by counting, not timing.
TEST(DescribeCache, SeveralBuiltinsAreDescribedInParallel) {
  ScratchDir dir;
  const std::vector<std::string> names = {"resnet-train", "bert-train", "batch-infer"};
  std::string mix = "workloads:\n";
  for (const auto& name : names) {
    const auto exe = dir.write("bin/gpumix-" + name, "#!/bin/sh\n# " + name + "\ntouch \"" + (dir / "started-").string() +
                                                         name + "\"\nwaited=0\nwhile [ $(ls \"" + dir.path().string() +
                                                         "\" | grep -c ^started-) -lt 3 ]; do\n"
                                                         "  waited=$((waited + 1))\n"
                                                         "  [ $waited -le 200 ] || { echo not described in parallel >&2; exit 4; }\n"
                                                         "  sleep 0.1\ndone\n"
                                                         "echo '{\"role\": \"batch\", \"options\": []}'\n");
    fs::permissions(exe, fs::perms::owner_all);
    mix += "  - name: w-" + name + "\n    builtin: " + name + "\n";
  }
  const auto start = std::chrono::steady_clock::now();
  auto r = gpumix({"validate", dir.write("mix.yaml", mix).string()}, dir.path(), std::chrono::seconds(90), env_of(dir));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::cout << "three describes that wait for each other took "
            << std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() << " s\n";
}

// The real build wrote every built-in's description: validating the default
// mix and listing the built-ins start none of them. (A real --describe would
// have written the empty user cache given here.)
TEST(DescribeCache, TheBuildDescribesTheRealBuiltins) {
  const fs::path bin = fs::path(kGpumix).parent_path();
  if (!fs::exists(bin / "gpumix-resnet-train")) GTEST_SKIP() << "built without LibTorch: no built-in workloads";
  for (const char* name : {"resnet-train", "bert-train", "batch-infer", "interactive", "infer-server", "llm-server", "loadgen"}) {
    const auto program = bin / (std::string(name) == "loadgen" ? "gpumix" : std::string("gpumix-") + name);
    if (!fs::exists(program)) continue;
    EXPECT_TRUE(fs::exists(bin / (std::string("gpumix-") + name + ".describe.json"))) << name;
  }
  ScratchDir dir;
  const std::map<std::string, std::string> env = {{"GPUMIX_WORKLOAD_DIR", bin.string()},
                                                  {"XDG_CACHE_HOME", (dir / "cache").string()}};
  auto r = gpumix({"validate", (kExamples / "default.yaml").string()}, dir.path(), std::chrono::seconds(90), env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = gpumix({"workloads"}, dir.path(), std::chrono::seconds(90), env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(cache_files(dir).empty()) << "a built-in was described at run time: " << cache_files(dir).front();
}

// One meaning per name (docs/cli.md), checked from the descriptions alone: a
// built-in argument's former name (a count named like a time) and a time
// without its unit are refused at their line, naming the argument. A stand-in
// first (any build), then the real built-ins.
TEST(DescribeCache, ValidateRefusesARenamedArgumentAndATimeWithoutUnitAtTheirLine) {
  ScratchDir dir;
  const auto exe = dir.write("bin/gpumix-batch-infer", R"(#!/bin/sh
echo '{"role": "batch", "options": [{"name": "duration", "type": "duration", "default": "0s", "help": "h"}],
       "renamed": [{"name": "warmup", "now": "warmup-steps", "why": "it counts steps"}]}'
)");
  fs::permissions(exe, fs::perms::owner_all);
  const auto mix = dir.write("mix.yaml", "workloads:\n  - name: infer\n    builtin: batch-infer\n    args:\n"
                                         "      warmup: 10\n      duration: 30\n");
  auto r = gpumix({"validate", mix.string()}, dir.path(), std::chrono::seconds(90), env_of(dir));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("mix.yaml:5:7: workloads[0].args.warmup: was renamed warmup_steps (it counts steps)"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("mix.yaml:6:7: workloads[0].args.duration: '30' has no unit"), std::string::npos) << r.err;
  r = gpumix({"validate", write_mix(dir, "duration: 30s").string()}, dir.path(), std::chrono::seconds(90), env_of(dir));
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(DescribeCache, ValidateRefusesTheRealBuiltinsFormerArgumentsAtTheirLine) {
  const fs::path bin = fs::path(kGpumix).parent_path();
  ScratchDir dir;
  const std::map<std::string, std::string> env = {{"GPUMIX_WORKLOAD_DIR", bin.string()},
                                                  {"XDG_CACHE_HOME", (dir / "cache").string()}};
  // The load generator is gpumix itself: there in every build.
  std::string text = "workloads:\n  - name: load\n    builtin: loadgen\n    args:\n      duration: 30\n";
  std::vector<std::string> expected = {"mix.yaml:5:7: workloads[0].args.duration: '30' has no unit"};
  if (fs::exists(bin / "gpumix-resnet-train")) {
    text +=
        "  - name: train\n    builtin: resnet-train\n    args:\n      warmup: 10\n      duration: 30\n"
        "  - name: server\n    builtin: infer-server\n    args:\n      max_queue_delay_ms: 1\n      iterations: 5\n"
        "  - name: notebook\n    builtin: interactive\n    args:\n      think_mean: 2\n";
    expected.insert(expected.end(),
                    {"mix.yaml:9:7: workloads[1].args.warmup: was renamed warmup_steps (it counts steps",
                     "mix.yaml:10:7: workloads[1].args.duration: '30' has no unit",
                     "mix.yaml:14:7: workloads[2].args.max_queue_delay_ms: was renamed max_queue_delay",
                     "mix.yaml:15:7: workloads[2].args.iterations: was renamed requests",
                     "mix.yaml:19:7: workloads[3].args.think_mean: '2' has no unit"});
  }
  auto r = gpumix({"validate", dir.write("mix.yaml", text).string()}, dir.path(), std::chrono::seconds(90), env);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  for (const auto& e : expected) EXPECT_NE(r.err.find(e), std::string::npos) << "'" << e << "' not in:\n" << r.err;
}

}  // namespace
}  // namespace gpumix::test
