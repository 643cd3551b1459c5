#!/usr/bin/env python3
"""The references gpumix-llm-server is measured against, in one process on the
GPU: the device-to-device copy bandwidth (the memory-bandwidth bound's
denominator) and Hugging Face transformers' generate (eager, no
torch.compile, static cache, SDPA attention) on a Llama model of the llm
server's 1b preset shape with random bf16 weights: output tokens/s at each
batch size, and the prefill time of one prompt.

  hf_reference.py --batches 1,32 --prompt-len 128 --new-tokens 256 --out hf.json
"""
import argparse
import json
import time

import torch


def copy_bandwidth(gib=2, repeats=20):
    """Bytes read plus bytes written per second by a device-to-device copy."""
    n = gib << 30
    src = torch.empty(n, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(repeats):
        dst.copy_(src)
    torch.cuda.synchronize()
    return 2 * n * repeats / (time.perf_counter() - t0)


def llama_1b():
    # gpumix-llm-server --preset 1b (workloads/llm_server/config.cpp).
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
                      num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=4096,
                      rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=True,
                      bos_token_id=None, eos_token_id=None, pad_token_id=0)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = LlamaForCausalLM(cfg)  # the default attention: SDPA
    return model.to(torch.bfloat16).eval()


def generate_tokens_per_s(model, batch, prompt_len, new_tokens):
    ids = torch.randint(258, 32000, (batch, prompt_len), device="cuda")
    mask = torch.ones_like(ids)
    from transformers import GenerationConfig

    def config(n):
        gc = GenerationConfig(max_new_tokens=n, min_new_tokens=n, do_sample=False, cache_implementation="static",
                              pad_token_id=0, eos_token_id=None)
        gc.disable_compile = True  # eager: generate compiles a static cache's forward unless told not to
        return gc

    with torch.inference_mode():
        model.generate(ids, attention_mask=mask, generation_config=config(8))  # warm-up
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = model.generate(ids, attention_mask=mask, generation_config=config(new_tokens))
        torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
    produced = (out.shape[1] - prompt_len) * batch
    return {"batch": batch, "output_tokens": produced, "seconds": seconds, "output_tokens_per_s": produced / seconds}


def prefill_ms(model, prompt_len, repeats=10):
    ids = torch.randint(258, 32000, (1, prompt_len), device="cuda")
    with torch.inference_mode():
        for _ in range(3):
            model(ids, use_cache=False)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(repeats):
            model(ids, use_cache=False)
        torch.cuda.synchronize()
    return 1e3 * (time.perf_counter() - t0) / repeats


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--prompt-len", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=256)
    ap.add_argument("--prefill-len", type=int, default=512)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    import transformers
    result = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
              "transformers": transformers.__version__, "copy_bytes_per_s": copy_bandwidth()}
    model = llama_1b()
    result["parameters"] = sum(p.numel() for p in model.parameters())
    result["attention"] = getattr(model.config, "_attn_implementation", None)
    result["generate"] = []
    for b in a.batches.split(","):
        try:
            result["generate"].append(generate_tokens_per_s(model, int(b), a.prompt_len, a.new_tokens))
        except Exception as e:  # noqa: BLE001 (kept in the result; the other parts go on)
            result.setdefault("errors", []).append(f"generate b{b}: {type(e).__name__}: {e}")
    try:
        result["prefill_ms"] = {str(a.prefill_len): prefill_ms(model, a.prefill_len)}
    except Exception as e:  # noqa: BLE001
        result.setdefault("errors", []).append(f"prefill: {type(e).__name__}: {e}")
    result.update(prompt_len=a.prompt_len, new_tokens=a.new_tokens)
    try:  # frames torch.compile (dynamo) compiled: none when generate ran eagerly
        from torch._dynamo.utils import counters
        result["dynamo_frames"] = dict(counters.get("frames", {}))
    except Exception:  # noqa: BLE001
        pass
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
