#include "gpumix/store/merge.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "gpumix/spec/effective_plan.hpp"
#include "gpumix/store/sqlite.hpp"
#include "gpumix/store/store.hpp"
#include "gpumix/util/errors.hpp"
#include "gpumix/util/text.hpp"
#include "gpumix/json_text.hpp"

namespace gpumix::store {
namespace {

// Where each merged cell came from; also what makes merging idempotent.
const char* kProvenanceSchema = R"sql(
CREATE TABLE IF NOT EXISTS merged_from (
  run_id INTEGER NOT NULL, cell_id INTEGER NOT NULL,
  source_file TEXT NOT NULL, source_host TEXT NOT NULL,
  source_run_id INTEGER NOT NULL, source_run_started_ns INTEGER NOT NULL, source_cell_id INTEGER NOT NULL,
  fleet_key TEXT NOT NULL DEFAULT '', merged_ns INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS merged_from_by_source ON merged_from(source_host, source_run_started_ns, source_run_id);
CREATE INDEX IF NOT EXISTS merged_from_by_fleet ON merged_from(fleet_key);
)sql";

// Tables copied with their ids remapped; the telemetry tables exist only in
// databases that had a sampler (they are created in the output on first use).
const char* kTelemetryTables[] = {"telemetry_sessions", "gpu_samples", "process_samples", "gpm_samples"};

struct SourceRun {
  int64_t id = 0;
  int64_t started_ns = 0;
  std::string host, mix_sha256;
  RunStatus status = RunStatus::running;
  spec::EffectivePlan plan;  // plan.selected_cell: a fleet part
  std::string fleet_key;     // fleet id + mix hash
};

struct Source {
  std::filesystem::path file;
  std::vector<SourceRun> runs;
};

std::vector<std::string> columns(sqlite3* db, const std::string& schema, const std::string& table) {
  std::vector<std::string> out;
  Stmt s(db, ("PRAGMA " + schema + ".table_info(" + table + ")").c_str());
  while (s.step()) out.push_back(s.text(1));
  return out;
}


// The merger: one connection on the output, each source attached in turn as
// `src`, and temp tables mapping the source's ids to the output's.
class Merger {
 public:
  explicit Merger(const std::filesystem::path& out_dir) {
    { Store::open(out_dir); }  // creates the folder and the schema; checks its version and integrity
    path_ = out_dir / kDatabaseName;
    db_ = open_database(path_, Access::read_write, false);
    exec(db_, kProvenanceSchema);
    exec(db_, "CREATE TEMP TABLE cell_map (old INTEGER PRIMARY KEY, new INTEGER NOT NULL);"
              "CREATE TEMP TABLE workload_map (old INTEGER PRIMARY KEY, new INTEGER NOT NULL);");
  }
  ~Merger() { sqlite3_close(db_); }
  Merger(const Merger&) = delete;
  Merger& operator=(const Merger&) = delete;

  MergeReport run(const std::vector<std::filesystem::path>& files) {
    std::vector<Source> sources;
    for (const auto& f : files) sources.push_back(read_source(f));
    check_fleets(sources);

    // SQLite attaches and detaches only outside a transaction, and attaches at
    // most 10 databases: each source is merged in its own transaction. Every
    // source was checked above, before the first write; a merge that fails
    // midway (a full disk) can simply be run again, as merging is idempotent.
    for (const auto& src : sources) {
      attach(src.file);
      transaction([&] {
        for (const auto& r : src.runs) {
          if (r.plan.selected_cell && !chosen_.count(key_of(src, r))) continue;  // a losing duplicate
          copy_run(src, r);
        }
      });
      exec(db_, "DETACH DATABASE src");
    }
    transaction([&] {
      for (const auto& [fleet, run_id] : fleet_runs_) finish_fleet(fleet, run_id);
    });
    return report_;
  }

 private:
  template <typename F>
  void transaction(F&& body) {
    exec(db_, "BEGIN IMMEDIATE");
    try {
      body();
      exec(db_, "COMMIT");
    } catch (...) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      sqlite3_exec(db_, "DETACH DATABASE src", nullptr, nullptr, nullptr);
      throw;
    }
  }

  static std::string key_of(const Source& s, const SourceRun& r) { return s.file.string() + "#" + std::to_string(r.id); }

  void attach(const std::filesystem::path& file) {
    Stmt s(db_, "ATTACH DATABASE ? AS src");
    s.bind(1, file_uri(file) + "?mode=ro");
    s.run();
  }

