#!/usr/bin/env bash
# Sets up, builds and runs every test: the release build (with the LibTorch
# workloads' tests), then the same suite under AddressSanitizer and
# UndefinedBehaviorSanitizer. Usage: scripts/test.sh [--no-sanitize]
set -euo pipefail
cd "$(dirname "$0")/.."
sanitize=1
[ "${1:-}" = "--no-sanitize" ] && sanitize=0

scripts/setup.sh --test
jobs="$(nproc)"

echo "== release build and tests"
scripts/build.sh release
ctest --preset release -j "$jobs"

if [ "$sanitize" = 1 ]; then
  echo "== ASan + UBSan build and tests"
  scripts/build.sh sanitize
  ctest --preset sanitize -j "$jobs"

  # libFuzzer (clang) targets, each for a bounded time (GPUMIX_FUZZ_SECONDS,
  # default 30): the inference server's request parser, the metrics-line
  # parser, the mix parser, `gpumix k8s render`'s round trip, and raw HTTP
  # into both servers' routes (gpumix-infer-server, gpumix monitor --listen).
  CC=clang CXX=clang++ cmake -S tests/fuzz -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build/fuzz
  # New inputs go to build/fuzz/corpus-NAME (the first folder), never into
  # tests/fuzz/corpus. A finding is written to build/fuzz/crash-*; add it to
  # tests/fuzz/corpus/NAME once fixed.
  for target in kserve:kserve_request_fuzz metrics:metrics_line_fuzz mix:mix_parse_fuzz k8s:k8s_render_fuzz \
                http:http_request_fuzz; do
    name="${target%%:*}" binary="${target#*:}"
    echo "== fuzzing ${binary} (${GPUMIX_FUZZ_SECONDS:-30} s)"
    mkdir -p "build/fuzz/corpus-${name}"
    "build/fuzz/${binary}" -max_total_time="${GPUMIX_FUZZ_SECONDS:-30}" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      -artifact_prefix=build/fuzz/ "build/fuzz/corpus-${name}" "tests/fuzz/corpus/${name}"
  done
fi
