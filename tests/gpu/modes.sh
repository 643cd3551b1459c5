#!/usr/bin/env bash
# GPU check of the sharing modes (run on a GPU machine; CI cannot):
#  1. a real mix under exclusive, timeslice and mps: evidence for every cell;
#  2. MPS limits take effect: a workload at 25% of the SMs runs measurably
#     slower than alone;
#  3. no MPS daemon and no workload process left afterwards;
#  4. Ctrl-C in the middle of an MPS cell leaves nothing behind.
# Usage: tests/gpu/modes.sh BIN_DIR WORK_DIR   (BIN_DIR holds gpumix and the
# built-in workloads). Prints a summary table last; exit 1 if a check failed.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$(realpath "$1")"; work="$(realpath -m "$2")"
mkdir -p "$work"; cd "$work"
export GPUMIX_WORKLOAD_DIR="$bin"
gpumix="$bin/gpumix"
failures=0
declare -a summary
check() {  # name, condition result (0 = pass), detail
  local status=PASS; [ "$2" = 0 ] || { status=FAIL; failures=$((failures + 1)); }
  summary+=("$(printf '%-44s %-4s %s' "$1" "$status" "$3")")
}
leftovers() {  # processes of ours still running
  pgrep -fa 'nvidia-cuda-mps|gpumix-(resnet|bert|batch|interactive)' | grep -v pgrep || true
}
sql() { sqlite3 -readonly "$1" "$2" 2>/dev/null || python3 -c "import sqlite3,sys; print('\n'.join('|'.join(map(str,r)) for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2])))" "$1" "$2"; }

# 1. The default mix under three modes, short cells.
"$gpumix" run "$root/examples/default.yaml" --modes exclusive,timeslice,mps --cell-duration 20s --results "$work/r1" \
  > "$work/run1.out" 2> "$work/run1.err"
rc=$?
db="$work/r1/gpumix.db"
check "default mix exclusive,timeslice,mps ran" "$([ $rc = 0 ] && echo 0 || echo 1)" "exit $rc"
ts_ok=$(sql "$db" "select json_extract(evidence_json,'$.separate_processes') from cells where mode='timeslice'")
check "timeslice: each workload its own GPU process" "$([ "$ts_ok" = 1 ] && echo 0 || echo 1)" "separate_processes=$ts_ok"
mps_ok=$(sql "$db" "select json_extract(evidence_json,'$.every_workload_an_mps_client') from cells where mode='mps'")
mps_nvml=$(sql "$db" "select json_array_length(json_extract(evidence_json,'$.gpu.mps_pids')) from cells where mode='mps'")
check "mps: every workload an MPS client" "$([ "$mps_ok" = 1 ] && echo 0 || echo 1)" "clients ok=$mps_ok, NVML MPS pids=$mps_nvml"
teardown=$(sql "$db" "select json_extract(evidence_json,'$.teardown.daemon') from cells where mode='mps'")
check "mps: daemon stopped at teardown" "$([[ "$teardown" == *quit* ]] && echo 0 || echo 1)" "$teardown"
left="$(leftovers)"
check "nothing left after run 1" "$([ -z "$left" ] && echo 0 || echo 1)" "${left:-none}"

# 2. MPS limit: the same training alone, then under MPS at 25% of the SMs.
cat > "$work/limit.yaml" <<YAML
name: mps-limit
cell_duration: 25s
modes: [exclusive, mps]
workloads:
  - name: train
    builtin: resnet-train
    mps: {sm_percent: 25}
YAML
"$gpumix" run "$work/limit.yaml" --results "$work/r2" > "$work/run2.out" 2> "$work/run2.err"
"$gpumix" show --results "$work/r2" --format csv > "$work/limit.csv"
# The column by its name (columns before the SLOs hold no commas).
rate='NR==1 {for (i = 1; i <= NF; i++) if ($i == "samples_per_s") c = i; next}'
alone=$(awk -F, "$rate"' $1 ~ /baseline/ {print $c}' "$work/limit.csv")
limited=$(awk -F, "$rate"' $1 ~ /mps/ {print $c}' "$work/limit.csv")
ratio=$(python3 -c "print(f'{float(\"$limited\")/float(\"$alone\"):.2f}')" 2>/dev/null || echo nan)
check "mps sm_percent=25 slower than alone" "$(python3 -c "import sys; sys.exit(0 if float('$ratio') < 0.8 else 1)" 2>/dev/null; echo $?)" \
  "alone $alone img/s, 25% SM $limited img/s, ratio $ratio"

# 3./4. Ctrl-C in the middle of an MPS cell.
"$gpumix" run "$root/examples/default.yaml" --modes mps --cell-duration 60s --results "$work/r3" > "$work/run3.out" 2> "$work/run3.err" &
pid=$!
sleep 20
daemons_during=$(pgrep -c -f 'nvidia-cuda-mps-control' || true)
kill -INT "$pid"
start=$(date +%s.%N)
wait "$pid"; rc=$?
took=$(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')")
sleep 1
left="$(leftovers)"
check "Ctrl-C: gpumix exits 130 within 15 s" "$([ $rc = 130 ] && python3 -c "import sys; sys.exit(0 if $took < 15 else 1)"; echo $?)" "exit $rc after ${took}s (daemons during: $daemons_during)"
check "Ctrl-C: no daemon or workload left" "$([ -z "$left" ] && echo 0 || echo 1)" "${left:-none}"
status=$(sql "$work/r3/gpumix.db" "select status from runs order by id desc limit 1")
check "Ctrl-C: run marked interrupted" "$([ "$status" = interrupted ] && echo 0 || echo 1)" "$status"

echo
echo "== modes on $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null), $(date -u +%F)"
printf '%s\n' "${summary[@]}"
exit $((failures > 0))
