#!/usr/bin/env bash
# Issue 19's performance targets for gpumix-llm-server on one GPU, in one run:
#   1. decode step time at batch 1 and 32 (1b preset, bf16) against the memory
#      bound: (weight bytes + KV bytes read per step) / the copy bandwidth
#      measured here (hf_reference.py);
#   2. output tokens/s at batch 32 against Hugging Face generate (eager,
#      static cache, the same shape and random bf16 weights);
#   3. TTFT at low load against the prefill time of the prompt alone (the
#      server's own prefill-only iteration time), and gpumix loadgen's TTFT
#      against client.py's (raw sockets, no gpumix code) on loopback.
# Each with the decode step eager (torch's operators), with CUDA graphs, and
# with graphs and the fused kernels (the server's defaults on a GPU); the
# greedy outputs of each against an fp32 server's. Then why the numbers are
# what they are: the forward pass's GPU time against the whole step's (CUDA
# events, on /metrics), each decode kernel's time at batch 1 and 32 (ncu,
# graph nodes one by one), and SDPA's first-call cost on new prompt lengths
# per backend (sdpa_shapes.py). Every number comes from this run;
# summarize.py prints the table last.
#   bench/llm/run.sh BIN OUT     (BIN: gpumix and gpumix-llm-server)
set -uo pipefail
BIN=$(cd "$1" && pwd); OUT=$2
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=${GPUMIX_PYTHON:-python3}
log() { echo "[$(date -u +%T)] $*"; }
if [ "${GPUMIX_LLM_SMOKE:-0}" = 1 ]; then
  # The script's plumbing on the CPU: the tiny preset, no reference.
  PROMPT=32 NEW=32 TTFT_PROMPT=200 VOCAB=512
  SERVER_ARGS=(--device cpu --preset tiny --port 0 --max-context 1024 --kv-cache-memory 256MiB --max-batch 32 --prefill-chunk 512)
  echo '{"layers": 2, "kv_heads": 2, "head_dim": 16, "prompt": 32, "new": 32, "ttft_prompt": 200}' > "$OUT/config.json"
else
  PROMPT=128 NEW=256 TTFT_PROMPT=512 VOCAB=32000
  SERVER_ARGS=(--preset 1b --dtype bf16 --port 0 --kv-cache-memory 16GiB --max-batch 64 --prefill-chunk 512)
  echo '{"layers": 16, "kv_heads": 8, "head_dim": 64, "prompt": 128, "new": 256, "ttft_prompt": 512}' > "$OUT/config.json"
  log "sdpa_shapes.py: first and second calls of SDPA on new prompt lengths, per backend"
  timeout -k 10 120 "$PY" "$HERE/sdpa_shapes.py" > "$OUT/sdpa.json" 2> "$OUT/sdpa.log" || { log "sdpa_shapes failed:"; tail -3 "$OUT/sdpa.log"; }
  log "hf_reference.py: copy bandwidth, HF generate b1 and b32, HF prefill of $TTFT_PROMPT tokens"
  timeout -k 10 300 "$PY" "$HERE/hf_reference.py" --batches 1,32 --prompt-len $PROMPT --new-tokens $NEW \
    --prefill-len $TTFT_PROMPT --out "$OUT/hf.json" > "$OUT/hf.log" 2>&1 || { log "hf_reference failed:"; tail -5 "$OUT/hf.log"; }
fi

server_pid=""
WRAP=()  # a command the server runs under (ncu)
start_server() {  # name, extra args...
  local name=$1; shift
  "${WRAP[@]}" "$BIN/gpumix-llm-server" "${SERVER_ARGS[@]}" "$@" > "$OUT/$name.out" 2> "$OUT/$name.err" &
  server_pid=$!
  for _ in $(seq 600); do
    url=$(grep -o 'http://127.0.0.1:[0-9]*' "$OUT/$name.out" | head -1)
    [ -n "$url" ] && { log "$name: serving at $url"; return 0; }
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.5
  done
  log "$name: did not start:"; tail -5 "$OUT/$name.err"; return 1
}
stop_server() {
  kill -TERM "$server_pid" 2>/dev/null; wait "$server_pid"; server_pid=""
}
trap '[ -n "$server_pid" ] && kill -KILL "$server_pid" 2>/dev/null' EXIT
scrape() { curl -s "$url/metrics" > "$OUT/$1.prom"; }

