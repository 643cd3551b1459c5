#!/usr/bin/env python3
"""Prints the gpumix-vs-eager table from the files bench/workloads/run.sh wrote.

  summarize.py OUT_DIR    # reads OUT_DIR/<config>.gpumix.jsonl and <config>.ref.json
Also writes OUT_DIR/summary.json.
"""
import json
import os
import sys

# config, unit, gpumix metric (from `done`), reference metric, kind, target,
# the issue's reference number on an H100 (PyTorch 2.11 eager), and the
# reference run to compare with when it is another config's.
CONFIGS = [
    ("resnet50-train-b64", "img/s", "samples_per_s", "samples_per_s", "ratio", 1.10, 2513, None),
    ("resnet50-train-b64-eager", "img/s", "samples_per_s", "samples_per_s", "ratio", 1.10, 2513,
     "resnet50-train-b64"),
    ("resnet50-train-b256", "img/s", "samples_per_s", "samples_per_s", "ratio", 1.00, 3986, None),
    ("bert-base-train-b32", "seq/s", "samples_per_s", "samples_per_s", "ratio", 1.30, 901, None),
    ("resnet50-infer-b1", "ms p50", "step_ms_p50", "latency_ms_p50", "max_ms", 1.5, 6.93, None),
    ("resnet50-infer-b64", "img/s", "samples_per_s", "samples_per_s", "ratio", 1.10, 7224, None),
    ("resnet50-infer-b64-nographs", "img/s", "samples_per_s", "samples_per_s", "ratio", 1.10, 7224,
     "resnet50-infer-b64"),
]
# "Within bf16 tolerance": gpumix's output is no further from the fp32 output
# than twice eager bf16's own distance from it (or 2% of the logits' range),
# and its top-1 classes agree with fp32's nearly as often as eager bf16's do
# (within 10 points; random-init logits are close, so a few flip).
BF16_REL_FLOOR = 0.02


def gpumix_done(path):
    done, info = None, {}
    try:
        for line in open(path):
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("ev") == "done":
                done = ev
            elif ev.get("ev") == "info":
                info.update(ev)
    except OSError:
        pass
    return done, info


def reference(path):
    try:
        return json.loads(open(path).read())
    except (OSError, ValueError):
        return None


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OUT", ".")
    rows, results = [], []
    for name, unit, gkey, rkey, kind, target, issue_ref, ref_name in CONFIGS:
        if not os.path.exists(os.path.join(out, name + ".gpumix.jsonl")):
            continue
        done, info = gpumix_done(os.path.join(out, name + ".gpumix.jsonl"))
        ref = reference(os.path.join(out, (ref_name or name) + ".ref.json"))
        g = done.get(gkey) if done else None
        r = ref.get(rkey) if (ref and rkey) else None
        ratio, verdict, tgt = None, "", ""
        if kind == "ratio":
            tgt = f">= {target:.2f}x"
            if g and r:
                ratio = g / r
                verdict = "met" if ratio >= target else f"MISSED by {100 * (target - ratio) / target:.1f}%"
        elif kind == "max_ms":
            tgt = f"<= {target} ms"
            if g and r:
                ratio = r / g  # speed-up in latency
            if g:
                verdict = "met" if g <= target else f"MISSED by {g - target:.2f} ms"
        if done is None:
            verdict = "gpumix run failed"
        elif rkey and ref is None:
            verdict = (verdict + "; " if verdict else "") + "reference failed"
        fmt = (lambda v: "-" if v is None else (f"{v:.3f}" if v < 10 else f"{v:.1f}"))
        rows.append((name + (f" [{unit}]"), fmt(g), fmt(r), "-" if ratio is None else f"{ratio:.2f}x", tgt,
                     str(issue_ref), verdict))
        results.append({"config": name, "unit": unit, "gpumix": g, "reference": r, "ratio": ratio, "target": tgt,
                        "issue_reference": issue_ref, "verdict": verdict,
                        "reference_impl": (ref or {}).get("impl"),
                        "gpumix_peak_device_mem_bytes": (done or {}).get("peak_device_mem_bytes"),
                        "gpumix_config": {k: v for k, v in info.items() if k not in ("ev",)}})

    header = ("config", "gpumix", "reference", "ratio", "target", "issue ref", "result")
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()
    print(line(header))
    print(line(["-" * w for w in widths]))
    for r in rows:
        print(line(r))
    print("ratio: gpumix / reference for throughput; reference / gpumix for latency.")

    ref = reference(os.path.join(out, "resnet50-infer-b64.ref.json"))
    cmp_ = (ref or {}).get("compare")
    if cmp_:
        bound = max(2 * cmp_["rel_err_eager_vs_fp32"], BF16_REL_FLOOR)
        top1_ok = cmp_["top1_agreement_gpumix_vs_fp32"] >= cmp_["top1_agreement_eager_vs_fp32"] - 0.1
        ok = cmp_["rel_err_gpumix_vs_fp32"] <= bound and top1_ok
        print(f"correctness (resnet50 infer b64, {cmp_['images']} images, same weights and input): "
              f"max|out - fp32|/max|fp32|: gpumix {cmp_['rel_err_gpumix_vs_fp32']:.4f}, eager bf16 "
              f"{cmp_['rel_err_eager_vs_fp32']:.4f} (gpumix vs eager {cmp_['rel_err_gpumix_vs_eager']:.4f}); "
              f"top-1 agreement with fp32: gpumix {cmp_['top1_agreement_gpumix_vs_fp32']:.3f}, eager bf16 "
              f"{cmp_['top1_agreement_eager_vs_fp32']:.3f}: {'within' if ok else 'OUTSIDE'} bf16 tolerance "
              f"(rel err <= {bound:.4f})")
        results.append({"config": "correctness", **cmp_, "within_tolerance": ok})
    for r in results:
        if r.get("reference_impl"):
            print(f"{r['config']} reference: {r['reference_impl']}")
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
