#include "gpumix/util/errors.hpp"

#include <cstring>

namespace gpumix {

SystemError::SystemError(const std::string& what, int err)
    : RunError(what + ": " + std::strerror(err)), err_(err) {}

}  // namespace gpumix
