#!/usr/bin/env bash
# Sets up, builds, and runs gpumix's main job: the default mix
# (examples/default.yaml), on the GPU when there is one, else on the CPU.
# Extra arguments go to `gpumix run` (e.g. --cell-duration 10s).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
exec build/release/bin/gpumix run examples/default.yaml "$@"
