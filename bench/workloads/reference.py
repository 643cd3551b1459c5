#!/usr/bin/env python3
"""PyTorch (Python) references for the gpumix workload benchmark.

Same models, batch sizes, precision (bf16 autocast), memory format
(channels_last) and synthetic data as the gpumix workloads, measured the way a
plain eager training/inference script runs, or with torch.compile:

  reference.py resnet-train --batch-size 64            # images/s
  reference.py bert-train --batch-size 32 --seq-len 128  # sequences/s (transformers BertForMaskedLM)
  reference.py infer --batch-size 1                    # per-batch latency and images/s
  reference.py infer --batch-size 64 --compare-dir D   # also checks gpumix's outputs (--dump-dir D)
  reference.py bert-train --compile reduce-overhead    # the same under torch.compile
  reference.py infer --batch-size 64 --profile P.json  # then 3 steps under torch.profiler: kernels per step

--compile MODE compiles what a user would: the model's forward and the loss
(training: backward and the optimizer step stay eager), the model
(inference). The warm-up (at least 3 steps, so that reduce-overhead has
recorded its CUDA graphs) includes the compilation; it is reported as
`compile_s` and is not part of the measured window.

Torch only (the ResNets are written here with torchvision's parameter names);
bert-train uses transformers' BertForMaskedLM when it is installed (the issue's
reference) and a torch-only encoder otherwise (reported as such).

Writes one JSON object with the result to --out (and prints it).
"""
import argparse
import json
import math
import os
import statistics
import sys
import time
import traceback

import torch
import torch.nn as nn
import torch.nn.functional as F


# --------------------------------------------------------------------- ResNet
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """torchvision's ResNet v1.5 with the same parameter names."""

    def __init__(self, arch="resnet50", num_classes=1000):
        super().__init__()
        block, layers = {"resnet18": (BasicBlock, [2, 2, 2, 2]), "resnet50": (Bottleneck, [3, 4, 6, 3])}[arch]
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = 64
        for i, (planes, n) in enumerate(zip([64, 128, 256, 512], layers)):
            blocks = []
            for j in range(n):
                blocks.append(block(inplanes, planes, (1 if i == 0 else 2) if j == 0 else 1))
                inplanes = planes * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def synthetic_images(batch, size, classes, device, batches=4):
    out = []
    patterns = torch.randn(classes, 3, 4, 4, device=device)
    for _ in range(batches):
        y = torch.randint(classes, (batch,), device=device)
        x = F.interpolate(patterns[y], size=(size, size), mode="bilinear", align_corners=False)
        x = x + 1.5 * torch.randn_like(x)
        out.append((x.contiguous(memory_format=torch.channels_last), y))
    return out


# ------------------------------------------------------------------ timing
def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def profile_steps(step, device, steps, path):
    """`steps` more steps under torch.profiler (after the measured window, so
    that it does not slow the timing): kernel time per step and the top
    kernels, as profile_summary.py summarizes ncu's, written to `path`."""
    import tempfile
    from torch.profiler import ProfilerActivity, profile

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from profile_summary import summarize_steps, trace_kernels

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    t0 = time.perf_counter()
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        sync(device)  # every kernel of the last step ends inside the profiled region
    seconds = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "trace.json")
        prof.export_chrome_trace(trace)
        with open(trace) as f:
            events = json.load(f)["traceEvents"]
    # Every kernel, not just the top ones: the trace is not kept.
    summary = summarize_steps(trace_kernels(events), steps, top=None)
    summary.update({"tool": "torch.profiler", "torch": torch.__version__, "device": str(device),
                    "profiled_step_ms": 1e3 * seconds / steps})
    if device.type != "cuda":
        summary["note"] = "no CUDA device: torch.profiler records no kernels"
    with open(path, "w") as f:
        json.dump(summary, f, indent=1)


def measure(step, device, warmup, duration, iterations, sync_each, profile=("", 0)):
    """Runs warm-up steps, then steps for `duration` s (or `iterations`), then
    `profile` = (path, steps) more under torch.profiler when a path is given.
    Returns (steps, measured seconds, per-step ms when sync_each, warm-up seconds)."""
    t0 = time.perf_counter()
    for _ in range(warmup):
        step()
    sync(device)
    warmup_s = time.perf_counter() - t0
    times = []
    steps = 0
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        step()
        if sync_each:
            sync(device)
            times.append((time.perf_counter() - t0) * 1e3)
        steps += 1
        if iterations and steps >= iterations:
            break
        if not iterations and time.perf_counter() - start >= duration:
            break
    sync(device)
    secs = time.perf_counter() - start
    if profile[0]:
        try:
            profile_steps(step, device, profile[1], profile[0])
        except Exception as e:  # noqa: BLE001 - the profile is an extra: the timing above stands
            traceback.print_exc()
            with open(profile[0], "w") as f:
                json.dump({"error": f"torch.profiler failed: {type(e).__name__}: {str(e)[:300]}"}, f)
    return steps, secs, times, warmup_s


