#include "gpumix/spec/effective_plan.hpp"

#include <nlohmann/json.hpp>

#include "gpumix/json_text.hpp"

namespace gpumix::spec {

using nlohmann::json;

namespace {

json or_null(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }
json or_null(const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); }
json or_null(const std::optional<int>& v) { return v ? json(*v) : json(nullptr); }
json or_null(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }

// Readers that leave `out` as it is when the field is absent or of another type.
void read(const json& j, const char* key, std::string& out) {
  if (auto it = j.find(key); it != j.end() && it->is_string()) out = it->get<std::string>();
}
void read(const json& j, const char* key, double& out) {
  if (auto it = j.find(key); it != j.end() && it->is_number()) out = it->get<double>();
}
template <class Integer>
void read_integer(const json& j, const char* key, Integer& out) {
  if (auto it = j.find(key); it != j.end() && it->is_number_integer()) out = it->get<Integer>();
}
void read(const json& j, const char* key, std::optional<double>& out) {
  if (auto it = j.find(key); it != j.end() && it->is_number()) out = it->get<double>();
}
template <class Integer>
void read_integer(const json& j, const char* key, std::optional<Integer>& out) {
  if (auto it = j.find(key); it != j.end() && it->is_number_integer()) out = it->get<Integer>();
}
void read(const json& j, const char* key, std::optional<std::string>& out) {
  if (auto it = j.find(key); it != j.end() && it->is_string()) out = it->get<std::string>();
}
void read(const json& j, const char* key, std::vector<std::string>& out) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return;
  out.clear();
  for (const auto& v : *it)
    if (v.is_string()) out.push_back(v.get<std::string>());
}
template <class Enum>
void read_enum(const json& j, const char* key, Enum& out, std::optional<Enum> (*from_string)(const std::string&)) {
  std::string text;
  read(j, key, text);
  if (auto e = from_string(text)) out = *e;
}
// Objects of an array field, each read by `read_one`.
template <class T, class Reader>
std::vector<T> read_objects(const json& j, const char* key, Reader read_one) {
  std::vector<T> out;
  if (auto it = j.find(key); it != j.end() && it->is_array())
    for (const auto& item : *it)
      if (item.is_object()) out.push_back(read_one(item));
  return out;
}

json workload_json(const PlannedWorkload& w) {
  json slos = json::array();
  for (const auto& s : w.slos) slos.push_back({{"metric", to_string(s.metric)}, {"percentile", s.percentile}, {"ms", s.limit_ms}});
  return {{"name", w.name},
          {"role", to_string(w.role)},
          {"builtin", or_null(w.builtin)},
          {"argv", w.argv},
          {"stop", to_string(w.stop)},
          {"stop_duration_s", or_null(w.stop_duration_s)},
          {"stop_iterations", w.stop_iterations},
          {"start_delay_s", w.start_delay_s},
          {"warmup", to_string(w.warmup)},
          {"warmup_s", or_null(w.warmup_s)},
          {"timeout_s", or_null(w.timeout_s)},
          {"slo", slos},
          {"gpu_memory_bytes", or_null(w.gpu_memory_bytes)},
          {"mps",
           {{"sm_percent", or_null(w.mps.sm_percent)},
            {"priority", or_null(w.mps.priority)},
            {"pinned_memory_limit_bytes", or_null(w.mps.pinned_memory_limit)},
            {"weight", or_null(w.mps.weight)}}},
          {"seed", w.seed},
          {"launcher", to_string(w.launcher)},
          {"image", or_null(w.image)}};
}

PlannedWorkload workload_of(const json& j) {
  PlannedWorkload w;
  read(j, "name", w.name);
  read_enum(j, "role", w.role, role_from_string);
  read(j, "builtin", w.builtin);
  read(j, "argv", w.argv);
  read_enum(j, "stop", w.stop, stop_kind_from_string);
  read(j, "stop_duration_s", w.stop_duration_s);
  read_integer(j, "stop_iterations", w.stop_iterations);
  read(j, "start_delay_s", w.start_delay_s);
  read_enum(j, "warmup", w.warmup, warmup_kind_from_string);
  read(j, "warmup_s", w.warmup_s);
  read(j, "timeout_s", w.timeout_s);
  w.slos = read_objects<PlannedSlo>(j, "slo", [](const json& s) {
    PlannedSlo slo;
    read(s, "percentile", slo.percentile);
    read(s, "ms", slo.limit_ms);
    read_enum(s, "metric", slo.metric, slo_metric_from_string);
    return slo;
  });
  read_integer(j, "gpu_memory_bytes", w.gpu_memory_bytes);
  if (auto m = j.find("mps"); m != j.end() && m->is_object()) {
    read_integer(*m, "sm_percent", w.mps.sm_percent);
    read_integer(*m, "priority", w.mps.priority);
    read_integer(*m, "pinned_memory_limit_bytes", w.mps.pinned_memory_limit);
    read(*m, "weight", w.mps.weight);
  }
  read_integer(j, "seed", w.seed);
  read_enum(j, "launcher", w.launcher, launcher_kind_from_string);
  read(j, "image", w.image);
  return w;
}

}  // namespace

