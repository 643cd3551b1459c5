#!/usr/bin/env python3
"""Tests of profile_summary.py (no torch, no GPU, no ncu): ncu's --csv output
as Nsight Compute prints it (the application's own lines mixed in, units from
nanoseconds to milliseconds, thousands separators), the step period found in
the kernel sequence, torch.profiler's trace, and profile.sh's report. Run by
ctest (bench_workloads_profile_summary; ProfileScript's tests one each:
bench_workloads_profile_sh, _ncu_error, _budget)."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import profile_summary as ps  # noqa: E402

HEADER = ('"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size",'
          '"Grid Size","Device","CC","Section Name","Metric Name","Metric Unit","Metric Value"')
GEMM = "sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64_warpgroupsize1x1x1_execute_segment_k_off_kernel"
ADD = ("void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<c10::BFloat16>, "
       "std::array<char *, 3>>(int, T2, T3)")
LN = ("void at::native::(anonymous namespace)::vectorized_layer_norm_kernel<float, float, false>"
      "(int, T2, const T1 *, const T1 *, const T1 *, T2 *, T2 *, T1 *)")
ADAMW = ("void at::native::(anonymous namespace)::multi_tensor_apply_kernel<at::native::(anonymous namespace)"
         "::TensorListMetadata<4>, at::native::(anonymous namespace)::FusedAdamMathFunctor<float, 4>>"
         "(T1, T2, T3...)")

# As ncu 2025.3 prints it with --csv --metrics gpu__time_duration.sum: its
# ==PROF== lines and the application's output around the CSV; units scaled
# per value; a second metric that is not ours.
REAL = "\n".join([
    "==PROF== Connected to process 4242 (/usr/bin/python3.12)",
    "step 1 loss 10.43",
    '==PROF== Profiling "vectorized_elementwise_kernel": 0%....50%....100% - 1 pass',
    HEADER,
    f'"0","4242","python3.12","127.0.0.1","{GEMM}","1","7","(384, 1, 1)","(132, 1, 1)","0","9.0",'
    '"Command line profiler metrics","gpu__time_duration.sum","usecond","41.73"',
    f'"1","4242","python3.12","127.0.0.1","{ADD}","1","7","(128, 1, 1)","(3072, 1, 1)","0","9.0",'
    '"Command line profiler metrics","gpu__time_duration.sum","nsecond","1,234"',
    f'"1","4242","python3.12","127.0.0.1","{ADD}","1","7","(128, 1, 1)","(3072, 1, 1)","0","9.0",'
    '"Command line profiler metrics","dram__bytes.sum","Mbyte","12.58"',
    f'"2","4242","python3.12","127.0.0.1","{LN}","1","7","(256, 1, 1)","(4096, 1, 1)","0","9.0",'
    '"Command line profiler metrics","gpu__time_duration.sum","msecond","1.02"',
    '{"samples_per_s": 973.2}',
    "==PROF== Disconnected from process 4242",
])


def csv_of(kernels, unit="nsecond"):
    """ncu CSV text of [(name, ns)], IDs in launch order, the application's output mixed in."""
    lines = ["==PROF== Connected to process 7 (/tmp/gpumix-bert-train)", HEADER]
    for i, (name, ns) in enumerate(kernels):
        value = {"nsecond": f"{ns:,.0f}", "usecond": f"{ns / 1e3:.3f}"}[unit]
        lines.append(f'"{i}","7","gpumix-bert-train","host","{name}","1","13","(128, 1, 1)","(64, 1, 1)","0",'
                     f'"9.0","Command line profiler metrics","gpu__time_duration.sum","{unit}","{value}"')
        if i % 50 == 0:
            lines.append("[gpumix-bert-train] step done")
    return "\n".join(lines) + "\n"


