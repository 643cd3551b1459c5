#!/usr/bin/env bash
# Where gpumix's ResNet-50 batch-64 training step (CUDA graph), BERT-base
# training step (CUDA graph on and off) and ResNet-50 batch-64 inference spend
# their time, beside the PyTorch eager reference of the same row and, for
# ResNet-50 training, torch.compile's (issue 20): per step, the wall time, the
# kernel time, the gap between them, the kernels that take it and the kernel
# time by family (convolution, normalization, ...). README.md "Profiling"
# explains.
#
#   OUT=/tmp/wl-profile bash bench/workloads/profile.sh BIN
#
# BIN holds the built workloads gpumix-resnet-train, gpumix-bert-train and gpumix-batch-infer (run.sh
# with GPUMIX_BENCH_BUILD_ONLY=1 builds them). Each row runs twice: once
# as the benchmark runs it (rows.sh: the same arguments as run.sh), for the
# wall time per step (the reference also profiles a few more steps with
# torch.profiler: --profile), then under Nsight Compute (ncu --clock-control
# none: the clocks are left alone) over a window of a few steady steps, for
# each kernel's GPU time. Writes $OUT/profile.json and prints a table last.
#
# Environment:
#   OUT                        output directory (required)
#   GPUMIX_PYTHON              python with torch (as run.sh: /opt/torch/.venv/bin/python3, else python3)
#   GPUMIX_BENCH_SECONDS       measured seconds of each timing run (default 3)
#   GPUMIX_PROFILE_NCU         the ncu to use (default: ncu on PATH, else /usr/local/cuda/bin/ncu,
#                              else the newest /opt/nvidia/nsight-compute/*/ncu)
#   GPUMIX_PROFILE_NCU_TIMEOUT seconds for one ncu run (default 90)
#   GPUMIX_PROFILE_ROWS        the row groups to run (default "resnet-train infer bert")
#   GPUMIX_PROFILE_BUDGET      seconds for the whole script (default 480): an ncu run gets at most what is
#                              left of it, and is skipped (explained) with less than 30 s left
#   GPUMIX_BENCH_SMOKE=1       tiny sizes on the CPU and no ncu (checks the script without a GPU)
set -uo pipefail
: "${OUT:?set OUT to a directory for the logs and results}"
BIN=${1:?usage: OUT=DIR bash bench/workloads/profile.sh BIN (the folder with the built workloads)}
BIN=$(cd "$BIN" && pwd) || exit 2
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=rows.sh
. "$HERE/rows.sh"
SECS=${GPUMIX_BENCH_SECONDS:-$([ "$SMOKE" = 1 ] && echo 1 || echo 3)}
NCU_TIMEOUT=${GPUMIX_PROFILE_NCU_TIMEOUT:-90}
BUDGET=${GPUMIX_PROFILE_BUDGET:-480}
START=$SECONDS
log() { echo "[$((SECONDS - START))s] $*" | tee -a "$OUT/commands.txt"; }
: > "$OUT/commands.txt"
: > "$OUT/status.tsv"
: > "$OUT/rows.tsv"
for exe in gpumix-resnet-train gpumix-bert-train gpumix-batch-infer; do
  [ -x "$BIN/$exe" ] || { echo "profile.sh: $BIN/$exe not found (build the workloads first)" >&2; exit 2; }
done
PY=$(pick_python)
# profile_summary.py needs no torch: any python3 reads the results.
SUMPY=${PY:-python3}

# ncu: one metric (each kernel's GPU time), kernel nodes of CUDA graphs
# profiled one by one (ncu's default, named), caches left as the previous
# kernel left them (as in the real stream) and the clocks as they are.
NCU=${GPUMIX_PROFILE_NCU:-}
if [ -z "$NCU" ]; then
  NCU=$(command -v ncu || true)
  [ -z "$NCU" ] && [ -x /usr/local/cuda/bin/ncu ] && NCU=/usr/local/cuda/bin/ncu
  [ -z "$NCU" ] && NCU=$(ls -d /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | sort -V | tail -1)
fi
NCU_OPTS=(--clock-control none --cache-control none --graph-profiling node --metrics gpu__time_duration.sum --csv)
if [ "$SMOKE" = 1 ]; then
  NCU_SKIP="smoke mode: the rows run on the CPU, which has no GPU kernels for ncu to time"
