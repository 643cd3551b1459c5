#!/usr/bin/env bash
# GPU check of `gpumix probe` (run on a GPU machine; CI cannot):
#  1. gpumix probe timeslice under timeslice and mps, N = 1,2,4,8, 2 repeats:
#     every measurement valid, switches seen under time slicing, concurrency
#     under MPS, repeats within 10%;
#  2. gpumix probe isolation under timeslice and mps: every case recorded,
#     the MPS memory limit holds;
#  3. the HTML report of a run on this GPU holds the "GPU sharing mechanics";
#  4. no MPS daemon and no probe process left after each.
# Never changes the compute policy, MIG, clocks or compute mode.
# Usage: tests/gpu/probes.sh BIN_DIR [WORK_DIR]  (BIN_DIR: gpumix, gpumix-probe,
# gpumix-testload). Logs, database and report go to $OUT when set. Prints a
# PASS/FAIL table last; exit 1 if a check failed.
set -uo pipefail
bin="$(realpath "$1")"; work="$(realpath -m "${2:-/tmp/gpumix-probes}")"
rm -rf "$work"; mkdir -p "$work"; cd "$work"
export GPUMIX_WORKLOAD_DIR="$bin"
gpumix="$bin/gpumix"
res="$work/results"
failures=0
declare -a summary
check() {  # name, condition result (0 = pass), detail
  local status=PASS; [ "$2" = 0 ] || { status=FAIL; failures=$((failures + 1)); }
  summary+=("$(printf '%-46s %-4s %s' "$1" "$status" "$3")")
}
# By process name (not command line: the work folder's name holds "gpumix-probe" too).
leftovers() { pgrep -a 'gpumix-probe|nvidia-cuda-mps' || true; }
sql() { sqlite3 -readonly "$res/gpumix.db" "$1" 2>/dev/null || python3 -c "import sqlite3,sys; print('\n'.join('|'.join(map(str,r)) for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2])))" "$res/gpumix.db" "$1"; }
ok() { [ "$1" = 1 ] && echo 0 || echo 1; }

{ date -u; nvidia-smi --query-gpu=name,driver_version,compute_mode,mig.mode.current --format=csv; nvidia-smi compute-policy -l; } > env.txt 2>&1

# 1. Time slices.
t0=$(date +%s)
"$gpumix" probe timeslice --results "$res" --processes 1,2,4,8 --repeats 2 --duration 1500ms > timeslice.out 2> timeslice.err
rc=$?
check "probe timeslice ran" "$([ $rc = 0 ] && echo 0 || echo 1)" "exit $rc in $(( $(date +%s) - t0 ))s"
n=$(sql "select count(*) from probe_timeslice where valid=1")
check "timeslice: 16 valid measurements" "$([ "$n" = 16 ] && echo 0 || echo 1)" "$n valid; $(sql "select group_concat(mode||' N='||processes||': '||note, '; ') from probe_timeslice where valid=0")"
s=$(sql "select min(switches) from probe_timeslice where mode='timeslice' and processes>1")
check "timeslice: context switches seen (N>1)" "$([ "${s:-0}" -gt 0 ] && echo 0 || echo 1)" "min switches $s"
c=$(sql "select round(min(concurrency),2) from probe_timeslice where mode='mps' and processes=2")
check "mps: 2 processes run concurrently" "$(ok "$(sql "select min(concurrency)>1.5 from probe_timeslice where mode='mps' and processes=2")")" "concurrency $c"
spread=$(sql "select max((mx-mn)/av*100) from (select max(slice_p50_us) mx, min(slice_p50_us) mn, avg(slice_p50_us) av from probe_timeslice where mode='timeslice' and processes>1 and valid=1 group by processes)")
check "timeslice: slice p50 repeats within 10%" "$(python3 -c "import sys; sys.exit(0 if float('${spread:-nan}') <= 10 else 1)" 2>/dev/null; echo $?)" "max spread ${spread:-?} %"
sd=$(sql "select count(*) from probe_slowdown where slowdown is not null")
check "slowdown of the kernel loop measured" "$([ "$sd" = 16 ] && echo 0 || echo 1)" "$sd of 16"
left="$(leftovers)"; check "nothing left after probe timeslice" "$([ -z "$left" ] && echo 0 || echo 1)" "${left:-none}"

# 2. Isolation.
t0=$(date +%s)
"$gpumix" probe isolation --results "$res" --duration 1500ms > isolation.out 2> isolation.err
rc=$?
check "probe isolation ran" "$([ $rc = 0 ] && echo 0 || echo 1)" "exit $rc in $(( $(date +%s) - t0 ))s"
cases=$(sql "select count(distinct mode||case_name) from probe_isolation where case_name in ('memory','fault','performance')")
check "isolation: memory, fault, performance per mode" "$([ "$cases" = 6 ] && echo 0 || echo 1)" "$cases of 6"
check "mps: pinned memory limit enforced" "$(ok "$(sql "select isolated from probe_isolation where mode='mps' and case_name='mps-memory-limit'")")" \
  "$(sql "select outcome from probe_isolation where mode='mps' and case_name='mps-memory-limit'")"
rec=$(sql "select group_concat(mode||'='||ifnull(round(value,3),'never'), ' ') from probe_isolation where case_name='fault'")
check "fault: a new process ran afterwards" "$(ok "$(sql "select count(*)=2 from probe_isolation where case_name='fault' and value is not null")")" "recovery s: $rec"
left="$(leftovers)"; check "nothing left after probe isolation" "$([ -z "$left" ] && echo 0 || echo 1)" "${left:-none}"

# 3. The report of a run on this GPU shows the probes.
cat > mini.yaml <<YAML
name: probes-report
cell_duration: 3s
modes: [exclusive]
workloads:
  - name: t
    command: [$bin/gpumix-testload]
YAML
"$gpumix" run mini.yaml --results "$res" > run.out 2>&1
"$gpumix" report --results "$res" -o "$work/report.html" > report.out 2>&1
check "HTML report: GPU sharing mechanics" "$(grep -q 'id="probes"' report.html && grep -q 'Time slices' report.html && grep -q 'Isolation</h3>' report.html && echo 0 || echo 1)" "$(grep -c '<tr>' report.html) table rows"
"$gpumix" probe show --results "$res" > show.txt 2>&1
"$gpumix" probe show --results "$res" --format json > show.json 2>&1

if [ -n "${OUT:-}" ]; then
  cp timeslice.out isolation.out show.txt report.html "$OUT/" 2>/dev/null
  cp "$res/gpumix.db" "$OUT/probes.db"
  tar czf "$OUT/probes-work.tgz" -C "$work" . 2>/dev/null
fi
cat show.txt
echo
echo "== $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null), $(date -u '+%F %H:%M UTC')"
printf '%s\n' "${summary[@]}"
echo "SUMMARY probes: $failures failed"
[ "$failures" = 0 ]
