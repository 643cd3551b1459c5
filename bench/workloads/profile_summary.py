"""Kernel time per step from Nsight Compute's CSV, and profile.sh's table.

  profile_summary.py ncu NCU_OUTPUT SUMMARY_JSON  # one ncu run: kernels per step, kernel ms per step, top 10
  profile_summary.py report OUT_DIR               # OUT_DIR/rows.tsv -> OUT_DIR/profile.json and the table

NCU_OUTPUT is what `ncu --csv --metrics gpu__time_duration.sum` printed (the
application's own output mixed in is skipped: only the quoted CSV lines are
read). A step's length in kernels is not known in advance: the summary finds
the period of the kernel-name sequence (the shortest p such that a stretch of
at least two periods repeats with period p, and whose stretch is about as long
as the longest) and averages over the whole periods of that stretch.
reference.py --profile uses summarize_steps() on torch.profiler's kernels.
"""
import csv
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from summarize import gpumix_done, reference  # noqa: E402 - the benchmark's own readers

METRIC = "gpu__time_duration.sum"
UNIT_NS = {"nsecond": 1.0, "ns": 1.0, "usecond": 1e3, "us": 1e3, "msecond": 1e6, "ms": 1e6,
           "second": 1e9, "s": 1e9}
TOP = 10
# A period's repeating stretch must be at least this share of the longest
# repeating stretch (multiples of the step repeat as far; a short motif, such
# as a layer's kernels, repeats only within a step).
STRETCH_SHARE = 0.9
# profile.sh sizes the window to start after the warm-up: the steady steps are
# most of it, or the window missed them.
MIN_STRETCH = 0.5
# What a step's kernel time goes to, comparable between gpumix's workloads
# (LibTorch's and cuDNN's kernels) and torch.compile's: by kernel name
# (lower-cased), the first family that matches. Inductor's Triton kernels are
# a family of their own, as each fuses the element-wise work around a
# normalization or reduction into one pass; attention kernels (cuDNN's and
# FlashAttention's are built on matrix products too) come before the
# products; "conv" is not "convert".
FAMILIES = [
    ("Triton (Inductor)", re.compile(r"\btriton_")),
    ("optimizer", re.compile(r"multi_tensor_apply|adam|sgd")),
    ("normalization", re.compile(r"batch_?norm|\bbn_|layer_?norm|welford")),
    ("attention", re.compile(r"attention|flash|fmha|sdpa")),
    ("convolution & matmul", re.compile(r"conv(?!ert)|gemm|xmma|cutlass|nvjet|cublas|splitk|wgrad|dgrad|fprop|"
                                        r"sm\d{2,3}_")),
    ("element-wise & other", re.compile(r"")),
]


class InputError(ValueError):
    """Bad input, with where it is (file:line)."""


def to_ns(value, unit, where):
    """A duration from ncu's "Metric Value" and "Metric Unit" (thousands separators allowed)."""
    factor = UNIT_NS.get(unit.strip())
    if factor is None:
        raise InputError(f"{where}: unknown time unit {unit!r} (expected one of {', '.join(sorted(UNIT_NS))})")
    text = value.strip().replace(",", "")
    try:
        return float(text) * factor
    except ValueError:
        raise InputError(f"{where}: metric value {value!r} is not a number") from None


