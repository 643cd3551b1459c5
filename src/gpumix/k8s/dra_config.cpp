#include "gpumix/k8s/dra_config.hpp"

#include <cmath>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include "gpumix/k8s/names.hpp"

namespace gpumix::k8s {
namespace {

struct Problems {
  std::vector<std::string> list;
  void add(const std::string& field, const std::string& message) { list.push_back(field + ": " + message); }
  // The StrictDecoder: a field the type does not have fails the claim.
  void only(const YAML::Node& map, const std::string& at, const std::set<std::string>& known) {
    if (!map.IsMap()) return add(at, "must be a mapping");
    for (const auto& kv : map)
      if (!known.count(kv.first.Scalar())) add(at + "." + kv.first.Scalar(), "unknown field (the driver decodes strictly)");
  }
};

// A quantity's value in bytes (suffixed forms; the driver reads it with
// resource.Quantity.Value()); nullopt for forms gpumix does not write.
std::optional<double> quantity_bytes(const std::string& q) {
  static const std::regex re(R"(([0-9]+(\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)?)");
  static const std::map<std::string, double> scale{{"", 1},       {"m", 1e-3},    {"k", 1e3},     {"M", 1e6},
                                                   {"G", 1e9},    {"T", 1e12},    {"P", 1e15},    {"E", 1e18},
                                                   {"Ki", 0x1p10}, {"Mi", 0x1p20}, {"Gi", 0x1p30}, {"Ti", 0x1p40},
                                                   {"Pi", 0x1p50}, {"Ei", 0x1p60}};
  std::smatch m;
  if (!std::regex_match(q, m, re)) return std::nullopt;
  return std::stod(m[1].str()) * scale.at(m[3].str());
}

// The driver's limit: the quantity in whole MiB must be above zero
// (sharing.go, limit.Megabyte: "value set too low").
void pinned_limit(Problems& p, const YAML::Node& q, const std::string& at) {
  if (!q.IsScalar() || !is_quantity(q.Scalar())) return p.add(at, "'" + (q.IsScalar() ? q.Scalar() : "") + "' is not a quantity such as 10Gi");
  const auto bytes = quantity_bytes(q.Scalar());
  if (bytes && *bytes < 0x1p20) p.add(at, "'" + q.Scalar() + "' is below 1Mi, which the driver refuses as too low");
}

}  // namespace

std::vector<std::string> check_gpu_config(const YAML::Node& c) {
  Problems p;
  p.only(c, "parameters", {"apiVersion", "kind", "sharing"});
  if (!p.list.empty() && !c.IsMap()) return p.list;
  if (c["apiVersion"].as<std::string>("") != kDraConfigApiVersion) p.add("apiVersion", std::string("must be ") + kDraConfigApiVersion);
  if (c["kind"].as<std::string>("") != "GpuConfig") p.add("kind", "must be GpuConfig");
  const auto s = c["sharing"];
  if (!s) return p.list;  // no sharing: the driver's default
  p.only(s, "sharing", {"strategy", "timeSlicingConfig", "mpsConfig"});
  if (!s.IsMap()) return p.list;
  const auto strategy = s["strategy"].as<std::string>("");
  if (strategy == "TimeSlicing") {
    if (s["mpsConfig"]) p.add("sharing.mpsConfig", "cannot be used with the TimeSlicing strategy");
    if (const auto t = s["timeSlicingConfig"]) {
      p.only(t, "sharing.timeSlicingConfig", {"interval"});
      static const std::set<std::string> intervals{"Default", "Short", "Medium", "Long"};
      if (t.IsMap() && t["interval"] && !intervals.count(t["interval"].as<std::string>("")))
        p.add("sharing.timeSlicingConfig.interval", "'" + t["interval"].as<std::string>("") + "' is not Default, Short, Medium or Long");
    }
  } else if (strategy == "MPS") {
    if (s["timeSlicingConfig"]) p.add("sharing.timeSlicingConfig", "cannot be used with the MPS strategy");
    if (const auto m = s["mpsConfig"]) {
      p.only(m, "sharing.mpsConfig", {"defaultActiveThreadPercentage", "defaultPinnedDeviceMemoryLimit", "defaultPerDevicePinnedMemoryLimit"});
      if (!m.IsMap()) return p.list;
      if (const auto pct = m["defaultActiveThreadPercentage"]) {
        static const std::regex integer("-?[0-9]+");
        if (!pct.IsScalar() || !std::regex_match(pct.Scalar(), integer) || pct.Tag() == "!")
          p.add("sharing.mpsConfig.defaultActiveThreadPercentage", "must be an integer");
        else if (const auto v = std::stoll(pct.Scalar()); v < 0 || v > 100)
          p.add("sharing.mpsConfig.defaultActiveThreadPercentage", "must be 0..100, got " + pct.Scalar());
      }
      if (const auto q = m["defaultPinnedDeviceMemoryLimit"]) pinned_limit(p, q, "sharing.mpsConfig.defaultPinnedDeviceMemoryLimit");
      if (const auto per = m["defaultPerDevicePinnedMemoryLimit"]) {
        if (!per.IsMap()) p.add("sharing.mpsConfig.defaultPerDevicePinnedMemoryLimit", "must map a device index or UUID to a quantity");
        else
          for (const auto& kv : per)
            pinned_limit(p, kv.second, "sharing.mpsConfig.defaultPerDevicePinnedMemoryLimit." + kv.first.Scalar());
      }
    }
  } else {
    p.add("sharing.strategy", "'" + strategy + "' is not TimeSlicing or MPS");
  }
  return p.list;
}

}  // namespace gpumix::k8s
