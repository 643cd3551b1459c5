#include "gpumix/tune/emit_mix.hpp"

#include <yaml-cpp/yaml.h>

#include <sstream>

#include "gpumix/spec/mode_variant.hpp"
#include "gpumix/spec/sharing_mode.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix::tune {

namespace {

// The mix's file with `modes`, its relative paths made absolute, and each
// workload's `mps:` section as `variant` sets it (when given).
std::string rewrite(const spec::Mix& mix, const std::vector<std::string>& modes, const spec::ModeVariant* variant,
                    const std::string& note) {
  YAML::Node root = YAML::Load(mix.source_text);
  const auto folder = std::filesystem::absolute(mix.source_path).parent_path();
  auto absolute = [&](YAML::Node node) {
    if (node && node.IsScalar() && std::filesystem::path(node.Scalar()).is_relative())
      node = (folder / node.Scalar()).lexically_normal().string();
  };
  absolute(root["results_dir"]);
  YAML::Node modes_node(YAML::NodeType::Sequence);
  for (const auto& m : modes) modes_node.push_back(m);
  root["modes"] = modes_node;
  for (YAML::Node w : root["workloads"]) {
    absolute(w["workdir"]);
    if (!variant) continue;
    const auto it = variant->mps.find(w["name"].as<std::string>(""));
    if (it == variant->mps.end()) continue;
    const auto& o = it->second;
    if (o.sm_percent) w["mps"]["sm_percent"] = *o.sm_percent;
    if (o.priority) w["mps"]["priority"] = *o.priority;
    if (o.pinned_memory_limit) w["mps"]["pinned_memory_limit"] = std::to_string(*o.pinned_memory_limit >> 20) + "MiB";
  }
  YAML::Emitter out;
  out << root;
  std::ostringstream text;
  std::istringstream lines(note);
  for (std::string line; std::getline(lines, line);) text << "# " << line << "\n";
  text << out.c_str() << "\n";
  return text.str();
}

}  // namespace

std::string emit_mix(const spec::Mix& mix, const std::string& mode, const std::string& note) {
  std::string why;
  const auto variant = spec::parse_mode_variant(mode, &why);
  if (!variant) throw InputError("--emit-mix: " + why);
  return rewrite(mix, {std::string(spec::baseline_mode().name), variant->base}, &*variant, note);
}

std::string emit_modes(const spec::Mix& mix, const std::vector<std::string>& modes, const std::string& note) {
  return rewrite(mix, modes, nullptr, note);
}

}  // namespace gpumix::tune