for variant in eager graphs fused fp32; do
  case $variant in
    eager) extra=(--cuda-graphs false --kernels torch) ;;
    graphs) extra=(--kernels torch) ;;
    fused) extra=(--kernels fused)
           [ "${GPUMIX_LLM_SMOKE:-0}" = 1 ] && continue ;;  # CUDA only
    fp32) extra=(--dtype fp32 --cuda-graphs false --kernels torch) ;;  # the greedy reference only
  esac
  start_server "server-$variant" "${extra[@]}" || continue
  for b in 1 32; do
    [ $variant = fp32 ] && break
    # One wave of b streams: every decode step of the wave runs at batch b.
    scrape "$variant-b$b-before"
    log "$variant: $b concurrent streams of $PROMPT prompt + $NEW output tokens"
    "$PY" "$HERE/client.py" --vocab $VOCAB "$url" throughput --concurrency $b --requests $b --prompt-len $PROMPT \
      --max-tokens $NEW > "$OUT/$variant-b$b.json"
    scrape "$variant-b$b-after"
  done
  log "$variant: greedy outputs of 8 prompts (agreement between variants)"
  "$PY" "$HERE/client.py" --vocab $VOCAB "$url" greedy --prompts 8 --prompt-len 64 --max-tokens 32 > "$OUT/$variant-greedy.json"
  stop_server
done

# TTFT at low load on a fresh server: its only prefill-only iterations are
# the prompts of this phase, so its exit summary's prefill time is theirs.
if start_server server-ttft; then
  log "ttft: client.py, one request at a time, $TTFT_PROMPT-token prompts"
  "$PY" "$HERE/client.py" --vocab $VOCAB "$url" ttft --count 20 --interval 0.3 --prompt-len $TTFT_PROMPT --max-tokens 16 \
    > "$OUT/ttft-client-1.json"
  log "ttft: gpumix loadgen --api openai at 2 req/s"
  "$BIN/gpumix" loadgen --api openai --url "$url" --rate 2 --duration 12s --warmup 2s --prompt-len $TTFT_PROMPT \
    --output-len 16 --vocab $VOCAB --min-requests 10 --format json -o "$OUT/ttft-loadgen.json" 2> "$OUT/ttft-loadgen.err"
  "$PY" "$HERE/client.py" --vocab $VOCAB "$url" ttft --count 20 --interval 0.3 --prompt-len $TTFT_PROMPT --max-tokens 16 \
    --seed 2 > "$OUT/ttft-client-2.json"
  log "ttft: client.py, prompts of 20 lengths the server has not seen, 300 to 1000 tokens"
  "$PY" "$HERE/client.py" --vocab $VOCAB "$url" ttft --count 20 --interval 0.3 --prompt-len 300 --prompt-len-max 1000 \
    --max-tokens 16 --seed 3 > "$OUT/ttft-client-new-lengths.json"
  stop_server
fi

# Each decode kernel's GPU time at batch 1 and 32 with the server's defaults:
# ncu over the kernel nodes of the decode graphs' replays (NVTX ranges
# decode-b<batch>), clocks as they are. Batch 1: the warm-up's decode steps;
# batch 32: one wave of 32 streams. The server stops after its requests;
# ncu's table follows the server's output in ncu-b<batch>.out.
NCU=$(command -v ncu || ls -d /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | sort -V | tail -1)
if [ "${GPUMIX_LLM_SMOKE:-0}" != 1 ] && [ -n "$NCU" ]; then
  for b in 1 32; do
    WRAP=(timeout -k 10 150 "$NCU" --clock-control none --cache-control none --graph-profiling node --nvtx
          --nvtx-include "decode-b$b/" --launch-count 600 --metrics gpu__time_duration.sum --csv)
    n=$((b == 1 ? 1 : 32))
    if start_server "ncu-b$b" --requests $n; then
      log "ncu: decode kernels at batch $b"
      "$PY" "$HERE/client.py" --vocab $VOCAB "$url" throughput --concurrency $n --requests $n --prompt-len 64 \
        --max-tokens 12 > /dev/null
      wait "$server_pid"; server_pid=""
      "$PY" "$HERE/../workloads/profile_summary.py" ncu "$OUT/ncu-b$b.out" "$OUT/ncu-b$b.json" || true
    fi
  done
  WRAP=()
fi
"$PY" "$HERE/summarize.py" "$OUT"
