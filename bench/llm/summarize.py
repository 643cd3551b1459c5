#!/usr/bin/env python3
"""Reads bench/llm/run.sh's files in OUT and prints issue 19's targets as a
table (also OUT/summary.json): decode step time against the memory bound,
tokens/s against Hugging Face generate, TTFT against the prefill alone and
loadgen's TTFT against an independent client's."""
import json
import os
import re
import sys

BF16 = 2


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def prom_steps(path, batch):
    """(steps, seconds) of decode-only iterations at `batch` in a /metrics scrape."""
    steps = seconds = 0.0
    try:
        text = open(path).read()
    except OSError:
        return 0.0, 0.0
    for name, value in re.findall(r'^(gpumix_llm_decode_step(?:s|_seconds)_total)\{[^}]*batch="%d"\} (\S+)$' % batch,
                                  text, re.M):
        if name.endswith("steps_total"):
            steps = float(value)
        else:
            seconds = float(value)
    return steps, seconds


def prefill_ms(err_path, tokens):
    try:
        text = open(err_path).read()
    except OSError:
        return None
    m = re.search(r"prefill-only iteration mean ms by prompt tokens \(tokens:ms\): (\S+)", text)
    if not m:
        return None
    for pair in m.group(1).split(","):
        if ":" in pair and int(pair.split(":")[0]) == tokens:
            return float(pair.split(":")[1])
    return None


def fmt(v, spec=".2f"):
    return "-" if v is None else format(v, spec)


def main(out):
    cfg = load(os.path.join(out, "config.json")) or {}
    layers, kv_heads, head_dim = cfg.get("layers", 16), cfg.get("kv_heads", 8), cfg.get("head_dim", 64)
    prompt, new, ttft_prompt = cfg.get("prompt", 128), cfg.get("new", 256), cfg.get("ttft_prompt", 512)
    hf = load(os.path.join(out, "hf.json")) or {}
    bw = hf.get("copy_bytes_per_s")
    params = hf.get("parameters") or cfg.get("parameters")
    kv_per_token = 2 * layers * kv_heads * head_dim * BF16
    # Decode step k of a wave (k = 1 .. new-1) reads prompt + k keys per sequence.
    mean_keys = prompt + new / 2
    hf_tps = {g["batch"]: g["output_tokens_per_s"] for g in hf.get("generate", [])}
    rows, summary = [], {"copy_bytes_per_s": bw, "parameters": params, "variants": {}}
    for variant in ("eager", "graphs", "kernel"):
        if not os.path.exists(os.path.join(out, f"{variant}-b1.json")):
            continue
        v = summary["variants"][variant] = {}
        for b in (1, 32):
            s0, t0 = prom_steps(os.path.join(out, f"{variant}-b{b}-before.prom"), b)
            s1, t1 = prom_steps(os.path.join(out, f"{variant}-b{b}-after.prom"), b)
            step_ms = 1e3 * (t1 - t0) / (s1 - s0) if s1 > s0 else None
            bound_ms = None
            if bw and params:
                bound_ms = 1e3 * (params * BF16 + b * mean_keys * kv_per_token) / bw
            client = load(os.path.join(out, f"{variant}-b{b}.json")) or {}
            tps = client.get("output_tokens_per_s")
            v[b] = {"decode_steps": s1 - s0, "step_ms": step_ms, "bound_ms": bound_ms,
                    "step_over_bound": step_ms / bound_ms if step_ms and bound_ms else None,
                    "tokens_per_s": tps, "hf_tokens_per_s": hf_tps.get(b),
                    "over_hf": tps / hf_tps[b] if tps and hf_tps.get(b) else None,
                    "errors": client.get("error_count")}
            rows.append(f"  | decode b{b:<3} {variant:<6} step {fmt(step_ms, '.3f')} ms, bound {fmt(bound_ms, '.3f')} ms, "
                        f"x{fmt(v[b]['step_over_bound'])} (target <= 2) | {fmt(tps, '.0f')} tok/s, HF {fmt(hf_tps.get(b), '.0f')}, "
                        f"x{fmt(v[b]['over_hf'])}" + (" (target >= 1.5)" if b == 32 else ""))
    eager_g = (load(os.path.join(out, "eager-greedy.json")) or {}).get("outputs")
    for variant in ("graphs", "kernel"):
        other = (load(os.path.join(out, f"{variant}-greedy.json")) or {}).get("outputs")
        if not (eager_g and other):
            continue
        same = sum(a == b for a, b in zip(eager_g, other))
        prefix = [next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), len(a)) for a, b in zip(eager_g, other)]
        summary[f"greedy_identical_{variant}"] = f"{same}/{len(eager_g)}"
        rows.append(f"  | greedy outputs, {variant} vs eager: {same}/{len(eager_g)} identical; tokens agreeing "
                    f"before the first difference: {prefix}")
    prefill = prefill_ms(os.path.join(out, "server-ttft.err"), ttft_prompt)
    clients = [load(os.path.join(out, f"ttft-client-{i}.json")) or {} for i in (1, 2)]
    client_p50 = [c.get("ttft_ms_p50") for c in clients if c.get("ttft_ms_p50") is not None]
    lg = load(os.path.join(out, "ttft-loadgen.json")) or {}
    lg_ttft = ((lg.get("steps") or [{}])[-1].get("tokens") or {}).get("ttft_ms", {})
    lg_p50 = lg_ttft.get("p50")
    summary.update(prefill_ms=prefill, hf_prefill_ms=(hf.get("prefill_ms") or {}).get(str(ttft_prompt)),
                   client_ttft_p50_ms=client_p50, loadgen_ttft_p50_ms=lg_p50)
    if prefill is not None and lg_p50 is not None:
        rows.append(f"  | TTFT {ttft_prompt}-token prompt at low load: loadgen p50 {lg_p50:.2f} ms, prefill alone "
                    f"{prefill:.2f} ms: +{lg_p50 - prefill:.2f} ms (target <= +5 ms)")
    if client_p50 and lg_p50 is not None:
        rows.append(f"  | TTFT p50 client.py (raw sockets) {', '.join(f'{c:.2f}' for c in client_p50)} ms before/after; "
                    f"loadgen {lg_p50:.2f} ms: loadgen overhead {lg_p50 - sum(client_p50) / len(client_p50):+.2f} ms")
    if summary["hf_prefill_ms"] is not None and prefill is not None:
        rows.append(f"  | prefill of {ttft_prompt} tokens: gpumix {prefill:.2f} ms, HF forward {summary['hf_prefill_ms']:.2f} ms")
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    for e in hf.get("errors", []):
        rows.append(f"  | hf_reference.py: {e[:140]}")
    if hf.get("dynamo_frames"):
        rows.append(f"  | hf_reference.py: torch.compile ran ({hf['dynamo_frames']}): HF was not eager")
    print(f"RESULT copy bandwidth {fmt(bw and bw / 1e12)} TB/s (read+written), {fmt(params and params / 1e9, '.3f')}B parameters")
    print("\n".join(rows))


if __name__ == "__main__":
    main(sys.argv[1])