def bert_like_step(scale=1.0):
    """One training step's kernels: embedding, 3 identical layers forward and
    backward (a motif that repeats within the step), the optimizer's two
    identical kernels in a row. 2 + 3*3 + 3*3 + 2 = 22 kernels."""
    layer = [(GEMM, 40e3), (ADD, 2e3), (LN, 5e3)]
    back = [(GEMM, 80e3), (LN, 9e3), (ADD, 2e3)]
    step = [("embedding_kernel", 3e3), (LN, 5e3)] + layer * 3 + back * 3 + [(ADAMW, 30e3), (ADAMW, 30e3)]
    return [(n, ns * scale) for n, ns in step]


class NcuCsv(unittest.TestCase):
    def test_real_output_units_and_separators(self):
        kernels = ps.parse_ncu_csv(REAL, "bert.ncu.txt")
        self.assertEqual([k[0] for k in kernels], [0, 1, 2])
        self.assertEqual(kernels[1][1], ADD)
        self.assertAlmostEqual(kernels[0][2], 41730.0)   # usecond
        self.assertAlmostEqual(kernels[1][2], 1234.0)    # nsecond with a thousands separator
        self.assertAlmostEqual(kernels[2][2], 1.02e6)    # msecond; the dram metric is left out

    def test_ids_sorted_and_repeated_header_skipped(self):
        a, b = csv_of([("a", 1e3), ("b", 2e3)]).splitlines()[2:5:2]
        text = "\n".join([HEADER, b, "app output", HEADER, a])  # "1" before "0", a header again
        self.assertEqual([k[1] for k in ps.parse_ncu_csv(text)], ["a", "b"])

    def test_bad_unit_names_the_line(self):
        text = REAL.replace('"msecond","1.02"', '"cycle","1.02"')
        with self.assertRaisesRegex(ps.InputError, r"bert\.ncu\.txt:8: unknown time unit 'cycle'"):
            ps.parse_ncu_csv(text, "bert.ncu.txt")

    def test_bad_value_names_the_line(self):
        with self.assertRaisesRegex(ps.InputError, r"x:5: metric value 'n/a' is not a number"):
            ps.parse_ncu_csv(REAL.replace('"41.73"', '"n/a"'), "x")

    def test_no_csv_at_all(self):
        with self.assertRaisesRegex(ps.InputError, "no ncu CSV header"):
            ps.parse_ncu_csv("==PROF== No kernels were profiled.\n", "empty.txt")