elif [ -z "$NCU" ]; then
  NCU_SKIP="ncu not found (set GPUMIX_PROFILE_NCU)"
else
  NCU_SKIP=""
fi
{
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host=$(hostname)"
  echo "smoke=$SMOKE"
  echo "gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)"
  [ -n "$PY" ] && echo "torch=$("$PY" -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda)' 2>&1 | tail -1)"
  echo "ncu=${NCU:-none} $([ -n "$NCU" ] && "$NCU" --version 2>/dev/null | tail -1)"
  echo "ncu_options=${NCU_OPTS[*]}"
  echo "seconds_per_timing_run=$SECS"
} > "$OUT/context.txt"
cat "$OUT/context.txt"

status() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$OUT/status.tsv"; }
run() {  # name, kind, limit, output file, command...: one logged run with its exit status and seconds
  local name=$1 kind=$2 limit=$3 outfile=$4; shift 4
  local t0=$SECONDS
  log "$name ($kind): $*"
  timeout -k 10 "$limit" "$@" > "$outfile" 2> "$OUT/$name.$kind.err"
  local rc=$?
  status "$name" "$kind" $rc $((SECONDS - t0))
  [ $rc -eq 0 ] || { log "  exit status $rc:"; tail -5 "$OUT/$name.$kind.err"; }
  return $rc
}
note_json() {  # file, key, message
  "$SUMPY" -c 'import json, sys; json.dump({sys.argv[2]: sys.argv[3]}, open(sys.argv[1], "w"))' "$1" "$2" "$3"
}

# The ncu window, in kernel launches (kernel nodes of a replayed graph count
# one each): skip the set-up and the warm-up, then profile 2.5 steps. The
# kernels per step are not known before: k is an upper estimate (measured on
# the reference by torch.profiler, or by ncu on the eager run of the same
# workload); the summary finds the true period in the kernel names.
# profile_window K GRAPH_STEPS WARMUP: sets SKIP, COUNT and ITERS (steps to run).
profile_window() {
  local k=$1 g=$2 w=$3
  # Set-up kernels (weight initialization, cuDNN autotuning) were fewer than
  # 4 steps' in these workloads.
  SKIP=$(( (w + g + 4) * k ))
  COUNT=$(( 5 * k / 2 ))
  # Enough steps that the window ends inside them even if a step is only a
  # quarter of k (steps past the window run at nearly full speed).
  ITERS=$(( 3 * (w + g) + 27 ))
}
NCU_STEPS_FOUND=""
# ncu over a steady window. Sets NCU_STEPS_FOUND (kernels per step, if found)
# and NCU_NOTE (the window, or why ncu did not run) for the row.
ncu_row() {  # name, k estimate, graph warm-up steps, warmup, command...
  local name=$1 k=$2 g=$3 w=$4; shift 4
  NCU_STEPS_FOUND=""
  NCU_NOTE=$NCU_SKIP
  rm -f "$OUT/$name.ncu.json"  # no stale result from an earlier run in this folder
  [ -n "$NCU_SKIP" ] && return
  local limit=$NCU_TIMEOUT left=$((BUDGET - (SECONDS - START)))
  if [ "$left" -lt 30 ]; then
    note_json "$OUT/$name.ncu.json" skipped "the profile budget (GPUMIX_PROFILE_BUDGET=$BUDGET s) was spent"
    log "$name (ncu): skipped, ${left} s of the budget left"; return
  fi
  [ "$left" -lt "$limit" ] && limit=$left
  profile_window "$k" "$g" "$w"
  NCU_NOTE="window: --launch-skip $SKIP --launch-count $COUNT (estimate $k kernels/step), $ITERS steps, limit $limit s"
  run "$name" ncu "$limit" "$OUT/$name.ncu.txt" "$NCU" "${NCU_OPTS[@]}" --launch-skip "$SKIP" \
    --launch-count "$COUNT" "$@" --iterations "$ITERS"
  local rc=$?
  local found
  found=$("$SUMPY" "$HERE/profile_summary.py" ncu "$OUT/$name.ncu.txt" "$OUT/$name.ncu.json" 2>&1)
  NCU_STEPS_FOUND=$(echo "$found" | sed -n 's/^kernels_per_step=\([0-9]*\).*/\1/p')
  if [ ! -f "$OUT/$name.ncu.json" ]; then
    # ncu's own error first (==ERROR==, or that the window held no kernel),
    # else why nothing was read.
    local why
    why=$(grep -h -E '==ERROR==|No kernels were profiled' "$OUT/$name.ncu.txt" "$OUT/$name.ncu.err" 2>/dev/null |
          head -1)
    note_json "$OUT/$name.ncu.json" error \
      "ncu exit status $rc: $(echo "${why:-$found}" | tail -1 | cut -c1-240) ($NCU_NOTE)"
  fi
  [ $rc -eq 0 ] || log "  ncu $NCU_NOTE"
}
add_row() {  # label, kind, wall file, ncu json, ncu note, torch.profiler json, command
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$OUT/rows.tsv"
}

