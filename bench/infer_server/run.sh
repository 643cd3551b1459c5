#!/usr/bin/env bash
# Inference-server benchmark, one invocation on the GPU machine:
#   1. offline reference: gpumix-batch-infer ResNet-50 bf16 CUDA graph, batch 64
#      throughput and batch 1 latency (same run, same GPU);
#   2. gpumix-infer-server (ResNet-50, uint8 224x224, dynamic batching);
#   3. low load: one request at a time (gpumix loadgen closed loop, 1 client);
#   4. gpumix loadgen --sweep: the highest Poisson rate with p99 <= 25 ms;
#   5. the same closed-loop load from gpumix loadgen and from wrk (an
#      independent client, bench/infer_server/post.lua) at 1 and 64 connections.
# Usage: bench/infer_server/run.sh BIN_DIR OUT_DIR   (BIN_DIR holds gpumix,
# gpumix-infer-server, gpumix-batch-infer and wrk). Prints a table last; the
# logs and JSON results stay in OUT_DIR.
set -uo pipefail
bin="$1"
out="$2"
here="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$out"
slo_ms=25
step_s="${GPUMIX_BENCH_STEP_S:-6}"
declare -a rows
row() { rows+=("$(printf "$@")"); }

done_field() {  # metrics file, field of the done event
  python3 -c "import json,sys
ev=[json.loads(l) for l in open(sys.argv[1])]
print([e for e in ev if e.get('ev')=='done'][-1].get(sys.argv[2], ''))" "$1" "$2"
}

# ------------------------------------------------------------ 1. offline
offline() {  # batch size, name
  GPUMIX_METRICS_FD=3 timeout 120 "$bin/gpumix-batch-infer" --model resnet50 --batch-size "$1" --precision bf16 \
    --cuda-graphs true --duration 10s --warmup-steps 20 3> "$out/batch-infer-b$1.jsonl" > "$out/batch-infer-b$1.log" 2>&1
}
offline 64 && offline 1
b64=$(done_field "$out/batch-infer-b64.jsonl" samples_per_s)
b1_p50=$(done_field "$out/batch-infer-b1.jsonl" step_ms_p50)
row "%-44s %10.1f img/s" "batch-infer b64 (offline reference)" "${b64:-0}"
row "%-44s %10.3f ms" "batch-infer b1 p50 latency" "${b1_p50:-0}"

# ------------------------------------------------------------- 2. server
GPUMIX_METRICS_FD=3 "$bin/gpumix-infer-server" --model resnet50 --port 0 --http-threads 512 --max-queue 1024 \
  --report-requests false 3> "$out/server.jsonl" > "$out/server.log" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null; wait $server_pid 2>/dev/null' EXIT
for _ in $(seq 600); do grep -q '"ready"' "$out/server.jsonl" 2>/dev/null && break; sleep 0.2; done
url=$(python3 -c "import json,sys; print([json.loads(l) for l in open(sys.argv[1]) if '\"ready\"' in l][0]['url'])" "$out/server.jsonl")
echo "server at $url"
header_len=$(python3 "$here/make_request.py" "$out/request.bin" 224)

loadgen() {  # name, loadgen args...
  local name="$1"; shift
  timeout 300 "$bin/gpumix" loadgen --url "$url" --model resnet50 --format json "$@" > "$out/loadgen-$name.json" 2> "$out/loadgen-$name.log"
}
lg() {  # name, python expression on r (the last step of loadgen's JSON document, docs/loadgen.md)
  python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['steps'][-1]; print($2)" "$out/loadgen-$1.json" 2>/dev/null || echo nan
}

# ----------------------------------------------------------- 3. low load
loadgen c1 --concurrency 1 --duration "${step_s}s" --warmup 2s
c1_p50=$(lg c1 "r['latency_ms']['p50']")
row "%-44s %10s ms  (batch-infer b1 %s ms)" "server p50, one request at a time (loadgen)" "$c1_p50" "$b1_p50"

# --------------------------------------------------------------- 4. sweep
loadgen sweep --sweep --slo "p99=${slo_ms}ms" --sweep-start 2000 --step-duration "${step_s}s" --warmup 2s --seed 1
best=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['result']['answer_rps'] or 0)" "$out/loadgen-sweep.json" 2>/dev/null || echo 0)
row "%-44s %10s req/s = %s of offline b64" "highest Poisson rate with p99 <= ${slo_ms} ms" "$best" \
  "$(python3 -c "print(f'{float(\"$best\")/float(\"$b64\"):.2f}')" 2>/dev/null)"

# ------------------------------------------------- 5. loadgen against wrk
for c in 1 64; do
  loadgen "closed$c" --concurrency "$c" --duration "${step_s}s" --warmup 2s
  threads=$(( c < 8 ? c : 8 ))
  GPUMIX_WRK_BODY="$out/request.bin" GPUMIX_WRK_HEADER_LENGTH="$header_len" \
    timeout 60 "$bin/wrk" -t "$threads" -c "$c" -d "${step_s}s" --latency -s "$here/post.lua" "$url/v2/models/resnet50/infer" \
    > "$out/wrk-c$c.txt" 2>&1
  wrk_rps=$(awk '/Requests\/sec/ {print $2}' "$out/wrk-c$c.txt")
  wrk_p50=$(awk '$1=="50%" {print $2}' "$out/wrk-c$c.txt")
  wrk_p99=$(awk '$1=="99%" {print $2}' "$out/wrk-c$c.txt")
  wrk_bad=$(awk '/Non-2xx/ {print $5}' "$out/wrk-c$c.txt")
  row "%-44s %10s req/s p50 %s ms p99 %s ms" "loadgen closed loop, $c connections" \
    "$(lg "closed$c" "round(r['achieved_rps'],1)")" "$(lg "closed$c" "round(r['latency_ms']['p50'],2)")" \
    "$(lg "closed$c" "round(r['latency_ms']['p99'],2)")"
  row "%-44s %10s req/s p50 %s p99 %s%s" "wrk, $c connections" "$wrk_rps" "$wrk_p50" "$wrk_p99" \
    "${wrk_bad:+ (non-2xx: $wrk_bad)}"
done

kill -TERM $server_pid
for _ in $(seq 300); do kill -0 $server_pid 2>/dev/null || break; sleep 0.1; done
kill -KILL $server_pid 2>/dev/null && echo "server did not stop within 30 s of SIGTERM"
wait $server_pid
row "%-44s %s" "server exit after SIGTERM" "$? ($(done_field "$out/server.jsonl" requests_ok) requests ok, $(done_field "$out/server.jsonl" rejected_503) 503)"
trap - EXIT

echo
echo "RESULT inference server, $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null), $(date -u +%FT%TZ)"
for r in "${rows[@]}"; do echo "  | $r"; done