class Period(unittest.TestCase):
    def test_step_found_despite_repeating_layers_and_set_up(self):
        set_up = [("normal_kernel", 1e3)] * 7 + [("fill_kernel", 1e3)] * 3
        steps = [k for i in range(4) for k in bert_like_step()]
        # The window starts in the set-up and ends in the middle of a step.
        kernels = [(i, n, ns) for i, (n, ns) in enumerate(set_up + steps + bert_like_step()[:9])]
        s = ps.summarize_ncu(kernels)
        self.assertEqual(s["kernels_per_step"], 22)
        self.assertEqual(s["steps"], 3)  # 4 whole periods (+ 9 kernels), the first dropped
        self.assertEqual(s["repeating_kernels"], 4 * 22 + 9)
        self.assertAlmostEqual(s["kernel_ms_per_step"], 0.482)
        top = s["top"][0]
        self.assertEqual(top["full_name"], GEMM)
        self.assertAlmostEqual(top["count_per_step"], 6)
        self.assertAlmostEqual(top["share"], 360 / 482)

    def test_two_steps_are_enough_and_the_last_are_used(self):
        # Steps get slower; with 2 whole periods both are used.
        kernels = bert_like_step(1.0) + bert_like_step(1.5) + bert_like_step(2.0)[:5]
        s = ps.summarize_ncu([(i, n, ns) for i, (n, ns) in enumerate(kernels)])
        self.assertEqual((s["kernels_per_step"], s["steps"]), (22, 2))
        one = sum(ns for _, ns in bert_like_step()) / 1e6
        # The stretch ends 5 kernels into the third step: the two whole periods before it.
        self.assertEqual(len(s["step_ms_each"]), 2)
        self.assertAlmostEqual(sum(s["step_ms_each"]), s["kernel_ms_per_step"] * 2)
        self.assertGreater(s["kernel_ms_per_step"], one)

    def test_less_than_two_steps_is_an_explained_error(self):
        kernels = bert_like_step() + bert_like_step()[:15]
        s = ps.summarize_ncu([(i, n, ns) for i, (n, ns) in enumerate(kernels)])
        self.assertIn("no repeating kernel sequence of two steps over at least half of the 37 profiled kernels",
                      s["error"])
        self.assertNotIn("kernel_ms_per_step", s)

    def test_shorten(self):
        self.assertEqual(ps.shorten(ADD), "vectorized_elementwise_kernel<4, CUDAFunctor_add, array>")
        self.assertEqual(ps.shorten(LN), "vectorized_layer_norm_kernel<float, float, false>")
        self.assertEqual(ps.shorten(GEMM, 40), GEMM[:37] + "...")
        self.assertEqual(ps.shorten("void cutlass::Kernel2<cutlass_80_tensorop_bf16_s16816gemm_relu_bf16_64x64_"
                                    "32x6_tn_align8>(T1::Params)"),
                         "Kernel2<cutlass_80_tensorop_bf16_s16816gemm_relu_bf16_64x...")

    def test_families(self):
        cases = {
            "triton_red_fused__native_batch_norm_legit_functional_convolution_relu_12": "Triton (Inductor)",
            ADAMW: "optimizer",
            "void at::native::(anonymous namespace)::multi_tensor_apply_kernel<FusedSgdMathFunctor>": "optimizer",
            LN: "normalization",
            "void cudnn::bn_fw_tr_1C11_singleread_spec<__nv_bfloat16, 512, true, 1, 2, 0>(Params)": "normalization",
            "void at::native::batch_norm_backward_reduce_channels_last_kernel<4, c10::BFloat16, float>": "normalization",
            GEMM: "convolution & matmul",
            "sm90_xmma_wgrad_implicit_gemm_indexed_bf16bf16_bf16f32_f32_nhwckrsc_nhwc_tilesize": "convolution & matmul",
            "void cudnn::engines_precompiled::nhwcToNchwKernel<float, float, float, false, true>": "element-wise & other",
            "void at::native::unrolled_elementwise_kernel<convert_to_bf16>": "element-wise & other",
            ADD: "element-wise & other",
            "cudnn_generated_fort_native_sdpa_sm90_flash_bprop_wgmma_f16_knob_26_64x64x64_4x1x1_kernel0": "attention",
            "void gpumix::(anonymous namespace)::decode_attention_merge_kernel(gpumix::DecodeAttentionArgs)":
                "attention",
            "void cublasLt::splitKreduce_kernel<32, 16, int, float, __nv_bfloat16, float>": "convolution & matmul",
        }
        for name, fam in cases.items():
            self.assertEqual(ps.family(name), fam, name)
        s = ps.summarize_steps([(GEMM, 4e6), (ADD, 1e6), (LN, 2e6), (ADD, 1e6)], 2)
        self.assertEqual(list(s["families"]), [f for f, _ in ps.FAMILIES])
        self.assertAlmostEqual(s["families"]["convolution & matmul"]["ms_per_step"], 2.0)
        self.assertAlmostEqual(s["families"]["element-wise & other"]["ms_per_step"], 1.0)
        self.assertAlmostEqual(s["families"]["element-wise & other"]["kernels_per_step"], 1.0)
        self.assertEqual(s["families"]["optimizer"], {"ms_per_step": 0.0, "kernels_per_step": 0.0})

    def test_torch_profiler_trace(self):
        events = [{"ph": "X", "cat": "cpu_op", "name": "aten::add", "ts": 1, "dur": 9},
                  {"ph": "X", "cat": "kernel", "name": ADD, "ts": 30, "dur": 2.5},
                  {"ph": "X", "cat": "gpu_memcpy", "name": "Memcpy DtoD", "ts": 10, "dur": 4},
                  {"ph": "X", "cat": "kernel", "name": GEMM, "ts": 20, "dur": 40}]
        kernels = ps.trace_kernels(events)
        self.assertEqual(kernels, [(GEMM, 40e3), (ADD, 2.5e3)])
        s = ps.summarize_steps(kernels, 2)
        self.assertAlmostEqual(s["kernel_ms_per_step"], 0.02125)
        self.assertEqual(s["kernels_per_step"], 1)
        many = [(f"k{i}", 1e3 * (i + 1)) for i in range(ps.TOP + 2)]
        self.assertEqual(len(ps.summarize_steps(many, 1)["top"]), ps.TOP)
        self.assertEqual([t["name"] for t in ps.summarize_steps(many, 1, top=None)["top"]][-1], "k0")


