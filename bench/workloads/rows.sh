# shellcheck shell=bash disable=SC2034  # sets variables for the scripts that source it
# Rows of the workload benchmark: sizes and arguments, shared by run.sh and
# profile.sh so that a profile measures exactly what the benchmark compares.
# Sourced (bash). Reads GPUMIX_BENCH_SMOKE; sets SMOKE, DEV, GRAPHS, and the
# functions below.

# Sizes: the targets; GPUMIX_BENCH_SMOKE=1 shrinks everything and runs
# on the CPU, to check the scripts where there is no GPU.
SMOKE=${GPUMIX_BENCH_SMOKE:-0}
if [ "$SMOKE" = 1 ]; then
  DEV=cpu GRAPHS=false WU=1
  NET=(--model resnet18 --image-size 32) B64=4 B256=8 IB1=1 IB64=4
  BERT=(--layers 1 --hidden 64 --heads 2 --vocab 500 --seq-len 32) B32=4
else
  DEV=cuda GRAPHS=true WU=
  NET=(--model resnet50 --image-size 224) B64=64 B256=256 IB1=1 IB64=64
  BERT=(--layers 12 --hidden 768 --heads 12 --vocab 30522 --seq-len 128) B32=32
fi
wu() { echo "${WU:-$1}"; }  # warm-up steps: the given number, 1 in smoke mode

# row CONFIG: sets ROW_EXE (the gpumix workload), ROW_ARGS (its arguments
# without --cuda-graphs, warm-up and duration), REF_ARGS (reference.py's, the
# same without warm-up and duration) and ROW_WARMUP (warm-up steps, both).
row() {
  case "$1" in
    resnet50-train-b64|resnet50-train-b256)
      local b=$B64 w=15; [ "$1" = resnet50-train-b256 ] && b=$B256 w=8
      ROW_EXE=gpumix-resnet-train
      ROW_ARGS=(--device "$DEV" "${NET[@]}" --batch-size "$b" --precision bf16 --channels-last true)
      REF_ARGS=(resnet-train --device "$DEV" "${NET[@]}" --batch-size "$b")
      ROW_WARMUP=$(wu $w) ;;
    bert-base-train-b32)
      ROW_EXE=gpumix-bert-train
      ROW_ARGS=(--device "$DEV" "${BERT[@]}" --batch-size "$B32" --precision bf16)
      REF_ARGS=(bert-train --device "$DEV" "${BERT[@]}" --batch-size "$B32")
      ROW_WARMUP=$(wu 10) ;;
    resnet50-infer-b1|resnet50-infer-b64)
      local b=$IB1 w=50; [ "$1" = resnet50-infer-b64 ] && b=$IB64 w=20
      ROW_EXE=gpumix-batch-infer
      ROW_ARGS=(--device "$DEV" "${NET[@]}" --batch-size "$b" --precision bf16 --channels-last true)
      REF_ARGS=(infer --device "$DEV" "${NET[@]}" --batch-size "$b")
      ROW_WARMUP=$(wu $w) ;;
    *) echo "rows.sh: unknown row '$1'" >&2; return 2 ;;
  esac
}

# The python that runs reference.py: GPUMIX_PYTHON, else the first of
# /opt/torch/.venv/bin/python3 and python3 that imports torch; empty if none.
pick_python() {
  if [ -n "${GPUMIX_PYTHON:-}" ]; then echo "$GPUMIX_PYTHON"; return; fi
  local c
  for c in /opt/torch/.venv/bin/python3 python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import torch' >/dev/null 2>&1; then echo "$c"; return; fi
  done
}
