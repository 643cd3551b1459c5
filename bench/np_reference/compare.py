#!/usr/bin/env python3
"""Compares gpumix's NP and STP with the independent reference.

  compare.py REFERENCE_JSON GPUMIX_REPORT_JSON [--tolerance 0.10]

REFERENCE_JSON: reference.py --out. GPUMIX_REPORT_JSON: `gpumix report
--format json`, read as
  {"schema_version": .., "modes": [{"mode": "timeslice", "baseline": false, "stp": {"mean": ..},
    "workloads": [{"workload": "resnet-train", "np": {"mean": ..},
                   "throughput": {"mean": ..}, "alone_throughput": ..}]}]}
(a bare number is accepted wherever {"mean": x} is; anything missing reads n/a).

Prints a markdown table per shared mode: NP of each workload and STP, the
reference's and gpumix's, gpumix/reference, and gpumix's 95 % interval over
its repeats (whether it holds the reference's mean); then
  RESULT np-reference: max |ratio-1| = X% (PASS within 10%)   (or FAIL);
         reference inside gpumix's 95% interval: k of n
FAIL also when a value is missing on either side. With few repeats on a noisy
machine the interval says whether a difference beyond 10 % is more than the
noise both tools see. Exit status 0 either way
(it is a report); 2 when an input cannot be read.
"""
import argparse
import json
import sys


def value(v):
    """A number from x or {"mean": x}; None when missing or not a number."""
    if isinstance(v, dict):
        v = v.get("mean", v.get("value"))
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v)


def interval(v):
    """(low, high) from {"ci_low": .., "ci_high": ..}; None when absent."""
    if isinstance(v, dict) and all(isinstance(v.get(k), (int, float)) for k in ("ci_low", "ci_high")):
        return float(v["ci_low"]), float(v["ci_high"])
    return None


def fmt(v, spec=".3f"):
    return "n/a" if v is None else format(v, spec)


def load(path, what):
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print(f"compare.py: cannot read the {what} {path}: {e}", file=sys.stderr)
        sys.exit(2)
    if not isinstance(doc, dict):
        print(f"compare.py: the {what} {path} is not a JSON object", file=sys.stderr)
        sys.exit(2)
    return doc


def gpumix_modes(doc):
    """{mode: {"baseline": b, "stp": x, "np": {workload: x}, "throughput": {workload: x},
    "alone_throughput": {workload: x}}}."""
    out = {}
    modes = doc.get("modes")
    if not isinstance(modes, list):
        return out
    for m in modes:
        if not isinstance(m, dict):
            continue
        name = m.get("mode") or m.get("name")
        if not isinstance(name, str):
            continue
        entry = {"baseline": m.get("baseline") is True or name == "exclusive", "stp": value(m.get("stp")),
                 "stp_ci": interval(m.get("stp")), "np": {}, "np_ci": {}, "throughput": {}, "alone_throughput": {}}
        for w in m.get("workloads") or []:
            if isinstance(w, dict) and isinstance(w.get("workload") or w.get("name"), str):
                wn = w.get("workload") or w.get("name")
                entry["np"][wn] = value(w.get("np"))
                entry["np_ci"][wn] = interval(w.get("np"))
                entry["throughput"][wn] = value(w.get("throughput"))
                entry["alone_throughput"][wn] = value(w.get("alone_throughput"))
        out[name] = entry
    return out


