// A file the user asked gpumix to write (a report, an export, a rendered
// manifest), or standard output. A regular file is written to a temporary
// beside it and renamed over it by commit(): an interrupted or failed write
// never leaves a truncated or half-written file where a good one was. Links,
// devices and FIFOs (`-o /dev/stdout`) are written in place.
#pragma once

#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

namespace gpumix {

class OutputFile {
 public:
  // `path` empty or "-": standard output. Throws InputError when the file's
  // folder cannot take the temporary (missing, not writable).
  explicit OutputFile(const std::string& path);
  ~OutputFile();  // without commit(): the temporary is removed, the old file kept
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  std::ostream& stream() { return to_stdout_ ? std::cout : file_; }
  bool is_stdout() const { return to_stdout_; }
  const std::filesystem::path& path() const { return path_; }
  // Flushes, checks and (for a file) renames it into place; throws RunError
  // naming the path when anything was not written.
  void commit();

 private:
  bool to_stdout_ = false;
  bool committed_ = false;
  std::filesystem::path path_, temp_;
  std::ofstream file_;
};

}  // namespace gpumix
