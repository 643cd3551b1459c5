// `gpumix merge`: several results databases (one per node of a fleet, or runs
// made on different machines) combined into one, for `gpumix report`.
//
// Every run, cell, workload, event and telemetry sample is copied with new
// ids; every input is checked before the first write, then each is copied in
// one transaction of its own.
// Runs of a fleet (`gpumix run --cell-index N --fleet-id F`, one cell each)
// become one run again, its cells in plan order. Where a row came from (file,
// host, run and cell id there) is kept in the `merged_from` table. Merging is
// idempotent: what the output already holds from the same source run is
// skipped, so merging a folder again after more nodes finished adds only the
// new cells.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace gpumix::store {

struct MergeReport {
  int runs_created = 0;    // new runs in the output (a fleet counts once)
  int cells_copied = 0;
  int cells_already = 0;   // already in the output from an earlier merge
  std::vector<std::string> notes;  // what was skipped and why, fleets left incomplete
};

// The databases `inputs` name: a gpumix.db file, a results folder holding
// one, or a folder whose subfolders hold them (a fleet's results volume).
// Throws InputError when an input holds none.
std::vector<std::filesystem::path> find_databases(const std::vector<std::filesystem::path>& inputs);

// Merges `databases` into `out_dir`/gpumix.db (created when absent). A
// database of an older schema is read as its migration would leave it (the
// columns added since take their defaults) and is not written. Throws
// InputError for a database of a newer schema, for fleet parts that ran
// different mixes or plans, and for two different runs of one fleet cell.
MergeReport merge(const std::filesystem::path& out_dir, const std::vector<std::filesystem::path>& databases);

}  // namespace gpumix::store
