"""ab.sh's table: the medians of the A and B runs of a gpumix option, and the
reference's kernel time by family without and with a flag.

  ab_summary.py OUT_DIR ROW OPTION A B    # reads OUT_DIR/runs.tsv, writes OUT_DIR/ab.json
"""
import json
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from profile_summary import FAMILIES, InputError, fmt, markdown, read_json  # noqa: E402 - the benchmark's own readers
from summarize import gpumix_done  # noqa: E402


def summarize(out, row, option, a, b):
    """(table lines, ab.json's content) from OUT/runs.tsv: kind, value, file."""
    runs = {a: [], b: []}
    missing = []
    refs = []
    tsv = os.path.join(out, "runs.tsv")
    with open(tsv) as f:
        for lineno, line in enumerate(f, 1):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3 or parts[0] not in ("gpumix", "ref"):
                raise InputError(f"{tsv}:{lineno}: expected 'gpumix|ref<TAB>value<TAB>file'")
            kind, value, path = parts
            if kind == "ref":
                refs.append((value, read_json(path) or {"error": f"no {os.path.basename(path)}"}))
                continue
            if value not in runs:
                raise InputError(f"{tsv}:{lineno}: value {value!r} is neither A ({a!r}) nor B ({b!r})")
            done, _ = gpumix_done(path)
            if done and done.get("samples_per_s"):
                runs[value].append(done["samples_per_s"])
            else:
                missing.append(f"--{option} {value}: no `done` event in {os.path.basename(path)} (see its .log)")
    med = {v: statistics.median(r) if r else None for v, r in runs.items()}
    ratio = med[b] / med[a] if med[a] and med[b] else None
    lines = [f"SUMMARY ab {row} --{option}: {b} / {a} = " + (f"{ratio:.3f}" if ratio else "-") +
             f" (medians of {len(runs[a])} and {len(runs[b])} runs)"]
    lines += markdown(("--" + option, "median samples/s", "runs"),
                      [(v, f"{med[v]:.1f}" if med[v] else "-", ", ".join(f"{x:.1f}" for x in runs[v]) or "-")
                       for v in (a, b)])
    if refs:
        lines += ["", "reference kernel ms per step by family (torch.profiler):"]
        table = []
        for flag, prof in refs:
            fam = prof.get("families")
            if fam:
                table.append((flag, fmt(prof.get("kernel_ms_per_step"))) +
                             tuple(fmt(fam.get(f, {}).get("ms_per_step")) for f, _ in FAMILIES))
            else:
                missing.append(f"reference {flag}: {prof.get('error') or prof.get('skipped') or 'no families'}")
        if table:
            lines += markdown(("flag", "kernel ms/step") + tuple(f for f, _ in FAMILIES), table)
    lines += missing
    result = {"row": row, "option": option, "a": a, "b": b, "samples_per_s": runs, "median": med,
              "ratio_b_over_a": ratio, "reference": dict(refs), "missing": missing}
    return lines, result


def main(argv):
    if len(argv) != 6:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        lines, result = summarize(*argv[1:])
    except (InputError, OSError) as e:
        print(f"ab_summary.py: {e}", file=sys.stderr)
        return 2
    with open(os.path.join(argv[1], "ab.json"), "w") as f:
        json.dump(result, f, indent=1)
    print("\n".join(lines))
    return 0 if all(result["median"].values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
