#!/usr/bin/env bash
# GPU check of the modes' edges (run on a GPU machine; CI cannot), with two
# PyTorch matmul loops as workloads (no built-ins needed):
#  1. mps-split: active-thread percentages follow the weights (3:1 -> 75/25),
#     both workloads MPS clients, and the heavier one gets more work done;
#  2. mig on a GPU with MIG disabled: the cells are skipped with the reason
#     and the administrator's command, and the run still succeeds;
#  3. gpumix killed with SIGKILL in the middle of an MPS cell: the orphan
#     guard stops the MPS daemon, its server and the workloads.
# Usage: tests/gpu/modes_edge.sh BIN_DIR WORK_DIR. Prints a table last.
set -uo pipefail
bin="$(realpath "$1")"; work="$(realpath -m "$2")"
mkdir -p "$work"; cd "$work"
gpumix="$bin/gpumix"
failures=0
declare -a summary
check() {
  local status=PASS; [ "$2" = 0 ] || { status=FAIL; failures=$((failures + 1)); }
  summary+=("$(printf '%-46s %-4s %s' "$1" "$status" "$3")")
}
sql() { python3 -c "import sqlite3,sys; print('\n'.join('|'.join(map(str,r)) for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2])))" "$1" "$2"; }
leftovers() { pgrep -fa 'nvidia-cuda-mps|matmul_load' | grep -v pgrep || true; }

# A GPU load speaking the metrics protocol: 4096² bf16 matmuls until SIGTERM.
cat > matmul_load.py <<'PY'
import json, os, signal, time, torch
out = os.fdopen(int(os.environ["GPUMIX_METRICS_FD"]), "w", buffering=1)
stop = False
def term(*_):
    global stop; stop = True
signal.signal(signal.SIGTERM, term)
a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16); b = torch.randn_like(a)
for _ in range(10): a @ b
torch.cuda.synchronize(); out.write('{"ev":"ready"}\n')
while not stop:
    t = time.perf_counter()
    for _ in range(20): a @ b
    torch.cuda.synchronize()
    out.write(json.dumps({"ev": "iter", "n": 20, "ms": (time.perf_counter() - t) * 1e3}) + "\n")
out.write('{"ev":"done"}\n')
PY
cat > mix.yaml <<YAML
name: edges
cell_duration: 15s
modes: [mps-split, mig]
workloads:
  - name: heavy
    command: [python3, $work/matmul_load.py]
    mps: {weight: 3}
  - name: light
    command: [python3, $work/matmul_load.py]
    mps: {weight: 1}
YAML

"$gpumix" run mix.yaml --results "$work/r1" > run1.out 2> run1.err
rc=$?
db="$work/r1/gpumix.db"
check "mps-split + mig run exits 0" "$([ $rc = 0 ] && echo 0 || echo 1)" "exit $rc"
split=$(sql "$db" "select json_extract(evidence_json,'$.split_percentages') from cells where mode='mps-split'")
check "mps-split: 75/25 from weights 3:1" "$([[ "$split" == *'"heavy":75'* && "$split" == *'"light":25'* ]] && echo 0 || echo 1)" "$split"
clients=$(sql "$db" "select json_extract(evidence_json,'$.every_workload_an_mps_client') from cells where mode='mps-split'")
check "mps-split: both MPS clients" "$([ "$clients" = 1 ] && echo 0 || echo 1)" "every_workload_an_mps_client=$clients"
"$gpumix" show --results "$work/r1" --format csv > show1.csv
# The column by its name (columns before the SLOs hold no commas).
rate='NR==1 {for (i = 1; i <= NF; i++) if ($i == "samples_per_s") c = i; next}'
heavy=$(awk -F, "$rate"' $1=="mps-split-r1" && $2=="heavy" {print $c}' show1.csv)
light=$(awk -F, "$rate"' $1=="mps-split-r1" && $2=="light" {print $c}' show1.csv)
check "mps-split: heavy (75%) outruns light (25%)" "$(python3 -c "import sys; sys.exit(0 if float('$heavy') > 1.3 * float('$light') else 1)" 2>/dev/null; echo $?)" \
  "heavy $heavy, light $light matmul/s"
mig=$(sql "$db" "select status || ': ' || error from cells where mode='mig'")
check "mig (disabled): skipped with the admin command" "$([[ "$mig" == skipped* && "$mig" == *"nvidia-smi -i 0 -mig 1"* ]] && echo 0 || echo 1)" "${mig:0:90}"

# SIGKILL of gpumix mid-cell under MPS.
"$gpumix" run mix.yaml --modes mps --cell-duration 60s --results "$work/r2" > run2.out 2> run2.err &
pid=$!
sleep 12
during="$(pgrep -c -f 'nvidia-cuda-mps' || true) MPS processes, $(pgrep -c -f matmul_load || true) workloads"
kill -KILL "$pid"; wait "$pid" 2>/dev/null
sleep 3
left="$(leftovers)"
check "SIGKILL of gpumix: guard stops daemon + workloads" "$([ -z "$left" ] && echo 0 || echo 1)" "during: $during; after: ${left:-none}"
"$gpumix" run mix.yaml --modes mps --cell-duration 5s --results "$work/r2" > run3.out 2> run3.err
status=$(sql "$work/r2/gpumix.db" "select status from runs where id=1")
check "next run marks the killed run interrupted" "$([ "$status" = interrupted ] && echo 0 || echo 1)" "run 1: $status"

echo
echo "== modes edges on $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null), $(date -u +%F)"
printf '%s\n' "${summary[@]}"
exit $((failures > 0))
