#!/usr/bin/env python3
"""One workload of models.py as a gpumix `command:` workload.

  gpumix_workload.py NAME [--smoke] [--device DEV]     NAME: resnet-train, bert-train, resnet-infer

Speaks gpumix's metrics protocol (docs/metrics-protocol.md): JSON lines to the
descriptor in GPUMIX_METRICS_FD, else appended to the file GPUMIX_METRICS_FILE,
else nowhere (a summary is printed instead):

  {"ev":"info", ...}                      what runs, on which device
  {"ev":"ready"}                          after the same warm-up as reference.py
                                          (20 steps and at least 3 s)
  {"ev":"iter","n":SAMPLES,"ms":STEP_MS,"t":UNIX_TIME_AT_STEP_END}   per step
  {"ev":"latency","ms":STEP_MS}           per step too, with --latency (a request's
                                          latency: the workload then has an SLO's figures)
  {"ev":"done", ...}                      on SIGTERM, after the current step; exit 0

Runs until SIGTERM (or --steps N, for a check by hand).
"""
import argparse
import json
import os
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


class Metrics:
    def __init__(self):
        fd, path = os.environ.get("GPUMIX_METRICS_FD"), os.environ.get("GPUMIX_METRICS_FILE")
        if fd:
            self.out = os.fdopen(int(fd), "w", buffering=1)
        elif path:
            self.out = open(path, "a", buffering=1)  # O_APPEND; line buffering: one write per line
        else:
            self.out = None

    def emit(self, **ev):
        if self.out is None:
            return
        try:
            self.out.write(json.dumps(ev) + "\n")
        except (BrokenPipeError, OSError):
            self.out = None  # gpumix went away; keep going until we are stopped


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=["resnet-train", "bert-train", "resnet-infer"])
    p.add_argument("--smoke", action="store_true", help="CPU, tiny models (as reference.py --smoke)")
    p.add_argument("--device", default="", help="torch device (default cuda, --smoke cpu)")
    p.add_argument("--steps", type=int, default=0, help="stop after this many measured steps (0: until SIGTERM)")
    p.add_argument("--latency", action="store_true", help="also report each step as a request latency")
    a = p.parse_args()

    # SIGTERM only sets a flag: the step in progress finishes, then `done`.
    stop = {"requested": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(requested=True))

    metrics = Metrics()
    sys.path.insert(0, HERE)
    try:
        import models

        device = a.device or ("cpu" if a.smoke else "cuda")
        info = models.device_info(device)
        step, samples = models.make(a.name, device, a.smoke)
        metrics.emit(ev="info", workload=a.name, description=step.description, samples_per_step=samples, **info)
        min_steps, min_s = models.warmup_defaults(a.smoke)
        warm_steps, warm_s = models.warm_up(step, min_steps, min_s, should_stop=lambda: stop["requested"])
    except BaseException as e:  # SystemExit from models (transformers missing) included
        metrics.emit(ev="error", msg=f"{type(e).__name__}: {e}")
        raise
    if stop["requested"]:  # stopped during the warm-up: nothing was measured
        metrics.emit(ev="done", steps=0, warmup_steps=warm_steps)
        return 0
    metrics.emit(ev="ready", warmup_steps=warm_steps, warmup_s=round(warm_s, 3))

    steps = 0
    t_start = time.monotonic()
    while not stop["requested"] and not (a.steps and steps >= a.steps):
        s = time.monotonic()
        step()
        ms = (time.monotonic() - s) * 1e3
        steps += 1
        metrics.emit(ev="iter", n=samples, ms=round(ms, 4), t=time.time())
        if a.latency:
            metrics.emit(ev="latency", ms=round(ms, 4))
    secs = time.monotonic() - t_start
    rate = steps * samples / secs if secs > 0 else 0.0
    metrics.emit(ev="done", steps=steps, samples=steps * samples, seconds=round(secs, 3), samples_per_s=rate)
    if metrics.out is None:
        print(f"{a.name}: {steps} steps, {rate:.2f} samples/s after {warm_steps} warm-up steps ({warm_s:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
