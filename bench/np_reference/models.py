"""The three workloads of the NP reference, as plain PyTorch eager steps.

Shared by reference.py (the independent measurement) and gpumix_workload.py
(the same workloads run by gpumix), so both measure exactly the same work:

  resnet-train  ResNet-50 training, batch 64, 224x224, SGD momentum
  bert-train    BERT-base MLM training (transformers BertForMaskedLM, random
                init), batch 32, sequence 128, AdamW
  resnet-infer  ResNet-50 inference, batch 1, 224x224, torch.inference_mode

All in bf16 autocast, ResNets channels_last, synthetic data made once on the
device (as bench/workloads/reference.py does; the ResNet classes and the image
generator are imported from there). cudnn.benchmark stays off, as in that file.

make(name, device, smoke) -> (step_fn, samples_per_step). step_fn runs one
step and waits for the device, so the caller's clock brackets the GPU work.
smoke=True gives tiny CPU-sized versions so the pipeline can be checked
without a GPU.
"""
import importlib.util
import os
import time

import torch
import torch.nn.functional as F

NAMES = ("resnet-train", "bert-train", "resnet-infer")

# Warm-up before a workload reports ready: at least this many steps AND this
# many seconds (cuDNN/cuBLAS heuristics, allocator growth, clocks). The smoke
# values only keep the CPU check short.
WARMUP_STEPS, WARMUP_MIN_S = 20, 3.0
SMOKE_WARMUP_STEPS, SMOKE_WARMUP_MIN_S = 3, 0.5


def warmup_defaults(smoke):
    return (SMOKE_WARMUP_STEPS, SMOKE_WARMUP_MIN_S) if smoke else (WARMUP_STEPS, WARMUP_MIN_S)


def _load_bench_reference():
    # bench/workloads/reference.py is loaded by path under its own module name:
    # a plain `import reference` would find bench/np_reference/reference.py
    # (this folder comes first on sys.path when that file is the script).
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "workloads", "reference.py")
    spec = importlib.util.spec_from_file_location("gpumix_bench_workloads_reference", os.path.normpath(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_bench = _load_bench_reference()
ResNet = _bench.ResNet
synthetic_images = _bench.synthetic_images


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _resnet_train(device, smoke):
    arch, size, batch, classes = ("resnet18", 32, 2, 10) if smoke else ("resnet50", 224, 64, 1000)
    model = ResNet(arch, num_classes=classes).to(device).to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    data = synthetic_images(batch, size, classes, device)
    state = {"i": 0}

    def step():
        x, y = data[state["i"] % len(data)]
        state["i"] += 1
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        _sync(device)

    return step, batch, f"{arch} train b{batch} {size}x{size} bf16 channels_last SGD"


def _bert_train(device, smoke):
    # The same model and masking as bench/workloads/reference.py's bert_train
    # (that one is a function with its timing loop, so it is restated here).
    try:
        from transformers import BertConfig, BertForMaskedLM
    except ImportError as e:
        raise SystemExit(f"bert-train needs transformers (pip install transformers): {e}")
    if smoke:
        vocab, hidden, layers, heads, seq, batch = 1000, 64, 2, 2, 16, 2
    else:
        vocab, hidden, layers, heads, seq, batch = 30522, 768, 12, 12, 128, 32
    cfg = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                     intermediate_size=4 * hidden, max_position_embeddings=max(512, seq))
    model = BertForMaskedLM(cfg).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    data = []
    k = max(1, round(0.15 * seq))  # 15% of the tokens masked and predicted
    for _ in range(4):
        tokens = torch.randint(5, vocab, (batch, seq), device=device)
        pos = torch.rand(batch, seq, device=device).topk(k, 1).indices
        labels = torch.full_like(tokens, -100)
        labels.scatter_(1, pos, tokens.gather(1, pos))
        data.append((tokens.scatter(1, pos, 4), labels))  # 4: a stand-in [MASK] id
    state = {"i": 0}

    def step():
        tokens, labels = data[state["i"] % len(data)]
        state["i"] += 1
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = model(input_ids=tokens, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        _sync(device)

    attn = getattr(model.config, "_attn_implementation", "?")
    return step, batch, f"BertForMaskedLM {layers}x{hidden}/{heads}h train b{batch} seq{seq} bf16 AdamW (attn {attn})"


def _resnet_infer(device, smoke):
    arch, size, classes = ("resnet18", 32, 10) if smoke else ("resnet50", 224, 1000)
    batch = 1
    model = ResNet(arch, num_classes=classes).to(device).to(memory_format=torch.channels_last).eval()
    data = synthetic_images(batch, size, classes, device)
    state = {"i": 0}

    def step():
        x, _ = data[state["i"] % len(data)]
        state["i"] += 1
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16):
            model(x)
        _sync(device)

    return step, batch, f"{arch} inference b{batch} {size}x{size} bf16 channels_last inference_mode"


_MAKERS = {"resnet-train": _resnet_train, "bert-train": _bert_train, "resnet-infer": _resnet_infer}


# NPREF_PIN=1: each workload runs on a core of its own (the last cores of
# the machine, one per name in NAMES' order) with one torch/OpenMP thread.
# Eager PyTorch at these batch sizes is bound by its CPU-side launches, so the
# scheduler moving it between cores, or next to another workload's threads,
# shows in its rate; both tools inherit the variable, so they pin alike.
PIN_ENV = "NPREF_PIN"


def pin_core(name):
    """The core workload `name` is pinned to under NPREF_PIN=1, else None."""
    if os.environ.get(PIN_ENV) != "1":
        return None
    cores = sorted(os.sched_getaffinity(0))
    return cores[-1 - NAMES.index(name) % len(cores)]


def make(name, device, smoke=False):
    """(step_fn, samples_per_step) for workload `name` on `device`.

    step_fn.description says what it runs. Seeds torch so that every run makes
    the same weights and data. In smoke mode torch uses one CPU thread, so that
    three processes sharing a small machine do not oversubscribe it; pinned
    (NPREF_PIN=1), the process runs on its own core with one thread.
    """
    if name not in _MAKERS:
        raise ValueError(f"unknown workload {name!r}; known: {', '.join(NAMES)}")
    device = torch.device(device)
    core = pin_core(name)
    if core is not None:
        os.sched_setaffinity(0, {core})
    if smoke or core is not None:
        torch.set_num_threads(1)
    torch.manual_seed(0)
    step, samples, description = _MAKERS[name](device, smoke)
    step.description = description + (f", pinned to core {core}" if core is not None else "")
    return step, samples


def warm_up(step, min_steps, min_s, should_stop=lambda: False):
    """Runs steps until at least min_steps ran AND min_s seconds passed.

    Returns (steps, seconds). Stops early when should_stop() turns true.
    """
    t0 = time.monotonic()
    n = 0
    while (n < min_steps or time.monotonic() - t0 < min_s) and not should_stop():
        step()
        n += 1
    return n, time.monotonic() - t0


def device_info(device):
    """What the workload runs on, for the records (initializes CUDA on a GPU)."""
    device = torch.device(device)
    info = {"torch": torch.__version__, "device": str(device)}
    if device.type == "cuda":
        info.update({"device_name": torch.cuda.get_device_name(device), "cuda": torch.version.cuda,
                     "cudnn": torch.backends.cudnn.version()})
    else:
        info["device_name"] = "cpu"
    return info
