#!/usr/bin/env bash
# GPU check of the telemetry (run on a GPU machine with PyTorch; CI cannot):
#  1. `gpumix gpu` sees the GPU, with GPM support and the time-slice policy;
#  2. `gpumix monitor --format csv` during a bf16 matmul loop: utilization,
#     power and the GPM figures (SM util, occupancy, tensor, DRAM) non-zero,
#     samples stored with --out;
#  3. `gpumix monitor --format json`: the load's process with its memory and
#     SM utilization;
#  4. `gpumix monitor --listen`: /metrics scraped with curl during the load;
#  5. the sampler's cost: the matmul loop alone vs beside `gpumix monitor` at
#     100 ms and at 10 ms (interleaved rounds), target <= 0.5% at 100 ms.
# Usage: tests/gpu/telemetry.sh [BIN_DIR]   (default build/release/bin)
# Logs go to $OUT when set (else a temporary folder). Prints a summary table
# last; exit 1 if a check failed.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$(realpath "${1:-$root/build/release/bin}")"
gpumix="$bin/gpumix"
work="${OUT:-$(mktemp -d /tmp/gpumix-telemetry-XXXXXX)}"
mkdir -p "$work"
python="${PYTHON:-python3}"
rounds="${ROUNDS:-3}"
failures=0
declare -a summary
check() {  # name, condition result (0 = pass), detail
  local status=PASS; [ "$2" = 0 ] || { status=FAIL; failures=$((failures + 1)); }
  summary+=("$(printf '%-46s %-4s %s' "$1" "$status" "$3")")
}
pass_if() { "$python" -c "import sys; sys.exit(0 if ($1) else 1)" 2>/dev/null; echo $?; }

# A GPU load that reports its own speed: bf16 matmuls (tensor cores) for
# SECONDS, then prints matmuls per second.
cat > "$work/load.py" <<'PY'
import sys, time, torch
seconds = float(sys.argv[1]); n = 8192
a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
for _ in range(20):
    c = a @ b
torch.cuda.synchronize()
print("ready", flush=True)
t0 = time.perf_counter(); done = 0
while time.perf_counter() - t0 < seconds:
    for _ in range(20):
        c = a @ b
    torch.cuda.synchronize(); done += 20
