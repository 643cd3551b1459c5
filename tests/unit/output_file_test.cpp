// OutputFile: what the user asked to be written replaces the old file whole,
// or not at all.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include "fixtures/temp_dir.hpp"
#include "gpumix/util/errors.hpp"
#include "gpumix/util/output_file.hpp"

namespace gpumix {
namespace {

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

size_t entries(const std::filesystem::path& dir) {
  return static_cast<size_t>(std::distance(std::filesystem::directory_iterator(dir), {}));
}

TEST(OutputFile, ReplacesTheFileWholeOnCommit) {
  test::TempDir tmp{"output-file"};
  const auto path = tmp / "report.html";
  std::ofstream(path) << "old report";
  {
    OutputFile out(path.string());
    out.stream() << "new ";
    EXPECT_EQ(read(path), "old report") << "the old file stays until the new one is complete";
    out.stream() << "report";
    out.commit();
  }
  EXPECT_EQ(read(path), "new report");
  EXPECT_EQ(entries(tmp.path()), 1u) << "no temporary left beside it";
}

TEST(OutputFile, AnAbandonedWriteLeavesTheOldFileAndNoTemporary) {
  test::TempDir tmp{"output-file"};
  const auto path = tmp / "export.json";
  std::ofstream(path) << "{\"complete\": true}";
  try {
    OutputFile out(path.string());
    out.stream() << "{\"half";
    throw RunError("the analysis failed halfway");
  } catch (const RunError&) {
  }
  EXPECT_EQ(read(path), "{\"complete\": true}");
  EXPECT_EQ(entries(tmp.path()), 1u);
}

TEST(OutputFile, AFolderThatIsNotThereIsBadInputNamingThePath) {
  test::TempDir tmp{"output-file"};
  const auto path = tmp / "missing" / "report.html";
  try {
    OutputFile out(path.string());
    FAIL() << "opened a file in a missing folder";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(path.string() + ": cannot write"), std::string::npos) << e.what();
  }
}

// A link is not replaced by a file (its target is written), and a device is
// never renamed over: `-o /dev/stdout` must not clobber /dev.
TEST(OutputFile, LinksAndDevicesAreWrittenInPlace) {
  test::TempDir tmp{"output-file"};
  const auto target = tmp / "target.json";
  const auto link = tmp / "latest.json";
  std::ofstream(target) << "old";
  std::filesystem::create_symlink(target, link);
  {
    OutputFile out(link.string());
    out.stream() << "new";
    out.commit();
  }
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  EXPECT_EQ(read(target), "new");
  {
    OutputFile out("/dev/null");
    out.stream() << "discarded";
    out.commit();
  }
  EXPECT_TRUE(std::filesystem::is_character_file("/dev/null"));
  EXPECT_FALSE(std::filesystem::exists("/dev/null.tmp-" + std::to_string(::getpid())));
}

TEST(OutputFile, DashAndEmptyAreStandardOutput) {
  for (const char* p : {"", "-"}) {
    OutputFile out(p);
    EXPECT_TRUE(out.is_stdout());
    EXPECT_EQ(&out.stream(), &std::cout);
  }
}

}  // namespace
}  // namespace gpumix