# Kernels per step when nothing measured them yet (generous; the summary
# finds the true period).
K_BERT=${GPUMIX_PROFILE_K_BERT:-1600}
K_INFER=${GPUMIX_PROFILE_K_INFER:-400}
K_TRAIN=${GPUMIX_PROFILE_K_TRAIN:-1000}
# Which rows run: any of resnet-train, infer and bert.
ROWS=${GPUMIX_PROFILE_ROWS:-resnet-train infer bert}
for r in $ROWS; do
  case "$r" in resnet-train|infer|bert) ;;
    *) echo "profile.sh: GPUMIX_PROFILE_ROWS: unknown row group '$r' (expected resnet-train, infer, bert)" >&2; exit 2 ;;
  esac
done
ref_k() {  # torch.profiler's kernels per step from a reference's --profile, or the default
  local k
  k=$("$SUMPY" -c 'import json, sys; print(int(json.load(open(sys.argv[1]))["kernels_per_step"]))' "$1" 2>/dev/null)
  if [ -n "$k" ] && [ "$k" -gt 0 ]; then echo $(( k * 21 / 20 + 8 )); else echo "$2"; fi
}

reference_rows() {  # config, label, default k[, no-ncu]: the eager reference, timed and profiled
  local config=$1 label=$2 name=$2; row "$config"
  local skip_ncu=${4:-}
  local cmd=(reference.py "${REF_ARGS[@]}" --warmup "$ROW_WARMUP" --duration "$SECS")
  if [ -z "$PY" ]; then
    note_json "$OUT/$name.ref.json" skipped "no python with torch found (set GPUMIX_PYTHON)"
    note_json "$OUT/$name.torchprof.json" skipped "no python with torch found (set GPUMIX_PYTHON)"
    add_row "$label" ref "$name.ref.json" "" "no python with torch found (set GPUMIX_PYTHON)" \
      "$name.torchprof.json" "${cmd[*]}"
    REF_K=$3; return
  fi
  rm -f "$OUT/$name.ref.json" "$OUT/$name.torchprof.json"
  run "$name" ref 300 "$OUT/$name.ref.log" "$PY" "$HERE/reference.py" "${REF_ARGS[@]}" --warmup "$ROW_WARMUP" \
    --duration "$SECS" --out "$OUT/$name.ref.json" --profile "$OUT/$name.torchprof.json"
  REF_K=$(ref_k "$OUT/$name.torchprof.json" "$3")
  if [ -n "$skip_ncu" ]; then
    add_row "$label" ref "$name.ref.json" "" "$skip_ncu" "$name.torchprof.json" "${cmd[*]}"; return
  fi
  ncu_row "$name" "$REF_K" 0 "$ROW_WARMUP" "$PY" "$HERE/reference.py" "${REF_ARGS[@]}" --warmup "$ROW_WARMUP"
  add_row "$label" ref "$name.ref.json" "$([ -z "$NCU_SKIP" ] && echo "$name.ncu.json")" "$NCU_NOTE" \
    "$name.torchprof.json" "${cmd[*]}"
}
# The same reference under torch.compile, timed and traced by torch.profiler
# (no ncu: the compilation's own kernels, Triton's autotuning among them,
# leave no fixed window). Mode `default`: Inductor generates the same kernels
# as under `reduce-overhead`, launched one by one instead of from a CUDA graph,
# whose kernels torch.profiler may not all record.
compiled_row() {  # config, label
  local config=$1 label=$2 name=$2; row "$config"
  local cmd=(reference.py "${REF_ARGS[@]}" --compile default --warmup "$ROW_WARMUP" --duration "$SECS")
  local why=""
  [ -z "$PY" ] && why="no python with torch found (set GPUMIX_PYTHON)"
  [ "$SMOKE" = 1 ] && why="smoke mode: torch.compile is not run on the CPU"
  if [ -n "$why" ]; then
    note_json "$OUT/$name.ref.json" skipped "$why"
    note_json "$OUT/$name.torchprof.json" skipped "$why"
  else
    rm -f "$OUT/$name.ref.json" "$OUT/$name.torchprof.json"
    run "$name" ref 400 "$OUT/$name.ref.log" "$PY" "$HERE/reference.py" "${REF_ARGS[@]}" --compile default \
      --warmup "$ROW_WARMUP" --duration "$SECS" --out "$OUT/$name.ref.json" --profile "$OUT/$name.torchprof.json"
  fi
  add_row "$label" ref "$name.ref.json" "" "torch.compile: torch.profiler's trace only" "$name.torchprof.json" \
    "${cmd[*]}"
}
gpumix_rows() {  # config, label, k estimate, graph warm-up steps, --cuda-graphs value
  local config=$1 label=$2 name=$2 k=$3 g=$4 graphs=$5; row "$config"
  local args=("${ROW_ARGS[@]}" --cuda-graphs "$graphs")
  run "$name" gpumix 240 "$OUT/$name.gpumix.log" env GPUMIX_METRICS_FD=3 "$BIN/$ROW_EXE" "${args[@]}" \
    --warmup-steps "$ROW_WARMUP" --duration "${SECS}s" 3>"$OUT/$name.gpumix.jsonl"
  ncu_row "$name" "$k" "$g" "$ROW_WARMUP" "$BIN/$ROW_EXE" "${args[@]}" --warmup-steps "$ROW_WARMUP"
  add_row "$label" gpumix "$name.gpumix.jsonl" "$([ -z "$NCU_SKIP" ] && echo "$name.ncu.json")" "$NCU_NOTE" "" \
    "$ROW_EXE ${args[*]} --warmup-steps $ROW_WARMUP --duration ${SECS}s"
}

