#include "gpumix/tune/record.hpp"

#include <nlohmann/json.hpp>

#include "gpumix/json_text.hpp"
#include "gpumix/util/errors.hpp"

namespace gpumix::tune {

using nlohmann::json;

std::string Objective::text() const {
  switch (kind) {
    case Kind::stp: return "stp";
    case Kind::min_np: return "min-np";
    case Kind::throughput: return "throughput:" + workload;
  }
  return "stp";
}

namespace {
std::optional<Objective> objective_of(std::string_view text) {
  if (text == "stp") return Objective{Objective::Kind::stp, ""};
  if (text == "min-np") return Objective{Objective::Kind::min_np, ""};
  if (text.substr(0, 11) == "throughput:" && text.size() > 11) return Objective{Objective::Kind::throughput, std::string(text.substr(11))};
  return std::nullopt;
}
}  // namespace

Objective parse_objective(std::string_view text, const spec::Mix& mix) {
  auto o = objective_of(text);
  if (!o)
    throw InputError("--objective: expected stp (the most total progress), min-np (the fairest: the slowest workload's "
                     "progress) or throughput:WORKLOAD, got '" + std::string(text) + "'");
  if (o->kind == Objective::Kind::throughput) {
    const auto* w = mix.find(o->workload);
    if (!w) throw InputError("--objective " + std::string(text) + ": the mix has no workload named '" + o->workload + "'");
    if (w->role == spec::Role::client)
      throw InputError("--objective " + std::string(text) + ": '" + o->workload + "' is a load generator: its server's progress is counted instead");
  }
  return *o;
}

std::string TuneRecord::to_json_text() const {
  json knobs_json = json::array();
  for (const auto& k : knobs)
    knobs_json.push_back({{"workload", k.workload}, {"setting", to_string(k.setting)}, {"values", k.values}, {"own", k.own}});
  json trials_json = json::array();
  for (const auto& t : trials)
    trials_json.push_back({{"mode", t.mode}, {"settings", t.settings}, {"status", t.status}, {"reason", t.reason}});
  return json_text(json{{"kind", "tune"},
                        {"objective", objective.text()},
                        {"budget_s", budget_s ? json(*budget_s) : json(nullptr)},
                        {"knobs", knobs_json},
                        {"controls", controls},
                        {"slo_owners", slo_owners},
                        {"trials", trials_json},
                        {"confirmed", confirmed},
                        {"stopped_because", stopped_because},
                        {"elapsed_s", elapsed_s ? json(*elapsed_s) : json(nullptr)}});
}

std::optional<TuneRecord> TuneRecord::from_json_text(std::string_view text) {
  const auto j = json::parse(text.begin(), text.end(), nullptr, false);
  if (!j.is_object() || j.value("kind", "") != "tune") return std::nullopt;
  TuneRecord r;
  auto str = [](const json& o, const char* key) {
    auto it = o.find(key);
    return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto strings = [](const json& o, const char* key) {
    std::vector<std::string> out;
    if (auto it = o.find(key); it != o.end() && it->is_array())
      for (const auto& v : *it)
        if (v.is_string()) out.push_back(v.get<std::string>());
    return out;
  };
  r.objective = objective_of(str(j, "objective")).value_or(Objective{});
  if (auto b = j.find("budget_s"); b != j.end() && b->is_number()) r.budget_s = b->get<double>();
  if (auto e = j.find("elapsed_s"); e != j.end() && e->is_number()) r.elapsed_s = e->get<double>();
  if (auto ks = j.find("knobs"); ks != j.end() && ks->is_array())
    for (const auto& k : *ks) {
      if (!k.is_object()) continue;
      Knob knob;
      knob.workload = str(k, "workload");
      knob.setting = str(k, "setting") == "priority" ? Knob::Setting::priority : Knob::Setting::sm_percent;
      if (auto v = k.find("values"); v != k.end() && v->is_array())
        for (const auto& x : *v)
          if (x.is_number_integer()) knob.values.push_back(x.get<int>());
      if (auto o = k.find("own"); o != k.end() && o->is_number_integer()) knob.own = o->get<int>();
      r.knobs.push_back(std::move(knob));
    }
  r.controls = strings(j, "controls");
  if (auto o = j.find("slo_owners"); o != j.end() && o->is_object())
    for (const auto& [client, server] : o->items())
      if (server.is_string()) r.slo_owners[client] = server.get<std::string>();
  r.confirmed = strings(j, "confirmed");
  if (auto ts = j.find("trials"); ts != j.end() && ts->is_array())
    for (const auto& t : *ts)
      if (t.is_object()) r.trials.push_back({str(t, "mode"), str(t, "settings"), str(t, "status"), str(t, "reason")});
  r.stopped_because = str(j, "stopped_because");
  return r;
}

const TrialRecord* TuneRecord::trial(const std::string& mode) const {
  for (const auto& t : trials)
    if (t.mode == mode) return &t;
  return nullptr;
}

}  // namespace gpumix::tune
