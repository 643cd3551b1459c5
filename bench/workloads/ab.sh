#!/usr/bin/env bash
# A/B of one option of a gpumix workload on a benchmark row: the row runs with
# --OPTION A and --OPTION B in turn, REPEATS times each (alternating, so that a
# drift of this shared machine falls on both), and the medians are compared.
#
#   OUT=/tmp/ab bash bench/workloads/ab.sh BIN ROW OPTION A B [REPEATS]
#   e.g. bench/workloads/ab.sh /tmp/gpumix-bin resnet50-train-b64 cudnn-benchmark true false
#
# ROW is one of rows.sh's (the arguments run.sh gives it). With
# GPUMIX_AB_REF_FLAG=--some-flag the PyTorch reference of the row also runs
# without and with that flag (reference.py's store_true options, such as
# --cudnn-benchmark), each traced by torch.profiler: its kernel time per step
# by family says what the flag changes in code that shares nothing with gpumix.
# Writes $OUT/ab.json and prints a table last.
#
# Environment: OUT (required), GPUMIX_BENCH_SECONDS (measured seconds per run,
# default 5), GPUMIX_PYTHON (as run.sh), GPUMIX_BENCH_SMOKE=1 (tiny sizes on the CPU).
set -uo pipefail
: "${OUT:?set OUT to a directory for the logs and results}"
[ $# -ge 5 ] || { echo "usage: OUT=DIR bash bench/workloads/ab.sh BIN ROW OPTION A B [REPEATS]" >&2; exit 2; }
BIN=$1 ROW=$2 OPTION=$3 A=$4 B=$5 REPEATS=${6:-3}
[[ "$REPEATS" =~ ^[1-9][0-9]*$ ]] || { echo "ab.sh: REPEATS must be a positive whole number (got '$REPEATS')" >&2; exit 2; }
[ "$A" != "$B" ] || { echo "ab.sh: A and B are both '$A': nothing to compare" >&2; exit 2; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=rows.sh
. "$HERE/rows.sh"
row "$ROW" || exit 2
[ -x "$BIN/$ROW_EXE" ] || { echo "ab.sh: $BIN/$ROW_EXE not found (build the workloads first)" >&2; exit 2; }
SECS=${GPUMIX_BENCH_SECONDS:-$([ "$SMOKE" = 1 ] && echo 1 || echo 5)}
PY=$(pick_python)
: > "$OUT/runs.tsv"

for i in $(seq "$REPEATS"); do
  for v in "$A" "$B"; do
    f="$OUT/gpumix.$v.$i.jsonl"
    echo "run $i: $ROW_EXE --$OPTION $v"
    GPUMIX_METRICS_FD=3 timeout -k 10 300 "$BIN/$ROW_EXE" "${ROW_ARGS[@]}" --"$OPTION" "$v" \
      --warmup-steps "$ROW_WARMUP" --duration "${SECS}s" 3>"$f" > "$OUT/gpumix.$v.$i.log" 2>&1 ||
      echo "  exit status $? (see $OUT/gpumix.$v.$i.log)"
    printf 'gpumix\t%s\t%s\n' "$v" "$f" >> "$OUT/runs.tsv"
  done
done
if [ -n "${GPUMIX_AB_REF_FLAG:-}" ] && [ -n "$PY" ]; then
  for flag in "" "$GPUMIX_AB_REF_FLAG"; do
    name=ref${flag:+.${flag#--}}
    echo "reference: reference.py ${REF_ARGS[*]} $flag --profile"
    # shellcheck disable=SC2086  # $flag: nothing or one flag
    timeout -k 10 300 "$PY" "$HERE/reference.py" "${REF_ARGS[@]}" $flag --warmup "$ROW_WARMUP" --duration "$SECS" \
      --out "$OUT/$name.json" --profile "$OUT/$name.torchprof.json" > "$OUT/$name.log" 2>&1 ||
      echo "  exit status $? (see $OUT/$name.log)"
    printf 'ref\t%s\t%s\n' "${flag:-(none)}" "$OUT/$name.torchprof.json" >> "$OUT/runs.tsv"
  done
elif [ -n "${GPUMIX_AB_REF_FLAG:-}" ]; then
  echo "GPUMIX_AB_REF_FLAG: no python with torch found (set GPUMIX_PYTHON); the reference did not run"
fi
# The summary reads JSON only: any python3.
python3 "$HERE/ab_summary.py" "$OUT" "$ROW" "$OPTION" "$A" "$B"
