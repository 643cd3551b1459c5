#!/usr/bin/env bash
# Benchmark of the gpumix built-in workloads against PyTorch references on one
# GPU: eager (the targets: issues 3 and 20) and torch.compile (information).
#
#   OUT=/tmp/wl-bench GPUMIX_CLI11_INCLUDE_DIR=/path/to/CLI11/include bash bench/workloads/run.sh
#
# Builds workloads/ standalone against the LibTorch of the installed PyTorch
# (CMake + Ninja), runs every target configuration with gpumix's workload and
# with bench/workloads/reference.py (eager, then torch.compile) in this one
# invocation, and prints a table (also in $OUT/summary.txt and
# $OUT/summary.json). Logs, metrics (JSON lines), the exact commands
# (commands.txt) and each run's exit status (status.tsv) are written to $OUT.
# A run that fails or times out leaves an explained empty cell; the others go on.
#
# Environment:
#   OUT                       output directory (required)
#   GPUMIX_PYTHON             python with torch (default: /opt/torch/.venv/bin/python3, else python3)
#   GPUMIX_CLI11_INCLUDE_DIR  CLI11 headers when find_package(CLI11) fails
#   GPUMIX_BENCH_SECONDS      measured seconds per run (default 6)
#   GPUMIX_BENCH_BUILD        build directory (default $OUT/build; reused when it exists)
#   GPUMIX_BENCH_BUILD_ONLY=1 build, then stop (bench/gpu_session.sh uses it)
#   GPUMIX_BENCH_BIN          run the workloads already built in this folder (no build)
#   GPUMIX_BENCH_COMPILE      torch.compile column: auto (default: reduce-overhead for every row,
#                             see README.md), none, or a mode for every row (max-autotune, ...)
#   GPUMIX_BENCH_COMPILE_BUDGET   seconds for all torch.compile runs together (default 420); a row
#                             that would start with less than 90 s of it left is skipped (explained)
#   GPUMIX_BENCH_COMPILE_TIMEOUT  seconds for one torch.compile run, compilation included (default 200)
#   GPUMIX_BENCH_EXTRA=1      also batch-infer b64 without CUDA graphs and without fused convolutions
#   GPUMIX_BENCH_SMOKE=1      tiny sizes on the CPU (checks the script without a GPU; no torch.compile)
set -uo pipefail
: "${OUT:?set OUT to a directory for the logs and results}"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BUILD=${GPUMIX_BENCH_BUILD:-$OUT/build}
START=$SECONDS
log() { echo "[$((SECONDS - START))s] $*" | tee -a "$OUT/commands.txt"; }
# The rows' sizes and arguments, shared with profile.sh; GPUMIX_BENCH_SMOKE=1
# shrinks everything and runs on the CPU.
# shellcheck source=rows.sh
. "$HERE/rows.sh"
SECS=${GPUMIX_BENCH_SECONDS:-$([ "$SMOKE" = 1 ] && echo 2 || echo 6)}

# ------------------------------------------------------------------ python
PY=$(pick_python)
[ -n "$PY" ] || { echo "no python with torch found (set GPUMIX_PYTHON)" >&2; exit 1; }
TORCH_PREFIX=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')
: > "$OUT/commands.txt"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "host: $(hostname)"
  "$PY" -c 'import torch; print("torch:", torch.__version__, "cuda:", torch.version.cuda, "cudnn:", torch.backends.cudnn.version(), "device:", torch.cuda.get_device_name() if torch.cuda.is_available() else "none")'
  "$PY" -c 'import transformers; print("transformers:", transformers.__version__)' 2>/dev/null || echo "transformers: not installed"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>/dev/null || true
} > "$OUT/device.txt" 2>&1
cat "$OUT/device.txt"

# ------------------------------------------------------------------- build
if [ -n "${GPUMIX_BENCH_BIN:-}" ]; then
  BIN=$(cd "$GPUMIX_BENCH_BIN" && pwd) || exit 1
  log "using the workloads in $BIN (GPUMIX_BENCH_BIN, no build)"
