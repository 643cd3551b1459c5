#!/usr/bin/env bash
# gpumix show/report memory and time against stored event bytes (issue 15):
# one 1 s run of gpumix-testload, then N extra events of 2 KB each written
# into its workload straight through SQLite, then `show` and `report` under
# /usr/bin/time, for GPUMIX (this build) and REF (another build, e.g. an
# older one) in the same run. Usage: N=425000 bench/results_memory.sh GPUMIX [REF]
set -euo pipefail
GPUMIX=${1:?gpumix binary}; REF=${2:-}; N=${N:-425000}
W=/tmp/memtest; rm -rf $W; mkdir -p $W; cd $W
cat > mix.yaml <<M
cell_duration: 1s
modes: [timeslice]
workloads:
  - name: a
    command: [$(dirname $GPUMIX)/gpumix-testload, --iters, "0", --interval-ms, "5"]
M
$GPUMIX run mix.yaml >/dev/null 2>&1
python3 - "$N" <<'P'
import sqlite3, sys
n=int(sys.argv[1])
db=sqlite3.connect('results/gpumix.db')
wid, t0 = db.execute("select w.id, w.started_ns from workloads w join cells c on c.id=w.cell_id where c.label='timeslice-r1'").fetchone()
pad='x'*2000
rows=((wid, t0+i*1000, 'iter' if i%2 else 'latency', 1, 1.0, '{"ev":"iter","pad":"%s"}' % pad) for i in range(n))
db.executemany("insert into events(workload_id,t_ns,ev,n,ms,data) values (?,?,?,?,?,?)", rows)
db.commit()
P
ls -la results/gpumix.db
for bin in $GPUMIX $REF; do
  for cmd in "show latest" "report latest --format json -o /dev/null"; do
    /usr/bin/time -f "$bin $cmd: maxrss %M KB, %e s" $bin $cmd >/dev/null 2>/tmp/memtest.err || true
    tail -1 /tmp/memtest.err
  done
done