EffectivePlan EffectivePlan::of(const Mix& mix, std::vector<PlannedCell> cells) {
  EffectivePlan p;
  p.recorded = true;
  p.modes = mix.modes;
  p.repeats = mix.repeats;
  p.seed = mix.seed;
  p.cell_duration_s = to_seconds(mix.cell_duration);
  p.stop_grace_s = to_seconds(mix.stop_grace);
  p.setup_timeout_s = to_seconds(mix.setup_timeout);
  p.evidence = mix.evidence;
  if (mix.auto_repeats.enabled) {
    AutoRepeatsRecord r;
    r.max = mix.auto_repeats.max;
    if (mix.auto_repeats.budget) r.budget_s = to_seconds(*mix.auto_repeats.budget);
    r.precision = mix.auto_repeats.precision;
    p.repeats_auto = r;
  }
  for (const auto& w : mix.workloads) {
    PlannedWorkload pw;
    pw.name = w.name;
    pw.role = w.role;
    pw.builtin = w.builtin;
    pw.argv = w.argv;
    pw.stop = w.stop.kind;
    if (w.stop.duration) pw.stop_duration_s = to_seconds(*w.stop.duration);
    pw.stop_iterations = w.stop.iterations;
    pw.start_delay_s = to_seconds(w.start_delay);
    pw.warmup = w.warmup.kind;
    if (w.warmup.kind == WarmupKind::duration) pw.warmup_s = to_seconds(w.warmup.duration);
    if (w.timeout) pw.timeout_s = to_seconds(*w.timeout);
    for (const auto& s : w.slos) pw.slos.push_back({s.percentile, to_seconds(s.limit) * 1e3, s.metric});
    pw.gpu_memory_bytes = w.gpu_memory;
    pw.mps = w.mps;
    pw.seed = workload_seed(mix.seed, w.name);
    pw.launcher = w.launcher;
    if (w.launcher == LauncherKind::container) pw.image = w.container.engine + " " + w.container.image;
    p.workloads.push_back(std::move(pw));
  }
  p.cells = std::move(cells);
  return p;
}

EffectivePlan EffectivePlan::without_selection() const {
  EffectivePlan p = *this;
  p.selected_cell.reset();
  p.fleet_id.clear();
  return p;
}

json EffectivePlan::to_json() const {
  json workloads_json = json::array();
  for (const auto& w : workloads) workloads_json.push_back(workload_json(w));
  json cells_json = json::array();
  for (const auto& c : cells) cells_json.push_back({{"label", c.label}, {"mode", c.mode}, {"repeat", c.repeat}});
  json auto_json = nullptr;
  if (repeats_auto) {
    const auto& r = *repeats_auto;
    auto_json = {{"max", r.max}, {"budget_s", or_null(r.budget_s)}, {"precision", r.precision}};
    if (r.repeats_run) {
      auto_json["repeats_run"] = *r.repeats_run;
      auto_json["stopped_because"] = r.stopped_because;
      auto_json["elapsed_s"] = or_null(r.elapsed_s);
    }
  }
  json j = {{"modes", modes},
            {"repeats", repeats},
            {"seed", seed},
            {"cell_duration_s", cell_duration_s},
            {"stop_grace_s", stop_grace_s},
            {"setup_timeout_s", setup_timeout_s},
            {"evidence",
             {{"min_iterations", evidence.min_iterations},
              {"min_tail_requests", evidence.min_tail_requests},
              {"max_drift", evidence.max_drift}}},
            {"repeats_auto", auto_json},
            {"workloads", workloads_json},
            {"cells", cells_json}};
  if (selected_cell) {
    j["selected_cell"] = *selected_cell;
    j["fleet_id"] = fleet_id;
  }
  if (!search_json.empty()) j["search"] = json::parse(search_json, nullptr, false);
  return j;
}

EffectivePlan EffectivePlan::from_json(std::string_view text) {
  EffectivePlan p;
  const auto j = json::parse(text.begin(), text.end(), nullptr, false);
  if (!j.is_object()) return p;
  p.recorded = true;
  read(j, "modes", p.modes);
  read_integer(j, "repeats", p.repeats);
  read_integer(j, "seed", p.seed);
  read(j, "cell_duration_s", p.cell_duration_s);
  read(j, "stop_grace_s", p.stop_grace_s);
  read(j, "setup_timeout_s", p.setup_timeout_s);
  if (auto e = j.find("evidence"); e != j.end() && e->is_object()) {
    read_integer(*e, "min_iterations", p.evidence.min_iterations);
    read(*e, "min_tail_requests", p.evidence.min_tail_requests);
    read(*e, "max_drift", p.evidence.max_drift);
  }
  if (auto r = j.find("repeats_auto"); r != j.end() && r->is_object()) {
    AutoRepeatsRecord rec;
    read_integer(*r, "max", rec.max);
    read(*r, "budget_s", rec.budget_s);
    read(*r, "precision", rec.precision);
    read_integer(*r, "repeats_run", rec.repeats_run);
    read(*r, "stopped_because", rec.stopped_because);
    read(*r, "elapsed_s", rec.elapsed_s);
    p.repeats_auto = rec;
  }
  p.workloads = read_objects<PlannedWorkload>(j, "workloads", workload_of);
  p.cells = read_objects<PlannedCell>(j, "cells", [](const json& c) {
    PlannedCell cell;
    read(c, "label", cell.label);
    read(c, "mode", cell.mode);
    read_integer(c, "repeat", cell.repeat);
    return cell;
  });
  read_integer(j, "selected_cell", p.selected_cell);
  read(j, "fleet_id", p.fleet_id);
  if (auto s = j.find("search"); s != j.end() && s->is_object()) p.search_json = json_text(*s);
  return p;
}

}  // namespace gpumix::spec