class Cli(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.out = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def cli(self, *args):
        return subprocess.run([sys.executable, os.path.join(HERE, "profile_summary.py"), *args],
                              capture_output=True, text=True, timeout=60)

    def write(self, name, text):
        with open(os.path.join(self.out, name), "w") as f:
            f.write(text)

    def test_ncu_summary_file(self):
        kernels = [k for _ in range(3) for k in bert_like_step()]
        self.write("g.ncu.txt", csv_of(kernels, unit="usecond"))
        p = self.cli("ncu", os.path.join(self.out, "g.ncu.txt"), os.path.join(self.out, "g.ncu.json"))
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.strip(), "kernels_per_step=22.0")
        with open(os.path.join(self.out, "g.ncu.json")) as f:
            s = json.load(f)
        self.assertAlmostEqual(s["kernel_ms_per_step"], 0.482)
        self.assertEqual(s["profiled_kernels"], 66)

    def test_bad_csv_exits_2_with_the_place(self):
        self.write("bad.txt", REAL.replace('"usecond","41.73"', '"usecond","4x"'))
        p = self.cli("ncu", os.path.join(self.out, "bad.txt"), os.path.join(self.out, "bad.json"))
        self.assertEqual(p.returncode, 2)
        self.assertIn("bad.txt:5: metric value '4x' is not a number", p.stderr)

    def test_report(self):
        o = self.out
        self.write("g.gpumix.jsonl", json.dumps({"ev": "info", "workload": "bert-train"}) + "\n" +
                   json.dumps({"ev": "done", "steps": 200, "seconds": 4.0, "samples_per_s": 1600.0}) + "\n")
        self.write("g.ncu.json", json.dumps({"kernels_per_step": 700.0, "kernel_ms_per_step": 13.5, "steps": 2,
                                             "top": [{"name": "gemm_a", "share": 0.412}]}))
        self.write("r.ref.json", json.dumps({"steps": 100, "seconds": 3.3}))
        self.write("r.ncu.json", json.dumps({"profiled_kernels": 900, "error": "no repeating kernel sequence"}))
        self.write("r.torchprof.json", json.dumps({"kernel_ms_per_step": 21.0, "kernels_per_step": 1210.0,
                                                   "steps": 3, "top": []}))
        self.write("s.ref.json", json.dumps({"skipped": "no python with torch found (set GPUMIX_PYTHON)"}))
        self.write("s.torchprof.json", json.dumps({"skipped": "no python with torch found (set GPUMIX_PYTHON)"}))
        rows = [["gpumix bert graph", "gpumix", "g.gpumix.jsonl", "g.ncu.json", "", "", "gpumix-bert-train ..."],
                ["eager bert", "ref", "r.ref.json", "r.ncu.json", "", "r.torchprof.json", "reference.py ..."],
                ["eager infer", "ref", "s.ref.json", "", "smoke mode: no ncu", "s.torchprof.json", "reference.py"]]
        self.write("rows.tsv", "".join("\t".join(r) + "\n" for r in rows))
        p = self.cli("report", o)
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0], "SUMMARY profile: 3 rows, kernel time per step from ncu for 1")
        cells = lambda line: [c.strip() for c in line.strip().strip("|").split("|")]  # noqa: E731
        self.assertEqual(cells(lines[1]),
                         ["row", "wall ms/step", "kernel ms/step", "gap ms/step", "kernels/step", "top kernel (share)"])
        self.assertEqual(cells(lines[3]), ["gpumix bert graph", "20.00", "13.50", "6.50", "700", "gemm_a (41.2%)"])
        self.assertEqual(cells(lines[4]), ["eager bert", "33.00", "-", "-", "-", "-"])
        self.assertEqual(cells(lines[5]), ["eager infer", "-", "-", "-", "-", "-"])
        self.assertTrue(all(line.startswith("  | ") for line in lines[1:6]))
        self.assertIn("eager bert: ncu: no repeating kernel sequence", p.stdout)
        self.assertIn("eager infer: wall, torch.profiler: no python with torch found", p.stdout)
        self.assertIn("eager bert: torch.profiler: 21.00 kernel ms/step, 1210 kernels/step over 3 steps", p.stdout)
        self.assertIn("eager infer: ncu: smoke mode: no ncu", p.stdout)
        with open(os.path.join(o, "profile.json")) as f:
            prof = json.load(f)
        g, r, s = prof["rows"]
        self.assertAlmostEqual(g["gap_ms_per_step"], 6.5)
        self.assertEqual(r["torch_profiler"]["kernels_per_step"], 1210.0)
        self.assertIn("no python with torch", s["wall_note"])

    def test_report_bad_row_exits_2(self):
        self.write("rows.tsv", "only\ttwo\n")
        p = self.cli("report", self.out)
        self.assertEqual(p.returncode, 2)
        self.assertIn("rows.tsv:1: 2 fields, expected 7", p.stderr)


