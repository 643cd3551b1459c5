#include "gpumix/util/output_file.hpp"

#include <unistd.h>

#include <iostream>
#include <system_error>

#include "gpumix/util/errors.hpp"

namespace gpumix {

OutputFile::OutputFile(const std::string& path) : to_stdout_(path.empty() || path == "-"), path_(path) {
  if (to_stdout_) return;
  // Only a regular file (or a new one) is replaced by renaming: a link keeps
  // pointing where it did (its target is written), and /dev/stdout, a FIFO or
  // a terminal is written as it is.
  std::error_code ec;
  const auto own = std::filesystem::symlink_status(path_, ec);
  if (std::filesystem::exists(own) && !std::filesystem::is_regular_file(own)) {
    file_.open(path_, std::ios::binary | std::ios::trunc);
    if (!file_) throw InputError(path + ": cannot write");
    return;
  }
  // Beside the file: the rename stays within one file system.
  temp_ = path_;
  temp_ += ".tmp-" + std::to_string(::getpid());
  file_.open(temp_, std::ios::binary | std::ios::trunc);
  if (!file_) throw InputError(path + ": cannot write (its folder is missing or not writable)");
}

OutputFile::~OutputFile() {
  if (to_stdout_ || committed_ || temp_.empty()) return;
  file_.close();
  std::error_code ec;
  std::filesystem::remove(temp_, ec);
}

void OutputFile::commit() {
  stream().flush();
  if (to_stdout_) {
    if (!std::cout) throw RunError("standard output: write failed");
    return;
  }
  file_.close();
  if (temp_.empty()) {  // written in place
    if (!file_) throw RunError(path_.string() + ": write failed");
    committed_ = true;
    return;
  }
  if (!file_) throw RunError(path_.string() + ": write failed (disk full?); the file was left as it was");
  std::error_code ec;
  std::filesystem::rename(temp_, path_, ec);
  if (ec) throw RunError(path_.string() + ": cannot replace: " + ec.message());
  committed_ = true;
}

}  // namespace gpumix
