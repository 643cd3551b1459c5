// Typed exceptions. The CLI maps them to exit statuses: InputError → 2
// (bad input: the user must fix something), RunError → 1 (the run failed).
#pragma once

#include <stdexcept>
#include <string>

namespace gpumix {

// Bad input from the user: a mix file, a command-line value, a run id.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Something failed while running or reading results.
class RunError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A system call failed; the message names the call and errno's text.
class SystemError : public RunError {
 public:
  SystemError(const std::string& what, int err);
  int code() const { return err_; }

 private:
  int err_;
};

}  // namespace gpumix