def ratio(g, r):
    return g / r if g is not None and r not in (None, 0) else None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("reference")
    p.add_argument("gpumix")
    p.add_argument("--tolerance", type=float, default=0.10, help="largest |gpumix/reference - 1| that passes")
    a = p.parse_args()
    ref = load(a.reference, "reference JSON")
    gm = load(a.gpumix, "gpumix report JSON")
    gmodes = gpumix_modes(gm)
    ref_modes = ref.get("modes") if isinstance(ref.get("modes"), dict) else {}
    alone = ref.get("alone") if isinstance(ref.get("alone"), dict) else {}
    names = []  # the reference's order, then any other workload gpumix reports
    for n in [*alone, *(n for m in ref_modes.values() for n in (m.get("np") or {})),
              *(n for m in gmodes.values() if not m["baseline"] for n in m["np"])]:
        if n not in names:
            names.append(n)

    print("## np-reference: gpumix vs the independent reference\n")
    print(f"reference: {ref.get('device', 'n/a')}, torch {ref.get('torch', 'n/a')}, {ref.get('date', 'n/a')}, "
          f"window {ref.get('window_s', 'n/a')} s; gpumix report schema {gm.get('schema_version', 'n/a')}\n")
    print("| mode | workload | reference NP | gpumix NP | gpumix/reference | gpumix 95% interval | holds the reference |")
    print("|---|---|---|---|---|---|---|")
    ratios, missing, inside, with_ci = [], [], 0, 0
    # Every shared mode either side has; a mode only one side measured is n/a.
    shared = list(ref_modes) + [m for m, g in gmodes.items() if not g["baseline"] and m not in ref_modes]
    for mode in shared:
        rm = ref_modes.get(mode) or {}
        g = gmodes.get(mode, {"stp": None, "stp_ci": None, "np": {}, "np_ci": {}, "throughput": {}})
        rows = [(n, value((rm.get("np") or {}).get(n)), g["np"].get(n), g["np_ci"].get(n)) for n in names]
        rows.append(("STP", value(rm.get("stp")), g["stp"], g["stp_ci"]))
        for n, r, gv, ci in rows:
            q = ratio(gv, r)
            if q is None:
                missing.append((mode, n))
            else:
                ratios.append((abs(q - 1), mode, n))
            holds = "n/a"
            if ci and r is not None:
                with_ci += 1
                inside += ci[0] <= r <= ci[1]
                holds = "yes" if ci[0] <= r <= ci[1] else "no"
            label = "**STP**" if n == "STP" else n
            ci_text = f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "n/a"
            print(f"| {mode} | {label} | {fmt(r)} | {fmt(gv)} | {fmt(q)} | {ci_text} | {holds} |")
    for mode, why in (ref.get("skipped") or {}).items():
        print(f"\nreference skipped {mode}: {why}")
    if ref.get("error"):
        print(f"\nreference error: {ref['error']}")

    # Rates, for context (not part of the verdict): gpumix's throughput may be
    # samples/s like the reference's rate, or something else.
    print("\n| mode | workload | reference samples/s | gpumix throughput | gpumix/reference |")
    print("|---|---|---|---|---|")
    gex = gmodes.get("exclusive", {"throughput": {}})
    for n in names:  # the exclusive cells' throughput, else what a shared mode took as alone
        gv = gex["throughput"].get(n)
        if gv is None:
            gv = next((g["alone_throughput"][n] for g in gmodes.values() if g["alone_throughput"].get(n) is not None), None)
        r = value(alone.get(n))
        print(f"| alone/exclusive | {n} | {fmt(r, '.2f')} | {fmt(gv, '.2f')} | {fmt(ratio(gv, r))} |")
    for mode, rm in ref_modes.items():
        g = gmodes.get(mode, {"throughput": {}})
        for n in names:
            r, gv = value((rm.get("rate") or {}).get(n)), g["throughput"].get(n)
            print(f"| {mode} | {n} | {fmt(r, '.2f')} | {fmt(gv, '.2f')} | {fmt(ratio(gv, r))} |")
    print()

    if not ratios:
        err = f"; reference error: {ref['error']}" if ref.get("error") else ""
        print(f"RESULT np-reference: no value to compare ({len(missing)} n/a{err}) (FAIL)")
        return 0
    worst, wmode, wname = max(ratios)
    ok = worst <= a.tolerance and not missing
    note = f"; {len(missing)} n/a: {', '.join(f'{m} {n}' for m, n in missing)}" if missing else ""
    print(f"RESULT np-reference: max |ratio-1| = {worst * 100:.1f}% ({'PASS' if ok else 'FAIL'} within "
          f"{a.tolerance * 100:.0f}%); largest: {wmode} {wname}; reference inside gpumix's 95% interval: "
          f"{inside} of {with_ci}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