print(f"{done / (time.perf_counter() - t0):.3f}", flush=True)
PY
# Starts the load for $1 seconds in the background; waits until it computes.
start_load() {
  "$python" "$work/load.py" "$1" > "$work/load.out" 2> "$work/load.err" &
  load_pid=$!
  for _ in $(seq 1 300); do grep -q ready "$work/load.out" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# 1. gpumix gpu
"$gpumix" gpu > "$work/gpu.txt" 2>&1; rc=$?
"$gpumix" gpu --format json > "$work/gpu.json" 2>> "$work/gpu.txt"
cat "$work/gpu.txt"
info=$("$python" - "$work/gpu.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))["devices"][0]
print(f'{d["name"]}|{d["gpm_supported"]}|{d["timeslice_policy"]}|{d["compute_mode"]}|{d["mig_enabled"]}')
PY
)
IFS='|' read -r name gpm policy mode mig <<< "$info"
check "gpumix gpu: the GPU, exit 0" "$([ $rc = 0 ] && [ -n "$name" ] && echo 0 || echo 1)" "$name, compute mode $mode, MIG $mig"
check "gpumix gpu: GPM supported" "$([ "$gpm" = True ] && echo 0 || echo 1)" "gpm_supported=$gpm"
check "gpumix gpu: time-slice policy read" "$([ -n "$policy" ] && [ "$policy" != unknown ] && echo 0 || echo 1)" "timeslice=$policy"

# 2. monitor --format csv during the load
start_load 16 || echo "load did not start: $(cat "$work/load.err")"
"$gpumix" monitor --duration 3s --interval 100ms --format csv --results "$work/mon" > "$work/monitor.csv" 2> "$work/monitor.err"
rc=$?
stats=$("$python" - "$work/monitor.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
def col(name):
    return [float(r[name]) for r in rows if r[name] not in ("", None)]
def mx(name):
    v = col(name); return max(v) if v else 0.0
print(len(rows), mx("gpu_util_percent"), mx("power_watts"), mx("gpm_sm_util_percent"), mx("gpm_sm_occupancy_percent"),
      mx("gpm_tensor_util_percent"), mx("gpm_dram_bw_util_percent"), len(col("gpm_sm_util_percent")), mx("sm_clock_mhz"))
PY
)
read -r rows util power sm occ tensor dram gpm_rows smclk <<< "${stats:-0 0 0 0 0 0 0 0 0}"
head -5 "$work/monitor.csv"
check "monitor csv: exit 0, 3 s at 100 ms" "$([ $rc = 0 ] && [ "$(pass_if "$rows >= 25")" = 0 ] && echo 0 || echo 1)" "$rows rows"
check "monitor: GPU utilization under load" "$(pass_if "$util >= 50")" "max ${util}%, SM clock ${smclk} MHz, power ${power} W"
check "monitor: GPM SM utilization > 0" "$(pass_if "$sm > 0")" "max ${sm}% ($gpm_rows rows with GPM)"
check "monitor: GPM SM occupancy > 0" "$(pass_if "$occ > 0")" "max ${occ}%"
check "monitor: GPM tensor activity > 0" "$(pass_if "$tensor > 0")" "max ${tensor}%"
check "monitor: GPM DRAM bandwidth > 0" "$(pass_if "$dram > 0")" "max ${dram}%"
stored=$("$python" -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(c.execute('select count(*) from gpu_samples').fetchone()[0], c.execute('select count(*) from gpm_samples where sm_util_percent > 0').fetchone()[0], c.execute('select count(*) from process_samples').fetchone()[0])" "$work/mon/gpumix.db" 2>&1)
read -r s_gpu s_gpm s_proc <<< "$stored"
check "monitor --results: samples stored" "$([ "${s_gpu:-0}" = "$rows" ] && [ "$(pass_if "${s_gpm:-0} > 0 and ${s_proc:-0} > 0")" = 0 ] && echo 0 || echo 1)" \
  "gpu $s_gpu, gpm>0 $s_gpm, process $s_proc rows"

# 3. monitor --format json: the load's process
"$gpumix" monitor --duration 2s --interval 100ms --format json > "$work/monitor.jsonl" 2>> "$work/monitor.err"
proc=$("$python" - "$work/monitor.jsonl" "$load_pid" <<'PY'
import json, sys
pid = int(sys.argv[2]); mem = 0; sm = 0; seen = 0
for line in open(sys.argv[1]):
    for p in json.loads(line)["processes"]:
        if p["pid"] == pid:
            seen += 1; mem = max(mem, p["used_memory_bytes"] or 0); sm = max(sm, p["sm_util_percent"] or 0)
print(seen, mem, sm)
PY
)
read -r seen pmem psm <<< "${proc:-0 0 0}"
check "monitor json: the load's process, its memory" "$(pass_if "$seen > 0 and $pmem > 0")" "pid $load_pid in $seen samples, $((pmem / 1048576)) MiB"
check "monitor json: the load's SM utilization > 0" "$(pass_if "$psm > 0")" "max ${psm}%"

# 4. monitor --listen, scraped with curl
"$gpumix" monitor --listen 127.0.0.1:0 --interval 100ms --duration 6s > "$work/listen.out" 2> "$work/listen.err" &
listen_pid=$!
port=""
for _ in $(seq 1 50); do port=$(grep -o '127.0.0.1:[0-9]*' "$work/listen.out" 2>/dev/null | head -1 | cut -d: -f2); [ -n "$port" ] && break; sleep 0.1; done
sleep 1
curl -s -D "$work/metrics.headers" "http://127.0.0.1:$port/metrics" > "$work/metrics.txt"
wait "$listen_pid"; listen_rc=$?
grep -E '^gpumix_(nvml_available|gpu_utilization_percent|gpm_sm_utilization_percent|gpm_tensor_active_percent|process_gpu_memory_used_bytes)' "$work/metrics.txt"
ctype=$(grep -i '^content-type' "$work/metrics.headers" | tr -d '\r')
gpm_metric=$(awk '/^gpumix_gpm_sm_utilization_percent/ {print $NF; exit}' "$work/metrics.txt")
check "listen: /metrics served (curl)" "$(grep -q '^gpumix_nvml_available 1$' "$work/metrics.txt" && [[ "$ctype" == *"text/plain; version=0.0.4"* ]] && echo 0 || echo 1)" "port $port, $ctype"
check "listen: GPM and process metrics" "$(grep -q "pid=\"$load_pid\"" "$work/metrics.txt" && [ "$(pass_if "${gpm_metric:-0} > 0")" = 0 ] && echo 0 || echo 1)" "gpm sm ${gpm_metric:-none}%"
check "listen: ends after --duration, exit 0" "$([ $listen_rc = 0 ] && echo 0 || echo 1)" "exit $listen_rc"
wait "$load_pid" 2>/dev/null

# 5. The sampler's cost on a GPU-bound loop: alone, beside monitor at 100 ms, at 10 ms.
measure() {  # interval or "none" -> matmuls/s
  local mon=""
  if [ "$1" != none ]; then
    "$gpumix" monitor --interval "$1" --format csv > /dev/null 2>> "$work/overhead.err" &
    mon=$!
  fi
  "$python" "$work/load.py" 10 2>> "$work/overhead.err" | tail -1
  [ -n "$mon" ] && { kill -INT "$mon"; wait "$mon"; }
}
: > "$work/overhead.txt"
for r in $(seq 1 "$rounds"); do
  for cfg in none 100ms 10ms; do echo "$cfg $(measure $cfg)" >> "$work/overhead.txt"; done
done
cat "$work/overhead.txt"
read -r base s100 s10 <<< "$("$python" - "$work/overhead.txt" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    cfg, v = line.split(); runs.setdefault(cfg, []).append(float(v))
base = statistics.median(runs["none"])
slow = lambda c: 100.0 * (base - statistics.median(runs[c])) / base
print(f"{base:.2f} {slow('100ms'):.2f} {slow('10ms'):.2f}")
PY
)"
check "cost at 100 ms <= 0.5% (median of $rounds)" "$(pass_if "${s100:-99} <= 0.5")" "alone ${base} matmul/s; slowdown ${s100}% at 100 ms"
summary+=("$(printf '%-46s %-4s %s' "cost at 10 ms (for the record)" INFO "slowdown ${s10}% at 10 ms")")

echo
echo "== telemetry on $(hostname): logs in $work"
printf '%-46s %-4s %s\n' "check" "" "detail"
printf '%s\n' "${summary[@]}" | tee "$work/summary.txt"
echo "$failures check(s) failed"
[ "$failures" = 0 ]
