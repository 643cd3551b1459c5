// Small facts about this process's machine.
#pragma once

#include <string>

namespace gpumix {

std::string hostname();

// Lower-case hex SHA-256 of `data`.
std::string sha256_hex(const std::string& data);

}  // namespace gpumix
