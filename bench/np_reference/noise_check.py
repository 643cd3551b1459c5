#!/usr/bin/env python3
"""Where a workload's rate alone varies: between launches, within one, and with what.

  noise_check.py [--workload bert-train] [--launches 3] [--seconds 20] [--out FILE.json]

Launches the workload of models.py alone, LAUNCHES times for each way below,
interleaved (way A, way B, way A, ...), and after its usual warm-up counts its
samples in each second of a SECONDS-long run:

  plain    as reference.py and gpumix_workload.py run it
  pinned   NPREF_PIN=1: models.make pins it to a core of its own, one thread

Beside each launch it reads the machine's CPU time from /proc/stat: `steal`
is the time the hypervisor gave this machine's CPUs to someone else, `busy`
everything else not idle. If launches differ with steal, the noise comes from
the host and neither tool can remove it; if pinning removes it, both tools
should pin.

Prints per launch: mean rate, the spread of its one-second rates (coefficient
of variation), first and second half, steal and busy; then per way: the mean
over launches and their coefficient of variation. Needs a GPU (or --smoke).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def child(a):
    sys.path.insert(0, HERE)
    import models
    device = "cpu" if a.smoke else "cuda"
    step, samples = models.make(a.workload, device, a.smoke)
    models.warm_up(step, *models.warmup_defaults(a.smoke))
    per_second = []
    t0 = time.monotonic()
    edge, n = t0 + 1.0, 0
    while True:
        step()
        now = time.monotonic()
        while now >= edge:
            per_second.append(n)
            n = 0
            edge += 1.0
        n += samples
        if len(per_second) >= a.seconds:
            break
    print(json.dumps({"per_second": per_second, "description": step.description}))


def cpu_times():
    # /proc/stat's first line: user nice system idle iowait irq softirq steal ...
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    steal = v[7] if len(v) > 7 else 0
    return sum(v[:8]), idle, steal


def launch(a, way):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--workload", a.workload, "--seconds", str(a.seconds)]
    env = dict(os.environ)
    if a.smoke:
        cmd.append("--smoke")
    env.pop("NPREF_PIN", None)
    if way == "pinned":
        env["NPREF_PIN"] = "1"  # models.make pins it, as both tools do under NPREF_PIN=1
    before = cpu_times()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=a.seconds + 300)
    after = cpu_times()
    if out.returncode != 0:
        raise SystemExit(f"noise_check: {way} launch failed ({out.returncode}):\n{out.stderr[-2000:]}")
    per_second = json.loads(out.stdout.strip().splitlines()[-1])["per_second"]
    total = after[0] - before[0]
    half = len(per_second) // 2
    return {
        "way": way,
        "rate": statistics.mean(per_second),
        "cv_per_second": statistics.pstdev(per_second) / statistics.mean(per_second),
        "first_half": statistics.mean(per_second[:half]),
        "second_half": statistics.mean(per_second[half:]),
        "steal": (after[2] - before[2]) / total if total else 0.0,
        "busy": 1 - (after[1] - before[1] + after[2] - before[2]) / total if total else 0.0,
        "per_second": per_second,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", default="bert-train")
    p.add_argument("--launches", type=int, default=3)
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--ways", default="plain,pinned")
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--out", default="")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        return child(a)
    ways = a.ways.split(",")
    rows = []
    print(f"| launch | way | samples/s | 1 s spread (CV) | halves | steal | busy |")
    print("| ---: | --- | ---: | ---: | --- | ---: | ---: |")
    for i in range(a.launches):
        for way in ways:
            r = launch(a, way)
            r["launch"] = i + 1
            rows.append(r)
            print(f"| {i + 1} | {way} | {r['rate']:.1f} | {r['cv_per_second']:.3f} | "
                  f"{r['first_half']:.0f} / {r['second_half']:.0f} | {r['steal']:.3f} | {r['busy']:.3f} |", flush=True)
    print("\n| way | mean samples/s | CV between launches | mean 1 s CV | mean steal |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for way in ways:
        mine = [r for r in rows if r["way"] == way]
        rates = [r["rate"] for r in mine]
        cv = statistics.pstdev(rates) / statistics.mean(rates)
        print(f"| {way} | {statistics.mean(rates):.1f} | {cv:.3f} | "
              f"{statistics.mean(r['cv_per_second'] for r in mine):.3f} | {statistics.mean(r['steal'] for r in mine):.3f} |")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
