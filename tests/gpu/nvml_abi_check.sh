#!/usr/bin/env bash
# Checks gpumix's NVML declaration (src/gpumix/gpu/nvml_abi.hpp) against the
# nvml.h of the CUDA toolkit installed here (tests/gpu/nvml_abi_check.cpp:
# static_asserts), then that the driver's libnvidia-ml.so.1 exports every
# symbol gpumix resolves. Run on a machine with the toolkit and the driver.
# Usage: tests/gpu/nvml_abi_check.sh   (NVML_INCLUDE_DIR overrides the search)
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
if [ -z "$lib" ]; then
  echo "RESULT nvml-abi: PASS against $dir/nvml.h; no libnvidia-ml.so.1 here, its symbols not checked"
  exit 0
fi
exported="$(nm -D --defined-only "$lib" 2>/dev/null | awk '{print $3}')"
missing=""
for sym in $(grep -o '^  X(nvml[A-Za-z0-9_]*' "$root/src/gpumix/gpu/nvml_abi.hpp" | sed 's/^  X(//'); do
  grep -qx "$sym" <<< "$exported" || missing+=" $sym"
done
echo "RESULT nvml-abi: PASS against $dir/nvml.h; $lib exports ${missing:+all but$missing}${missing:-all 38 symbols}"
