#include "gpumix/report/charts.hpp"
#include "gpumix/analysis/mps_shares.hpp"
#include "gpumix/report/analysis_tables.hpp"
#include "gpumix/report/tune_view.hpp"
#include "gpumix/spec/sharing_mode.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>

namespace gpumix::report {
namespace {

using nlohmann::json;

const char* kSchema = "https://vega.github.io/schema/vega-lite/v6.json";

bool finite(const std::optional<double>& v) { return v && std::isfinite(*v); }

std::string ci_text(const analysis::Estimate& e, int digits = 3) {
  if (!e.ci_low || !e.ci_high) return e.n() <= 1 ? "one repeat: no interval" : "";
  return fmt::format("{:.{}g} to {:.{}g}", *e.ci_low, digits, *e.ci_high, digits);
}

json base_spec(const std::string& title, const std::string& subtitle) {
  return {{"$schema", kSchema},
          {"title", {{"text", title}, {"subtitle", subtitle}, {"anchor", "start"}, {"fontSize", 15}, {"subtitleColor", "#555"}}},
          {"config",
           {{"font", "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"},
            {"view", {{"stroke", nullptr}}},
            {"axis", {{"labelFontSize", 11}, {"titleFontSize", 12}, {"gridColor", "#e6e6e6"}}},
            {"legend", {{"labelFontSize", 11}, {"titleFontSize", 12}}}}}};
}

json tooltip(std::initializer_list<json> fields) { return json::array_t(fields); }

json field(const std::string& name, const std::string& type, const std::string& title, const std::string& format = "") {
  json f = {{"field", name}, {"type", type}, {"title", title}};
  if (!format.empty()) f["format"] = format;
  return f;
}

bool any_interval(const json& rows) {
  for (const auto& r : rows)
    if (r.contains("lo") && !r["lo"].is_null() && r.contains("hi") && !r["hi"].is_null()) return true;
  return false;
}

int bar_width(size_t groups, size_t per_group) {
  return static_cast<int>(std::clamp<size_t>(80 + groups * std::max<size_t>(per_group, 1) * 34, 320, 960));
}

// Bars of a value per workload and mode, with the 95 % interval as whiskers.
// Long workload names are slanted (level, they would run into each other).
json grouped_bars(const json& rows, const json& color, const std::vector<std::string>& modes, const std::string& y_title,
                  const json& tips, size_t workloads) {
  size_t longest = 0;
  for (const auto& r : rows) longest = std::max(longest, r["workload"].get<std::string>().size());
  const json axis = longest * 6 > 34 * std::max<size_t>(modes.size(), 1) + 10
                        ? json{{"labelAngle", -30}, {"labelAlign", "right"}, {"labelLimit", 220}}
                        : json{{"labelAngle", 0}};
  json x = {{"field", "workload"}, {"type", "nominal"}, {"title", "workload"}, {"axis", axis}};
  json offset = {{"field", "mode"}, {"type", "nominal"}, {"sort", modes}};
  json layers = json::array();
  layers.push_back({{"mark", {{"type", "bar"}, {"cornerRadiusEnd", 2}}},
                    {"encoding",
                     {{"x", x},
                      {"xOffset", offset},
                      {"y", {{"field", "value"}, {"type", "quantitative"}, {"title", y_title}}},
                      {"color", color},
                      {"tooltip", tips}}}});
  // Whiskers only where some value has an interval (else their scale would be empty).
  if (any_interval(rows)) {
    layers.push_back({{"transform", json::array({{{"filter", "isValid(datum.lo) && isValid(datum.hi)"}}})},
                      {"mark", {{"type", "rule"}, {"color", "#222"}, {"strokeWidth", 1.5}}},
                      {"encoding",
                       {{"x", x},
                        {"xOffset", offset},
                        {"y", {{"field", "lo"}, {"type", "quantitative"}}},
                        {"y2", {{"field", "hi"}}},
                        {"tooltip", tips}}}});
  }
  return {{"width", bar_width(workloads, modes.size())}, {"height", 260}, {"data", {{"values", rows}}}, {"layer", layers}};
}

Chart np_chart(const analysis::Analysis& a) {
  json rows = json::array();
  std::vector<std::string> modes;
  for (const auto& m : a.modes) {
    if (m.baseline) continue;
    for (const auto& w : m.workloads) {
      if (!finite(w.np.mean)) continue;
      if (std::find(modes.begin(), modes.end(), m.mode) == modes.end()) modes.push_back(m.mode);
      rows.push_back({{"workload", w.workload},
                      {"mode", m.mode},
                      {"value", *w.np.mean},
                      {"lo", finite(w.np.ci_low) ? json(*w.np.ci_low) : json(nullptr)},
                      {"hi", finite(w.np.ci_high) ? json(*w.np.ci_high) : json(nullptr)},
                      {"ci", ci_text(w.np)},
                      {"repeats", w.np.n()},
                      {"basis", w.np_basis},
                      {"throughput", finite(w.throughput.mean) ? json(*w.throughput.mean) : json(nullptr)}});
    }
  }
  if (rows.empty()) return {};
  auto tips = tooltip({field("workload", "nominal", "workload"), field("mode", "nominal", "mode"),
                       field("value", "quantitative", "NP (shared ÷ alone)", ".3f"), field("ci", "nominal", "95% interval"),
                       field("repeats", "quantitative", "repeats"), field("basis", "nominal", "NP measured by"),
                       field("throughput", "quantitative", "throughput shared (samples/s)", ",.1f")});
  json spec = base_spec("Normalized progress per workload",
                        "progress shared ÷ progress alone (throughput, or mean request latency for interactive, server and latency-only workloads); "
                        "1 = as fast as alone; mean over repeats, whiskers: 95% interval");
  spec.update(grouped_bars(rows, mode_color_scale(modes, a.planned_modes), modes, "NP (shared ÷ alone)", tips, a.workloads.size()));
  spec["layer"].push_back({{"data", {{"values", json::array({json::object()})}}},
                           {"mark", {{"type", "rule"}, {"strokeDash", {4, 4}}, {"color", "#777"}}},
                           {"encoding", {{"y", {{"datum", 1}}}, {"tooltip", {{"value", "NP 1 = as fast as alone"}}}}}});
  return {"np", "np", spec};
}

Chart system_chart(const analysis::Analysis& a) {
  json rows = json::array();
  std::vector<std::string> modes;
  const std::vector<std::pair<std::string, std::string>> metrics = {
      {"STP", "STP ↑"}, {"ANTT", "ANTT ↓"}, {"fairness", "fairness ↑"}, {"Jain", "Jain's index ↑"}};
  for (const auto& m : a.modes) {
    if (m.baseline) continue;
    const std::map<std::string, const analysis::Estimate*> by = {
        {"STP", &m.stp}, {"ANTT", &m.antt}, {"fairness", &m.fairness}, {"Jain", &m.jain}};
    for (const auto& [key, label] : metrics) {
      const auto& e = *by.at(key);
      if (!finite(e.mean)) continue;
      if (std::find(modes.begin(), modes.end(), m.mode) == modes.end()) modes.push_back(m.mode);
      rows.push_back({{"metric", label},
                      {"mode", m.mode},
                      {"value", *e.mean},
                      {"lo", finite(e.ci_low) ? json(*e.ci_low) : json(nullptr)},
                      {"hi", finite(e.ci_high) ? json(*e.ci_high) : json(nullptr)},
                      {"ci", ci_text(e)},
                      {"repeats", e.n()}});
    }
  }
  if (rows.empty()) return {};
  std::vector<std::string> order;
  for (const auto& [key, label] : metrics) order.push_back(label);
  auto tips = tooltip({field("mode", "nominal", "mode"), field("metric", "nominal", "figure"),
                       field("value", "quantitative", "value", ".3f"), field("ci", "nominal", "95% interval"),
                       field("repeats", "quantitative", "repeats")});
  json x = {{"field", "mode"}, {"type", "nominal"}, {"sort", modes}, {"title", nullptr}, {"axis", {{"labelAngle", 0}}}};
  json layers = json::array();
  layers.push_back({{"mark", {{"type", "bar"}, {"cornerRadiusEnd", 2}}},
                    {"encoding",
                     {{"x", x},
                      {"y", {{"field", "value"}, {"type", "quantitative"}, {"title", nullptr}}},
                      {"color", mode_color_scale(modes, a.planned_modes)},
                      {"tooltip", tips}}}});
  if (any_interval(rows)) {
    layers.push_back({{"transform", json::array({{{"filter", "isValid(datum.lo) && isValid(datum.hi)"}}})},
                      {"mark", {{"type", "rule"}, {"color", "#222"}, {"strokeWidth", 1.5}}},
                      {"encoding", {{"x", x}, {"y", {{"field", "lo"}, {"type", "quantitative"}}}, {"y2", {{"field", "hi"}}}, {"tooltip", tips}}}});
  }
  json spec = base_spec("System throughput and fairness per mode",
                        "STP = Σ NP, ANTT = mean 1/NP, fairness = min NP ÷ max NP; ↑ higher is better, ↓ lower is better; "
                        "mean over repeats, whiskers: 95% interval");
  spec["data"] = {{"values", rows}};
  spec["facet"] = {{"column", {{"field", "metric"}, {"type", "nominal"}, {"sort", order}, {"title", nullptr},
                               {"header", {{"labelFontSize", 12}, {"labelFontWeight", "bold"}}}}}};
  spec["spec"] = {{"width", std::clamp<int>(static_cast<int>(modes.size()) * 48, 150, 260)}, {"height", 200}, {"layer", layers}};
  spec["resolve"] = {{"scale", {{"y", "independent"}}}};
  return {"system", "system", spec};
}

// A distribution per cell (one line each, coloured by mode), faceted by
// workload: request latency, or a streamed completion's TTFT or TPOT.
struct CdfOf {
  std::vector<std::pair<double, double>> analysis::WorkloadSummary::*cdf;
  const char* id;
  const char* title;
  const char* caption;
  const char* axis;  // the x axis: what the ms are
};

Chart cdf_chart(const analysis::Analysis& a, const CdfOf& of) {
  json rows = json::array();
  std::vector<std::string> modes;
  for (const auto& c : a.cells)
    for (const auto& w : c.workloads)
      for (const auto& [ms, share] : w.summary.*of.cdf)
        if (ms > 0 && std::isfinite(ms)) {
          rows.push_back({{"workload", w.summary.name}, {"mode", c.cell.mode}, {"cell", c.cell.label}, {"ms", ms}, {"share", share}});
          if (std::find(modes.begin(), modes.end(), c.cell.mode) == modes.end()) modes.push_back(c.cell.mode);
        }
  if (rows.empty()) return {};
  json spec = base_spec(of.title, of.caption);
  spec["data"] = {{"values", rows}};
  spec["facet"] = {{"field", "workload"}, {"type", "nominal"}, {"title", nullptr},
                   {"header", {{"labelFontSize", 12}, {"labelFontWeight", "bold"}}}};
  spec["columns"] = 2;
  spec["spec"] = {
      {"width", 380},
      {"height", 220},
      {"mark", {{"type", "line"}, {"interpolate", "step-after"}, {"strokeWidth", 1.8}}},
      {"encoding",
       {{"x", {{"field", "ms"}, {"type", "quantitative"}, {"scale", {{"type", "log"}}}, {"title", std::string(of.axis) + " (ms, log scale)"}}},
        {"y", {{"field", "share"}, {"type", "quantitative"}, {"scale", {{"domain", {0, 1}}}}, {"axis", {{"format", "%"}}},
               {"title", "share of requests within"}}},
        {"color", mode_color_scale(modes, a.planned_modes)},
        {"detail", {{"field", "cell"}, {"type", "nominal"}}},
        {"tooltip", tooltip({field("cell", "nominal", "cell"), field("ms", "quantitative", std::string(of.axis) + " (ms)", ".2f"),
                             field("share", "quantitative", "share within", ".2%")})}}}};
  spec["resolve"] = {{"scale", {{"x", "independent"}}}};
  return {of.id, "latency", spec};
}

Chart latency_cdf_chart(const analysis::Analysis& a) {
  return cdf_chart(a, {&analysis::WorkloadSummary::latency_cdf, "latency-cdf", "Request latency distribution (CDF)",
                       "share of requests answered within a latency, per cell; exclusive = the workload alone", "request latency"});
}

// Only for runs whose workloads streamed LLM completions.
Chart ttft_cdf_chart(const analysis::Analysis& a) {
  return cdf_chart(a, {&analysis::WorkloadSummary::ttft_cdf, "ttft-cdf", "Time to first token distribution (CDF)",
                       "share of streamed completions whose first token came within a time, per cell; exclusive = the workload alone",
                       "time to first token"});
}

Chart tpot_cdf_chart(const analysis::Analysis& a) {
  return cdf_chart(a, {&analysis::WorkloadSummary::tpot_cdf, "tpot-cdf", "Time per output token distribution (CDF)",
                       "share of streamed completions whose mean time per output token (after the first) was within a time, per "
                       "cell; exclusive = the workload alone",
                       "time per output token"});
}

Chart p99_chart(const analysis::Analysis& a) {
  json rows = json::array(), slos = json::array();
  std::vector<std::string> modes;
  std::vector<std::string> workloads;
  for (const auto& m : a.modes) {
    for (const auto& w : m.workloads) {
      if (!finite(w.latency_p99_ms.mean)) continue;
      if (std::find(modes.begin(), modes.end(), m.mode) == modes.end()) modes.push_back(m.mode);
      if (std::find(workloads.begin(), workloads.end(), w.workload) == workloads.end()) workloads.push_back(w.workload);
      const auto& e = w.latency_p99_ms;
      rows.push_back({{"workload", w.workload},
                      {"mode", m.mode},
                      {"value", *e.mean},
                      {"lo", finite(e.ci_low) ? json(*e.ci_low) : json(nullptr)},
                      {"hi", finite(e.ci_high) ? json(*e.ci_high) : json(nullptr)},
                      {"ci", ci_text(e)},
                      {"repeats", e.n()},
                      {"inflation", finite(w.p99_inflation.mean) ? json(*w.p99_inflation.mean) : json(nullptr)}});
    }
  }
  if (rows.empty()) return {};
  // One SLO tick per workload and percentile (the same in every mode).
  std::map<std::string, bool> seen;
  for (const auto& m : a.modes)
    for (const auto* s : m.slos())
      if (std::find(workloads.begin(), workloads.end(), s->workload) != workloads.end() && !seen[s->label()]) {
        seen[s->label()] = true;
        slos.push_back({{"workload", s->workload}, {"limit", s->limit_ms}, {"slo", s->label()}});
      }
  auto tips = tooltip({field("workload", "nominal", "workload"), field("mode", "nominal", "mode"),
                       field("value", "quantitative", "p99 (ms)", ".2f"), field("ci", "nominal", "95% interval"),
                       field("inflation", "quantitative", "p99 shared ÷ alone", ".2f"), field("repeats", "quantitative", "repeats")});
  json spec = base_spec("Request latency p99 per mode",
                        "mean over repeats, whiskers: 95% interval; red ticks: the SLO's limit; exclusive = alone");
  spec.update(grouped_bars(rows, mode_color_scale(modes, a.planned_modes), modes, "p99 latency (ms)", tips, workloads.size()));
  if (!slos.empty()) {
    spec["layer"].push_back(
        {{"data", {{"values", slos}}},
         {"mark", {{"type", "tick"}, {"color", "#d62728"}, {"thickness", 2.5}}},
         {"encoding",
          {{"x", {{"field", "workload"}, {"type", "nominal"}, {"title", "workload"}}},
           {"y", {{"field", "limit"}, {"type", "quantitative"}}},
           {"tooltip", tooltip({field("slo", "nominal", "SLO"), field("limit", "quantitative", "limit (ms)", ".1f")})}}}});
  }
  return {"p99", "latency", spec};
}

Chart activity_chart(const analysis::RunInput& in, const analysis::Analysis& a) {
  json rows = json::array();
  std::vector<std::string> cells;
  std::vector<std::string> series_seen;
  for (const auto& c : a.cells) {
    const auto series = analysis::activity_series(in, c);
    if (series.empty()) continue;
    cells.push_back(c.cell.label);
    for (const auto& p : series) {
      rows.push_back({{"kind", "series"}, {"cell", c.cell.label}, {"mode", c.cell.mode}, {"t", p.t_s}, {"series", p.series},
                      {"percent", p.percent}});
      if (std::find(series_seen.begin(), series_seen.end(), p.series) == series_seen.end()) series_seen.push_back(p.series);
    }
    int lane = 0;  // labels of workloads starting together stack instead of overlapping
    for (const auto& w : c.workloads) {
      if (w.summary.status == store::WorkloadStatus::skipped) continue;
      for (const auto& w_row : in.workloads) {
        if (w_row.id != w.summary.workload_id) continue;
        if (w_row.started_ns > 0)
          rows.push_back({{"kind", "mark"}, {"cell", c.cell.label}, {"event", "start"}, {"workload", w_row.name},
                          {"t", static_cast<double>(w_row.started_ns - c.cell.started_ns) / 1e9}, {"lane", 2 + 12 * lane++}});
        if (w_row.ended_ns > 0 && w_row.started_ns > 0)
          rows.push_back({{"kind", "mark"}, {"cell", c.cell.label}, {"event", "stop"}, {"workload", w_row.name},
                          {"t", static_cast<double>(w_row.ended_ns - c.cell.started_ns) / 1e9},
                          {"status", store::to_string(w_row.status)}});
      }
    }
  }
  if (cells.empty()) return {};
  const std::vector<std::string> all_series = analysis::activity_series_names();
  // Tableau 10, in the metric table's order.
  const std::vector<std::string> all_colors = {"#4c78a8", "#e45756", "#54a24b", "#b279a2", "#f58518",
                                               "#72b7b2", "#eeca3b", "#ff9da6", "#9d755d", "#bab0ac"};
  json domain = json::array(), range = json::array();
  for (size_t i = 0; i < all_series.size(); ++i)
    if (std::find(series_seen.begin(), series_seen.end(), all_series[i]) != series_seen.end()) {
      domain.push_back(all_series[i]);
      range.push_back(all_colors[i % all_colors.size()]);
    }
  json x = {{"field", "t"}, {"type", "quantitative"}, {"title", "seconds since the cell started"}};
  json layers = json::array();
  layers.push_back(
      {{"transform", json::array({{{"filter", "datum.kind === 'series'"}}})},
       {"mark", {{"type", "line"}, {"strokeWidth", 1.5}}},
       {"encoding",
        {{"x", x},
         {"y", {{"field", "percent"}, {"type", "quantitative"}, {"scale", {{"domain", {0, 100}}}}, {"title", "%"}}},
         {"color", {{"field", "series"}, {"type", "nominal"}, {"scale", {{"domain", domain}, {"range", range}}}, {"title", "activity"}}},
         {"tooltip", tooltip({field("series", "nominal", "metric"), field("t", "quantitative", "time (s)", ".1f"),
                              field("percent", "quantitative", "percent", ".1f")})}}}});
  layers.push_back(
      {{"transform", json::array({{{"filter", "datum.kind === 'mark'"}}})},
       {"mark", {{"type", "rule"}, {"color", "#333"}, {"strokeWidth", 1}}},
       {"encoding",
        {{"x", x},
         {"strokeDash", {{"field", "event"}, {"type", "nominal"}, {"scale", {{"domain", {"start", "stop"}}, {"range", {{1, 0}, {4, 3}}}}},
                         {"title", "workload"}}},
         {"tooltip", tooltip({field("workload", "nominal", "workload"), field("event", "nominal", "event"),
                              field("t", "quantitative", "time (s)", ".2f"), field("status", "nominal", "status")})}}}});
  layers.push_back({{"transform", json::array({{{"filter", "datum.kind === 'mark' && datum.event === 'start'"}}})},
                    {"mark", {{"type", "text"}, {"align", "left"}, {"baseline", "top"}, {"dx", 3}, {"fontSize", 10}, {"color", "#333"}}},
                    {"encoding",
                     {{"x", x},
                      {"y", {{"field", "lane"}, {"type", "quantitative"}, {"scale", nullptr}}},
                      {"text", {{"field", "workload"}, {"type", "nominal"}}}}}});
  json spec = base_spec("GPU and GPM activity over time per cell",
                        "NVML utilization and GPM metrics (%); vertical lines: workloads starting (solid) and stopping (dashed)");
  spec["data"] = {{"values", rows}};
  spec["facet"] = {{"row",
                    {{"field", "cell"}, {"type", "nominal"}, {"sort", cells}, {"title", nullptr},
                     {"header", {{"labelAngle", 0}, {"labelAlign", "left"}, {"labelFontWeight", "bold"}}}}}};
  spec["spec"] = {{"width", 720}, {"height", 120}, {"layer", layers}};
  return {"activity", "activity", spec};
}

Chart energy_chart(const analysis::Analysis& a) {
  json rows = json::array();
  std::vector<std::string> cells, modes;
  for (const auto& c : a.cells) {
    if (!finite(c.energy_per_sample_j)) continue;
    cells.push_back(c.cell.label);
    if (std::find(modes.begin(), modes.end(), c.cell.mode) == modes.end()) modes.push_back(c.cell.mode);
    rows.push_back({{"cell", c.cell.label},
                    {"mode", c.cell.mode},
                    {"value", *c.energy_per_sample_j * 1e3},
                    {"energy", c.energy_j.value_or(0)},
                    {"samples", c.samples_processed},
                    {"power", finite(c.mean_power_w) ? json(*c.mean_power_w) : json(nullptr)},
                    {"source", c.energy_source}});
  }
  if (rows.empty()) return {};
  json spec = base_spec("Energy per unit of work per cell",
                        "GPU energy over the cell ÷ samples processed by all its workloads (mJ per sample; lower is better)");
  spec["data"] = {{"values", rows}};
  spec["width"] = std::clamp<int>(static_cast<int>(cells.size()) * 56 + 60, 280, 960);
  spec["height"] = 240;
  spec["mark"] = {{"type", "bar"}, {"cornerRadiusEnd", 2}};
  spec["encoding"] = {
      {"x", {{"field", "cell"}, {"type", "nominal"}, {"sort", cells}, {"title", "cell"}, {"axis", {{"labelAngle", -30}}}}},
      {"y", {{"field", "value"}, {"type", "quantitative"}, {"title", "energy per sample (mJ)"}}},
      {"color", mode_color_scale(modes, a.planned_modes)},
      {"tooltip", tooltip({field("cell", "nominal", "cell"), field("value", "quantitative", "mJ per sample", ".3f"),
                           field("energy", "quantitative", "energy (J)", ",.1f"), field("samples", "quantitative", "samples", ","),
                           field("power", "quantitative", "mean power (W)", ".1f"), field("source", "nominal", "from")})}};
  return {"energy", "energy", spec};
}

// MPS: each workload's requested SM share against the share of the GPU's
// time it got and its NP × 100; on the y = x line it got what it asked.
Chart mps_shares_chart(const analysis::Analysis& a) {
  json rows = json::array();
  for (const auto& r : analysis::mps_shares(a).cells) {
    if (!r.requested_sm_percent) continue;
    auto add = [&](const std::string& measure, const std::optional<double>& v) {
      if (!finite(v)) return;
      rows.push_back({{"workload", r.workload}, {"mode", r.mode}, {"cell", r.cell}, {"requested", *r.requested_sm_percent},
                      {"from", analysis::to_string(r.requested_from)}, {"measure", measure}, {"value", *v}});
    };
    add("delivered SM %", r.delivered_sm_percent);
    add("NP × 100", r.np ? std::optional<double>(*r.np * 100) : std::nullopt);
  }
  if (rows.empty()) return {};
  const json x = {{"field", "requested"}, {"type", "quantitative"}, {"title", "requested SM share (%)"},
                  {"scale", {{"domain", {0, 100}}}}};
  const json y = {{"field", "value"}, {"type", "quantitative"}, {"title", "delivered SM share (%), NP × 100"}};
  const auto tips = tooltip({field("workload", "nominal", "workload"), field("cell", "nominal", "cell"),
                             field("mode", "nominal", "mode"), field("requested", "quantitative", "requested SM %", ".0f"),
                             field("from", "nominal", "requested by"), field("measure", "nominal", "figure"),
                             field("value", "quantitative", "value", ".1f")});
  json layers = json::array();
  layers.push_back({{"data", {{"values", json::array({{{"requested", 0}, {"value", 0}}, {{"requested", 100}, {"value", 100}}})}}},
                    {"mark", {{"type", "line"}, {"strokeDash", {4, 4}}, {"color", "#777"}}},
                    {"encoding", {{"x", x}, {"y", y}, {"tooltip", {{"value", "y = x: got what it asked for"}}}}}});
  const json measure = {{"field", "measure"}, {"type", "nominal"}, {"title", "figure"},
                        {"scale", {{"domain", {"delivered SM %", "NP × 100"}}, {"range", {"#f58518", "#4c78a8"}}}}};
  layers.push_back({{"mark", {{"type", "point"}, {"filled", true}, {"size", 70}}},
                    {"encoding", {{"x", x}, {"y", y}, {"color", measure},
                                  {"shape", {{"field", "measure"}, {"type", "nominal"}, {"title", "figure"},
                                             {"scale", {{"domain", {"delivered SM %", "NP × 100"}}, {"range", {"square", "circle"}}}}}},
                                  {"tooltip", tips}}}});
  layers.push_back({{"mark", {{"type", "text"}, {"align", "left"}, {"dx", 6}, {"fontSize", 10}, {"color", "#333"}}},
                    {"encoding", {{"x", x}, {"y", y}, {"text", {{"field", "workload"}, {"type", "nominal"}}}}}});
  json spec = base_spec("MPS: requested vs delivered",
                        "each workload in each MPS cell: its SM share asked for (active thread percentage) against its NVML-attributed share "
                        "of the GPU's time and its NP × 100; dashed: y = x");
  spec["width"] = 520;
  spec["height"] = 320;
  spec["data"] = {{"values", rows}};
  spec["layer"] = layers;
  return {"mps-shares", "mps-shares", spec};
}

// A tuning run: every measured configuration by STP and its tightest SLO's
// headroom; the Pareto front joined, the answer ringed.
Chart tune_front_chart(const analysis::Analysis& a) {
  const auto tuned = tuned_run(a);
  if (!tuned) return {};
  json rows = json::array();
  for (const auto& r : tuned->answer.rows) {
    if (r.status != "measured" || !finite(r.stp.mean) || !finite(r.headroom)) continue;
    rows.push_back({{"mode", r.mode}, {"settings", r.settings}, {"kind", r.kind}, {"stp", *r.stp.mean},
                    {"headroom", *r.headroom * 100}, {"front", r.on_front}, {"best", tuned->answer.best == r.mode},
                    {"meets", r.feasible ? "yes" : "no"}});
  }
  if (rows.empty()) return {};
  const json x = {{"field", "stp"}, {"type", "quantitative"}, {"title", "STP (Σ NP)"}, {"scale", {{"zero", false}}}};
  const json y = {{"field", "headroom"}, {"type", "quantitative"}, {"title", "tightest SLO's headroom (%)"}};
  const auto tips = tooltip({field("mode", "nominal", "mode"), field("settings", "nominal", "settings"),
                             field("kind", "nominal", "kind"), field("stp", "quantitative", "STP", ".3f"),
                             field("headroom", "quantitative", "headroom (%)", ".1f"), field("meets", "nominal", "meets every SLO"),
                             field("front", "nominal", "on the front")});
  json layers = json::array();
  layers.push_back({{"data", {{"values", json::array({json::object()})}}},
                    {"mark", {{"type", "rule"}, {"strokeDash", {4, 4}}, {"color", "#d62728"}}},
                    {"encoding", {{"y", {{"datum", 0}}}, {"tooltip", {{"value", "0 %: at the SLO's limit; below: missed"}}}}}});
  layers.push_back({{"transform", json::array({{{"filter", "datum.front"}}})},
                    {"mark", {{"type", "line"}, {"color", "#f58518"}, {"strokeWidth", 1.5}}},
                    {"encoding", {{"x", x}, {"y", y}, {"order", {{"field", "stp"}, {"type", "quantitative"}}}}}});
  layers.push_back({{"mark", {{"type", "point"}, {"filled", true}, {"size", 60}}},
                    {"encoding",
                     {{"x", x},
                      {"y", y},
                      {"color", {{"field", "kind"}, {"type", "nominal"}, {"title", "configuration"},
                                 {"scale", {{"domain", {"control", "candidate"}}, {"range", {"#4c78a8", "#f58518"}}}}}},
                      {"shape", {{"field", "kind"}, {"type", "nominal"}, {"title", "configuration"}, {"scale", {{"domain", {"control", "candidate"}},
                                                                                    {"range", {"square", "circle"}}}}}},
                      {"opacity", {{"condition", {{"test", "datum.front"}, {"value", 1}}}, {"value", 0.45}}},
                      {"tooltip", tips}}}});
  layers.push_back({{"transform", json::array({{{"filter", "datum.best"}}})},
                    {"mark", {{"type", "point"}, {"size", 320}, {"strokeWidth", 2}, {"color", "#d62728"}}},
                    {"encoding", {{"x", x}, {"y", y}, {"tooltip", tips}}}});
  layers.push_back({{"transform", json::array({{{"filter", "datum.best"}}})},
                    {"mark", {{"type", "text"}, {"align", "left"}, {"dx", 12}, {"fontWeight", "bold"}, {"color", "#d62728"}}},
                    {"encoding", {{"x", x}, {"y", y}, {"text", {{"value", "best"}}}}}});
  json spec = base_spec("Tuning: STP against SLO headroom",
                        "every measured configuration; the Pareto front joined and opaque, the answer ringed; below 0 % an SLO was missed");
  spec["width"] = 560;
  spec["height"] = 320;
  spec["data"] = {{"values", rows}};
  spec["layer"] = layers;
  return {"tune-front", "tune", spec};
}

}  // namespace

std::string mode_color(const std::string& mode, const std::vector<std::string>& all_modes) {
  static const std::vector<std::string> spare = {"#e45756", "#72b7b2", "#eeca3b", "#9d755d", "#ff9da6"};
  if (const auto* known = spec::find_sharing_mode(mode)) return std::string(known->colour);
  size_t unknown = 0;  // the how-many-th unknown mode of the run it is
  for (const auto& m : all_modes) {
    if (m == mode) break;
    if (!spec::find_sharing_mode(m)) ++unknown;
  }
  return spare[unknown % spare.size()];
}

nlohmann::json mode_color_scale(const std::vector<std::string>& modes, const std::vector<std::string>& all_modes) {
  json domain = json::array(), range = json::array();
  for (const auto& m : modes) {
    domain.push_back(m);
    range.push_back(mode_color(m, all_modes.empty() ? modes : all_modes));
  }
  return {{"field", "mode"}, {"type", "nominal"}, {"title", "mode"}, {"scale", {{"domain", domain}, {"range", range}}}};
}

std::vector<Chart> build_charts(const analysis::RunInput& in, const analysis::Analysis& a) {
  std::vector<Chart> out;
  for (auto chart : {tune_front_chart(a), np_chart(a), system_chart(a), latency_cdf_chart(a), ttft_cdf_chart(a), tpot_cdf_chart(a), p99_chart(a), mps_shares_chart(a),
                     activity_chart(in, a), energy_chart(a)}) {
    if (chart.id.empty()) continue;
    // A chart is often seen alone (exported as an image): it says it comes from a CPU run itself.
    if (const auto check = cpu_check_label(a, chart.section); !check.empty())
      chart.spec["title"]["text"] = chart.spec["title"]["text"].get<std::string>() + " (" + check + ")";
    out.push_back(std::move(chart));
  }
  return out;
}

}  // namespace gpumix::report
