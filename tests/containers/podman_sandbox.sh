#!/usr/bin/env bash
# A private podman for the container tests: its own configuration and
# storage (the user's global podman configuration is left alone), and an
# image holding gpumix's test workload. No registry is needed: the base image
# is a Debian bookworm made with debootstrap and imported, built once and
# cached, like the storage, under $GPUMIX_TEST_CACHE (default
# ~/.cache/gpumix-tests).
#
# Usage: podman_sandbox.sh PROGRAM...
#   Puts each PROGRAM (and the shared libraries it needs, from this machine)
#   into the image localhost/gpumix-test-workloads:<hash>, then prints, one a
#   line, the variables the tests export:
#     CONTAINERS_CONF=...  CONTAINERS_STORAGE_CONF=...  GPUMIX_TEST_IMAGE=...
#
# The settings are what rootful podman needs in a sandboxed CI machine:
#   runtime runc        crun refuses cgroup v1 with an extra cgroup2 mount
#                       ("cgroups in hybrid mode not supported")
#   cgroupfs, file      no systemd, no journald
#   default_ulimits     podman's default nofile/nproc (above the current
#                       hard limits) fail without CAP_SYS_RESOURCE
#   netns none          the workloads need no network; no firewall setup
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: $0 PROGRAM..." >&2; exit 2; }
command -v podman >/dev/null || { echo "podman_sandbox: podman is not installed (scripts/setup.sh --test)" >&2; exit 3; }

cache="${GPUMIX_TEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gpumix-tests}/podman"
mkdir -p "$cache"
# Runtime state belongs on a folder emptied at boot, one per storage.
run_dir="${TMPDIR:-/tmp}/gpumix-podman-$(id -u)-$(printf '%s' "$cache" | sha256sum | cut -c1-8)"
mkdir -p "$run_dir"

# Within the hard limits, and at most 16384: runc failed to set RLIMIT_NPROC
# above kernel.pid_max (32768 on the CI machine).
nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] || [ "$nofile" -gt 16384 ] && nofile=16384
nproc=$(ulimit -Hu); [ "$nproc" = unlimited ] || [ "$nproc" -gt 16384 ] && nproc=16384

cat > "$cache/storage.conf.new" <<EOF
[storage]
driver = "overlay"
graphroot = "$cache/storage"
runroot = "$run_dir/storage"
EOF
cat > "$cache/containers.conf.new" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
netns = "none"

[engine]
runtime = "$(command -v runc || echo crun)"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$run_dir/libpod"
EOF
mv "$cache/storage.conf.new" "$cache/storage.conf"
mv "$cache/containers.conf.new" "$cache/containers.conf"
export CONTAINERS_CONF="$cache/containers.conf" CONTAINERS_STORAGE_CONF="$cache/storage.conf"

# One setup at a time (release and sanitize test runs share the cache).
exec 9>"$cache/lock"
flock 9

base=localhost/gpumix-test-base:bookworm
if ! podman image exists "$base"; then
  if [ ! -s "$cache/bookworm-minbase.tar" ]; then
    command -v debootstrap >/dev/null || { echo "podman_sandbox: debootstrap is not installed (scripts/setup.sh --test)" >&2; exit 3; }
    echo "podman_sandbox: debootstrap bookworm (once; cached in $cache)" >&2
    rm -rf "$cache/rootfs"
    debootstrap --variant=minbase bookworm "$cache/rootfs" "${GPUMIX_DEBIAN_MIRROR:-http://deb.debian.org/debian}" >&2
    tar -C "$cache/rootfs" -cf "$cache/bookworm-minbase.tar.new" .
    mv "$cache/bookworm-minbase.tar.new" "$cache/bookworm-minbase.tar"
    rm -rf "$cache/rootfs"
  fi
  podman import "$cache/bookworm-minbase.tar" "$base" >&2
fi

# The programs and the libraries they load (a sanitizer build needs
# libasan), each library under its real folder (/lib is a link to /usr/lib)
# and the name the loader looks for. The base is the same Debian release.
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
mkdir -p "$context/root/usr/local/bin"
for program in "$@"; do
  cp -L "$program" "$context/root/usr/local/bin/"
  while read -r lib; do
    dir="$(readlink -f "$(dirname "$lib")")"
    mkdir -p "$context/root$dir"
    cp -L "$lib" "$context/root$dir/$(basename "$lib")"
  done < <(ldd "$program" | awk '/=> \//{print $3}')
done
hash="$( (cd "$context/root" && find . -type f | sort | xargs sha256sum) | sha256sum | cut -c1-16)"
image="localhost/gpumix-test-workloads:$hash"
if ! podman image exists "$image"; then
  printf 'FROM %s\nCOPY root/ /\n' "$base" > "$context/Containerfile"
  podman build --quiet --network none -t "$image" "$context" >&2
fi

echo "CONTAINERS_CONF=$CONTAINERS_CONF"
echo "CONTAINERS_STORAGE_CONF=$CONTAINERS_STORAGE_CONF"
echo "GPUMIX_TEST_IMAGE=$image"
