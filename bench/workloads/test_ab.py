#!/usr/bin/env python3
"""Tests of ab.sh and ab_summary.py (no torch, no GPU): the runs alternate,
the medians and their ratio are right, the reference's families are shown,
a run that wrote no `done` event is named, and bad arguments exit 2. Run by
ctest (bench_workloads_ab)."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_profile_summary import stand_ins  # noqa: E402 - the stand-ins' writer

# A workload whose throughput depends on --cudnn-benchmark; it appends its
# value to a log, so the order of the runs can be checked. "false" on its
# third call writes no `done` event (a failed run).
FAKE_WORKLOAD = r"""#!/bin/sh
v=""
while [ $# -gt 0 ]; do [ "$1" = --cudnn-benchmark ] && v=$2; shift; done
echo "$v" >> "$(dirname "$0")/calls"
n=$(grep -c "^$v\$" "$(dirname "$0")/calls")
[ "$v" = false ] && [ "$n" = 3 ] && [ -n "$FAIL_THIRD" ] && exit 1
case "$v" in true) r=$((4000 + n));; *) r=$((4100 + 10 * n));; esac
echo "{\"ev\": \"done\", \"steps\": 100, \"seconds\": 2.0, \"samples_per_s\": $r}" >&3
"""
FAKE_PYTHON = r"""#!/bin/sh
case "$1" in
  *reference.py)
    shift; out=""; prof=""; bench=0
    while [ $# -gt 0 ]; do
      case "$1" in --out) out=$2;; --profile) prof=$2;; --cudnn-benchmark) bench=1;; esac; shift
    done
    echo '{"steps": 50, "seconds": 1.5}' > "$out"
    conv=$([ $bench = 1 ] && echo 4.87 || echo 4.61)
    cat > "$prof" <<JSON
{"kernel_ms_per_step": 15.0, "kernels_per_step": 900, "steps": 3, "top": [],
 "families": {"Triton (Inductor)": {"ms_per_step": 0}, "optimizer": {"ms_per_step": 0.39},
              "normalization": {"ms_per_step": 6.47}, "attention": {"ms_per_step": 0},
              "convolution & matmul": {"ms_per_step": $conv},
              "element-wise & other": {"ms_per_step": 3.78}}}
JSON
    ;;
  *) exec python3 "$@" ;;
esac
"""


class AbScript(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.bin = os.path.join(self.tmp.name, "bin")
        stand_ins(self.bin, [(os.path.join(self.bin, "gpumix-resnet-train"), FAKE_WORKLOAD),
                             (os.path.join(self.tmp.name, "python"), FAKE_PYTHON)])

    def tearDown(self):
        self.tmp.cleanup()

    def ab(self, *args, **env):
        env = {**os.environ, "OUT": os.path.join(self.tmp.name, "out"), "GPUMIX_BENCH_SMOKE": "0",
               "GPUMIX_PYTHON": os.path.join(self.tmp.name, "python"),
               "PATH": self.bin + os.pathsep + os.environ.get("PATH", ""), **env}
        return subprocess.run(["bash", os.path.join(HERE, "ab.sh"), self.bin, *args], env=env,
                              capture_output=True, text=True, timeout=60)

    def test_alternating_runs_medians_and_the_references_families(self):
        p = self.ab("resnet50-train-b64", "cudnn-benchmark", "true", "false", "3",
                    GPUMIX_AB_REF_FLAG="--cudnn-benchmark")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        with open(os.path.join(self.bin, "calls")) as f:
            self.assertEqual(f.read().split(), ["true", "false"] * 3)
        # Medians: true 4001..4003 -> 4002; false 4110..4130 -> 4120.
        self.assertIn("SUMMARY ab resnet50-train-b64 --cudnn-benchmark: false / true = 1.029 "
                      "(medians of 3 and 3 runs)", p.stdout)
        rows = {c[0]: c[1:] for c in ([x.strip() for x in line.strip().strip("|").split("|")]
                                      for line in p.stdout.splitlines() if line.startswith("  | "))}
        self.assertEqual(rows["true"], ["4002.0", "4001.0, 4002.0, 4003.0"])
        self.assertEqual(rows["false"], ["4120.0", "4110.0, 4120.0, 4130.0"])
        self.assertEqual(rows["(none)"], ["15.00", "0.00", "0.39", "6.47", "0.00", "4.61", "3.78"])
        self.assertEqual(rows["--cudnn-benchmark"][5], "4.87")
        with open(os.path.join(self.tmp.name, "out", "ab.json")) as f:
            result = json.load(f)
        self.assertAlmostEqual(result["ratio_b_over_a"], 4120 / 4002)
        self.assertEqual(result["missing"], [])

    def test_a_failed_run_is_named_and_exits_1_with_the_others_kept(self):
        p = self.ab("resnet50-train-b64", "cudnn-benchmark", "true", "false", "3", FAIL_THIRD="1")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)  # both values still have a median
        self.assertIn("--cudnn-benchmark false: no `done` event in gpumix.false.3.jsonl", p.stdout)
        self.assertIn("(medians of 3 and 2 runs)", p.stdout)
        # With no run of a value left, the summary exits 1.
        with open(os.path.join(self.tmp.name, "out", "runs.tsv")) as f:
            runs = [line for line in f if "\tfalse\t" not in line or "false.3" in line]
        with open(os.path.join(self.tmp.name, "out", "runs.tsv"), "w") as f:
            f.writelines(runs)
        summary = subprocess.run([sys.executable, os.path.join(HERE, "ab_summary.py"),
                                  os.path.join(self.tmp.name, "out"), "resnet50-train-b64", "cudnn-benchmark",
                                  "true", "false"], capture_output=True, text=True, timeout=60)
        self.assertEqual(summary.returncode, 1, summary.stdout)
        self.assertIn("false / true = - (medians of 3 and 0 runs)", summary.stdout)

    def test_bad_arguments_exit_2(self):
        for args, why in [(("resnet50-train-b64", "cudnn-benchmark", "true", "false", "0"),
                           "REPEATS must be a positive whole number (got '0')"),
                          (("nope", "cudnn-benchmark", "true", "false"), "unknown row 'nope'"),
                          (("resnet50-train-b64", "cudnn-benchmark", "true", "true"), "A and B are both 'true'"),
                          (("resnet50-train-b64", "cudnn-benchmark", "true"), "usage:")]:
            p = self.ab(*args)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn(why, p.stderr)

    def test_summary_names_a_bad_runs_line(self):
        out = os.path.join(self.tmp.name, "bad")
        os.mkdir(out)
        with open(os.path.join(out, "runs.tsv"), "w") as f:
            f.write("gpumix\ttrue\tx.jsonl\ngpumix\tmaybe\ty.jsonl\n")
        p = subprocess.run([sys.executable, os.path.join(HERE, "ab_summary.py"), out, "r", "o", "true", "false"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertIn("runs.tsv:2: value 'maybe' is neither A ('true') nor B ('false')", p.stderr)


if __name__ == "__main__":
    unittest.main()
