#!/usr/bin/env bash
# GPU check of per-workload attribution and NVML events (run on a GPU
# machine; CI runs the same code against the fake driver):
#  1. two PyTorch bf16 matmul loads (different sizes) as a mix under timeslice
#     and mps, 8 s windows: in every attributed cell (at least the timeslice
#     one) the workloads' SM shares, other and idle add up to 1 and their
#     energies to the cell's; each workload's SM utilization against
#     `nvidia-smi pmon` (NVML read by NVIDIA's own tool) over the same window;
#  2. `gpumix probe isolation --modes timeslice`: the fault case's illegal
#     address is on the record as an NVML Xid event (gpu_events, the case's
#     outcome);
#  3. nothing left running.
# Usage: tests/gpu/attribution_events.sh BIN_DIR [WORK_DIR]. Logs to $OUT
# when set. Prints a PASS/FAIL table last; exit 1 if a check failed.
set -uo pipefail
bin="$(realpath "$1")"; work="$(realpath -m "${2:-/tmp/gpumix-attrib}")"
rm -rf "$work"; mkdir -p "$work"; cd "$work"
export GPUMIX_WORKLOAD_DIR="$bin"
gpumix="$bin/gpumix"
python="${PYTHON:-python3}"
failures=0
declare -a summary
check() {  # name, condition result (0 = pass), detail
  local status=PASS; [ "$2" = 0 ] || { status=FAIL; failures=$((failures + 1)); }
  summary+=("$(printf '%-50s %-4s %s' "$1" "$status" "$3")")
}
finish() {
  [ -n "${OUT:-}" ] && mkdir -p "$OUT" && cp "$work"/*.out "$work"/*.err "$work"/*.json "$work"/*.txt "$OUT"/ 2>/dev/null
  echo "RESULT attribution-events: $([ $failures = 0 ] && echo PASS || echo "FAIL ($failures)"); $(head -1 "$work/attribution.txt" 2>/dev/null | cut -c1-80)"
  printf '%s\n' "${summary[@]}"
  exit $(( failures > 0 ))
}

cat > load.py <<'PY'
import sys, time, torch
n, seconds = int(sys.argv[1]), float(sys.argv[2])
a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
t0 = time.perf_counter()
while time.perf_counter() - t0 < seconds:
    for _ in range(10):
        c = a @ b
    torch.cuda.synchronize()
PY
cat > mix.yaml <<EOF
name: attribution
cell_duration: 8s
stop_grace: 2s
modes: [timeslice, mps]
workloads:
  - name: big
    warmup: 6s
    command: [$python, $work/load.py, "8192", "30"]
  - name: small
    warmup: 6s
    command: [$python, $work/load.py, "2048", "30"]
EOF

# 1. The mix, with nvidia-smi pmon beside it (one line per process per second).
nvidia-smi pmon -s u -o T -d 1 > pmon.txt 2> pmon.err &
pmon=$!
"$gpumix" run mix.yaml --results "$work/results" > run.out 2> run.err
rc=$?
kill "$pmon" 2>/dev/null; wait "$pmon" 2>/dev/null
check "run: exit 0" "$([ $rc = 0 ] && echo 0 || echo 1)" "exit $rc"
"$gpumix" report --results "$work/results" --format json -o report.json 2>> run.err
"$gpumix" report --results "$work/results" --format text > report.txt 2>> run.err
verdict=$("$python" - report.json pmon.txt "$work/results/gpumix.db" <<'PY'
import json, sqlite3, sys, datetime
doc = json.load(open(sys.argv[1]))
db = sqlite3.connect(sys.argv[3])
# pmon: "# Time gpu pid type sm mem enc dec ..." then rows; the time is local HH:MM:SS of today.
pmon = []
for line in open(sys.argv[2]):
    f = line.split()
    if not f or f[0].startswith("#") or len(f) < 5 or not f[2].isdigit(): continue
    pmon.append((f[0], int(f[2]), 0.0 if f[4] == "-" else float(f[4])))  # "-": no sample that second, idle
today = datetime.date.today()
def secs(hms):
    return datetime.datetime.combine(today, datetime.time.fromisoformat(hms)).timestamp()
sums_ok, energy_ok, rows, attributed = True, True, [], 0
for c in doc["cells"]:
    at = c["attribution"]
    if not at["sm_attributed"]:  # MPS on this driver, MIG: said in the basis, nothing to add up
        rows.append(f'{c["label"]}: not attributed ({at["basis"]})'); continue
    attributed += 1
    shares = sum(w["sm_share"] for w in at["workloads"]) + at["other_share"] + at["idle_share"]
    sums_ok &= abs(shares - 1) < 1e-9
    if c["energy_j"]:
        e = sum(w["energy_j"] for w in at["workloads"]) + at["other_energy_j"] + at["idle_energy_j"]
        energy_ok &= abs(e - c["energy_j"]) < 1e-6 * c["energy_j"]
    cell_id, start, end = db.execute("select id, window_start_ns / 1e9, window_end_ns / 1e9 from cells where label = ?",
                                     (c["label"],)).fetchone()
    pids = dict(db.execute("select name, pid from workloads where cell_id = ?", (cell_id,)).fetchall())
    parts = []
    for w in at["workloads"]:
        ref = [sm for t, pid, sm in pmon if pid == pids.get(w["workload"]) and start <= secs(t) <= end]
        smi = sum(ref) / len(ref) if ref else None
        parts.append(f'{w["workload"]} sm {w["sm_util_mean"]:.1f}% share {w["sm_share"]:.3f} {w["energy_j"]:.0f} J'
                     + (f' (pmon {smi:.1f}% over {len(ref)} s)' if smi is not None else ' (pmon: none)'))
    rows.append(f'{c["label"]}: ' + "; ".join(parts) + f'; other {at["other_share"]:.3f}, idle {at["idle_share"]:.3f}'
                + (f', scaled x{at["scale"]:.2f}' if at["overlapping"] else "") + f', cell {c["energy_j"]:.0f} J')
print(("1" if sums_ok and attributed else "0") + ("1" if energy_ok else "0"))
for r in rows: print(r)
PY
)
echo "$verdict" | tail -n +2 | sed 's/^/  /' > attribution.txt
cat attribution.txt
check "attribution: shares add up to 1 in every cell" "$([ "${verdict:0:1}" = 1 ] && echo 0 || echo 1)" "$(head -c 300 attribution.txt | tr '\n' ' ')"
check "attribution: energies add up to the cell's" "$([ "${verdict:1:1}" = 1 ] && echo 0 || echo 1)" ""

# 2. The fault case of the isolation probe.
"$gpumix" probe isolation --modes timeslice --duration 1s --results "$work/probe" > probe.out 2> probe.err
rc=$?
check "probe isolation: exit 0" "$([ $rc = 0 ] && echo 0 || echo 1)" "exit $rc"
xids=$("$python" -c "import sqlite3,sys; print(','.join(str(r[0]) for r in sqlite3.connect(sys.argv[1]).execute(\"select data from gpu_events where type='xid_critical_error'\")))" "$work/probe/gpumix.db" 2>&1)
outcome=$("$python" -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"select outcome from probe_isolation where case_name='fault'\").fetchone()[0])" "$work/probe/gpumix.db" 2>&1)
check "probe fault: an Xid stored" "$([ -n "$xids" ] && echo 0 || echo 1)" "Xid(s): ${xids:-none}"
check "probe fault: the outcome names it" "$(echo "$outcome" | grep -q 'NVML: Xid' && echo 0 || echo 1)" "$outcome"

# 3. Leftovers.
left=$(pgrep -fa 'load.py|nvidia-cuda-mps|gpumix-probe' | grep -v pgrep || true)
check "nothing left running" "$([ -z "$left" ] && echo 0 || echo 1)" "${left:-none}"
finish