  Source read_source(const std::filesystem::path& file) {
    attach(file);
    Source src{file, {}};
    try {
      check_integrity(db_, file, "src");
      // Only `gpumix probe` wrote here: no runs; its sessions are merged by
      // probe::ProbeStore::merge_from.
      if (!has_table(db_, "src", "runs") && has_table(db_, "src", "probe_sessions")) {
        exec(db_, "DETACH DATABASE src");
        return src;
      }
      const auto version = stored_schema_version(db_, file, "meta", "results schema", "src");
      if (!version || !has_table(db_, "src", "runs"))
        throw InputError(file.string() + ": not a gpumix results database");
      // An older database is read as its migration would leave it: the
      // columns it lacks take their defaults (copy_row). A newer one may hold
      // what this gpumix cannot represent.
      if (*version > kSchemaVersion)
        throw InputError(file.string() + ": results schema version " + std::to_string(*version) + ", newer than this gpumix's " +
                         std::to_string(kSchemaVersion) + "; merge it with a gpumix at least as new as the one that wrote it");
      check_telemetry_version(file);
      Stmt s(db_, "SELECT id, started_ns, host, status, mix_sha256, plan_json FROM src.runs ORDER BY id");
      while (s.step()) {
        SourceRun r;
        r.id = s.i64(0);
        r.started_ns = s.i64(1);
        r.host = s.text(2);
        r.status = run_status_from_string(s.text(3)).value_or(RunStatus::failed);
        r.mix_sha256 = s.text(4);
        r.plan = spec::EffectivePlan::from_json(s.text(5));
        if (r.plan.selected_cell) r.fleet_key = r.plan.fleet_id + "/" + r.mix_sha256;
        src.runs.push_back(std::move(r));
      }
    } catch (...) {
      sqlite3_exec(db_, "DETACH DATABASE src", nullptr, nullptr, nullptr);
      throw;
    }
    exec(db_, "DETACH DATABASE src");
    return src;
  }

  // An older telemetry schema lacks some metrics' columns, which stay NULL
  // in the output; a newer one than the output's is refused.
  void check_telemetry_version(const std::filesystem::path& file) {
    const auto theirs = stored_schema_version(db_, file, "telemetry_meta", "telemetry schema", "src");
    const auto ours = stored_schema_version(db_, path_, "telemetry_meta", "telemetry schema");
    if (theirs && ours && *theirs > *ours)
      throw InputError(file.string() + ": telemetry schema version " + std::to_string(*theirs) + ", newer than the output's " +
                       std::to_string(*ours) + "; merge it with a gpumix at least as new as the one that wrote it");
  }

  // The output's columns of `table` (without id) that the source has too: an
  // older source lacks those added since, which take their defaults.
  std::vector<std::string> shared_columns(const std::string& table) {
    const auto src_cols = columns(db_, "src", table);
    std::vector<std::string> out;
    for (const auto& c : columns(db_, "main", table))
      if (c != "id" && std::find(src_cols.begin(), src_cols.end(), c) != src_cols.end()) out.push_back(c);
    return out;
  }

  // Parts of one fleet must come from one mix and plan; each cell is taken
  // from exactly one part (a completed run beats an interrupted retry).
  void check_fleets(const std::vector<Source>& sources) {
    struct Candidate {
      const Source* src;
      const SourceRun* run;
    };
    std::map<std::string, std::pair<const Source*, const SourceRun*>> first_of_fleet;
    std::map<std::pair<std::string, int>, std::vector<Candidate>> by_cell;
    for (const auto& s : sources) {
      for (const auto& r : s.runs) {
        if (!r.plan.selected_cell) continue;
        auto [it, fresh] = first_of_fleet.try_emplace(r.fleet_key, &s, &r);
        if (!fresh && it->second.second->plan.without_selection().to_json() != r.plan.without_selection().to_json())
          throw InputError("fleet '" + r.plan.fleet_id + "': " + s.file.string() + " (run " +
                           std::to_string(r.id) + ") ran another plan than " + it->second.first->file.string() +
                           " (run " + std::to_string(it->second.second->id) + "); merge them separately");
        by_cell[{r.fleet_key, *r.plan.selected_cell}].push_back({&s, &r});
      }
    }
    for (const auto& [key, cands] : by_cell) {
      std::vector<Candidate> completed;
      for (const auto& c : cands)
        if (c.run->status == RunStatus::completed) completed.push_back(c);
      const Candidate* pick = cands.size() == 1 ? &cands[0] : completed.size() == 1 ? &completed[0] : nullptr;
      if (!pick) {
        std::vector<std::string> where;
        for (const auto& c : cands) where.push_back(c.src->file.string() + " run " + std::to_string(c.run->id) + " (" + to_string(c.run->status) + ")");
        throw InputError("fleet '" + key.first.substr(0, key.first.rfind('/')) + "' cell " + std::to_string(key.second) +
                         " was run more than once: " + join(where, ", ") + "; leave out the attempts you do not want");
      }
      chosen_.insert(key_of(*pick->src, *pick->run));
      for (const auto& c : cands)
        if (c.run != pick->run)
          report_.notes.push_back("skipped " + c.src->file.string() + " run " + std::to_string(c.run->id) + " (" +
                                  to_string(c.run->status) + "): fleet cell " + std::to_string(key.second) + " comes from " +
                                  pick->src->file.string() + " run " + std::to_string(pick->run->id));
    }
  }

