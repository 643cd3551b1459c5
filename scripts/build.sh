#!/usr/bin/env bash
# Configures and builds gpumix with a CMake preset (default: release).
# Usage: scripts/build.sh [release|debug|sanitize]
# LibTorch: an installed PyTorch's is preferred, then Debian's; without
# either, gpumix builds without its built-in workloads (and says so).
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"

args=()
torch_prefix="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null || true)"
if [ -n "$torch_prefix" ]; then
  args+=("-DCMAKE_PREFIX_PATH=$torch_prefix")
elif [ "$preset" != sanitize ] && [ ! -f /usr/lib/x86_64-linux-gnu/cmake/Torch/TorchConfig.cmake ] \
     && [ ! -f /usr/lib/aarch64-linux-gnu/cmake/Torch/TorchConfig.cmake ]; then
  echo "build: LibTorch not found: building without the built-in workloads (scripts/setup.sh installs it)" >&2
  args+=("-DGPUMIX_WITH_TORCH=OFF")
fi

cmake --preset "$preset" "${args[@]}" >/dev/null
cmake --build --preset "$preset"
