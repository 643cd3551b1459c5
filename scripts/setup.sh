#!/usr/bin/env bash
# Installs what gpumix needs to build and test, from Debian/Ubuntu packages,
# skipping what is already there, and the HTML report's JavaScript from npm
# (`npm ci`: package.json, package-lock.json). Usage: scripts/setup.sh [--no-torch] [--test]
#   --no-torch   skip LibTorch (the built-in workloads are then not built)
#   --test       also what the tests need: Debian's chromium (the HTML report test),
#                clang with libFuzzer (the request parser's fuzz target),
#                podman, runc, catatonit and debootstrap (the container launcher's test),
#                prometheus for its promtool (checks what `gpumix monitor --listen` serves),
#                zsh and fish (their completion scripts are parsed and run)
# When an installed PyTorch provides LibTorch (python3 -c 'import torch'),
# that one is used and Debian's libtorch-dev is not installed.
set -euo pipefail

with_torch=1
with_test=0
for arg in "$@"; do
  case "$arg" in
    --no-torch) with_torch=0 ;;
    --test) with_test=1 ;;
    *) echo "setup.sh: unknown option '$arg' (options: --no-torch, --test)" >&2; exit 2 ;;
  esac
done

# vega, vega-lite and vega-embed, pinned by package-lock.json, into node_modules
# (embedded into gpumix at build time): `npm ci` when missing or older than the lockfile.
web_assets() {
  local root
  root="$(cd "$(dirname "$0")/.." && pwd)"
  if [ -f "$root/node_modules/.package-lock.json" ] && [ ! "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]; then
    return 0
  fi
  echo "setup: npm ci (the HTML report's JavaScript)"
  (cd "$root" && npm ci --no-audit --no-fund)
}

packages=(
  build-essential cmake ninja-build pkg-config git python3
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev
  libsqlite3-dev sqlite3 libssl-dev libgtest-dev libgmock-dev
  libcpp-httplib-dev
)
if [ "$with_torch" = 1 ] && ! python3 -c 'import torch' >/dev/null 2>&1; then
  packages+=(libtorch-dev)
fi
command -v npm >/dev/null || packages+=(nodejs npm)
[ "$with_test" = 1 ] && packages+=(chromium clang libclang-rt-14-dev)
# zlib: the HTTP servers' tests build gzip bombs.
[ "$with_test" = 1 ] && packages+=(zlib1g-dev)
# runc: crun cannot run on the CI machine's cgroup layout; catatonit: --init.
[ "$with_test" = 1 ] && packages+=(podman runc catatonit netavark debootstrap)
# Only promtool is used. Without systemd (a container) the package's postinst
# cannot determine a runlevel and starts no server; it still succeeds. With
# systemd Debian enables and starts prometheus.service (stop it if unwanted).
[ "$with_test" = 1 ] && packages+=(prometheus)
# The generated completions: fish completes with them, zsh parses them (about 20 MB each).
[ "$with_test" = 1 ] && packages+=(zsh fish)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: everything needed is installed"
  web_assets
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
web_assets
