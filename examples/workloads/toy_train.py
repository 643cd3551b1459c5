#!/usr/bin/env python3
"""A workload of your own, speaking gpumix's metrics protocol (docs/metrics-protocol.md).

It "trains" by multiplying small matrices in pure Python; replace the step with
your framework's. Without GPUMIX_METRICS_FD it prints a summary instead.
"""
import json
import os
import random
import signal
import sys
import time

fd = os.environ.get("GPUMIX_METRICS_FD")
out = os.fdopen(int(fd), "w", buffering=1) if fd else None


def emit(**event):
    if out:
        out.write(json.dumps(event) + "\n")


stop = False


def on_term(signum, frame):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
random.seed(int(os.environ.get("GPUMIX_SEED", "0")))
batch = int(sys.argv[1]) if len(sys.argv) > 1 else 16
n = 24
a = [[random.random() for _ in range(n)] for _ in range(n)]

steps, samples, start = 0, 0, time.perf_counter()
for warmup in range(3):
    sum(a[i][k] * a[k][j] for i in range(n) for j in range(n) for k in range(n))
emit(ev="ready")
while not stop:
    t0 = time.perf_counter()
    sum(a[i][k] * a[k][j] for i in range(n) for j in range(n) for k in range(n))
    steps, samples = steps + 1, samples + batch
    emit(ev="iter", n=batch, ms=(time.perf_counter() - t0) * 1e3)
emit(ev="done", steps=steps)
if not out:
    print(f"{steps} steps, {samples / (time.perf_counter() - start):.1f} samples/s")
