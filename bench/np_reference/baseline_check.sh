#!/usr/bin/env bash
# Why a workload alone may run slower under gpumix than under reference.py:
# ROUNDS interleaved rounds (default 2) of one workload alone (default
# bert-train, CPU-launch-bound in eager PyTorch), each measured four ways:
#   ref           reference.py --scenarios alone (its own processes and window)
#   ref+monitor   the same, beside `gpumix monitor --interval 100ms` (NVML sampling only)
#   gpumix        gpumix run, exclusive only, telemetry every 100 ms (the default)
#   gpumix-quiet  the same with telemetry every 10 s
# The window is W seconds (default 8). Prints samples/s per round and the
# median of each way against ref's (ratio), last.
# Usage: bash bench/np_reference/baseline_check.sh BIN_DIR OUT_DIR [WORKLOAD]
set -uo pipefail
[ $# -ge 2 ] || { echo "usage: baseline_check.sh BIN_DIR OUT_DIR [WORKLOAD]" >&2; exit 2; }
bin="$(cd "$1" && pwd)" && [ -x "$bin/gpumix" ] || { echo "baseline_check.sh: no gpumix in $1" >&2; exit 2; }
mkdir -p "$2" && out="$(cd "$2" && pwd)" || exit 2
workload="${3:-bert-train}"
here="$(cd "$(dirname "$0")" && pwd)"
rounds="${ROUNDS:-2}" window="${W:-8}"
export PYTHONUNBUFFERED=1
cat > "$out/mix.yaml" <<MIX
name: baseline-check
modes: [exclusive]
cell_duration: ${window}s
setup_timeout: 3m
workloads:
  - name: $workload
    command: [python3, $here/gpumix_workload.py, $workload]
    warmup: ready
MIX
results="$out/rates.txt"
: > "$results"

ref() {  # tag: one reference.py alone run; appends "tag rate"
  python3 "$here/reference.py" --scenarios alone --workloads "$workload" --window "$window" --out "$out/$1.json" \
    > "$out/$1.log" 2>&1
  python3 -c "import json,sys; print(sys.argv[2], json.load(open(sys.argv[1]))['alone'].get(sys.argv[3], 'n/a'))" \
    "$out/$1.json" "${1%-r*}" "$workload" >> "$results" 2>/dev/null || echo "${1%-r*} n/a" >> "$results"
}
gm() {  # tag interval: one gpumix run of the one-workload mix; appends "tag rate"
  local res="$out/$1-results"
  "$bin/gpumix" run "$out/mix.yaml" --telemetry-interval "$2" --results "$res" > "$out/$1.log" 2>&1
  "$bin/gpumix" report --results "$res" --format json -o "$out/$1.json" >> "$out/$1.log" 2>&1
  python3 -c "
import json, sys
d = json.load(open(sys.argv[1]))
m = [m for m in d['modes'] if m['mode'] == 'exclusive'][0]
print(sys.argv[2], [w for w in m['workloads'] if w['workload'] == sys.argv[3]][0]['throughput']['mean'])" \
    "$out/$1.json" "${1%-r*}" "$workload" >> "$results" 2>/dev/null || echo "${1%-r*} n/a" >> "$results"
}

for r in $(seq "$rounds"); do
  echo "== round $r $(date -u +%T)"
  ref "ref-r$r"
  "$bin/gpumix" monitor --interval 100ms --format csv > "$out/monitor-r$r.csv" 2>&1 &
  mon=$!
  sleep 1
  ref "ref+monitor-r$r"
  kill "$mon" 2>/dev/null; wait "$mon" 2>/dev/null
  gm "gpumix-r$r" 100ms
  gm "gpumix-quiet-r$r" 10s
  tail -n 4 "$results"
done
python3 - "$results" <<'PY'
import statistics, sys
rates = {}
for line in open(sys.argv[1]):
    tag, v = line.split()
    if v != "n/a":
        rates.setdefault(tag, []).append(float(v))
ref = statistics.median(rates["ref"]) if rates.get("ref") else None
print("\n  | way | samples/s per round | median | ÷ ref |")
for tag in ("ref", "ref+monitor", "gpumix", "gpumix-quiet"):
    v = rates.get(tag, [])
    med = statistics.median(v) if v else None
    ratio = f"{med / ref:.3f}" if med and ref else "n/a"
    print(f"  | {tag} | {', '.join(f'{x:.1f}' for x in v)} | {med and round(med, 1)} | {ratio} |")
PY
left="$(pgrep -af 'nvidia-cuda-mps|gpumix_workload|np_reference|gpumix monitor' | grep -v baseline_check)"
echo "RESULT baseline-check: done; leftovers: ${left:-none}"
