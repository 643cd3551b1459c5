#!/usr/bin/env bash
# Installs what gpumix needs to build and test, from Debian/Ubuntu packages,
# skipping what is already there. Usage: scripts/setup.sh [--no-torch]
#   --no-torch   skip LibTorch (the built-in workloads are then not built)
# When an installed PyTorch provides LibTorch (python3 -c 'import torch'),
# that one is used and Debian's libtorch-dev is not installed.
set -euo pipefail

with_torch=1
for arg in "$@"; do
  case "$arg" in
    --no-torch) with_torch=0 ;;
    *) echo "setup.sh: unknown option '$arg' (options: --no-torch)" >&2; exit 2 ;;
  esac
done

packages=(
  build-essential cmake ninja-build pkg-config git python3
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev
  libsqlite3-dev sqlite3 libssl-dev libgtest-dev libgmock-dev
)
if [ "$with_torch" = 1 ] && ! python3 -c 'import torch' >/dev/null 2>&1; then
  packages+=(libtorch-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: everything needed is installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
