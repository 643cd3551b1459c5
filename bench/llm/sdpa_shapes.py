#!/usr/bin/env python3
"""scaled_dot_product_attention on prompts of lengths not seen before, per
backend: the first call's time (one-time costs: cuDNN builds an execution
plan per shape) and a second call's. Independent of gpumix's code: why the
llm-server keeps its prefill off cuDNN's attention.
  sdpa_shapes.py [--heads 32 --head-dim 64 --count 8] > out.json"""
import argparse
import json
import random
import statistics
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel


def timed(fn):
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return 1e3 * (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--heads", type=int, default=32)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--count", type=int, default=8)
    a = ap.parse_args()
    dev, dt = "cuda", torch.bfloat16
    cases = [("cudnn", SDPBackend.CUDNN_ATTENTION, "mask"), ("cudnn", SDPBackend.CUDNN_ATTENTION, "causal"),
             ("flash", SDPBackend.FLASH_ATTENTION, "causal"), ("efficient", SDPBackend.EFFICIENT_ATTENTION, "mask")]
    out = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
           "cudnn": torch.backends.cudnn.version(), "cases": []}
    rng = random.Random(1)
    for name, backend, kind in cases:
        lengths = rng.sample(range(128, 1025), a.count)  # new lengths for every case
        first, second, errors = [], [], []
        for n in lengths:
            q, k, v = (torch.randn(1, a.heads, n, a.head_dim, device=dev, dtype=dt) for _ in range(3))
            mask = torch.full((n, n), float("-inf"), device=dev, dtype=dt).triu(1) if kind == "mask" else None

            def call():
                with sdpa_kernel([backend]):
                    F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None)
            try:
                first.append(timed(call))
                second.append(timed(call))
            except RuntimeError as e:
                errors.append(str(e).splitlines()[0][:160])
                break
        out["cases"].append({"backend": name, "mask": kind, "lengths": lengths[:len(first)],
                             "first_ms": first, "second_ms": second, "errors": errors,
                             "first_ms_median": statistics.median(first) if first else None,
                             "second_ms_median": statistics.median(second) if second else None})
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