  bool already_merged(const SourceRun& r, int64_t source_cell_id) {
    Stmt s(db_,
           "SELECT 1 FROM merged_from WHERE source_host = ? AND source_run_started_ns = ? AND source_run_id = ? AND "
           "source_cell_id = ?");
    s.bind(1, r.host).bind(2, r.started_ns).bind(3, r.id).bind(4, source_cell_id);
    return s.step();
  }

  // Inserts one row of src.<table> (by id) with `fixed` columns replaced;
  // returns the new id.
  int64_t copy_row(const std::string& table, int64_t id, const std::map<std::string, int64_t>& fixed) {
    std::vector<std::string> cols, values;
    for (const auto& c : shared_columns(table)) {
      cols.push_back(c);
      auto f = fixed.find(c);
      values.push_back(f != fixed.end() ? std::to_string(f->second) : c);
    }
    Stmt s(db_, ("INSERT INTO main." + table + " (" + join(cols, ", ") + ") SELECT " + join(values, ", ") + " FROM src." +
                 table + " WHERE id = ?")
                    .c_str());
    s.bind(1, id).run();
    return sqlite3_last_insert_rowid(db_);
  }

  // A source run becomes a new run, or (a fleet part) joins its fleet's run.
  void copy_run(const Source& src, const SourceRun& r) {
    std::vector<int64_t> cell_ids;
    {
      Stmt s(db_, "SELECT id FROM src.cells WHERE run_id = ? ORDER BY idx, id");
      s.bind(1, r.id);
      while (s.step()) cell_ids.push_back(s.i64(0));
    }
    std::vector<int64_t> todo;
    for (auto id : cell_ids) {
      if (already_merged(r, id)) {
        ++report_.cells_already;
      } else {
        todo.push_back(id);
      }
    }
    // A run with no cells (stopped before its first) is copied once, as a run.
    const bool empty_run = cell_ids.empty() && !already_merged(r, 0);
    if (todo.empty() && !empty_run) return;
    if (r.plan.selected_cell) {
      if (auto fleet = existing_fleet_run(r.fleet_key)) {
        Stmt dup(db_, "SELECT 1 FROM cells WHERE run_id = ? AND idx = ?");
        dup.bind(1, *fleet).bind(2, *r.plan.selected_cell);
        if (dup.step()) {
          report_.notes.push_back("skipped " + src.file.string() + " run " + std::to_string(r.id) + ": run " +
                                  std::to_string(*fleet) + " already holds fleet cell " + std::to_string(*r.plan.selected_cell) +
                                  " from an earlier merge");
          return;
        }
      }
    }

    const int64_t run_id = target_run(src, r);
    exec(db_, "DELETE FROM temp.cell_map; DELETE FROM temp.workload_map;");
    for (auto old_cell : todo) {
      const int64_t cell = copy_row("cells", old_cell, {{"run_id", run_id}});
      Stmt map(db_, "INSERT INTO temp.cell_map (old, new) VALUES (?, ?)");
      map.bind(1, old_cell).bind(2, cell).run();
      Stmt ws(db_, "SELECT id FROM src.workloads WHERE cell_id = ? ORDER BY id");
      ws.bind(1, old_cell);
      while (ws.step()) {
        const int64_t w = copy_row("workloads", ws.i64(0), {{"cell_id", cell}});
        Stmt wmap(db_, "INSERT INTO temp.workload_map (old, new) VALUES (?, ?)");
        wmap.bind(1, ws.i64(0)).bind(2, w).run();
      }
      record_provenance(src, r, run_id, cell, old_cell);
      ++report_.cells_copied;
    }
    if (empty_run) record_provenance(src, r, run_id, 0, 0);

    copy_mapped("events", "workload_id IN (SELECT old FROM temp.workload_map)", run_id);
    for (const char* t : kTelemetryTables) {
      if (!has_table(db_, "src", t)) continue;
      ensure_table(t);
      // With the cells copied now, and the samples outside any cell (between
      // cells) of the run; a fleet part has exactly one cell.
      const auto cols = columns(db_, "src", t);
      const bool per_cell = std::find(cols.begin(), cols.end(), "cell_id") != cols.end();
      copy_mapped(t,
                  "run_id = " + std::to_string(r.id) +
                      (per_cell ? " AND (cell_id IS NULL OR cell_id IN (SELECT old FROM temp.cell_map))" : ""),
                  run_id);
    }
  }

