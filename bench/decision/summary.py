#!/usr/bin/env python3
"""Two runs of one mix, from `gpumix report --format json`: fixed repeats
against `repeats: auto`. Prints GPU time to a decision, each answer, and each
workload's NP under each mode in both runs (their agreement).

  summary.py FIXED.json AUTO.json
"""
import json
import sys


def load(path):
    with open(path) as f:
        return json.load(f)


def nps(doc):
    out = {}
    for m in doc.get("modes", []):
        if m.get("baseline"):
            continue
        stp = (m.get("stp") or {}).get("mean")
        out[(m["mode"], "STP")] = (stp, (m.get("stp") or {}).get("n"))
        for w in m.get("workloads", []):
            np_ = (w.get("np") or {}).get("mean")
            out[(m["mode"], w["workload"])] = (np_, (w.get("np") or {}).get("n"))
    return out


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    fixed, auto = load(sys.argv[1]), load(sys.argv[2])
    for name, doc in (("fixed", fixed), ("auto", auto)):
        rec = doc.get("recommendation", {})
        ar = (doc.get("evidence") or {}).get("auto_repeats") or {}
        print(f"{name:6s} GPU time {doc['run'].get('gpu_time_s') or 0:7.1f} s  repeats run "
              f"{ar.get('repeats_run', '-')}  stopped: {ar.get('stopped_because', '-')}")
        print(f"       answer: {rec.get('headline')}")
    a, b = nps(fixed), nps(auto)
    print("\n| mode | workload | NP fixed (n) | NP auto (n) | auto/fixed |")
    print("| --- | --- | ---: | ---: | ---: |")
    worst = 0.0
    for key in sorted(set(a) | set(b)):
        (x, nx), (y, ny) = a.get(key, (None, 0)), b.get(key, (None, 0))
        ratio = y / x if x and y else None
        if ratio is not None:
            worst = max(worst, abs(ratio - 1))
        fmt = lambda v: "n/a" if v is None else f"{v:.3f}"
        print(f"| {key[0]} | {key[1]} | {fmt(x)} ({nx}) | {fmt(y)} ({ny}) | {fmt(ratio)} |")
    same = (fixed.get("recommendation", {}).get("mode") == auto.get("recommendation", {}).get("mode")
            and fixed.get("recommendation", {}).get("undecided") == auto.get("recommendation", {}).get("undecided"))
    print(f"\nRESULT decision: same answer {'yes' if same else 'NO'}; GPU time auto/fixed "
          f"{(auto['run'].get('gpu_time_s') or 0) / max(fixed['run'].get('gpu_time_s') or 1, 1):.2f}; "
          f"largest NP difference {100 * worst:.1f}% ({'within' if worst <= 0.10 else 'OVER'} 10%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
