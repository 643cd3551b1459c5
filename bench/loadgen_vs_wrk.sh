#!/usr/bin/env bash
# gpumix loadgen against an independent client, Debian's wrk (closed loop
# only: it has no fixed-rate mode, wrk2's -R), on loopback, against a server
# of known capacity: gpumix-kserve-testserver --workers W --delay-us D (W
# workers of D each, first come first served: W / D requests per second).
#   1. one connection, one request at a time: throughput and latency;
#   2. C connections that each wait THINK after every answer (wrk's Lua
#      delay(), loadgen's --think-time), below saturation;
#   3. loadgen's open loop at that throughput (Poisson), for its latency;
#   4. saturation: wrk with many connections, against loadgen's --sweep
#      answer at a loose SLO (p99 <= 100 ms) and the server's capacity.
# Prints one table (gpumix, wrk, gpumix / wrk). docs/loadgen.md has a run.
# Usage: bench/loadgen_vs_wrk.sh [build/release]   (needs wrk: apt-get install wrk)
set -euo pipefail
build="${1:-build/release}"
bin="$build/bin"
here="$(cd "$(dirname "$0")" && pwd)"
workers=4 delay_us=10000 dur=5s
[ -x "$bin/gpumix-kserve-testserver" ] || { echo "build it: cmake --build $build --target gpumix gpumix-kserve-testserver" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 2; }
tmp=$(mktemp -d)
"$bin/gpumix-kserve-testserver" --workers "$workers" --delay-us "$delay_us" --shape 1,3,32,32 >"$tmp/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do [ -s "$tmp/server.log" ] && break; sleep 0.1; done
url=$(head -1 "$tmp/server.log")
capacity=$(( workers * 1000000 / delay_us ))

# The request wrk posts: the one loadgen sends (binary tensor, UINT8 1x3x32x32).
python3 - "$tmp/request.bin" >"$tmp/header_len" <<'EOF'
import json, sys
pixels = bytes(3 * 32 * 32)
header = json.dumps({"inputs": [{"name": "in", "shape": [1, 3, 32, 32], "datatype": "UINT8",
                                 "parameters": {"binary_data_size": len(pixels)}}],
                     "outputs": [{"name": "out", "parameters": {"binary_data": True}}]}).encode()
open(sys.argv[1], "wb").write(header + pixels)
print(len(header))
EOF
cat >"$tmp/think.lua" <<EOF
dofile("$here/infer_server/post.lua")
function delay() return tonumber(os.getenv("GPUMIX_WRK_THINK_MS") or "0") end
EOF

loadgen() {  # name, args...: the JSON document in $tmp/NAME.json
  local name="$1"; shift
  "$bin/gpumix" loadgen --url "$url" --model m --warmup 1s --format json "$@" >"$tmp/$name.json" 2>"$tmp/$name.log"
}
lg() {  # name, python expression on s (the last step) and d (the document)
  python3 -c "import json,sys; d=json.load(open(sys.argv[1])); s=d['steps'][-1]; print($2)" "$tmp/$1.json"
}
wrk_run() {  # name, connections, think ms
  local threads=$(( $2 < 2 ? 1 : 2 ))
  GPUMIX_WRK_BODY="$tmp/request.bin" GPUMIX_WRK_HEADER_LENGTH="$(cat "$tmp/header_len")" GPUMIX_WRK_THINK_MS="$3" \
    wrk -t "$threads" -c "$2" -d "$dur" --latency -s "$tmp/think.lua" "$url/v2/models/m/infer" >"$tmp/$1.txt" 2>&1
  grep -q 'Non-2xx\|Socket errors' "$tmp/$1.txt" && { echo "wrk $1 had failures:"; cat "$tmp/$1.txt"; } >&2 || true
}
wrk_rps() { awk '/Requests\/sec/ {print $2}' "$tmp/$1.txt"; }
wrk_ms() {  # name, percentile (50%, 90%, 99%): in ms whatever wrk's unit
  awk -v p="$2" '$1 == p { v = $2; u = v; gsub(/[0-9.]/, "", u); sub(/[a-z]+$/, "", v);
    print (u == "us" ? v / 1000 : u == "s" ? v * 1000 : u == "m" ? v * 60000 : v) }' "$tmp/$1.txt"
}
rows=()
row() { rows+=("$(printf '%-46s %10.2f %10.2f %8.3f' "$1" "$2" "$3" "$(python3 -c "print($2 / $3)")")"); }

# 1. One connection.
loadgen c1 --concurrency 1 --duration "$dur"
wrk_run c1 1 0
row "1 connection: req/s" "$(lg c1 "s['achieved_rps']")" "$(wrk_rps c1)"
for p in 50 90 99; do row "1 connection: p$p ms" "$(lg c1 "s['latency_ms']['p$p']")" "$(wrk_ms c1 "$p%")"; done

# 2. 8 connections, 30 ms think time: ~8 / 40 ms = 200/s, half the capacity.
loadgen think --concurrency 8 --think-time 30ms --duration "$dur"
wrk_run think 8 30
row "8 connections + 30 ms think: req/s" "$(lg think "s['achieved_rps']")" "$(wrk_rps think)"
for p in 50 90 99; do row "8 connections + 30 ms think: p$p ms" "$(lg think "s['latency_ms']['p$p']")" "$(wrk_ms think "$p%")"; done

# 3. Open loop at wrk's throughput of 2.
rate=$(wrk_rps think)
loadgen open --rate "$rate" --duration "$dur" --seed 1
row "open loop at wrk's rate: req/s (vs wrk's)" "$(lg open "s['achieved_rps']")" "$rate"
for p in 50 99; do row "open loop: p$p ms (vs wrk + think)" "$(lg open "s['latency_ms']['p$p']")" "$(wrk_ms think "$p%")"; done

# 4. Saturation: wrk's throughput with 32 connections, loadgen's sweep at a loose SLO.
wrk_run sat 32 0
loadgen sweep --sweep --slo p99=100ms --sweep-start 100 --sweep-tolerance 0.05 --step-duration 3s --settle 500ms --seed 1
row "saturation: loadgen --concurrency 32 req/s" "$(loadgen c32 --concurrency 32 --duration "$dur" && lg c32 "s['achieved_rps']")" "$(wrk_rps sat)"
row "sweep answer, p99 <= 100 ms (vs wrk 32 conn.)" "$(lg sweep "d['result']['answer_rps'] or 0")" "$(wrk_rps sat)"
row "wrk 32 connections (vs capacity $capacity/s)" "$(wrk_rps sat)" "$capacity"

echo "loadgen vs wrk $(wrk --version 2>&1 | head -1 | awk '{print $2}'), $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "server: $url, $workers workers x $((delay_us / 1000)) ms (capacity $capacity/s), UINT8 1x3x32x32 binary"
printf '%-46s %10s %10s %8s\n' "" gpumix wrk ratio
printf '%s\n' "${rows[@]}"
