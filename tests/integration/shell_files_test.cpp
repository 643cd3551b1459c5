// The shell completions and the man page the build generates from the
// command line's definition (`gpumix completion bash|zsh|fish`, `gpumix man`):
// bash and fish really complete, zsh and fish parse them, groff renders the
// page without a warning, and `cmake --install` puts them where the shells and
// man look.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "gpumix/util/subprocess.hpp"
#include "harness.hpp"

namespace gpumix::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path kShare = GPUMIX_SHARE_DIR;
const fs::path kBash = kShare / "bash-completion/completions/gpumix";
const fs::path kZsh = kShare / "zsh/site-functions/_gpumix";
const fs::path kFish = kShare / "fish/vendor_completions.d/gpumix.fish";
const fs::path kMan = kShare / "man/man1/gpumix.1";

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool have(const std::string& program) {
  return run_and_capture({"sh", "-c", "command -v " + program}, 10s).exit_code == 0;
}

// What bash's completion offers for the words, the last one being completed.
std::string bash_complete(const std::string& words) {
  auto r = run_and_capture({"bash", "-c",
                            "source '" + kBash.string() + "'; COMP_WORDS=(" + words +
                                "); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _gpumix; echo \"${COMPREPLY[*]}\""},
                           30s);
  EXPECT_EQ(r.exit_code, 0) << words << ": " << r.err;
  return r.out.substr(0, r.out.find('\n'));
}

TEST(ShellFiles, TheBuildWroteWhatGpumixGenerates) {
  for (const auto& [args, file] : std::vector<std::pair<std::vector<std::string>, fs::path>>{
           {{"completion", "bash"}, kBash}, {{"completion", "zsh"}, kZsh}, {{"completion", "fish"}, kFish}, {{"man"}, kMan}}) {
    auto r = gpumix(args, fs::temp_directory_path());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(read(file), r.out) << file << " is not what `gpumix " << args[0] << "` prints now";
  }
  auto bad = gpumix({"completion", "tcsh"}, fs::temp_directory_path());
  EXPECT_EQ(bad.exit_code, 2);
}

TEST(ShellFiles, BashCompletesSubcommandsOptionsAndChoices) {
  EXPECT_EQ(bash_complete("gpumix re"), "report");
  EXPECT_EQ(bash_complete("gpumix probe s"), "show");
  EXPECT_EQ(bash_complete("gpumix k8s render --mo"), "--mode");
  EXPECT_EQ(bash_complete("gpumix ls --format ''"), "table csv json");
  EXPECT_EQ(bash_complete("gpumix report --format j"), "json");
  EXPECT_EQ(bash_complete("gpumix k8s render x.yaml --mode m"), "mps mig");
  // A nested command's options, not its parent's namesake's: probe show has --kind, show has not.
  EXPECT_EQ(bash_complete("gpumix probe show --ki"), "--kind");
  EXPECT_EQ(bash_complete("gpumix show --ki"), "");
  EXPECT_EQ(bash_complete("gpumix monitor --ou"), "") << "--out is gone from monitor";
}

TEST(ShellFiles, FishCompletesAndZshParses) {
  if (!have("fish") || !have("zsh")) GTEST_SKIP() << "fish or zsh not installed (scripts/setup.sh --test installs them)";
  auto n = run_and_capture({"fish", "-n", kFish.string()}, 30s);
  EXPECT_EQ(n.exit_code, 0) << n.err;
  auto z = run_and_capture({"zsh", "-n", kZsh.string()}, 30s);
  EXPECT_EQ(z.exit_code, 0) << z.err;
  auto c = run_and_capture({"fish", "--no-config", "-c", "source '" + kFish.string() + "'; complete -C 'gpumix re'"}, 30s);
  EXPECT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(c.out.substr(0, c.out.find('\t')), "report") << c.out;
  c = run_and_capture({"fish", "--no-config", "-c", "source '" + kFish.string() + "'; complete -C 'gpumix ls --format '"}, 30s);
  EXPECT_NE(c.out.find("json"), std::string::npos) << c.out;
  c = run_and_capture({"fish", "--no-config", "-c", "source '" + kFish.string() + "'; complete -C 'gpumix probe show --'"}, 30s);
  EXPECT_NE(c.out.find("--kind"), std::string::npos) << c.out;
}

TEST(ShellFiles, ManPageRendersWithoutWarnings) {
  if (!have("groff")) GTEST_SKIP() << "groff not installed";
  auto check = run_and_capture({"groff", "-ww", "-z", "-man", kMan.string()}, 30s);
  EXPECT_EQ(check.exit_code, 0) << check.err;
  EXPECT_EQ(check.err, "") << "groff warns";
  auto text = run_and_capture({"sh", "-c", "groff -man -Tutf8 '" + kMan.string() + "' | col -b"}, 30s);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  for (const char* expected : {"gpumix k8s render", "--out-dir", "GPUMIX_RESULTS", "EXIT STATUS", "gpumix probe show"})
    EXPECT_NE(text.out.find(expected), std::string::npos) << expected << " not in the page";
  if (have("man")) {
    auto man = run_and_capture({"sh", "-c", "MANWIDTH=100 man -l '" + kMan.string() + "' 2>&1 >/dev/null"}, 30s);
    EXPECT_EQ(man.out, "") << "man -l warns";
  }
}

TEST(ShellFiles, CmakeInstallPutsThemWhereShellsAndManLook) {
  ScratchDir prefix;
  auto r = run_and_capture({GPUMIX_CMAKE, "--install", GPUMIX_BUILD_DIR, "--prefix", prefix.path().string(), "--component",
                            "shell_files"}, 30s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read(prefix / "share/bash-completion/completions/gpumix"), read(kBash));
  EXPECT_EQ(read(prefix / "share/zsh/site-functions/_gpumix"), read(kZsh));
  EXPECT_EQ(read(prefix / "share/fish/vendor_completions.d/gpumix.fish"), read(kFish));
  EXPECT_EQ(read(prefix / "share/man/man1/gpumix.1"), read(kMan));
}

}  // namespace
}  // namespace gpumix::test