  // Copies src.<table> rows matching `where`, mapping run, cell and workload
  // ids (the columns each table has) to the output's.
  void copy_mapped(const std::string& table, const std::string& where, int64_t run_id) {
    std::vector<std::string> cols, values;
    for (const auto& c : shared_columns(table)) {
      cols.push_back(c);
      if (c == "run_id") {
        values.push_back("CASE WHEN t.run_id IS NULL THEN NULL ELSE " + std::to_string(run_id) + " END");
      } else if (c == "cell_id") {
        values.push_back("(SELECT new FROM temp.cell_map WHERE old = t.cell_id)");
      } else if (c == "workload_id") {
        values.push_back("(SELECT new FROM temp.workload_map WHERE old = t.workload_id)");
      } else {
        values.push_back("t." + c);
      }
    }
    // An older source's events take their token columns from their lines, as its migration would.
    if (table == "events")
      for (const char* c : kEventTokenColumns)
        if (std::find(cols.begin(), cols.end(), c) == cols.end()) {
          cols.push_back(c);
          values.push_back(event_token_from_line(c, "t.ev", "t.data"));
        }
    const std::string sql = "INSERT INTO main." + table + " (" + join(cols, ", ") + ") SELECT " + join(values, ", ") +
                            " FROM src." + table + " AS t WHERE " + where;
    exec(db_, sql.c_str());
  }

  // Creates a telemetry table in the output as the source defines it.
  void ensure_table(const std::string& table) {
    if (has_table(db_, "main", table)) return;
    Stmt s(db_, "SELECT sql FROM src.sqlite_master WHERE type = 'table' AND name = ?");
    s.bind(1, table);
    if (!s.step()) return;
    exec(db_, s.text(0).c_str());
    if (!has_table(db_, "main", "telemetry_meta") && has_table(db_, "src", "telemetry_meta"))
      exec(db_, "CREATE TABLE telemetry_meta AS SELECT * FROM src.telemetry_meta");
  }

  void record_provenance(const Source& src, const SourceRun& r, int64_t run_id, int64_t cell, int64_t old_cell) {
    Stmt s(db_,
           "INSERT INTO merged_from (run_id, cell_id, source_file, source_host, source_run_id, source_run_started_ns, "
           "source_cell_id, fleet_key, merged_ns) VALUES (?,?,?,?,?,?,?,?,?)");
    s.bind(1, run_id).bind(2, cell).bind(3, std::filesystem::absolute(src.file).string()).bind(4, r.host);
    s.bind(5, r.id).bind(6, r.started_ns).bind(7, old_cell).bind(8, r.fleet_key).bind(9, now_ns()).run();
  }

  // The output's run for `r`: a new copy; for a fleet part, the fleet's run
  // (found through merged_from, so a later merge adds to it).
  std::optional<int64_t> existing_fleet_run(const std::string& fleet_key) {
    if (auto it = fleet_runs_.find(fleet_key); it != fleet_runs_.end()) return it->second;
    Stmt s(db_, "SELECT run_id FROM merged_from WHERE fleet_key = ? LIMIT 1");
    s.bind(1, fleet_key);
    if (s.step()) return fleet_runs_[fleet_key] = s.i64(0);
    return std::nullopt;
  }

  int64_t target_run(const Source& src, const SourceRun& r) {
    if (r.plan.selected_cell) {
      if (auto fleet = existing_fleet_run(r.fleet_key)) return *fleet;
    } else {
      // A run merged before, while it was still running: its new cells join it.
      Stmt s(db_, "SELECT run_id FROM merged_from WHERE source_host = ? AND source_run_started_ns = ? AND source_run_id = ? LIMIT 1");
      s.bind(1, r.host).bind(2, r.started_ns).bind(3, r.id);
      if (s.step()) return s.i64(0);
    }
    const int64_t id = copy_row("runs", r.id, {});
    ++report_.runs_created;
    if (r.plan.selected_cell) {
      Stmt plan(db_, "UPDATE runs SET plan_json = ? WHERE id = ?");
      plan.bind(1, json_text(r.plan.without_selection().to_json())).bind(2, id).run();
      fleet_runs_[r.fleet_key] = id;
    }
    (void)src;
    return id;
  }

