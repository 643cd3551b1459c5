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
fi