else
  cmake_args=(-S "$REPO/workloads" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release
              -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" -DBUILD_TESTING=OFF)
  [ -n "${GPUMIX_CLI11_INCLUDE_DIR:-}" ] && cmake_args+=(-DGPUMIX_CLI11_INCLUDE_DIR="$GPUMIX_CLI11_INCLUDE_DIR")
  # gpumix-infer-server: nlohmann/json and cpp-httplib, carried when the machine lacks them.
  [ -n "${GPUMIX_JSON_INCLUDE_DIR:-}" ] && cmake_args+=(-DGPUMIX_JSON_INCLUDE_DIR="$GPUMIX_JSON_INCLUDE_DIR")
  [ -n "${GPUMIX_HTTPLIB_LIBRARY:-}" ] && cmake_args+=(-DGPUMIX_HTTPLIB_INCLUDE_DIR="$GPUMIX_HTTPLIB_INCLUDE_DIR"
                                                    -DGPUMIX_HTTPLIB_LIBRARY="$GPUMIX_HTTPLIB_LIBRARY")
  # PyTorch's CMake config looks for the CUDA toolkit (and cuDNN) when torch has CUDA.
  NVCC=$(command -v nvcc || true)
  [ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
  if [ -n "$NVCC" ]; then
    CUDA_ROOT=$(dirname "$(dirname "$(readlink -f "$NVCC")")")
    export PATH="$CUDA_ROOT/bin:$PATH" CUDA_HOME="${CUDA_HOME:-$CUDA_ROOT}"
    # PyTorch's cmake/public/cuda.cmake calls enable_language(CUDA): name nvcc.
    cmake_args+=(-DCUDA_TOOLKIT_ROOT_DIR="$CUDA_ROOT" -DCUDAToolkit_ROOT="$CUDA_ROOT" -DCMAKE_CUDA_COMPILER="$NVCC")
  fi
  CUDNN_DIR=$("$PY" -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2>/dev/null || true)
  if [ -n "$CUDNN_DIR" ] && [ -d "$CUDNN_DIR/include" ]; then
    CUDNN_LIB=$(ls "$CUDNN_DIR"/lib/libcudnn.so* 2>/dev/null | head -1)
    cmake_args+=(-DCUDNN_INCLUDE_PATH="$CUDNN_DIR/include")
    [ -n "$CUDNN_LIB" ] && cmake_args+=(-DCUDNN_LIBRARY_PATH="$CUDNN_LIB")
  fi
  log "cmake ${cmake_args[*]}"
  if ! cmake "${cmake_args[@]}" > "$OUT/configure.log" 2>&1; then
    tail -40 "$OUT/configure.log"; echo "configure failed: $OUT/configure.log" >&2; exit 1
  fi
  grep -E "gpumix workloads:" "$OUT/configure.log" || true
  log "cmake --build $BUILD -j $(nproc)"
  # Keep going past a failing target (-k 0): one workload that does not build
  # (say the LLM server's CUDA kernel) must not cost a device session the rest.
  if ! cmake --build "$BUILD" -j "$(nproc)" -- -k 0 > "$OUT/build.log" 2>&1; then
    grep -E "error" "$OUT/build.log" | head -40
    for w in resnet-train bert-train batch-infer; do
      [ -x "$BUILD/bin/gpumix-$w" ] || { echo "build failed, gpumix-$w missing: $OUT/build.log" >&2; exit 1; }
    done
    echo "build failed for some targets (see above); the benchmark's workloads built: going on" >&2
  fi
  BIN=$BUILD/bin
  log "build done"
fi
[ "${GPUMIX_BENCH_BUILD_ONLY:-0}" = 1 ] && exit 0

# -------------------------------------------------------------------- runs
DUMP=$(mktemp -d)
trap 'rm -rf "$DUMP"' EXIT
: > "$OUT/status.tsv"

# One line per run in status.tsv: name, kind (gpumix|ref|compiled), exit status, seconds.
status() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$OUT/status.tsv"; }

gpumix() {  # name exe args...
  local name=$1 exe=$2; shift 2
  local t0=$SECONDS
  log "gpumix $name: $exe $*"
  GPUMIX_METRICS_FD=3 timeout 240 "$BIN/$exe" "$@" 3>"$OUT/$name.gpumix.jsonl" >"$OUT/$name.gpumix.log" 2>&1
  local rc=$?
  status "$name" gpumix $rc $((SECONDS - t0))
  [ $rc -eq 0 ] || { log "  exit status $rc:"; tail -5 "$OUT/$name.gpumix.log"; }
}
reference() {  # name args...
  local name=$1; shift
  local t0=$SECONDS
  log "reference $name: reference.py $*"
  rm -f "$OUT/$name.ref.json"  # no stale result from an earlier run in this folder
  timeout 300 "$PY" "$HERE/reference.py" "$@" --out "$OUT/$name.ref.json" >"$OUT/$name.ref.log" 2>&1
  local rc=$?
  status "$name" ref $rc $((SECONDS - t0))
  [ $rc -eq 0 ] || { log "  exit status $rc:"; tail -5 "$OUT/$name.ref.log"; }
}
# The torch.compile reference of a row: $OUT/<name>.compiled.json always ends
# up holding either the result or {"error"|"skipped": why}, for the summary.
COMPILE=${GPUMIX_BENCH_COMPILE:-auto}
COMPILE_BUDGET=${GPUMIX_BENCH_COMPILE_BUDGET:-420}
COMPILE_TIMEOUT=${GPUMIX_BENCH_COMPILE_TIMEOUT:-200}
COMPILE_SPENT=0
compile_note() {  # name, key (error|skipped), message
  "$PY" -c 'import json, sys; json.dump({sys.argv[2]: sys.argv[3]}, open(sys.argv[1], "w"))' \
    "$OUT/$1.compiled.json" "$2" "$3" 2>/dev/null || printf '{"%s": "%s"}\n' "$2" "$3" > "$OUT/$1.compiled.json"
}
compiled() {  # name mode args...
  local name=$1 mode=$2; shift 2
  local left=$((COMPILE_BUDGET - COMPILE_SPENT)) limit=$COMPILE_TIMEOUT
  rm -f "$OUT/$name.compiled.json"
  if [ "$SMOKE" = 1 ]; then compile_note "$name" skipped "smoke mode: torch.compile is not run on the CPU"; return; fi
  if [ "$COMPILE" = none ]; then compile_note "$name" skipped "GPUMIX_BENCH_COMPILE=none"; return; fi
  if [ "$left" -lt 90 ]; then
    compile_note "$name" skipped "the torch.compile budget (GPUMIX_BENCH_COMPILE_BUDGET=${COMPILE_BUDGET} s) was spent"
    log "compiled $name: skipped, ${left} s of the compile budget left"; return
  fi
  [ "$left" -lt "$limit" ] && limit=$left
  local t0=$SECONDS
  log "compiled $name: reference.py $* --compile $mode (limit ${limit} s)"
  timeout -k 15 "$limit" "$PY" "$HERE/reference.py" "$@" --compile "$mode" --out "$OUT/$name.compiled.json" \
    >"$OUT/$name.compiled.log" 2>&1
  local rc=$? took=$((SECONDS - t0))
  COMPILE_SPENT=$((COMPILE_SPENT + took))
  status "$name" compiled $rc $took
  if [ $rc -ne 0 ]; then
    log "  exit status $rc:"; tail -5 "$OUT/$name.compiled.log"
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
      compile_note "$name" error "torch.compile(mode=$mode) did not finish within ${limit} s (compilation included)"
    elif ! grep -q '"error"' "$OUT/$name.compiled.json" 2>/dev/null; then
      compile_note "$name" error "exit status $rc: $(grep -v '^\s*$' "$OUT/$name.compiled.log" | tail -1 | cut -c1-200)"
    fi
  fi
}
# Mode of the compiled reference of each row: reduce-overhead (Inductor +
# CUDA graphs, as gpumix replays graphs) finishes in about a minute per row on
# an H200; max-autotune's autotuning of ResNet-50 inference did not finish in
# 5 minutes there (README.md). GPUMIX_BENCH_COMPILE=<mode> overrides.
mode_for() { [ "$COMPILE" = auto ] && echo reduce-overhead || echo "$COMPILE"; }

# A row's gpumix run: name, config (rows.sh), then --cuda-graphs and any extra arguments.
gpumix_row() {
  local name=$1; row "$2"; shift 2
  gpumix "$name" "$ROW_EXE" "${ROW_ARGS[@]}" "$@" --warmup-steps "$ROW_WARMUP" --duration "${SECS}s"
}
reference_row() {  # config, extra reference.py arguments
  local name=$1; row "$1"; shift
  reference "$name" "${REF_ARGS[@]}" --warmup "$ROW_WARMUP" --duration "$SECS" "$@"
}
compiled_row() {  # config
  row "$1"
  compiled "$1" "$(mode_for)" "${REF_ARGS[@]}" --warmup "$ROW_WARMUP" --duration "$SECS"
}

# resnet-train and bert-train capture the training step as a CUDA graph by
# default on CUDA; the -eager rows show what the graph buys.
gpumix_row resnet50-train-b64 resnet50-train-b64 --cuda-graphs $GRAPHS
reference_row resnet50-train-b64
gpumix_row resnet50-train-b64-eager resnet50-train-b64 --cuda-graphs false

gpumix_row resnet50-train-b256 resnet50-train-b256 --cuda-graphs $GRAPHS
reference_row resnet50-train-b256

gpumix_row bert-base-train-b32 bert-base-train-b32 --cuda-graphs $GRAPHS
reference_row bert-base-train-b32
gpumix_row bert-base-train-b32-eager bert-base-train-b32 --cuda-graphs false

gpumix_row resnet50-infer-b1 resnet50-infer-b1 --cuda-graphs $GRAPHS
reference_row resnet50-infer-b1

gpumix_row resnet50-infer-b64 resnet50-infer-b64 --cuda-graphs $GRAPHS --dump-dir "$DUMP/b64"
reference_row resnet50-infer-b64 --compare-dir "$DUMP/b64"

if [ "${GPUMIX_BENCH_EXTRA:-0}" = 1 ]; then
  gpumix_row resnet50-infer-b64-nographs resnet50-infer-b64 --cuda-graphs false
  [ "$SMOKE" = 1 ] || gpumix_row resnet50-infer-b64-unfused resnet50-infer-b64 --cuda-graphs $GRAPHS \
    --fused-conv false
fi

# Correctness of bert-train's CUDA graph (GPU only): without dropout, a graph
# run and an eager run with the graph's 3 capture warm-up steps as extra
# warm-up train on the same batches from the same weights, so their losses
# must agree step by step; both must have counted every optimizer step on the
# device (summarize.py checks).
if [ "$SMOKE" != 1 ]; then
  row bert-base-train-b32
  check=("${ROW_ARGS[@]}" --dropout 0 --lr 5e-4 --seed 1 --iterations 30 --report-every 1)
  gpumix bert-graph-check-graph gpumix-bert-train "${check[@]}" --cuda-graphs true --warmup-steps 0
  gpumix bert-graph-check-eager gpumix-bert-train "${check[@]}" --cuda-graphs false --warmup-steps 3
fi

# torch.compile references last (information, no target): a compilation that
# runs long costs its own row only, within GPUMIX_BENCH_COMPILE_BUDGET.
compiled_row bert-base-train-b32
compiled_row resnet50-infer-b64
compiled_row resnet50-train-b64
compiled_row resnet50-infer-b1
compiled_row resnet50-train-b256

log "all runs done"
"$PY" "$HERE/summarize.py" "$OUT" | tee "$OUT/summary.txt"
log "total"
