#!/usr/bin/env bash
# `gpumix monitor --listen --names dcgm` on a GPU machine: the dcgm-exporter
# figures it serves against nvidia-smi's reading of the same GPU (NVML through
# NVIDIA's own tool): memory used and total (MiB), SM clock and power limit-free
# fields present. Usage: tests/gpu/dcgm_names.sh BIN_DIR   (prints RESULT last)
set -uo pipefail
bin="$(realpath "${1:?usage: dcgm_names.sh BIN_DIR}")"
work="$(mktemp -d /tmp/gpumix-dcgm-XXXXXX)"
"$bin/gpumix" monitor --listen 127.0.0.1:0 --names dcgm --interval 100ms --duration 6s > "$work/listen.out" 2> "$work/listen.err" &
mon=$!
port=""
for _ in $(seq 50); do
  port="$(grep -o '127.0.0.1:[0-9]*' "$work/listen.out" 2>/dev/null | head -1 | cut -d: -f2)"
  [ -n "$port" ] && break
  sleep 0.1
done
sleep 2
curl -s "http://127.0.0.1:$port/metrics" > "$work/metrics.txt"
nvidia-smi --query-gpu=index,memory.used,memory.free,memory.reserved,memory.total,uuid --format=csv,noheader,nounits > "$work/smi.csv"
wait "$mon"
grep -E '^DCGM_FI_DEV_(FB_USED|FB_FREE|FB_RESERVED|GPU_UTIL|SM_CLOCK|POWER_USAGE|TOTAL_ENERGY)\{' "$work/metrics.txt" | head -8
python3 - "$work/metrics.txt" "$work/smi.csv" <<'PY'
import csv, re, sys
text = open(sys.argv[1]).read()
def value(name, gpu):
    m = re.search(r'^%s\{gpu="%s",UUID="([^"]+)"[^}]*\} (\S+)$' % (name, gpu), text, re.M)
    return (m.group(1), float(m.group(2))) if m else (None, None)
problems, rows = [], 0
for idx, used, free, reserved, total, uuid in csv.reader(open(sys.argv[2]), skipinitialspace=True):
    rows += 1
    u, fb_used = value("DCGM_FI_DEV_FB_USED", idx)
    _, fb_free = value("DCGM_FI_DEV_FB_FREE", idx)
    _, fb_reserved = value("DCGM_FI_DEV_FB_RESERVED", idx)
    if u != uuid: problems.append(f"GPU {idx}: UUID {u} vs nvidia-smi {uuid}")
    for name, ours, smi in (("FB_USED", fb_used, used), ("FB_FREE", fb_free, free), ("FB_RESERVED", fb_reserved, reserved)):
        if ours is None or abs(ours - float(smi)) > 64: problems.append(f"GPU {idx}: {name} {ours} MiB vs nvidia-smi {smi}")
    if None not in (fb_used, fb_free, fb_reserved) and abs(fb_used + fb_free + fb_reserved - float(total)) > 64:
        problems.append(f"GPU {idx}: FB_USED + FB_FREE + FB_RESERVED {fb_used + fb_free + fb_reserved} vs nvidia-smi total {total}")
    for name in ("DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_SM_CLOCK", "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"):
        if value(name, idx)[1] is None: problems.append(f"GPU {idx}: no {name}")
print(f"RESULT dcgm-names: {'PASS' if rows and not problems else 'FAIL'}: {rows} GPU(s) against nvidia-smi"
      + (": " + "; ".join(problems) if problems else ", used/free/reserved within 64 MiB, every field served"))
sys.exit(0 if rows and not problems else 1)
PY