# Stand-ins for profile.sh's tools: the workloads write a `done` event; the
# python runs the real one except for reference.py, whose results it writes;
# ncu prints the CSV of a synthetic run (set-up kernels, then steps of K
# kernels of 1 us each) for the window it is given, as the real ncu would.
FAKE_WORKLOAD = """#!/bin/sh
echo '{"ev": "done", "steps": 100, "seconds": 2.0, "samples_per_s": 1600.0}' >&3
"""
FAKE_PYTHON = r"""#!/bin/sh
case "$1" in
  *reference.py)
    shift; out=""; prof=""
    while [ $# -gt 0 ]; do
      case "$1" in --out) out=$2;; --profile) prof=$2;; esac; shift
    done
    echo '{"steps": 50, "seconds": 1.5}' > "$out"
    case " $* $out" in *compile*) k=90;; *infer*) k=60;; *bert*) k=220;; *) k=300;; esac
    fam='"families": {"Triton (Inductor)": {"ms_per_step": 0.7, "kernels_per_step": 40}}'
    echo "{\"kernels_per_step\": $k, \"kernel_ms_per_step\": 1.0, \"steps\": 3, \"top\": [], $fam}" > "$prof" ;;
  *) exec python3 "$@" ;;
esac
"""
FAKE_NCU = r"""#!/usr/bin/env python3
import os
import sys
args = sys.argv[1:]
open(sys.argv[0] + ".calls", "a").write(" ".join(args) + "\n")
if args == ["--version"]:
    sys.exit(print("NVIDIA (R) Nsight Compute Command Line Profiler (stand-in)"))
if os.environ.get("FAKE_NCU_DENIED"):
    print("==ERROR== ERR_NVGPUCTRPERM - The user does not have permission to access NVIDIA GPU Performance Counters")
    sys.exit(1)
skip, count = int(args[args.index("--launch-skip") + 1]), int(args[args.index("--launch-count") + 1])
cmd = " ".join(args[args.index("--launch-count") + 2:])
ref = "reference.py" in cmd
assert "--compile" not in cmd and not (ref and "resnet-train" in cmd), "a row profiled by torch.profiler only"
k = {"bert": (220, 140), "infer": (60, 20), "resnet-train": (300, 180)}[
    next(w for w in ("bert", "infer", "resnet-train") if w in cmd)][0 if ref else 1]
num = lambda flag: int(args[args.index(flag) + 1])
steps = num("--iterations") + num("--warmup" if ref else "--warmup-steps") + (0 if ref else 3)
init = 2 * k  # set-up kernels
total = init + steps * k
print("==PROF== Connected to process 1")
print(%r)
for i in range(skip, min(skip + count, total)):
    name = f"setup{i}" if i < init else f"kernel{(i - init) %% k}"
    print(f'"{i}","1","w","h","{name}","1","7","(1, 1, 1)","(1, 1, 1)","0","9.0","s",'
          f'"gpu__time_duration.sum","usecond","1.0"')
""" % HEADER


