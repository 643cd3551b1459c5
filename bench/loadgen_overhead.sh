#!/usr/bin/env bash
# The load generator's own ceiling: gpumix loadgen against a server that does
# nothing (gpumix-kserve-testserver, built with the tests) with ResNet-sized
# requests (UINT8 1x3x224x224, 150 KB). For each rate: achieved rate, p99,
# late sends, and the CPU the load generator used (cores = CPU s / wall s).
# Usage: bench/loadgen_overhead.sh [build/release] [rates...]
set -euo pipefail
build="${1:-build/release}"; shift || true
rates=("${@:-2000 5000 10000 15000}")
bin="$build/bin"
[ -x "$bin/gpumix-kserve-testserver" ] || { echo "build the test server: cmake --build $build --target gpumix-kserve-testserver" >&2; exit 2; }
log=$(mktemp)
"$bin/gpumix-kserve-testserver" --threads 600 >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 50); do [ -s "$log" ] && break; sleep 0.1; done
url=$(head -1 "$log")
echo "server $url (pid $server), $(nproc) cores"
printf '%10s %12s %10s %8s %10s %8s\n' offered achieved p99_ms late loadgen_cpu cores
for rate in ${rates[*]}; do
  out=$(/usr/bin/time -f 'TIME %U %S %e' "$bin/gpumix" loadgen --url "$url" --model m --rate "$rate" \
          --connections 256 --warmup 1s --duration 5s --format csv 2>&1)
  row=$(echo "$out" | grep -A1 '^offered_rps' | tail -1)
  read -r user sys wall < <(echo "$out" | awk '/^TIME/ {print $2, $3, $4}')
  IFS=, read -r offered _ achieved _ _ _ _ late _ _ _ p99 _ <<<"$row"
  cpu=$(echo "$user + $sys" | bc)
  printf '%10s %12.1f %10.2f %8s %9.1fs %8.2f\n' "$offered" "$achieved" "$p99" "$late" "$cpu" "$(echo "$cpu / $wall" | bc -l)"
done
