#!/usr/bin/env bash
# Runs bench/gpu_session.sh in the background on the GPU machine, so that a
# session longer than one device command (10 minutes) goes on between calls:
#   bench/device_run.sh start PHASE...   starts it (once per machine) and waits
#   bench/device_run.sh wait             waits for it again
# Each call waits up to GPUMIX_WAIT_S (default 540 s), then copies the logs so
# far into $OUT. Call again within 30 s, or the machine is given back.
set -uo pipefail
cd "$(dirname "$0")/.."
state=/tmp/gpumix-bg
case "${1:-}" in
  start)
    shift
    if [ ! -f "$state/pid" ]; then
      mkdir -p "$state"
      # Its own session: it outlives this command (docs of the device tool).
      setsid nohup bash bench/gpu_session.sh "$@" > "$state/session.log" 2>&1 < /dev/null &
      echo $! > "$state/pid"
    fi ;;
  wait) [ -f "$state/pid" ] || { echo "device_run: nothing started on this machine" >&2; exit 2; } ;;
  *) echo "usage: device_run.sh start PHASE... | wait" >&2; exit 2 ;;
esac
pid="$(cat "$state/pid")"
t0=$(date +%s)
while kill -0 "$pid" 2>/dev/null && [ $(( $(date +%s) - t0 )) -lt "${GPUMIX_WAIT_S:-540}" ]; do sleep 3; done
if [ -n "${OUT:-}" ]; then
  tar czf "$OUT/session.tgz" --exclude='*.db' -C /tmp gpumix-session 2>/dev/null
  cp "$state/session.log" "$OUT/"
fi
if kill -0 "$pid" 2>/dev/null; then
  echo "RUNNING after $(( $(date +%s) - t0 )) s; last lines:"
  tail -n 15 "$state/session.log"
  ls /tmp/gpumix-session
else
  echo "DONE"
  tail -n 80 "$state/session.log"
fi
