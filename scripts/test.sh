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

  # The inference server's request parser under libFuzzer (clang), for a bounded time.
  echo "== fuzzing the KServe v2 request parser (${GPUMIX_FUZZ_SECONDS:-60} s)"
  CC=clang CXX=clang++ cmake -S tests/fuzz -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build/fuzz
  mkdir -p build/fuzz/corpus
  # A finding is written to build/fuzz/crash-*; add it to tests/fuzz/corpus/kserve once fixed.
  build/fuzz/kserve_request_fuzz -max_total_time="${GPUMIX_FUZZ_SECONDS:-60}" -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix=build/fuzz/ build/fuzz/corpus tests/fuzz/corpus/kserve

  # Raw HTTP into both servers' routes (gpumix-infer-server, gpumix monitor --listen).
  echo "== fuzzing the HTTP request handling of both servers (${GPUMIX_FUZZ_SECONDS:-60} s)"
  mkdir -p build/fuzz/corpus-http
  # A finding is written to build/fuzz/crash-*; add it to tests/fuzz/corpus/http once fixed.
  build/fuzz/http_request_fuzz -max_total_time="${GPUMIX_FUZZ_SECONDS:-60}" -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix=build/fuzz/ build/fuzz/corpus-http tests/fuzz/corpus/http
fi