def parse_ncu_csv(text, source="ncu output"):
    """[(id, kernel name, ns)] of METRIC, in launch (ID) order, from ncu's --csv output."""
    header, kernels = None, []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.startswith('"'):
            continue  # the application's output, ==PROF== lines
        fields = next(csv.reader([line]))
        if header is None:
            if "ID" in fields and "Kernel Name" in fields and "Metric Value" in fields:
                header = {name: i for i, name in enumerate(fields)}
                missing = [c for c in ("Metric Name", "Metric Unit") if c not in header]
                if missing:
                    raise InputError(f"{source}:{lineno}: ncu CSV header lacks {', '.join(missing)}")
            continue
        if fields[0] == "ID":
            continue  # a repeated header (one per process)
        where = f"{source}:{lineno}"
        if len(fields) < len(header):
            raise InputError(f"{where}: {len(fields)} fields, the header has {len(header)}")
        if fields[header["Metric Name"]] != METRIC:
            continue
        try:
            kid = int(fields[header["ID"]].replace(",", ""))
        except ValueError:
            raise InputError(f"{where}: kernel ID {fields[header['ID']]!r} is not a number") from None
        ns = to_ns(fields[header["Metric Value"]], fields[header["Metric Unit"]], where)
        kernels.append((kid, fields[header["Kernel Name"]], ns))
    if header is None:
        raise InputError(f"{source}: no ncu CSV header (\"ID\",...,\"Kernel Name\",...,\"Metric Value\") found")
    kernels.sort(key=lambda k: k[0])
    return kernels


