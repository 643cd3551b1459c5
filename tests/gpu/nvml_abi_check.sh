#!/usr/bin/env bash
# Checks gpumix's NVML declaration (src/gpumix/gpu/nvml_abi.hpp) against the
# nvml.h of the CUDA toolkit installed here (tests/gpu/nvml_abi_check.cpp:
# static_asserts), then that the driver's libnvidia-ml.so.1 exports every
# symbol gpumix resolves; given gpumix's folder, also that `gpumix gpu` reads
# what nvidia-smi reads (NVML through NVIDIA's own tool). Run on a machine
# with the toolkit and the driver.
# Usage: tests/gpu/nvml_abi_check.sh [BIN_DIR]   (NVML_INCLUDE_DIR overrides the search)
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dir="${NVML_INCLUDE_DIR:-}"
if [ -z "$dir" ]; then
  for d in "${CUDA_HOME:-/usr/local/cuda}/include" /usr/local/cuda/include /usr/include \
           $(python3 -c 'import nvidia, os; print(" ".join(os.path.join(p, "cuda_runtime/include") for p in nvidia.__path__))' 2>/dev/null); do
    [ -f "$d/nvml.h" ] && { dir="$d"; break; }
  done
fi
[ -n "$dir" ] || { echo "RESULT nvml-abi: no nvml.h found (set NVML_INCLUDE_DIR)"; exit 1; }
echo "nvml.h: $dir/nvml.h ($(grep -m1 -o 'NVML_API_VERSION *[0-9]*' "$dir/nvml.h"))"
if ! ${CXX:-g++} -std=c++17 -fsyntax-only -Wno-deprecated-declarations -I "$root/src" -I "$dir" \
     "$root/tests/gpu/nvml_abi_check.cpp"; then
  echo "RESULT nvml-abi: FAIL: the declaration differs from $dir/nvml.h (above)"
  exit 1
fi
# Every symbol of GPUMIX_NVML_FUNCTIONS in the driver's library (the two
# deprecated fallbacks may be gone from a new driver: gpumix does without).
lib="$(ldconfig -p 2>/dev/null | awk '/libnvidia-ml.so.1 / {print $NF; exit}')"
symbols="no libnvidia-ml.so.1 here, its symbols not checked"
if [ -n "$lib" ]; then
  exported="$(nm -D --defined-only "$lib" 2>/dev/null | awk '{print $3}')"
  missing=""
  for sym in $(grep -o '^  X(nvml[A-Za-z0-9_]*' "$root/src/gpumix/gpu/nvml_abi.hpp" | sed 's/^  X(//'); do
    grep -qx "$sym" <<< "$exported" || missing+=" $sym"
  done
  symbols="$lib exports ${missing:+all but$missing}${missing:-every symbol gpumix resolves}"
fi
# gpumix gpu against nvidia-smi, GPU by GPU.
same="not compared (no BIN_DIR)"
if [ -n "${1:-}" ] && command -v nvidia-smi > /dev/null; then
  "$1/gpumix" gpu --format json > /tmp/nvml-abi-gpu.json 2>&1
  nvidia-smi --query-gpu=index,name,uuid,pci.bus_id,memory.total,compute_mode,persistence_mode,mig.mode.current \
    --format=csv,noheader,nounits > /tmp/nvml-abi-smi.csv
  same="$(python3 - /tmp/nvml-abi-gpu.json /tmp/nvml-abi-smi.csv <<'PY'
import csv, json, sys
g = json.load(open(sys.argv[1]))
diffs, n = [], 0
for row in csv.reader(open(sys.argv[2]), skipinitialspace=True):
    i, name, uuid, bus, mem_mib, mode, persist, mig = row
    d = g["devices"][int(i)]
    n += 1
    want = {"name": name, "uuid": uuid, "pci_bus_id": bus, "memory_total_mib": int(mem_mib),
            "compute_mode": mode,
            "persistence": persist == "Enabled", "mig_enabled": mig == "Enabled"}
    got = {"name": d["name"], "uuid": d["uuid"], "pci_bus_id": d["pci_bus_id"],
           "memory_total_mib": d["memory_total_bytes"] // 1048576, "compute_mode": d["compute_mode"],
           "persistence": d["persistence"], "mig_enabled": d["mig_enabled"]}
    diffs += [f"GPU {i} {k}: gpumix {got[k]!r}, nvidia-smi {want[k]!r}" for k in want if got[k] != want[k]]
print(f"{n} GPU(s), every field the same" if not diffs else "DIFFERENT: " + "; ".join(diffs))
PY
)"
fi
echo "RESULT nvml-abi: PASS against $dir/nvml.h; $symbols; gpumix gpu vs nvidia-smi: $same"
case "$same" in DIFFERENT*) exit 1 ;; esac
