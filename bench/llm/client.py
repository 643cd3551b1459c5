#!/usr/bin/env python3
"""An OpenAI-completions streaming client that shares no code with gpumix:
raw sockets, HTTP/1.1 by hand, chunked transfer decoded here. It checks
gpumix-llm-server's throughput and gpumix loadgen's TTFT from the outside.

  client.py URL throughput --concurrency 32 --requests 64 --prompt-len 128 --max-tokens 256
  client.py URL ttft --count 20 --interval 0.5 --prompt-len 512 --max-tokens 16
  client.py URL greedy --prompts 8 --prompt-len 64 --max-tokens 32

Prints one JSON object.
"""
import argparse
import json
import random
import socket
import statistics
import threading
import time
import urllib.request
from urllib.parse import urlparse


def post_stream(url, body, on_event):
    """POSTs body to url's /v1/completions and calls on_event(data, t) for
    every server-sent event as it arrives. Returns the HTTP status."""
    u = urlparse(url)
    payload = json.dumps(body).encode()
    sock = socket.create_connection((u.hostname, u.port or 80), timeout=120)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(
        b"POST /v1/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (u.netloc.encode(), len(payload)) + payload)
    buf = b""
    while b"\r\n\r\n" not in buf:
        more = sock.recv(65536)
        if not more:
            raise RuntimeError("connection closed before the response's headers")
        buf += more
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:] if ":" in l)}
    chunked = headers.get("transfer-encoding", "").lower() == "chunked"
    body_bytes = b""   # de-chunked bytes not yet split into events
    eof = False

    def fill():
        nonlocal buf, eof
        more = sock.recv(65536)
        if not more:
            eof = True
        buf += more

    while True:
        if chunked:
            while b"\r\n" not in buf and not eof:
                fill()
            if b"\r\n" not in buf:
                break
            size_line, rest = buf.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(rest) < size + 2 and not eof:
                buf = size_line + b"\r\n" + rest
                fill()
                size_line, rest = buf.split(b"\r\n", 1)
            if size == 0:
                break
            body_bytes += rest[:size]
            buf = rest[size + 2:]
        else:
            if eof:
                break
            body_bytes += buf
            buf = b""
            fill()
        t = time.perf_counter()
        while b"\n\n" in body_bytes:
            event, body_bytes = body_bytes.split(b"\n\n", 1)
            if event.startswith(b"data: "):
                on_event(event[6:].decode(), t)
    if body_bytes.strip() and not body.get("stream"):
        on_event(body_bytes.decode(), time.perf_counter())
    sock.close()
    return status


VOCAB = 32000


def prompt(rng, n):
    return [rng.randrange(258, VOCAB) for _ in range(n)]


MODEL = ""  # the first of GET /v1/models


def request(ids, max_tokens, stream=True):
    return {"model": MODEL, "prompt": ids, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True,
            "stream": stream, "return_token_ids": True}


def one_stream(url, ids, max_tokens):
    """TTFT (s), end-to-end (s) and output tokens of one streamed completion."""
    first, tokens = [None], [0]
    t0 = time.perf_counter()

    def on_event(data, t):
        if data == "[DONE]":
            return
        j = json.loads(data)
        choice = j["choices"][0]
        if first[0] is None and (choice.get("text") or choice.get("token_ids")):
            first[0] = t
        if j.get("usage"):
            tokens[0] = j["usage"]["completion_tokens"]

    status = post_stream(url, request(ids, max_tokens), on_event)
    if status != 200:
        raise RuntimeError(f"HTTP {status}")
    return first[0] - t0, time.perf_counter() - t0, tokens[0]


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("mode", choices=["throughput", "ttft", "greedy"])
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--requests", type=int, default=1)
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--prompt-len", type=int, default=128)
    ap.add_argument("--prompt-len-max", type=int, default=0)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--vocab", type=int, default=32000)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    global MODEL, VOCAB
    VOCAB = a.vocab
    with urllib.request.urlopen(a.url + "/v1/models", timeout=30) as r:
        MODEL = json.load(r)["data"][0]["id"]

    if a.mode == "throughput":
        # `concurrency` clients, each sending its next request when answered.
        prompts = [prompt(rng, a.prompt_len) for _ in range(a.requests)]
        lock, results, errors = threading.Lock(), [], []
        it = iter(prompts)

        def client():
            while True:
                with lock:
                    ids = next(it, None)
                if ids is None:
                    return
                try:
                    r = one_stream(a.url, ids, a.max_tokens)
                    with lock:
                        results.append(r)
                except Exception as e:  # noqa: BLE001 (reported, counted)
                    with lock:
                        errors.append(str(e))

        t0 = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(a.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        tokens = sum(r[2] for r in results)
        print(json.dumps({"mode": "throughput", "concurrency": a.concurrency, "requests": len(results),
                          "errors": errors[:3], "error_count": len(errors), "output_tokens": tokens,
                          "wall_s": wall, "output_tokens_per_s": tokens / wall,
                          "ttft_p50_ms": 1e3 * statistics.median(r[0] for r in results) if results else None}))
    elif a.mode == "ttft":
        # One request at a time, `interval` apart: TTFT at low load.
        # --prompt-len-max: each request a length of its own, drawn from
        # [prompt-len, prompt-len-max] (new shapes for the server's kernels).
        lengths = ([a.prompt_len] * a.count if not a.prompt_len_max else
                   rng.sample(range(a.prompt_len, a.prompt_len_max + 1), a.count))
        ttfts = []
        for n in lengths:
            ttft, _, _ = one_stream(a.url, prompt(rng, n), a.max_tokens)
            ttfts.append(ttft * 1e3)
            time.sleep(a.interval)
        print(json.dumps({"mode": "ttft", "count": len(ttfts), "prompt_len": a.prompt_len, "prompt_lens": lengths,
                          "ttft_ms_p50": statistics.median(ttfts), "ttft_ms_p90": pct(ttfts, 90),
                          "ttft_ms_min": min(ttfts), "ttft_ms_max": max(ttfts), "ttft_ms": ttfts}))
    else:
        outs = []
        for _ in range(a.prompts):
            got = []
            status = post_stream(a.url, request(prompt(rng, a.prompt_len), a.max_tokens, stream=False),
                                 lambda data, t: got.append(json.loads(data)))
            if status != 200:
                raise SystemExit(f"HTTP {status}")
            outs.append(got[0]["choices"][0]["token_ids"])
        print(json.dumps({"mode": "greedy", "outputs": outs}))


if __name__ == "__main__":
    main()
