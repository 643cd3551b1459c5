// Tables of probe results (gpumix probe show, the reports): the time-slice
// figures and the kernel-loop slowdown per mode and process count, over the
// repeats (with their spread), and the isolation matrix.
#pragma once

#include <vector>

#include "gpumix/probe/probe_store.hpp"
#include "gpumix/report/table.hpp"

namespace gpumix::report {

// Per mode and process count: medians over repeats, and the spread of the
// slice median ((max − min) ÷ mean, %).
Table timeslice_table(const std::vector<probe::TimesliceRow>& rows);
Table slowdown_table(const std::vector<probe::SlowdownRow>& rows);
Table isolation_table(const std::vector<probe::IsolationRow>& rows);

}  // namespace gpumix::report
