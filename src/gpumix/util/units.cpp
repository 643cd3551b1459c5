#include "gpumix/util/units.hpp"

#include <ctime>

namespace gpumix {

std::string format_timestamp(int64_t unix_ns) {
  if (unix_ns <= 0) return "-";
  std::time_t t = static_cast<std::time_t>(unix_ns / 1000000000);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

}  // namespace gpumix
