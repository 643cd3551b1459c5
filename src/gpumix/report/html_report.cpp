#include "gpumix/report/html_report.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cstdio>
#include <string_view>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "gpumix/analysis/mps_shares.hpp"
#include "gpumix/report/analysis_tables.hpp"
#include "gpumix/report/charts.hpp"
#include "gpumix/report/mps_view.hpp"
#include "gpumix/report/probe_tables.hpp"
#include "gpumix/report/tune_view.hpp"
#include "gpumix/report/web_assets.hpp"
#include "gpumix/store/store.hpp"
#include "gpumix/util/units.hpp"
#include "gpumix/version.hpp"
#include "gpumix/json_text.hpp"

namespace gpumix::report {

std::string html_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

// Laid out for a window 1280 px wide and for A4 and Letter paper without
// sideways scrolling: text cells wrap between words (names at their hyphens;
// long texts anywhere if they must), headers wrap at their underscores,
// numbers stay whole, charts shrink to their room;
// in print, nothing interactive, and no page break inside a row or a chart.
// tests/integration/report_cli_test.cpp checks it in Chromium.
const char* kStyle = R"css(
:root { --fg: #1d1d1f; --muted: #5f6368; --line: #e3e3e3; --ok: #1e7b34; --bad: #b3261e; --warn: #8a5a00; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); margin: 0; background: #fafafa; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 48px; background: #fff; }
h1 { font-size: 24px; margin: 0 0 4px; overflow-wrap: anywhere; }
h1 small { color: var(--muted); font-weight: 400; font-size: 16px; }
h2 { font-size: 19px; margin: 36px 0 6px; padding-top: 8px; border-top: 1px solid var(--line); }
h2 .tag { font-size: 12px; font-weight: 600; color: var(--bad); border: 1px solid currentColor; border-radius: 4px; padding: 1px 6px; margin-left: 10px; vertical-align: 2px; white-space: nowrap; }
p.caption { color: var(--muted); margin: 2px 0 12px; max-width: 900px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 12.5px; max-width: 100%; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; overflow-wrap: break-word; }
td.long { min-width: 10em; max-width: 560px; overflow-wrap: anywhere; }
th { background: #f3f4f6; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; overflow-wrap: normal; }
td.bad { color: var(--bad); font-weight: 600; }
td.good { color: var(--ok); font-weight: 600; }
td.muted { color: var(--muted); font-style: italic; }
.scroll { overflow-x: auto; }
table.env th { background: none; text-align: right; color: var(--muted); font-weight: 500; border: none; padding: 2px 10px 2px 0; white-space: nowrap; }
table.env td { border: none; padding: 2px 0; overflow-wrap: anywhere; }
.box { border-radius: 8px; padding: 14px 18px; margin: 18px 0; }
.rec { background: #eef7f0; border: 1px solid #b7dfc0; }
.rec.none { background: #fff4e5; border-color: #f3cf98; }
.rec .headline { font-size: 17px; font-weight: 600; margin: 0 0 6px; }
.cpu { background: #fdecea; border: 1px solid #f1b0a8; margin: 12px 0 14px; }
.cpu strong { color: var(--bad); }
.missing { background: #fff8e1; border: 1px solid #f0dc9c; }
.missing h2, .rec h2 { border: none; margin: 0 0 6px; padding: 0; font-size: 15px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.missing ul, .rec ul { margin: 4px 0 0 18px; padding: 0; }
nav { margin: 10px 0; color: var(--muted); }
nav a { margin-right: 14px; color: #1a5fb4; text-decoration: none; white-space: nowrap; }
.chart { margin: 10px 0 6px; }
.chart .vega-embed { max-width: 100%; }
.chart svg, .chart canvas { max-width: 100%; height: auto; }
.empty { color: var(--muted); font-style: italic; }
pre.yaml { background: #f6f8fa; padding: 10px 14px; border-radius: 6px; white-space: pre-wrap; overflow-wrap: anywhere; font-size: 12px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
footer pre { white-space: pre-wrap; font-size: 11px; max-height: 300px; overflow-y: auto; background: #f6f8fa; padding: 8px; }
dl.defs dt { font-weight: 600; margin-top: 6px; }
dl.defs dd { margin: 0 0 0 18px; color: #333; }
@media print {
  @page { margin: 12mm 10mm; }
  body { background: #fff; font-size: 11px; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  main { max-width: none; padding: 0; }
  h1 { font-size: 18px; }
  h2 { font-size: 15px; margin-top: 20px; break-after: avoid; }
  h3, p.caption { break-after: avoid; }
  nav, .vega-embed details, footer details { display: none; }
  .scroll { overflow: visible; }
  table { font-size: 9.5px; }
  th, td { padding: 2px 4px; }
  td.long { min-width: 8em; }
  tr, .chart, .box, dl.defs dd { break-inside: avoid; }
  .vega-embed.has-actions { padding-right: 0; }
  footer pre { max-height: none; }
}
)css";

// Collects what scripts report before the libraries load, so that an error in
// them is caught too.
const char* kErrorHook = R"js(
window.gpumixErrors = [];
window.addEventListener('error', function (e) { window.gpumixErrors.push('error: ' + (e.message || e.type)); });
window.addEventListener('unhandledrejection', function (e) { window.gpumixErrors.push('unhandled rejection: ' + e.reason); });
(function () {
  var error = console.error, warn = console.warn;
  function text(args) { return Array.prototype.map.call(args, function (a) { return String(a); }).join(' '); }
  console.error = function () { window.gpumixErrors.push('console.error: ' + text(arguments)); error.apply(console, arguments); };
  console.warn = function () { window.gpumixErrors.push('console.warn: ' + text(arguments)); warn.apply(console, arguments); };
})();
)js";

const char* kRender = R"js(
(function () {
  var status = document.getElementById('gpumix-status');
  function finish(charts) {
    status.textContent = JSON.stringify({done: true, charts: charts, errors: window.gpumixErrors});
    status.setAttribute('data-done', 'true');
  }
  // Marks drawn by the chart's own marks (not axes, legends or titles).
  function countMarks(mark) {
    if (!mark) return 0;
    var n = 0;
    if (mark.marktype === 'group') {
      (mark.items || []).forEach(function (item) { (item.items || []).forEach(function (child) { n += countMarks(child); }); });
    } else if (mark.role === 'mark') {
      n += (mark.items || []).length;
    }
    return n;
  }
  try {
    var specs = JSON.parse(document.getElementById('gpumix-specs').textContent);
    var ids = Object.keys(specs);
    var options = {renderer: 'svg', actions: {export: true, source: false, compiled: false, editor: false}};
    Promise.all(ids.map(function (id) {
      return vegaEmbed('#chart-' + id, specs[id], options)
        .then(function (result) { return countMarks(result.view.scenegraph().root); })
        .catch(function (e) { window.gpumixErrors.push('chart ' + id + ': ' + e); return 0; });
    })).then(function (counts) {
      var charts = {};
      ids.forEach(function (id, i) { charts[id] = counts[i]; });
      finish(charts);
    });
  } catch (e) {
    window.gpumixErrors.push('render: ' + e);
    finish({});
  }
})();
)js";

std::string value_text(const Value& v, int precision) {
  if (std::holds_alternative<std::monostate>(v)) return "–";
  return cell_text(v, precision);
}

// A column name, escaped, that may wrap after each '_' (np_95ci, samples_per_s).
std::string breakable_name(const std::string& name) {
  std::string out;
  for (char c : html_escape(name)) {
    out += c;
    if (c == '_') out += "<wbr>";
  }
  return out;
}

void html_table(std::ostream& out, const Table& t) {
  static const std::set<std::string> bad = {"MISSED", "rejected", "failed", "crashed", "timeout", "early_exit", "killed"};
  static const std::set<std::string> muted = {"skipped", "not measured", "interrupted", "not_started", "degraded"};
  static const std::set<std::string> good = {"met", "recommended", "meets every SLO"};
  out << "<div class=\"scroll\"><table><thead><tr>";
  for (const auto& c : t.columns) out << "<th>" << breakable_name(c) << "</th>";
  out << "</tr></thead><tbody>\n";
  for (const auto& row : t.rows) {
    out << "<tr>";
    for (size_t i = 0; i < t.columns.size(); ++i) {
      const Value v = i < row.size() ? row[i] : Value{};
      const bool number = is_number(v);
      const std::string text = value_text(v, t.precision);
      std::string cls = number             ? "num"
                        : bad.count(text)  ? "bad"
                        : good.count(text) ? "good"
                        : muted.count(text) ? "muted"
                        : text.size() > 40 ? "long"
                                           : "";
      out << "<td" << (cls.empty() ? "" : " class=\"" + cls + "\"") << ">" << html_escape(text) << "</td>";
    }
    out << "</tr>\n";
  }
  out << "</tbody></table></div>\n";
}

// `tag`: a label beside the title (on a CPU run, "CPU pipeline check").
void section_start(std::ostream& out, const std::string& id, const std::string& title, const std::string& caption,
                   const std::string& tag = "") {
  out << "<section id=\"" << id << "\"><h2>" << html_escape(title);
  if (!tag.empty()) out << "<span class=\"tag\">" << html_escape(tag) << "</span>";
  out << "</h2>\n";
  if (!caption.empty()) out << "<p class=\"caption\">" << html_escape(caption) << "</p>\n";
}

void charts_of(std::ostream& out, const std::vector<Chart>& charts, const std::string& section) {
  for (const auto& c : charts)
    if (c.section == section) out << "<div class=\"chart\" id=\"chart-" << c.id << "\"></div>\n";
}

bool has_chart(const std::vector<Chart>& charts, const std::string& section) {
  for (const auto& c : charts)
    if (c.section == section) return true;
  return false;
}

void table_or_note(std::ostream& out, const Table& t, const std::string& note) {
  if (t.rows.empty()) out << "<p class=\"empty\">" << html_escape(note) << "</p>\n";
  else html_table(out, t);
}

// JSON inside <script>: '<' escaped so that no "</script>" or "<!--" can occur.
std::string script_json(const nlohmann::json& j) {
  const std::string s = json_text(j);
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '<') out += "\\u003c";
    else out += c;
  }
  return out;
}

// A script's text, safe inside <script>: "</script" can only occur in its
// strings or regular expressions, where "<\/script" means the same.
std::string inline_script(std::string_view js) {
  std::string out(js);
  for (size_t pos = 0; (pos = out.find("</", pos)) != std::string::npos; pos += 3) {
    std::string next = out.substr(pos + 2, 6);
    for (auto& ch : next) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (next == "script") out.replace(pos, 2, "<\\/");
  }
  return out;
}

// What `gpumix probe` last measured on this GPU model: the mechanics behind
// the modes' figures above.
void probe_section(std::ostream& out, const probe::ProbeResults& p) {
  section_start(out, "probes", "GPU sharing mechanics",
                "The latest `gpumix probe` results on this GPU model" + (p.gpu_name.empty() ? "" : " (" + p.gpu_name + ")") +
                    ": time-slice length, the gap between a process's slices, the idle time per context switch and "
                    "the share of wall time some process ran (efficiency), per mode and number of processes; a "
                    "GPU-bound kernel loop's slowdown next to copies of itself; and what each mode isolates.");
  if (p.empty()) {
    out << "<p class=\"empty\">No probe results for this GPU in this results folder: run <code>gpumix probe timeslice</code> "
           "and <code>gpumix probe isolation</code>.</p>\n</section>\n";
    return;
  }
  auto session_line = [&](const probe::SessionRow& s) {
    out << "<p class=\"caption\">Probe session " << s.id << " (" << html_escape(s.kind) << ", " << html_escape(s.status)
        << ") on " << html_escape(s.gpu_name) << ", driver " << html_escape(s.driver) << ", host " << html_escape(s.host)
        << ", " << html_escape(format_timestamp(s.started_ns)) << ".</p>\n";
  };
  if (p.timeslice_session) {
    out << "<h3>Time slices</h3>\n";
    session_line(*p.timeslice_session);
    html_table(out, timeslice_table(p.timeslice));
    if (!p.slowdown.empty()) {
      out << "<h3>A GPU-bound kernel loop next to others</h3>\n<p class=\"caption\">Slowdown = kernels/s alone ÷ "
             "kernels/s shared; a fair share without loss equals the number of processes; throughput = Σ shared ÷ "
             "alone (1 = nothing lost to switching).</p>\n";
      html_table(out, slowdown_table(p.slowdown));
    }
  }
  if (p.isolation_session) {
    out << "<h3>Isolation</h3>\n";
    session_line(*p.isolation_session);
    html_table(out, isolation_table(p.isolation));
  }
  out << "</section>\n";
}

// A tuning run: the answer, how it relates to the recommendation, the front and every configuration.
void tune_section(std::ostream& out, const TunedRun& tuned, const analysis::Recommendation& r, const std::vector<Chart>& charts) {
  section_start(out, "tune", "Tuning",
                "gpumix tune searched MPS settings: the best configuration by its objective (" + tuned.answer.objective.text() +
                    ") among those that meet every SLO, the controls, and STP against the tightest SLO's headroom.");
  out << "<p class=\"headline\">" << html_escape(tune_versus_recommendation(tuned.answer, r)) << "</p>\n<ul>";
  std::istringstream lines(tune_summary(tuned.answer, tuned.record));
  for (std::string line; std::getline(lines, line);) out << "<li>" << html_escape(line) << "</li>";
  out << "</ul>\n";
  charts_of(out, charts, "tune");
  html_table(out, tune_table(tuned.answer));
  out << "</section>\n";
}

// MPS: requested vs delivered, and the priority pairs; nothing for a run without MPS cells.
void mps_sections(std::ostream& out, const analysis::Analysis& a, const std::optional<TunedRun>& tuned, const std::vector<Chart>& charts) {
  const auto shares = analysis::mps_shares(a);
  if (!shares.empty()) {
    section_start(out, "mps-shares", kMpsSharesTitle,
                  "Each workload's SM share asked of MPS (active thread percentage; 100 = no limit) against its share of "
                  "the GPU's time over the window as NVML attributed it, and its NP. Per mode over its repeats, then per "
                  "cell with its pinned memory limit against its peak device memory (MiB).");
    charts_of(out, charts, "mps-shares");
    html_table(out, mps_share_modes_table(shares));
    html_table(out, mps_shares_table(shares));
    out << "</section>\n";
  }
  const auto effects = analysis::priority_effects(a, tuned ? tuned->record.slo_owners : std::map<std::string, std::string>{});
  if (!effects.empty()) {
    section_start(out, "mps-priority", kMpsPriorityTitle,
                  "Modes that differ only in client priorities: each SLO with and without the lower priority of its "
                  "neighbours, its p99 (ms) and verdict, and the lowered neighbours' mean NP.");
    html_table(out, priority_table(effects));
    out << "</section>\n";
  }
}

}  // namespace

void write_html_report(std::ostream& out, const analysis::RunInput& in, const analysis::Analysis& a,
                       const analysis::Recommendation& r, const probe::ProbeResults& probes) {
  const auto charts = build_charts(in, a);
  const std::string title = fmt::format("gpumix report: run {} ({})", a.run.id, a.run.mix_name);
  out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      << "<meta name=\"generator\" content=\"gpumix " << html_escape(kVersion) << "\">\n"
      << "<title>" << html_escape(title) << "</title>\n<style>" << kStyle << "</style>\n"
      << "<script>" << kErrorHook << "</script>\n";
  for (const auto& asset : web_assets())
    out << "<script data-library=\"" << asset.name << "\" data-version=\"" << asset.version << "\">\n"
        << inline_script(asset.script) << "\n</script>\n";
  out << "</head>\n<body>\n<main>\n";

  // Environment.
  out << "<header><h1>gpumix report <small>run " << a.run.id << " · " << html_escape(a.run.mix_name) << "</small></h1>\n";
  if (const auto banner = cpu_run_banner(a); !banner.empty())
    out << "<p id=\"cpu-run\" class=\"box cpu\"><strong>CPU run.</strong> " << html_escape(banner) << "</p>\n";
  out << "<table class=\"env\">\n";
  for (const auto& [k, v] : environment_fields(a.run))
    out << "<tr><th>" << html_escape(k) << "</th><td>" << html_escape(v) << "</td></tr>\n";
  out << "</table></header>\n";

  // Recommendation.
  out << "<section id=\"recommendation\" class=\"box rec" << (r.mode ? "" : " none") << "\"><h2>Recommendation</h2>\n"
      << "<p class=\"headline\">" << html_escape(r.headline) << "</p>\n";
  if (!r.notes.empty()) {
    out << "<ul>";
    for (const auto& n : r.notes) out << "<li>" << html_escape(n) << "</li>";
    out << "</ul>\n";
  }
  if (!r.verdicts.empty()) {
    if (const auto check = cpu_check_label(a, "verdicts"); !check.empty())
      out << "<p class=\"caption\">What each mode's figures would make of it (" << html_escape(check)
          << ", not a recommendation):</p>\n";
    html_table(out, verdicts_table(r));
  }
  out << "</section>\n";

  const auto tuned = tuned_run(a);
  if (tuned) tune_section(out, *tuned, r, charts);

  if (const auto missing = missing_list(a); !missing.empty()) {
    out << "<section id=\"missing\" class=\"box missing\"><h2>What is missing</h2><ul>\n";
    for (const auto& m : missing) out << "<li>" << html_escape(m) << "</li>\n";
    out << "</ul></section>\n";
  }

  out << "<nav>" << (tuned ? "<a href=\"#tune\">tuning</a>" : "")
      << "<a href=\"#np\">NP</a><a href=\"#system\">STP, ANTT, fairness</a><a href=\"#latency\">latency</a>"
         "<a href=\"#activity\">GPU activity</a>"
      << (analysis::mps_shares(a).empty() ? "" : "<a href=\"#mps-shares\">MPS shares</a>")
      << "<a href=\"#energy\">energy</a><a href=\"#workloads\">workloads</a>"
         "<a href=\"#evidence\">mode evidence</a><a href=\"#probes\">sharing mechanics</a><a href=\"#mix\">mix</a><a href=\"#definitions\">definitions</a></nav>\n";

  section_start(out, "np", "Normalized progress per workload",
                "NP = progress shared ÷ progress alone, per workload and mode (throughput; mean request latency for "
                "interactive and server workloads, and for those reporting only latency). 1 means as fast as alone.",
                cpu_check_label(a, "np"));
  charts_of(out, charts, "np");
  if (!a.has_baseline) out << "<p class=\"empty\">No NP: the run has no exclusive baseline measure.</p>\n";
  if (auto t = np_table(a); !t.rows.empty()) html_table(out, t);
  else if (a.has_baseline) out << "<p class=\"empty\">No shared mode was measured.</p>\n";
  out << "</section>\n";

  section_start(out, "system", "System throughput and fairness per mode",
                "STP = Σ NP (n workloads sharing perfectly give n; 1 = no better than one after another). "
                "ANTT = mean of 1/NP (1 = no slowdown). Fairness = min NP ÷ max NP; Jain's index = (Σ NP)² ÷ (n Σ NP²).",
                cpu_check_label(a, "system"));
  charts_of(out, charts, "system");
  table_or_note(out, system_table(a), "No shared mode in this run.");
  if (auto t = noise_table(a); !t.rows.empty()) {
    out << "<p class=\"caption\">Differences between modes: the 95% interval of b − a, paired by repeat; "
           "<em>within noise</em> when it holds 0, <em>unknown</em> with a single repeat.</p>\n";
    html_table(out, t);
  }
  out << "</section>\n";

  section_start(out, "latency", "Request latency and SLOs",
                "Latency of successful requests per cell (CDF) and p99 per mode, and for streamed LLM completions their time to "
                "first token and per output token (CDFs); a mode meets an SLO when every repeat does.",
                cpu_check_label(a, "latency"));
  charts_of(out, charts, "latency");
  if (auto t = slo_table(a); !t.rows.empty()) html_table(out, t);
  table_or_note(out, latency_table(a), "No workload reported request latencies.");
  if (auto t = token_latency_table(a); !t.rows.empty()) {
    out << "<p class=\"caption\">Streamed LLM completions: time to first token (TTFT) and mean time per output token "
           "(TPOT) percentiles per mode (ms; each cell's, mean over repeats).</p>\n";
    html_table(out, t);
  }
  out << "</section>\n";

  section_start(out, "activity", "GPU and GPM activity",
                "NVML's GPU utilization and, on GPUs with GPM, SM, tensor and DRAM bandwidth activity, over each cell; "
                "mean and 95th percentile per cell.");
  charts_of(out, charts, "activity");
  {
    const auto* none = a.gap(analysis::GapCode::no_gpu_telemetry);
    table_or_note(out, activity_table(a), none ? none->text : "No GPU telemetry for this run.");
  }
  out << "</section>\n";

  section_start(out, "attribution", "GPU time, memory and energy per workload",
                "Over each cell's window, from NVML's per-process figures: each workload's SM utilization, its share of "
                "the window's time, the window's energy split by those shares (other processes and idle time apart), "
                "and its device memory. The basis column says what NVML can attribute under the cell's mode.");
  table_or_note(out, attribution_table(a), "No per-process telemetry for this run.");
  out << "</section>\n";

  mps_sections(out, a, tuned, charts);

  section_start(out, "energy", "Energy per unit of work",
                "The GPU's energy counter's increase over the cell ÷ the samples all its workloads processed.");
  charts_of(out, charts, "energy");
  if (!has_chart(charts, "energy"))
    out << "<p class=\"empty\">"
        << html_escape(a.has_energy ? "No cell processed samples while energy was measured."
                                    : "No energy measurement: the run has no GPU telemetry with an energy counter or power.")
        << "</p>\n";
  out << "</section>\n";

  section_start(out, "workloads", "Workloads per cell",
                "Status, exit, throughput (samples/s), iteration time percentiles (ms), NP and peak memory (MiB) of every "
                "workload in every cell.");
  html_table(out, workload_cells_table(a));
  out << "</section>\n";

  section_start(out, "evidence", "Cells and mode evidence",
                "What each mode recorded, while its workloads ran, as proof that it took effect; skipped cells say why.");
  html_table(out, evidence_table(a));
  out << "</section>\n";

  probe_section(out, probes);

  section_start(out, "mix", "The mix", "The mix file as run (" + a.run.mix_path + ").");
  out << "<pre class=\"yaml\">" << html_escape(a.run.mix_yaml) << "</pre>\n</section>\n";

  section_start(out, "definitions", "Definitions", "");
  out << "<dl class=\"defs\">"
         "<dt>NP (normalized progress)</dt><dd>A workload's steady-state throughput in a shared cell ÷ its throughput "
         "in its exclusive baseline cell. Interactive and server workloads, whose pace is set by think time or "
         "arrivals rather than by the GPU, and workloads that report only request latencies, are measured by their "
         "mean latency: NP = mean alone ÷ mean shared (for a closed-loop client the same as its request-rate ratio). A "
         "workload that ran but reported no progress has NP 0.</dd>"
         "<dt>STP (system throughput)</dt><dd>Σ NP over the workloads: how much work the shared GPU does compared with "
         "running the workloads one after another (1).</dd>"
         "<dt>ANTT (average normalized turnaround time)</dt><dd>Mean of 1/NP: the average slowdown (1 = none).</dd>"
         "<dt>Fairness</dt><dd>min NP ÷ max NP (1 = every workload slowed alike); Jain's index (Σ NP)² ÷ (n Σ NP²).</dd>"
         "<dt>p99 inflation</dt><dd>p99 request latency shared ÷ p99 alone.</dd>"
         "<dt>Energy per unit of work</dt><dd>The increase of NVML's energy counter over the cell ÷ the samples its "
         "workloads processed.</dd>"
         "<dt>Intervals and noise</dt><dd>With repeats, each figure is the mean over repeats with a 95% Student t "
         "interval; two modes are within noise when the 95% interval of their difference, paired by repeat, holds 0; "
         "then neither is recommended. Only each cell's measured window counts, and a figure with too little "
         "evidence in it is withheld (docs/mix-spec.md, Evidence).</dd>"
         "<dt>MPS requested vs delivered</dt><dd>Requested: the active thread percentage set for the workload's MPS "
         "client (the configured mode's name, mps-split's weights, its own setting, else 100). Delivered: its share "
         "of the GPU's time over the window from NVML's per-process SM utilization, scaled to the GPU's busy time when "
         "the clients' figures overlap; it counts time with some kernel of the client running, not how many SMs it "
         "held (docs/report.md).</dd>"
         "<dt>Recommendation</dt><dd>The shared mode with the highest STP among those meeting every SLO in every "
         "repeat, under which no workload failed.</dd></dl>\n</section>\n";

  out << "<footer><p>Generated by gpumix " << html_escape(kVersion) << " (" << html_escape(kGitSha) << ") on "
      << html_escape(format_timestamp(store::now_ns())) << ". Plots by ";
  bool first = true;
  for (const auto& asset : web_assets()) {
    out << (first ? "" : ", ") << asset.name << " " << asset.version << " (" << asset.license << ")";
    first = false;
  }
  out << ", embedded in this file.</p>\n<details><summary>Licenses of the embedded libraries</summary>\n";
  for (const auto& asset : web_assets())
    out << "<h3>" << asset.name << " " << asset.version << "</h3><pre>" << html_escape(std::string(asset.license_text))
        << "</pre>\n";
  out << "</details></footer>\n</main>\n";

  nlohmann::json specs = nlohmann::json::object();
  for (const auto& c : charts) specs[c.id] = c.spec;
  out << "<pre id=\"gpumix-status\" hidden>pending</pre>\n"
      << "<script type=\"application/json\" id=\"gpumix-specs\">" << script_json(specs) << "</script>\n"
      << "<script>" << kRender << "</script>\n</body>\n</html>\n";
}

}  // namespace gpumix::report
