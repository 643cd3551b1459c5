#!/usr/bin/env bash
# Which cuBLAS and cuDNN libraries gpumix's LibTorch workloads load, beside
# those the PyTorch reference loads (read from /proc/PID/maps of running
# processes, not from the link line), and what loading PyTorch's own costs or
# saves: ResNet-50 b64 training run alternately as built and with PyTorch's
# pip libraries (site-packages/nvidia/*/lib) first on LD_LIBRARY_PATH.
#
#   OUT=/tmp/libs bash bench/workloads/linked_libraries.sh BIN [REPEATS]
#
# Environment: OUT (required), GPUMIX_PYTHON (as run.sh), GPUMIX_BENCH_SECONDS (default 5).
set -uo pipefail
: "${OUT:?set OUT to a directory for the logs and results}"
BIN=${1:?usage: OUT=DIR bash bench/workloads/linked_libraries.sh BIN [REPEATS]}
REPEATS=${2:-2}
mkdir -p "$OUT"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=rows.sh
. "$HERE/rows.sh"
row resnet50-train-b64
SECS=${GPUMIX_BENCH_SECONDS:-5}
PY=$(pick_python)
[ -n "$PY" ] || { echo "linked_libraries.sh: no python with torch found (set GPUMIX_PYTHON)" >&2; exit 2; }
PIP_LIBS=$("$PY" -c 'import glob, os, nvidia; print(":".join(sorted(glob.glob(os.path.join(list(nvidia.__path__)[0], "*", "lib")))))')
echo "PyTorch's pip libraries: $PIP_LIBS"

maps_of() {  # label, command...: the cuBLAS/cuDNN libraries it maps after 12 s of running
  local label=$1; shift
  "$@" > "$OUT/$label.maps.log" 2>&1 &
  local pid=$!
  sleep 12
  kill -0 "$pid" 2>/dev/null || { echo "RESULT $label ended before 12 s (see $OUT/$label.maps.log)"; return; }
  grep -oE '/[^ ]*lib(cublas|cublasLt|cudnn)[A-Za-z_]*\.so[0-9.]*' "/proc/$pid/maps" 2>/dev/null | sort -u |
    while read -r lib; do echo "RESULT $label maps $lib -> $(readlink -f "$lib")"; done
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
}
maps_of gpumix "$BIN/$ROW_EXE" "${ROW_ARGS[@]}" --duration 60s
maps_of gpumix-piplibs env LD_LIBRARY_PATH="$PIP_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$BIN/$ROW_EXE" "${ROW_ARGS[@]}" --duration 60s
maps_of reference "$PY" "$HERE/reference.py" "${REF_ARGS[@]}" --duration 60
echo "RUNPATH of $ROW_EXE: $(readelf -d "$BIN/$ROW_EXE" 2>/dev/null | grep -E 'R(UN)?PATH' | sed 's/.*\[\(.*\)\]/\1/')"

for i in $(seq "$REPEATS"); do
  for v in built piplibs; do
    lib=""; [ "$v" = piplibs ] && lib=$PIP_LIBS
    env ${lib:+LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"} GPUMIX_METRICS_FD=3 \
      "$BIN/$ROW_EXE" "${ROW_ARGS[@]}" --warmup-steps "$ROW_WARMUP" --duration "${SECS}s" \
      3>"$OUT/$v.$i.jsonl" > "$OUT/$v.$i.log" 2>&1
    python3 - "$OUT/$v.$i.jsonl" "$v" "$i" <<'PY'
import json, sys
done = [e for e in map(json.loads, open(sys.argv[1])) if e.get("ev") == "done"]
print(f"RESULT {sys.argv[2]} run {sys.argv[3]}: " + (f"{done[0]['samples_per_s']:.1f} img/s" if done else "no done event"))
PY
  done
done