[ "$SMOKE" = 1 ] && log "smoke mode: tiny models on the CPU; the -graph rows run with --cuda-graphs false there"
wants() { [[ " $ROWS " == *" $1 "* ]]; }
# ResNet-50 b64 training, where gpumix is behind torch.compile: the eager
# reference and the compiled one by torch.profiler, gpumix's step by ncu,
# graphed and eager (its kernels launched one by one from the CPU).
if wants resnet-train; then
  reference_rows resnet50-train-b64 ref-train-b64 "$K_TRAIN" "eager: torch.profiler's trace only"
  compiled_row resnet50-train-b64 ref-compiled-train-b64
  gpumix_rows resnet50-train-b64 gpumix-resnet-train-b64-graph "$REF_K" 3 "$GRAPHS"
  gpumix_rows resnet50-train-b64 gpumix-resnet-train-b64-eager "$REF_K" 0 false
fi
# ResNet-50 b64 inference (few kernels: cheap under ncu). Each reference
# first: its kernels per step (torch.profiler) size the gpumix windows.
if wants infer; then
  reference_rows resnet50-infer-b64 ref-infer-b64 "$K_INFER"
  gpumix_rows resnet50-infer-b64 gpumix-batch-infer-b64-graph "$REF_K" 3 "$GRAPHS"
fi
# BERT: gpumix eager before the graph, whose capture holds the same kernels.
if wants bert; then
  reference_rows bert-base-train-b32 ref-bert-train-b32 "$K_BERT"
  gpumix_rows bert-base-train-b32 gpumix-bert-train-b32-eager "$REF_K" 0 false
  # The graph's window: from the eager step measured just now (the capture
  # holds the same kernels), else as the eager one. Both workloads run 3 eager
  # warm-up calls before they capture (torch_compat.hpp: CudaGraph).
  k=$REF_K; [ -n "$NCU_STEPS_FOUND" ] && k=$(( NCU_STEPS_FOUND * 11 / 10 + 8 ))
  gpumix_rows bert-base-train-b32 gpumix-bert-train-b32-graph "$k" 3 "$GRAPHS"
fi

log "all runs done"
"$SUMPY" "$HERE/profile_summary.py" report "$OUT" | tee "$OUT/profile.txt"
rc=${PIPESTATUS[0]}
log "total"
exit "$rc"