def stand_ins(bin_dir, files):
    """Creates bin_dir with the executables [(path, text)] written, and this
    python as `python3` in it for the scripts and the stand-ins (not a slower
    launcher such as pyenv's shim that may come first on PATH)."""
    os.mkdir(bin_dir)
    for path, text in files:
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o755)
    os.symlink(sys.executable, os.path.join(bin_dir, "python3"))


class ProfileScript(unittest.TestCase):
    """profile.sh end to end with the stand-ins: each row's ncu window
    (sized from the reference's torch.profiler count and the eager run's
    period) holds two steady steps, so every period is found."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        tmp = self.tmp.name
        self.bin = os.path.join(tmp, "bin")
        stand_ins(self.bin, [(os.path.join(self.bin, "gpumix-resnet-train"), FAKE_WORKLOAD),
                             (os.path.join(self.bin, "gpumix-bert-train"), FAKE_WORKLOAD),
                             (os.path.join(self.bin, "gpumix-batch-infer"), FAKE_WORKLOAD),
                             (os.path.join(tmp, "python"), FAKE_PYTHON), (os.path.join(tmp, "ncu"), FAKE_NCU)])

    def tearDown(self):
        self.tmp.cleanup()

    def profile(self, **env):
        """profile.sh's output and profile.json's rows by name."""
        tmp = self.tmp.name
        env = {**os.environ, "OUT": os.path.join(tmp, "out"), "GPUMIX_PYTHON": os.path.join(tmp, "python"),
               "GPUMIX_PROFILE_NCU": os.path.join(tmp, "ncu"), "GPUMIX_BENCH_SMOKE": "0",
               "PATH": self.bin + os.pathsep + os.environ.get("PATH", ""), **env}
        p = subprocess.run(["bash", os.path.join(HERE, "profile.sh"), self.bin], env=env,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        with open(os.path.join(tmp, "out", "profile.json")) as f:
            return p, {r["row"]: r for r in json.load(f)["rows"]}

    def test_budget_spent_skips_ncu_with_the_reason(self):
        p, rows = self.profile(GPUMIX_PROFILE_BUDGET="0")
        self.assertEqual(len(rows), 9)
        traced_only = {"ref-train-b64": "eager: torch.profiler's trace only",
                       "ref-compiled-train-b64": "torch.compile: torch.profiler's trace only"}
        for name, r in rows.items():
            self.assertEqual(r["ncu"], {"skipped": traced_only.get(
                name, "the profile budget (GPUMIX_PROFILE_BUDGET=0 s) was spent")})
            self.assertIsNotNone(r["wall_ms_per_step"])
        with open(os.path.join(self.tmp.name, "ncu.calls")) as f:
            self.assertEqual(f.read().split(), ["--version"])  # for context.txt; no profiling run
        self.assertIn("gpumix-bert-train-b32-graph: ncu: the profile budget", p.stdout)

    def test_row_groups_chosen_and_a_bad_one_refused(self):
        _, rows = self.profile(GPUMIX_PROFILE_ROWS="infer")
        self.assertEqual(sorted(rows), ["gpumix-batch-infer-b64-graph", "ref-infer-b64"])
        env = {**os.environ, "OUT": os.path.join(self.tmp.name, "bad"), "GPUMIX_PROFILE_ROWS": "infer resnet",
               "GPUMIX_PYTHON": os.path.join(self.tmp.name, "python")}
        p = subprocess.run(["bash", os.path.join(HERE, "profile.sh"), self.bin], env=env,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertIn("GPUMIX_PROFILE_ROWS: unknown row group 'resnet'", p.stderr)

    def test_ncu_error_is_the_rows_reason(self):
        p, rows = self.profile(FAKE_NCU_DENIED="1")
        for r in (r for name, r in rows.items() if "-train-b64" not in name or "gpumix" in name):
            self.assertIn("ncu exit status 1: ==ERROR== ERR_NVGPUCTRPERM", r["ncu"]["error"])
            self.assertRegex(r["ncu"]["error"], r"\(window: --launch-skip \d+ --launch-count \d+ \(estimate \d+ "
                                                r"kernels/step\), \d+ steps, limit 90 s\)$")
            self.assertIsNone(r.get("kernel_ms_per_step"))
        self.assertIn("ref-infer-b64: ncu: ncu exit status 1: ==ERROR== ERR_NVGPUCTRPERM", p.stdout)

    def test_windows_find_every_period(self):
        p, rows = self.profile()
        found = {name: (r.get("kernels_per_step"), r.get("kernel_ms_per_step")) for name, r in rows.items()}
        self.assertEqual(found, {"ref-bert-train-b32": (220, 0.22), "gpumix-bert-train-b32-eager": (140, 0.14),
                                 "gpumix-bert-train-b32-graph": (140, 0.14), "ref-infer-b64": (60, 0.06),
                                 "gpumix-batch-infer-b64-graph": (20, 0.02), "ref-train-b64": (None, None),
                                 "ref-compiled-train-b64": (None, None),
                                 "gpumix-resnet-train-b64-graph": (180, 0.18),
                                 "gpumix-resnet-train-b64-eager": (180, 0.18)})
        # The compiled reference ran with --compile default and was traced.
        self.assertEqual(rows["ref-compiled-train-b64"]["torch_profiler"]["kernels_per_step"], 90)
        self.assertIn("--compile default", rows["ref-compiled-train-b64"]["command"])
        # gpumix's training window comes from the eager reference's 300 kernels (+5% + 8 = 323).
        self.assertEqual(rows["gpumix-resnet-train-b64-graph"]["ncu"]["note"],
                         "window: --launch-skip 7106 --launch-count 807 (estimate 323 kernels/step), 81 steps, "
                         "limit 90 s")
        self.assertAlmostEqual(rows["gpumix-bert-train-b32-graph"]["gap_ms_per_step"], 20.0 - 0.14)
        self.assertAlmostEqual(rows["ref-infer-b64"]["wall_ms_per_step"], 30.0)
        with open(os.path.join(self.tmp.name, "ncu.calls")) as f:
            graph = [c for c in f.read().splitlines() if "bert-train" in c and "--cuda-graphs true" in c]
        # The graph's window comes from the eager run's 140 kernels (+10% + 8 = 162).
        self.assertEqual(len(graph), 1)
        self.assertIn("--launch-skip 2754 --launch-count 405 ", graph[0])  # (10 + 3 + 4) * 162
        self.assertEqual(rows["gpumix-bert-train-b32-graph"]["ncu"]["note"],
                         "window: --launch-skip 2754 --launch-count 405 (estimate 162 kernels/step), 66 steps, "
                         "limit 90 s")
        tables = p.stdout.split("kernel ms per step by family:")
        self.assertEqual(len(tables), 2, p.stdout)
        table, families = ({c[0]: c[1:] for c in ([x.strip() for x in line.strip().strip("|").split("|")]
                                                  for line in t.splitlines() if line.startswith("  | "))}
                           for t in tables)
        self.assertEqual(table["gpumix-bert-train-b32-graph"][:4], ["20.00", "0.14", "19.86", "140"])
        # Families: ncu's where it found the step (the stand-in's kernels are
        # all "element-wise & other"), else torch.profiler's.
        self.assertEqual(families["row"], ["from"] + [f for f, _ in ps.FAMILIES])
        self.assertEqual(families["gpumix-resnet-train-b64-graph"],
                         ["ncu", "0.00", "0.00", "0.00", "0.00", "0.00", "0.18"])
        self.assertEqual(families["ref-compiled-train-b64"], ["torch.profiler", "0.70", "-", "-", "-", "-", "-"])
        self.assertIn("ref-infer-b64: torch.profiler: 1.00 kernel ms/step, 60 kernels/step", p.stdout)


if __name__ == "__main__":
    unittest.main()
