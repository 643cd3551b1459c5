#!/usr/bin/env bash
# NP/STP check of gpumix against an independent reference, on the GPU machine:
#   1. reference.py: the three workloads of models.py alone, time-sliced and
#      under MPS, measured by its own processes, barrier and window;
#   2. gpumix run mix.yaml (the same workloads as `command:` workloads), then
#      gpumix show and gpumix report --format json;
#   Both run GPUMIX_NPREF_REPEATS interleaved repeats (default 2: each repeat
#   every workload alone, then the shared modes; NP against that repeat's
#   alone rates) with GPUMIX_NPREF_WINDOW-second windows (default 10).
#   3. compare.py: NP per workload and STP per mode, gpumix vs reference;
#   4. no MPS daemon or worker may be left running.
# Usage: bash bench/np_reference/run.sh BIN_DIR OUT_DIR   (BIN_DIR holds gpumix)
# NPREF_PIN=1: every workload on a core of its own, in both tools (models.py).
# GPUMIX_NPREF_SMOKE=1: the CPU variants (reference.py --smoke, mix-smoke.yaml).
# Logs, JSON and commands.txt stay in OUT_DIR; the comparison is printed last.
# Exit status 1 when a step failed or something was left running; the
# comparison's verdict is its RESULT line, not the exit status.
set -uo pipefail
[ $# -eq 2 ] || { echo "usage: run.sh BIN_DIR OUT_DIR" >&2; exit 2; }
bin="$(cd "$1" && pwd)" && [ -x "$bin/gpumix" ] || { echo "run.sh: no gpumix in $1" >&2; exit 2; }
mkdir -p "$2" && out="$(cd "$2" && pwd)" || exit 2
here="$(cd "$(dirname "$0")" && pwd)"
export PYTHONUNBUFFERED=1

repeats="${GPUMIX_NPREF_REPEATS:-2}"
if [ "${GPUMIX_NPREF_SMOKE:-0}" = 1 ]; then
  window="${GPUMIX_NPREF_WINDOW:-2}"
  ref_args=(--smoke --scenarios alone,timeslice --repeats "$repeats" --window "$window")
  mix="$here/mix-smoke.yaml"
else
  window="${GPUMIX_NPREF_WINDOW:-10}"
  ref_args=(--scenarios alone,timeslice,mps --repeats "$repeats" --window "$window")
  mix="$here/mix.yaml"
fi
# Short: MPS fails on a pipe folder (inside the run folder) longer than 82 characters.
results="$out/results"
cmds="$out/commands.txt"
{
  echo "date: $(date -u '+%F %T UTC')"
  echo "gpu: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>&1 | head -1)"
  echo "smoke: ${GPUMIX_NPREF_SMOKE:-0}, repeats: $repeats, window: ${window} s, NPREF_PIN=${NPREF_PIN:-0} (models.py)"
  echo "commands:"
} > "$cmds"
rc=0

step() {  # log file name (in OUT_DIR), time limit in s, command...: records and runs it
  local log="$1" limit="$2"; shift 2
  echo "  $(printf '%q ' "$@")> $log" >> "$cmds"
  echo "== $(date -u +%T) $* > $log"
  timeout -k 30 "$limit" "$@" > "$out/$log" 2>&1
  local s=$?
  [ $s -eq 0 ] || { echo "   failed: status $s (see $out/$log)"; rc=1; }
  return $s
}

# 1. The reference (on the H200 about 2 min a repeat of 10 s windows: 3 alone + 2 shared runs).
step reference.log $((300 * repeats)) python3 "$here/reference.py" "${ref_args[@]}" --out "$out/reference.json"
sed -n '/^== np-reference/,$p' "$out/reference.log"

# 2. gpumix on the same workloads (as long: 3 baseline cells + 2 shared a repeat).
rm -rf "$results"
step gpumix-run.log $((300 * repeats)) "$bin/gpumix" run "$mix" --repeats "$repeats" --cell-duration "${window}s" --results "$results"
step gpumix-show.txt 60 "$bin/gpumix" show --results "$results" && cat "$out/gpumix-show.txt"
step gpumix-report.log 60 "$bin/gpumix" report --results "$results" --format json -o "$out/gpumix-report.json"

# 3. Nothing may be left running (the MPS daemons and the workers of both).
leftovers() {  # running processes matching the pattern: not this script, not zombies
  local pid cmd st
  while read -r pid cmd; do
    case "$cmd" in *np_reference/run.sh*) continue ;; esac  # filtered here, not by a grep that would match itself
    st="$(< "/proc/$pid/stat")" 2>/dev/null || continue
    st="${st##*) }"
    [ "${st%% *}" = Z ] || echo "$pid $cmd"
  done < <(pgrep -af 'nvidia-cuda-mps|gpumix_workload|np_reference')
}
for _ in $(seq 20); do  # an MPS server may take a moment to go
  left="$(leftovers)"
  [ -z "$left" ] && break
  sleep 0.5
done
echo "RESULT leftovers: ${left:-none}"
[ -z "$left" ] || rc=1

# 4. The comparison, last (its RESULT line is the phase's summary); table rows
# indented so that bench/gpu_session.sh's summary shows them.
echo "  python3 $here/compare.py $out/reference.json $out/gpumix-report.json > compare.md" >> "$cmds"
python3 "$here/compare.py" "$out/reference.json" "$out/gpumix-report.json" > "$out/compare.md" 2> "$out/compare.log"
s=$?
[ $s -eq 0 ] || { cat "$out/compare.log"; echo "RESULT np-reference: compare.py could not read its input (status $s)"; rc=1; }
sed 's/^|/  |/' "$out/compare.md"
exit $rc
