#!/usr/bin/env bash
# One device session: builds the LibTorch workloads against the machine's
# PyTorch, then runs the phases asked for, each logged to $OUT/<phase>.log,
# and prints a short table last. Prepare first, here: bench/prepare_device.sh
# (gpumix and the libraries the GPU machine lacks, in .carry/).
# Usage (on the GPU machine, from the repo root):
#   bench/gpu_session.sh [env] [nvmlabi] [dcgm] [attrib] [workloads] [profile] [cudnn] [libs] [telemetry] [modes] [probes] [default] [server] [servermix] [decision] [decision-server] [npref] [basecheck] [shares] [tune-server] [servermodes] [tune-fair] [llm] [llmmix] [llmcheck]
#     env        GPU, driver, PyTorch, tools
#     nvmlabi    tests/gpu/nvml_abi_check.sh: gpumix's NVML declaration against the toolkit's nvml.h and the driver
#     dcgm       tests/gpu/dcgm_names.sh: monitor --listen --names dcgm against nvidia-smi
#     attrib     tests/gpu/attribution_events.sh: per-workload SM/energy shares (vs nvidia-smi pmon), Xid events of a fault
#     workloads  bench/workloads/run.sh: built-ins vs PyTorch eager references
#     profile    bench/workloads/profile.sh: where ResNet-50 and BERT training and ResNet-50 b64 inference spend their time (ncu, torch.profiler)
#     libs       bench/workloads/linked_libraries.sh: the cuBLAS/cuDNN the workloads load vs PyTorch's, and the difference
#     cudnn      bench/workloads/ab.sh: resnet-train's --cudnn-benchmark true vs false at b64 and b256 (and the reference's)
#     telemetry  tests/gpu/telemetry.sh: gpumix gpu, monitor, /metrics under load
#     modes      tests/gpu/modes.sh: evidence, MPS limits, Ctrl-C, no leftovers
#     probes     tests/gpu/probes.sh: gpumix probe timeslice and isolation, report, no leftovers
#     default    gpumix run examples/default.yaml (all modes), show and export
#     server     bench/infer_server/run.sh: inference server, loadgen sweep, wrk
#     servermix  gpumix run examples/inference-server.yaml (all modes), show and export
#     decision   the default mix with repeats: 3 and with repeats: auto (8 s windows): GPU time to a decision, both answers, NP agreement
#     decision-server  the same for examples/inference-server.yaml (10 s windows)
#     npref      bench/np_reference/run.sh: gpumix's NP and STP vs an independent PyTorch reference
#     basecheck  bench/np_reference/baseline_check.sh: one workload alone by the reference, beside gpumix monitor, and under gpumix
#     eager-tune  no LibTorch build needed (GPUMIX_NO_WORKLOADS=1): bench/tune/shares.yaml (requested vs delivered,
#                beside nvidia-smi pmon) and gpumix tune bench/tune/server.yaml (GPUMIX_TUNE_BUDGET, default 170s)
#     shares     gpumix run examples/mps-shares.yaml: requested SM limits 10/25/50/75 % vs delivered, beside nvidia-smi pmon
#     tune-server      gpumix tune examples/inference-server.yaml (GPUMIX_TUNE_BUDGET, default 12m; 15 s cells)
#     servermodes      gpumix run examples/inference-server.yaml --modes "$GPUMIX_MODES" (15 s cells), e.g. settings between a tune's candidates
#     tune-fair        gpumix tune examples/tune-fairness.yaml --objective min-np (GPUMIX_TUNE_FAIR_BUDGET, default 6m; 12 s cells)
#     llm        bench/llm/run.sh: gpumix-llm-server (1b) against the memory bound, HF generate and an independent client
#     llmcheck   gpumix run bench/llm/mps_check.yaml: the llm-server's fused-kernel start check under MPS limits
#     llmmix     gpumix run examples/llm-serving.yaml (all its modes, GPUMIX_LLM_CELL, default 40 s cells: a p99 needs 100 requests after the load generator's 5 s warm-up), show and export
set -uo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
# Everything is logged under $out and packed into $OUT/session.tgz at the end
# (the device returns only a few files).
out=/tmp/gpumix-session
rm -rf "$out" && mkdir -p "$out"
export LD_LIBRARY_PATH="$root/.carry/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PYTHONUNBUFFERED=1
bin=/tmp/gpumix-bin
mkdir -p "$bin"
cp "$root"/.carry/bin/* "$bin/"
declare -a rows

phase() {  # name, command...
  local name="$1"; shift
  local t0; t0=$(date +%s)
  "$@" > "$out/$name.log" 2>&1
  local rc=$?
  rows+=("$(printf '%-10s rc=%-3s %4ss  %s' "$name" "$rc" "$(( $(date +%s) - t0 ))" "$(grep -E '^(RESULT|SUMMARY)' "$out/$name.log" | tail -1 | cut -c1-110)")")
  # The checks' own PASS/FAIL lines and benchmark tables, indented.
  while IFS= read -r line; do rows+=("    ${line:0:150}"); done < <(grep -E ' (PASS|FAIL) |MISSED|met$|\] *[0-9.]+ |^  \| |^correctness|run failed' "$out/$name.log" | tail -25)
  return $rc
}

# The workloads' header-only dependencies and cpp-httplib, carried in .carry/.
carried_deps=(GPUMIX_CLI11_INCLUDE_DIR="$root/.carry/include" GPUMIX_JSON_INCLUDE_DIR="$root/.carry/include-serving"
              GPUMIX_HTTPLIB_INCLUDE_DIR="$root/.carry/include-serving"
              GPUMIX_HTTPLIB_LIBRARY="$(ls "$root"/.carry/lib/libcpp-httplib.so* 2>/dev/null | head -1)")

build_workloads() {
  # The same configuration as the benchmark (PyTorch's LibTorch, nvcc, cuDNN).
  OUT="$out/build-workloads" GPUMIX_BENCH_BUILD=/tmp/gpumix-wl GPUMIX_BENCH_BUILD_ONLY=1 \
    env "${carried_deps[@]}" bash bench/workloads/run.sh &&
  cp /tmp/gpumix-wl/bin/gpumix-* "$bin/" &&
  echo "SUMMARY built: $(ls "$bin" | tr '\n' ' ')"
}

show_env() {
  nvidia-smi; nvidia-smi -q | head -60; nvidia-smi compute-policy -l 2>&1
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())'
  cmake --version | head -1; ninja --version; which sqlite3 curl wrk 2>&1
  "$bin/gpumix" gpu
  echo "SUMMARY $(nvidia-smi --query-gpu=name,driver_version,mig.mode.current,compute_mode --format=csv,noheader)"
}

run_example() {  # name (examples/NAME.yaml), cell duration: the example's modes, then show, export and report
  local name="$1" res="/tmp/gpumix-$1"
  "$bin/gpumix" run "examples/$name.yaml" --cell-duration "$2" --results "$res" &&
  "$bin/gpumix" show --results "$res" &&
  "$bin/gpumix" export --results "$res" --format json -o "$out/$name-export.json" &&
  cp "$res/gpumix.db" "$out/$name.db" &&
  { "$bin/gpumix" report --results "$res" -o "$out/$name-report.html" 2>&1 || true; } &&
  echo "SUMMARY $name mix: $(sqlite3 "$res/gpumix.db" 'select group_concat(label||"="||status, " ") from cells' 2>/dev/null)"
  local rc=$? left; left="$(pgrep -a 'nvidia-cuda-mps|gpumix-' | grep -v pgrep)"
  echo "RESULT leftovers after the run: ${left:-none}"
  return $rc
}

decision() {  # mix name (examples/NAME.yaml), window: fixed repeats: 3 against repeats: auto (at most 4)
  local name="$1" window="$2" how res mix="/tmp/gpumix-$1-auto.yaml"
  sed 's/^repeats: 1$/repeats: auto\nmax_repeats: 4/' "examples/$name.yaml" > "$mix"
  grep -q '^repeats: auto' "$mix" || { echo "decision: cannot make the auto mix of $name"; return 1; }
  for how in 3 auto; do
    res="/tmp/gpumix-decision-$name-$how"
    rm -rf "$res"
    if [ "$how" = auto ]; then "$bin/gpumix" run "$mix" --cell-duration "$window" --results "$res"
    else "$bin/gpumix" run "examples/$name.yaml" --repeats 3 --cell-duration "$window" --results "$res"; fi
    "$bin/gpumix" show --results "$res"
    "$bin/gpumix" report --results "$res" --format json -o "$out/decision-$name-$how.json"
    "$bin/gpumix" report --results "$res" --format text > "$out/decision-$name-$how.txt"
    cp "$res/gpumix.db" "$out/decision-$name-$how.db"
  done
  python3 bench/decision/summary.py "$out/decision-$name-3.json" "$out/decision-$name-auto.json" | sed 's/^|/  |/'
  local left; left="$(pgrep -a 'nvidia-cuda-mps|gpumix-' | grep -v pgrep)"
  echo "RESULT leftovers after the runs: ${left:-none}"
}

run_modes() {  # mix name (examples/NAME.yaml), cell duration, modes: one run of those modes, show and the report's JSON
  local name="$1" res="/tmp/gpumix-modes-$1"
  rm -rf "$res"
  "$bin/gpumix" run "examples/$name.yaml" --modes "$3" --cell-duration "$2" --results "$res" &&
  "$bin/gpumix" show --results "$res" &&
  "$bin/gpumix" report --results "$res" --format json -o "$out/modes-$name-report.json"
  local rc=$? left; left="$(pgrep -a 'nvidia-cuda-mps|gpumix-' | grep -v pgrep)"
  echo "SUMMARY $name: $(sqlite3 "$res/gpumix.db" 'select group_concat(label||"="||status, " ") from cells' 2>/dev/null)"
  echo "RESULT leftovers after the run: ${left:-none}"
  return $rc
}

llm_check() {  # bench/llm/mps_check.yaml: the llm-server's fused-kernel check in each cell
  local res=/tmp/gpumix-llmcheck
  rm -rf "$res"
  "$bin/gpumix" run bench/llm/mps_check.yaml --results "$res"
  local rc=$?
  "$bin/gpumix" export --results "$res" --format json -o "$out/llmcheck-export.json"
  python3 - "$out/llmcheck-export.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
cell_of = {w["id"]: w["cell_id"] for w in d["workloads"]}
labels = {i + 1: c["cell"] for i, c in enumerate(d["cells"])}
for e in d["events"]:
    data = e.get("data") or {}
    if "kernels" in data:
        print("RESULT", labels.get(cell_of.get(e["workload_id"]), "?"), "kernels", data["kernels"],
              {k[len("fused_difference_"):]: v for k, v in data.items() if k.startswith("fused_difference")})
PY
  local left; left="$(pgrep -a 'nvidia-cuda-mps|gpumix-' | grep -v pgrep)"
  echo "RESULT leftovers after the run: ${left:-none}"
  return $rc
}

tune_example() {  # mix (examples/NAME.yaml or a path), budget, cell duration, more options: the answer, its run and the emitted mix
  local mix="$1" budget="$2" cell="$3"; shift 3
  [ -f "$mix" ] || mix="examples/$mix.yaml"
  local name; name="$(basename "$mix" .yaml)"
  local res="/tmp/gpumix-tune-$name"
  rm -rf "$res"
  local t0; t0=$(date +%s)
  "$bin/gpumix" tune "$mix" --budget "$budget" --cell-duration "$cell" --results "$res" \
    --emit-mix "$out/tuned-$name.yaml" --format json -o "$out/tune-$name.json" "$@"
  local rc=$?
  echo "tune took $(( $(date +%s) - t0 )) s (budget $budget)"
  "$bin/gpumix" report --results "$res" --format text
  "$bin/gpumix" report --results "$res" -o "$out/tune-$name-report.html"
  "$bin/gpumix" report --results "$res" --format json -o "$out/tune-$name-report.json"
  cp "$res/gpumix.db" "$out/tune-$name.db"
  [ -f "$out/tuned-$name.yaml" ] && "$bin/gpumix" k8s render "$out/tuned-$name.yaml" --mode mps --out-dir "$out/k8s-$name"
  python3 - "$out/tune-$name.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(f"SUMMARY best={d['best']} | {d['verdict'][:150]}")
for c in d["candidates"]:
    print(f"  | {c['mode']:<40} {c['kind']:<9} {c['status']:<9} stp={c['stp']} headroom%={c['headroom_pct']} ok={c['meets_slos']} n={c['repeats']}")
PY
  local left; left="$(pgrep -a 'nvidia-cuda-mps|gpumix-' | grep -v pgrep)"
  echo "RESULT leftovers after the run: ${left:-none}"
  return $rc
}

shares() {  # a mix (default examples/mps-shares.yaml), with nvidia-smi pmon beside it as an independent view of per-process SM time
  local res=/tmp/gpumix-shares
  rm -rf "$res"
  nvidia-smi pmon -s u -d 1 > "$out/shares-pmon.txt" 2>&1 &
  local pmon=$!
  "$bin/gpumix" run "${1:-examples/mps-shares.yaml}" --results "$res"
  local rc=$?
  kill "$pmon" 2>/dev/null
  "$bin/gpumix" show --results "$res"
  "$bin/gpumix" export --results "$res" --table attribution --format csv -o "$out/shares-attribution.csv"
  "$bin/gpumix" export --results "$res" --table cells --format csv -o "$out/shares-cells.csv"
  "$bin/gpumix" report --results "$res" --format json -o "$out/shares-report.json"
  cp "$res/gpumix.db" "$out/shares.db"
  echo "SUMMARY shares: $(sqlite3 "$res/gpumix.db" 'select group_concat(label||"="||status, " ") from cells' 2>/dev/null)"
  local left; left="$(pgrep -a 'nvidia-cuda-mps|gpumix-' | grep -v pgrep)"
  echo "RESULT leftovers after the run: ${left:-none}"
  return $rc
}

export GPUMIX_WORKLOAD_DIR="$bin"
# GPUMIX_NO_WORKLOADS=1: phases that need no LibTorch workload (env, nvmlabi, telemetry) skip the build.
if [ "${GPUMIX_NO_WORKLOADS:-0}" != 1 ]; then
  phase build build_workloads || { printf '%s\n' "${rows[@]}"; exit 1; }
fi
for p in "$@"; do
  case "$p" in
    env) phase env show_env ;;
    nvmlabi) phase nvmlabi bash tests/gpu/nvml_abi_check.sh "$bin" ;;
    dcgm) phase dcgm bash tests/gpu/dcgm_names.sh "$bin" ;;
    attrib) phase attrib env OUT="$out/attrib" bash tests/gpu/attribution_events.sh "$bin" /tmp/gpumix-attrib ;;
    workloads) phase workloads env OUT="$out/workloads" GPUMIX_BENCH_BUILD=/tmp/gpumix-wl \
                 "${carried_deps[@]}" bash bench/workloads/run.sh ;;
    profile) phase profile env OUT="$out/profile" bash bench/workloads/profile.sh "$bin" ;;
    libs) phase libs env OUT="$out/libs" bash bench/workloads/linked_libraries.sh "$bin" ;;
    cudnn) phase cudnn-b64 env OUT="$out/cudnn-b64" GPUMIX_AB_REF_FLAG=--cudnn-benchmark \
             bash bench/workloads/ab.sh "$bin" resnet50-train-b64 cudnn-benchmark true false
           phase cudnn-b256 env OUT="$out/cudnn-b256" \
             bash bench/workloads/ab.sh "$bin" resnet50-train-b256 cudnn-benchmark true false ;;
    server) phase server bash bench/infer_server/run.sh "$bin" "$out/server" ;;
    telemetry) phase telemetry env OUT="$out/telemetry" bash tests/gpu/telemetry.sh "$bin" ;;
    modes) phase modes bash tests/gpu/modes.sh "$bin" /tmp/gpumix-modes ;;
    probes) phase probes bash tests/gpu/probes.sh "$bin" /tmp/gpumix-probes ;;
    default) phase default run_example default 20s ;;
    servermix) phase servermix run_example inference-server 15s ;;
    decision) phase decision decision default 8s ;;
    decision-server) phase decision-server decision inference-server 10s ;;
    npref) phase npref bash bench/np_reference/run.sh "$bin" "$out/npref" ;;
    npref-pinned) phase npref-pinned env NPREF_PIN=1 GPUMIX_NPREF_REPEATS=3 \
                    bash bench/np_reference/run.sh "$bin" "$out/npref-pinned" ;;
    noise) phase noise python3 bench/np_reference/noise_check.py --launches 3 --seconds 20 --out "$out/noise.json" ;;
    basecheck) phase basecheck bash bench/np_reference/baseline_check.sh "$bin" "$out/basecheck" ;;
    shares) phase shares shares ;;
    eager-tune) phase eager-shares shares bench/tune/shares.yaml
                phase eager-tune tune_example bench/tune/server.yaml "${GPUMIX_TUNE_BUDGET:-170s}" 8s --confirm 1 ;;
    tune-server) phase tune-server tune_example inference-server "${GPUMIX_TUNE_BUDGET:-12m}" 15s ;;
    servermodes) phase servermodes run_modes inference-server 15s "${GPUMIX_MODES:-exclusive,mps}" ;;
    tune-fair) phase tune-fair tune_example tune-fairness "${GPUMIX_TUNE_FAIR_BUDGET:-6m}" 12s --objective min-np ;;
    llm) phase llm bash bench/llm/run.sh "$bin" "$out/llm" ;;
    llmmix) phase llmmix run_example llm-serving "${GPUMIX_LLM_CELL:-40s}" ;;
    llmcheck) phase llmcheck llm_check ;;
    *) echo "unknown phase $p" >&2 ;;
  esac
done
cp -r /tmp/gpumix-modes "$out/modes-work" 2>/dev/null
printf '%s\n' "${rows[@]}" > "$out/summary.txt"
[ -n "${OUT:-}" ] && tar czf "$OUT/session.tgz" --exclude='*.db' -C /tmp gpumix-session
echo
echo "== $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null), $(date -u '+%F %H:%M UTC')"
printf '%s\n' "${rows[@]}"
