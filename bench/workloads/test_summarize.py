#!/usr/bin/env python3
"""Tests of summarize.py on files shaped like run.sh's (no torch, no GPU):
the eager and torch.compile columns, explained empty cells, and the
bert-train CUDA graph check. Run by ctest (bench_workloads_summarize)."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def write_events(path, evs):
    with open(path, "w") as f:
        for e in evs:
            f.write(json.dumps(e) + "\n")


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)


def check_run(graphs, losses, optimizer_steps):
    evs = [{"ev": "info", "workload": "bert-train", "cuda_graphs": graphs,
            **({"graph_warmup_steps": 3} if graphs else {})}, {"ev": "ready"}]
    evs += [{"ev": "iter", "n": 32, "ms": 20.0, "loss": v} for v in losses]
    evs.append({"ev": "done", "steps": len(losses), "samples_per_s": 1.0, "optimizer_steps": optimizer_steps})
    return evs


class Summarize(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.out = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def run_summary(self):
        p = subprocess.run([sys.executable, os.path.join(HERE, "summarize.py"), self.out],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(self.out, "summary.json")) as f:
            return p.stdout, json.load(f)

    def row(self, text, config):
        return next(line for line in text.splitlines() if line.startswith(config + " ["))

    def test_eager_and_compiled_columns(self):
        o = self.out
        write_events(f"{o}/bert-base-train-b32.gpumix.jsonl", [{"ev": "done", "samples_per_s": 2000.0, "steps": 9,
                                                               "first_loss": 10.4, "loss": 9.9}])
        write_json(f"{o}/bert-base-train-b32.ref.json", {"samples_per_s": 1000.0})
        write_json(f"{o}/bert-base-train-b32.compiled.json", {"samples_per_s": 2500.0, "compile": "reduce-overhead",
                                                              "compile_s": 52.3, "warmup_steps": 10, "seconds": 6.0})
        write_events(f"{o}/bert-base-train-b32-eager.gpumix.jsonl", [{"ev": "done", "samples_per_s": 1100.0}])
        # Latency: reference / gpumix, for both columns.
        write_events(f"{o}/resnet50-infer-b1.gpumix.jsonl", [{"ev": "done", "step_ms_p50": 0.5}])
        write_json(f"{o}/resnet50-infer-b1.ref.json", {"latency_ms_p50": 5.0})
        write_json(f"{o}/resnet50-infer-b1.compiled.json", {"latency_ms_p50": 1.0, "compile": "reduce-overhead",
                                                            "compile_s": 40, "warmup_steps": 50, "seconds": 6})
        text, results = self.run_summary()
        bert = self.row(text, "bert-base-train-b32")
        self.assertIn("2.00x", bert)  # vs eager
        self.assertIn("met", bert)
        self.assertIn("2500.0", bert)
        self.assertIn("0.80x", bert)  # vs compile: 2000 / 2500
        eager_row = self.row(text, "bert-base-train-b32-eager")
        self.assertIn("1.10x", eager_row)
        self.assertIn("MISSED by 15.4%", eager_row)
        self.assertIn("0.44x", eager_row)  # the base row's compiled reference: 1100 / 2500
        b1 = self.row(text, "resnet50-infer-b1")
        self.assertIn("10.00x", b1)
        self.assertIn("2.00x", b1)  # 1.0 ms compiled / 0.5 ms
        self.assertIn("torch.compile bert-base-train-b32: mode reduce-overhead, 52 s", text)
        self.assertIn("bert-base-train-b32: loss 10.4000 -> 9.9000", text)
        by = {r["config"]: r for r in results}
        self.assertAlmostEqual(by["bert-base-train-b32"]["vs_compile"], 0.8)
        self.assertEqual(by["bert-base-train-b32"]["compile_mode"], "reduce-overhead")

    def test_failures_are_explained(self):
        o = self.out
        # gpumix timed out: an empty jsonl, its exit status in status.tsv.
        open(f"{o}/resnet50-train-b64.gpumix.jsonl", "w").close()
        write_json(f"{o}/resnet50-train-b64.ref.json", {"samples_per_s": 2000.0})
        write_json(f"{o}/resnet50-train-b64.compiled.json",
                   {"error": "torch.compile(mode=max-autotune) did not finish within 200 s"})
        write_events(f"{o}/resnet50-infer-b64.gpumix.jsonl", [{"ev": "done", "samples_per_s": 25000.0}])
        write_json(f"{o}/resnet50-infer-b64.compiled.json", {"skipped": "smoke mode: torch.compile is not run"})
        with open(f"{o}/status.tsv", "w") as f:
            f.write("resnet50-train-b64\tgpumix\t124\t240\nresnet50-infer-b64\tref\t1\t12\n")
        text, _ = self.run_summary()
        self.assertIn("gpumix run failed (exit 124: timed out)", self.row(text, "resnet50-train-b64"))
        infer = self.row(text, "resnet50-infer-b64")
        self.assertIn("reference failed (exit 1: error)", infer)
        self.assertTrue(infer.rstrip().endswith("-"), infer)  # no compiled number
        self.assertIn("torch.compile resnet50-train-b64: empty: torch.compile(mode=max-autotune) did not finish", text)
        self.assertIn("torch.compile resnet50-infer-b64: empty: smoke mode", text)

    def test_bert_graph_check_passes_when_losses_and_step_counts_agree(self):
        eager = [10.4 - 0.02 * i for i in range(30)]
        graph = [v + 0.001 for v in eager]
        write_events(f"{self.out}/bert-graph-check-graph.gpumix.jsonl", check_run(True, graph, 33))
        write_events(f"{self.out}/bert-graph-check-eager.gpumix.jsonl", check_run(False, eager, 33))
        text, results = self.run_summary()
        self.assertIn("graph replays train as eager", text)
        check = next(r for r in results if r["config"] == "bert-graph-check")
        self.assertTrue(check["ok"])
        self.assertEqual(check["optimizer_steps_expected"], 33)

    def test_bert_graph_check_fails_on_diverging_losses(self):
        eager = [10.4 - 0.02 * i for i in range(30)]
        graph = [v + 0.0005 * i for i, v in enumerate(eager)]  # drifts to 0.0145; 1% of the drop is 0.0058
        write_events(f"{self.out}/bert-graph-check-graph.gpumix.jsonl", check_run(True, graph, 33))
        write_events(f"{self.out}/bert-graph-check-eager.gpumix.jsonl", check_run(False, eager, 33))
        text, _ = self.run_summary()
        self.assertIn("MISMATCH", text)

    def test_bert_graph_check_fails_on_a_frozen_step_count(self):
        eager = [10.4 - 0.02 * i for i in range(30)]
        # A host-side counter baked into the graph: the device count stops at the capture.
        write_events(f"{self.out}/bert-graph-check-graph.gpumix.jsonl", check_run(True, list(eager), 4))
        write_events(f"{self.out}/bert-graph-check-eager.gpumix.jsonl", check_run(False, eager, 33))
        text, _ = self.run_summary()
        self.assertIn("MISMATCH", text)
        self.assertIn("graph 4, eager 33 (expected 33)", text)


if __name__ == "__main__":
    unittest.main()
