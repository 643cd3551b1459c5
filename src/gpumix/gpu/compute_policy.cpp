#include "gpumix/gpu/compute_policy.hpp"

#include <cctype>
#include <charconv>
#include <sstream>
#include <vector>

#include "gpumix/util/subprocess.hpp"

namespace gpumix::gpu {

std::map<int, std::string> parse_compute_policies(std::string_view text) {
  std::map<int, std::string> out;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    // A table row: "|   0   Timeslice       Default       |".
    for (char& c : line)
      if (c == '|') c = ' ';
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string s; words >> s;) w.push_back(s);
    if (w.size() < 3) continue;
    int index = -1;
    auto [p, ec] = std::from_chars(w[0].data(), w[0].data() + w[0].size(), index);
    if (ec != std::errc() || p != w[0].data() + w[0].size() || index < 0) continue;
    std::string policy = w[1];
    for (char& c : policy) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (policy != "timeslice") continue;
    std::string value = w[2];
    for (size_t i = 3; i < w.size(); ++i) value += " " + w[i];
    out[index] = value;
  }
  return out;
}

std::map<int, std::string> read_compute_policies() {
  try {
    auto r = run_and_capture({"nvidia-smi", "compute-policy", "-l"}, std::chrono::seconds(5));
    if (r.exit_code != 0) return {};
    return parse_compute_policies(r.out);
  } catch (const std::exception&) {
    return {};
  }
}

}  // namespace gpumix::gpu