COMPILE_MODES = ["none", "default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"]


def maybe_compile(fn, a):
    """`fn` under torch.compile(mode=a.compile), or `fn` itself for none."""
    if a.compile == "none":
        return fn
    return torch.compile(fn, mode=a.compile)


def warmup_steps(a):
    # torch.compile: compile (1st call), then reduce-overhead's cudagraph
    # trees warm up and record (2nd, 3rd) before replays are measured.
    return a.warmup if a.compile == "none" else max(a.warmup, 3)


def timing(a, steps, secs, warmup_s):
    out = {"samples_per_s": steps * a.batch_size / secs, "steps": steps, "seconds": secs,
           "warmup_steps": warmup_steps(a), "warmup_s": warmup_s}
    if a.compile != "none":
        out["compile_s"] = warmup_s  # the warm-up steps, compilation included
    return out


def pct(v, p):
    if not v:
        return None
    s = sorted(v)
    return s[max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))]


# --------------------------------------------------------------- workloads
def resnet_train(a, device):
    model = ResNet(a.model).to(device).to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    data = synthetic_images(a.batch_size, a.image_size, 1000, device)
    state = {"i": 0}
    loss_fn = maybe_compile(lambda x, y: F.cross_entropy(model(x), y), a)

    def step():
        x, y = data[state["i"] % len(data)]
        state["i"] += 1
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=a.bf16):
            loss = loss_fn(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    steps, secs, _, warmup_s = measure(step, device, warmup_steps(a), a.duration, a.iterations, sync_each=False,
                                       profile=(a.profile, a.profile_steps))
    return timing(a, steps, secs, warmup_s)


def bert_train(a, device):
    impl = "transformers.BertForMaskedLM"
    try:
        from transformers import BertConfig, BertForMaskedLM

        cfg = BertConfig(vocab_size=a.vocab, hidden_size=a.hidden, num_hidden_layers=a.layers,
                         num_attention_heads=a.heads, intermediate_size=4 * a.hidden,
                         max_position_embeddings=max(512, a.seq_len))
        model = BertForMaskedLM(cfg).to(device).train()
        impl += " (attn: %s)" % getattr(model.config, "_attn_implementation", "?")

        def loss_of(tokens, labels):
            return model(input_ids=tokens, labels=labels).loss
    except ImportError:
        impl = "torch-only fallback (transformers not installed)"
        layer = nn.TransformerEncoderLayer(a.hidden, a.heads, 4 * a.hidden, 0.1, activation="gelu",
                                           batch_first=True)
        enc = nn.TransformerEncoder(layer, a.layers)
        emb = nn.Embedding(a.vocab, a.hidden)
        pos = nn.Embedding(max(512, a.seq_len), a.hidden)
        model = nn.ModuleDict({"enc": enc, "emb": emb, "pos": pos, "ln": nn.LayerNorm(a.hidden)}).to(device).train()

        def loss_of(tokens, labels):
            h = model["ln"](model["emb"](tokens) + model["pos"].weight[: tokens.shape[1]])
            h = model["enc"](h)
            logits = h @ model["emb"].weight.t()
            return F.cross_entropy(logits.reshape(-1, a.vocab).float(), labels.reshape(-1), ignore_index=-100)

    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    data = []
    k = max(1, round(0.15 * a.seq_len))
    for _ in range(4):
        tokens = torch.randint(5, a.vocab, (a.batch_size, a.seq_len), device=device)
        pos = torch.rand(a.batch_size, a.seq_len, device=device).topk(k, 1).indices
        labels = torch.full_like(tokens, -100)
        labels.scatter_(1, pos, tokens.gather(1, pos))
        inputs = tokens.scatter(1, pos, 4)
        data.append((inputs, labels))
    state = {"i": 0}
    loss_fn = maybe_compile(loss_of, a)

    def step():
        tokens, labels = data[state["i"] % len(data)]
        state["i"] += 1
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=a.bf16):
            loss = loss_fn(tokens, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    steps, secs, _, warmup_s = measure(step, device, warmup_steps(a), a.duration, a.iterations, sync_each=False,
                                       profile=(a.profile, a.profile_steps))
    return {**timing(a, steps, secs, warmup_s), "impl": impl}


def load_dump(directory):
    """The tensors gpumix-batch-infer --dump-dir wrote: name -> float32 tensor."""
    blob = open(os.path.join(directory, "tensors.bin"), "rb").read()
    out = {}
    for line in open(os.path.join(directory, "manifest.tsv")):
        name, shape, offset = line.rstrip("\n").split("\t")
        dims = [int(d) for d in shape.split(",")] if shape else []
        count = math.prod(dims) if dims else 1
        t = torch.frombuffer(bytearray(blob[int(offset): int(offset) + 4 * count]), dtype=torch.float32)
        out[name] = t.reshape(dims).clone()
    return out


def infer(a, device):
    model = ResNet(a.model).to(device).eval()
    result = {}
    if a.compare_dir:
        # gpumix's weights and input; compare its (optimized) output with eager.
        tensors = load_dump(a.compare_dir)
        x_in = tensors.pop("__input__").to(device)
        gpumix_out = tensors.pop("__output__").to(device)
        missing, unexpected = model.load_state_dict(tensors, strict=False)
        missing = [m for m in missing if not m.endswith("num_batches_tracked")]
        if missing or unexpected:
            raise SystemExit(f"state dict mismatch: missing {missing}, unexpected {unexpected}")
        with torch.inference_mode():
            fp32 = model(x_in).float()
            m_cl = model.to(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=a.bf16):
                eager = m_cl(x_in.contiguous(memory_format=torch.channels_last)).float()
        scale = fp32.abs().max().item()
        result["compare"] = {
            "images": int(x_in.shape[0]),
            "rel_err_gpumix_vs_eager": (gpumix_out - eager).abs().max().item() / scale,
            "rel_err_gpumix_vs_fp32": (gpumix_out - fp32).abs().max().item() / scale,
            "rel_err_eager_vs_fp32": (eager - fp32).abs().max().item() / scale,
            "top1_agreement_gpumix_vs_eager": (gpumix_out.argmax(1) == eager.argmax(1)).float().mean().item(),
            "top1_agreement_gpumix_vs_fp32": (gpumix_out.argmax(1) == fp32.argmax(1)).float().mean().item(),
            "top1_agreement_eager_vs_fp32": (eager.argmax(1) == fp32.argmax(1)).float().mean().item(),
        }
    model = model.to(memory_format=torch.channels_last)
    data = synthetic_images(a.batch_size, a.image_size, 1000, device)
    state = {"i": 0}
    forward = maybe_compile(model, a)

    def step():
        x, _ = data[state["i"] % len(data)]
        state["i"] += 1
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=a.bf16):
            forward(x)

    steps, secs, times, warmup_s = measure(step, device, warmup_steps(a), a.duration, a.iterations, sync_each=True,
                                          profile=(a.profile, a.profile_steps))
    result.update({**timing(a, steps, secs, warmup_s),
                   "latency_ms_p50": pct(times, 50), "latency_ms_p99": pct(times, 99),
                   "latency_ms_mean": statistics.fmean(times) if times else None})
    return result


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("workload", choices=["resnet-train", "bert-train", "infer"])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--model", default="resnet50", choices=["resnet18", "resnet50"])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--image-size", type=int, default=224)
    p.add_argument("--precision", default="bf16", choices=["bf16", "fp32"])
    p.add_argument("--layers", type=int, default=12)
    p.add_argument("--hidden", type=int, default=768)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--vocab", type=int, default=30522)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--iterations", type=int, default=0)
    p.add_argument("--cudnn-benchmark", action="store_true",
                   help="torch.backends.cudnn.benchmark = True (off by default, as in plain eager scripts)")
    p.add_argument("--compare-dir", default="", help="gpumix-batch-infer --dump-dir output to compare with (infer)")
    p.add_argument("--compile", default="none", choices=COMPILE_MODES,
                   help="torch.compile mode (none = eager); the compilation is part of the warm-up, not measured")
    p.add_argument("--profile", default="",
                   help="after the measured window, run --profile-steps more steps under torch.profiler and write "
                        "their kernel time per step and top kernels to this JSON file")
    p.add_argument("--profile-steps", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="")
    a = p.parse_args()
    if a.profile_steps < 1:
        p.error(f"--profile-steps must be at least 1 (got {a.profile_steps})")
    a.bf16 = a.precision == "bf16"
    torch.manual_seed(a.seed)
    torch.backends.cudnn.benchmark = a.cudnn_benchmark
    device = torch.device(a.device)
    fn = {"resnet-train": resnet_train, "bert-train": bert_train, "infer": infer}[a.workload]
    try:
        result = fn(a, device)
    except Exception as e:  # noqa: BLE001 - a failed compilation is a result to report, not a crash
        if a.compile == "none":
            raise
        traceback.print_exc()
        first_line = (str(e).strip().splitlines() or [""])[0][:300]
        result = {"error": f"torch.compile(mode={a.compile}) failed: {type(e).__name__}: {first_line}"}
    result.update({"workload": a.workload, "batch_size": a.batch_size, "precision": a.precision,
                   "compile": a.compile,
                   "device": str(device), "torch": torch.__version__, "cudnn_benchmark": a.cudnn_benchmark,
                   "device_name": torch.cuda.get_device_name() if device.type == "cuda" else "cpu"})
    if a.workload != "bert-train":
        result.update({"model": a.model, "image_size": a.image_size, "channels_last": True})
    else:
        result.update({"layers": a.layers, "hidden": a.hidden, "seq_len": a.seq_len})
    line = json.dumps(result)
    print(line)
    if a.out:
        with open(a.out, "w") as f:
            f.write(line + "\n")
    return 1 if "error" in result else 0


if __name__ == "__main__":
    sys.exit(main())