  // A fleet's run spans its parts: earliest start, latest end, every host;
  // completed only when every cell of the plan is there and completed.
  void finish_fleet(const std::string& fleet_key, int64_t run_id) {
    Stmt parts(db_,
               "SELECT DISTINCT source_host FROM merged_from WHERE fleet_key = ? ORDER BY source_host");
    parts.bind(1, fleet_key);
    std::vector<std::string> hosts;
    while (parts.step()) hosts.push_back(parts.text(0));
    Stmt span(db_, "SELECT MIN(started_ns), MAX(ended_ns), COUNT(*), SUM(status IN ('running', 'interrupted', 'failed')) "
                   "FROM cells WHERE run_id = ?");
    span.bind(1, run_id);
    span.step();
    const int64_t started = span.i64(0), ended = span.i64(1), have = span.i64(2), bad = span.i64(3);
    Stmt plan(db_, "SELECT plan_json FROM runs WHERE id = ?");
    plan.bind(1, run_id);
    plan.step();
    const auto planned = spec::EffectivePlan::from_json(plan.text(0)).cells;
    const size_t want = planned.size();
    RunStatus status = RunStatus::completed;
    std::string error;
    if (static_cast<size_t>(have) < want) {
      std::set<int> present;
      Stmt idx(db_, "SELECT idx FROM cells WHERE run_id = ?");
      idx.bind(1, run_id);
      while (idx.step()) present.insert(static_cast<int>(idx.i64(0)));
      std::vector<std::string> missing;
      for (size_t i = 0; i < want; ++i)
        if (!present.count(static_cast<int>(i))) missing.push_back(planned[i].label.empty() ? std::to_string(i) : planned[i].label);
      status = RunStatus::interrupted;
      error = "fleet merged " + std::to_string(have) + " of " + std::to_string(want) + " cells; missing: " + join(missing, ", ");
      report_.notes.push_back("run " + std::to_string(run_id) + ": " + error);
    } else if (bad > 0) {
      status = RunStatus::failed;
      error = std::to_string(bad) + " cell(s) did not finish";
    }
    Stmt up(db_, "UPDATE runs SET started_ns = ?, ended_ns = ?, host = ?, status = ?, error = ? WHERE id = ?");
    up.bind(1, started).bind(2, ended).bind(3, join(hosts, ",")).bind(4, std::string(to_string(status))).bind(5, error).bind(6, run_id).run();
  }

  std::filesystem::path path_;
  sqlite3* db_ = nullptr;
  MergeReport report_;
  std::set<std::string> chosen_;                   // fleet parts picked by check_fleets
  std::map<std::string, int64_t> fleet_runs_;      // fleet key → output run
};

}  // namespace

std::vector<std::filesystem::path> find_databases(const std::vector<std::filesystem::path>& inputs) {
  std::vector<std::filesystem::path> out;
  for (const auto& in : inputs) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(in, ec)) {
      out.push_back(in);
    } else if (std::filesystem::is_regular_file(in / kDatabaseName, ec)) {
      out.push_back(in / kDatabaseName);
    } else if (std::filesystem::is_directory(in, ec)) {
      std::vector<std::filesystem::path> found;
      for (const auto& e : std::filesystem::directory_iterator(in, ec))
        if (std::filesystem::is_regular_file(e.path() / kDatabaseName)) found.push_back(e.path() / kDatabaseName);
      if (found.empty())
        throw InputError(in.string() + ": holds no " + std::string(kDatabaseName) + ", neither in it nor in its subfolders");
      std::sort(found.begin(), found.end());  // a stable order: fleet cells by folder name
      out.insert(out.end(), found.begin(), found.end());
    } else {
      throw InputError(in.string() + ": no such file or folder");
    }
  }
  return out;
}

MergeReport merge(const std::filesystem::path& out_dir, const std::vector<std::filesystem::path>& databases) {
  const auto out_db = std::filesystem::weakly_canonical(out_dir / kDatabaseName);
  for (const auto& db : databases)
    if (std::filesystem::weakly_canonical(db) == out_db)
      throw InputError(db.string() + ": is the output itself; merge into another folder");
  Merger m(out_dir);
  return m.run(databases);
}

}  // namespace gpumix::store