def period(names):
    """(kernels per step, start, end) of the repeating stretch of `names`, or None.

    For each p, the longest stretch names[s:e] with names[i] == names[i + p]
    for s <= i < e - p; p qualifies when that stretch holds two periods. The
    step is the shortest qualifying p whose stretch is nearly the longest,
    which must be at least half of `names`."""
    ids = {}
    seq = [ids.setdefault(n, len(ids)) for n in names]
    n = len(seq)
    best = {}
    for p in range(1, n // 2 + 1):
        # Runs of matches at distance p: bytes of 0/1, split on the mismatches.
        same = bytes(map(int.__eq__, seq, seq[p:]))
        runs = same.split(b"\x00")
        run = max(runs, key=len)
        if len(run) >= p:
            # End of that run (first one of maximal length) in `seq`.
            end = 0
            for r in runs:
                end += len(r)
                if len(r) == len(run):
                    break
                end += 1
            best[p] = (len(run) + p, end - len(run), end + p)
    if not best:
        return None
    longest = max(length for length, _, _ in best.values())
    if longest < MIN_STRETCH * n:
        return None  # only motifs inside a step repeat
    p = min(q for q, (length, _, _) in best.items() if length >= STRETCH_SHARE * longest)
    return p, best[p][1], best[p][2]


_TEMPLATE_DEPTH2 = re.compile(r"<[^<>]*>")


def shorten(name, width=60):
    """A readable kernel name: no return type, parameters or namespaces, and
    template arguments one level deep."""
    s = name.strip()
    if s.startswith("void "):
        s = s[5:]
    # The parameter list: the last balanced (...) at the end.
    if s.endswith(")"):
        depth = 0
        for i in range(len(s) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(s[i], 0)
            if depth == 0:
                s = s[:i]
                break
    # Nested template arguments: drop everything two levels down.
    outer = s.find("<")
    if outer >= 0:
        head, args = s[:outer], s[outer:]
        inner = args[1:-1] if args.endswith(">") else args[1:]
        prev = None
        while prev != inner:
            prev, inner = inner, _TEMPLATE_DEPTH2.sub("", inner)
        s = head + "<" + inner + ">"
    s = re.sub(r"(?:(?:[A-Za-z_][A-Za-z_0-9]*|\(anonymous namespace\))::)+", "", s)  # namespaces
    s = re.sub(r"\s+", " ", s).strip()
    return s if len(s) <= width else s[: width - 3] + "..."


def family(name):
    """The FAMILIES entry a kernel belongs to."""
    low = name.lower()
    return next(f for f, pattern in FAMILIES if pattern.search(low))


def summarize_steps(kernels, steps, top=TOP):
    """Per-step figures over `kernels` [(name, ns)] that span `steps` whole steps;
    the `top` kernels by time (None: every kernel)."""
    total = sum(ns for _, ns in kernels)
    by_name = {}
    by_family = {f: [0.0, 0] for f, _ in FAMILIES}
    for name, ns in kernels:
        for t in (by_name.setdefault(name, [0.0, 0]), by_family[family(name)]):
            t[0] += ns
            t[1] += 1
    top = sorted(by_name.items(), key=lambda kv: -kv[1][0])[:top]
    return {
        "steps": steps,
        "kernels_per_step": len(kernels) / steps,
        "kernel_ms_per_step": total / steps / 1e6,
        "top": [{"name": shorten(name), "full_name": name, "ms_per_step": ns / steps / 1e6,
                 "share": ns / total if total else 0.0, "count_per_step": count / steps}
                for name, (ns, count) in top],
        "families": {f: {"ms_per_step": ns / steps / 1e6, "kernels_per_step": count / steps}
                     for f, (ns, count) in by_family.items()},
    }


def trace_kernels(events):
    """[(name, ns)] of the kernels in a torch.profiler Chrome trace's events, in start order."""
    kernels = sorted((e for e in events if e.get("cat") == "kernel"), key=lambda e: e.get("ts", 0))
    return [(e["name"], 1e3 * e.get("dur", 0)) for e in kernels]


def summarize_ncu(kernels):
    """Kernel figures per step of one ncu window [(id, name, ns)]."""
    names = [name for _, name, _ in kernels]
    found = period(names)
    out = {"profiled_kernels": len(kernels)}
    if not found:
        out["error"] = (f"no repeating kernel sequence of two steps over at least half of the {len(kernels)} "
                        "profiled kernels: the window (--launch-skip/--launch-count) did not hold two steady steps")
        return out
    k, start, end = found
    whole = (end - start) // k
    # The last whole periods of the stretch; the first one is dropped when
    # there are three or more (a step right after the warm-up can be colder).
    used = whole - 1 if whole >= 3 else whole
    window = [(name, ns) for _, name, ns in kernels[end - used * k:end]]
    out.update(summarize_steps(window, used))
    out["repeating_kernels"] = end - start
    out["step_ms_each"] = [sum(ns for _, ns in window[i * k:(i + 1) * k]) / 1e6 for i in range(used)]
    return out


# ------------------------------------------------------------------ report
def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def wall_ms(kind, path):
    """(ms per step, note) from a gpumix run's metrics or reference.py's JSON."""
    if kind == "gpumix":
        done, _ = gpumix_done(path)
        if not done or not done.get("steps"):
            return None, f"no `done` event in {os.path.basename(path)} (see its .log and .err)"
        return 1e3 * done["seconds"] / done["steps"], None
    ref = reference(path)
    if ref and (ref.get("skipped") or ref.get("error")):
        return None, ref.get("skipped") or ref.get("error")
    if not ref or not ref.get("steps"):
        return None, f"no result in {os.path.basename(path)} (see its .log and .err)"
    return 1e3 * ref["seconds"] / ref["steps"], None


def fmt(v, digits=2):
    return "-" if v is None else f"{v:.{digits}f}"


def markdown(header, table):
    """A markdown table, indented: bench/gpu_session.sh's phase summary keeps "  | " lines."""
    widths = [max(len(str(t[i])) for t in table + [header]) for i in range(len(header))]
    lines = ["  | " + " | ".join(str(c).ljust(w) for c, w in zip(t, widths)) + " |" for t in [header] + table]
    lines.insert(1, "  | " + " | ".join("-" * w for w in widths) + " |")
    return lines


def report(out):
    """profile.sh's rows.tsv: label, kind, wall file, ncu summary file, ncu note, torch.profiler file, command."""
    rows = []
    tsv = os.path.join(out, "rows.tsv")
    with open(tsv) as f:
        for lineno, line in enumerate(f, 1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 7:
                raise InputError(f"{tsv}:{lineno}: {len(parts)} fields, expected 7")
            label, kind, wall_file, ncu_file, ncu_note, prof_file, command = parts
            wall, wall_note = wall_ms(kind, os.path.join(out, wall_file))
            row = {"row": label, "kind": kind, "command": command, "wall_ms_per_step": wall}
            if wall_note:
                row["wall_note"] = wall_note
            ncu = read_json(os.path.join(out, ncu_file)) if ncu_file else None
            if ncu is None:
                row["ncu"] = {"skipped": ncu_note or "no ncu summary"}
            else:
                row["ncu"] = ncu
                if ncu_note:
                    row["ncu"]["note"] = ncu_note
                kernel = ncu.get("kernel_ms_per_step")
                row.update({"kernel_ms_per_step": kernel, "kernels_per_step": ncu.get("kernels_per_step"),
                            "gap_ms_per_step": wall - kernel if wall is not None and kernel is not None else None})
            if prof_file:
                row["torch_profiler"] = read_json(os.path.join(out, prof_file)) or {
                    "skipped": f"no {prof_file} (see the run's log)"}
            rows.append(row)

    header = ("row", "wall ms/step", "kernel ms/step", "gap ms/step", "kernels/step", "top kernel (share)")
    table = []
    for r in rows:
        top = (r["ncu"].get("top") or [None])[0]
        table.append((r["row"], fmt(r["wall_ms_per_step"]), fmt(r.get("kernel_ms_per_step")),
                      fmt(r.get("gap_ms_per_step")), fmt(r.get("kernels_per_step"), 0),
                      f"{top['name'][:48]} ({100 * top['share']:.1f}%)" if top else "-"))
    found = sum(1 for r in rows if r.get("kernels_per_step") is not None)
    lines = [f"SUMMARY profile: {len(rows)} rows, kernel time per step from ncu for {found}"] + markdown(header, table)
    # Where the kernel time goes, by family: ncu's figures where it found the
    # step, else torch.profiler's.
    by_family = []
    for r in rows:
        tp = r.get("torch_profiler") or {}
        source = "ncu" if "families" in r["ncu"] else "torch.profiler" if "families" in tp else None
        if source:
            fam = (r["ncu"] if source == "ncu" else tp)["families"]
            by_family.append((r["row"], source) + tuple(fmt(fam.get(f, {}).get("ms_per_step")) for f, _ in FAMILIES))
    if by_family:
        lines += ["", "kernel ms per step by family:"]
        lines += markdown(("row", "from") + tuple(f for f, _ in FAMILIES), by_family)
    notes = []
    for r in rows:
        # Why a cell is empty, once per reason: {reason: [what]}.
        why = {}
        if r.get("wall_note"):
            why.setdefault(r["wall_note"], []).append("wall")
        if "error" in r["ncu"] or "skipped" in r["ncu"]:
            why.setdefault(r["ncu"].get("error") or r["ncu"].get("skipped"), []).append("ncu")
        tp = r.get("torch_profiler")
        if tp and "kernel_ms_per_step" in tp:
            notes.append(f"{r['row']}: torch.profiler: {tp['kernel_ms_per_step']:.2f} kernel ms/step, "
                         f"{tp['kernels_per_step']:.0f} kernels/step over {tp['steps']} steps")
        elif tp:
            why.setdefault(tp.get("skipped") or tp.get("error"), []).append("torch.profiler")
        notes += [f"{r['row']}: {', '.join(what)}: {reason}" for reason, what in why.items()]
    context = {}
    try:
        with open(os.path.join(out, "context.txt")) as f:  # profile.sh: key=value lines
            context = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
    except OSError:
        pass
    with open(os.path.join(out, "profile.json"), "w") as f:
        json.dump({"schema": 1, "context": context, "rows": rows}, f, indent=1)
    return "\n".join(lines + notes)


def main(argv):
    try:
        if len(argv) == 4 and argv[1] == "ncu":
            with open(argv[2], errors="replace") as f:
                summary = summarize_ncu(parse_ncu_csv(f.read(), argv[2]))
            with open(argv[3], "w") as f:
                json.dump(summary, f, indent=1)
            print(f"kernels_per_step={summary.get('kernels_per_step', '')}")
            return 0
        if len(argv) == 3 and argv[1] == "report":
            print(report(argv[2]))
            return 0
    except (InputError, OSError) as e:
        print(f"profile_summary.py: {e}", file=sys.stderr)
        return 2
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
