"""The size/fidelity front of a whole model: mean held-out IoU at size budgets.

Runs `headcode synth --heads all` by the synth protocol (60 synthesis and 20 held-out
paragraphs of at most 128 tokens) and prints, over all heads, the mean of the best held-out
IoU among programs of at most 5, 10, 24 and 40 syntax nodes and of any size, then the means of
the explanations and surrogates the run chose, and the command's wall time.

    python benchmarks/front.py --model ../shared/models/stories260K \\
        --text ../shared/data/tinystories/valid-a.txt
    python benchmarks/front.py --run runs/stories      # the fronts of a finished run
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from headcode.synth.front import best_within
from headcode.synth.rundir import RunDir

BUDGETS = (5, 10, 24, 40, None)


def run_synth(model: str, text: str, out: Path, extra: list[str]) -> float:
    """`headcode synth --heads all` into `out`; returns its wall time in seconds."""
    command = [sys.executable, "-m", "headcode", "synth", "--model", model, "--text", text,
               "--heads", "all", "--out", str(out), *extra]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - start


def report(run: Path) -> None:
    results = list(RunDir.open(run).results().values())
    print(f"{len(results)} heads of {run}")
    print("| size budget (syntax nodes) | " + " | ".join(
        "any" if b is None else f"<= {b}" for b in BUDGETS) + " |")
    print("| --- " * (len(BUDGETS) + 1) + "|")
    print("| mean held-out IoU | " + " | ".join(
        f"{statistics.mean(best_within(list(r.front), b) for r in results):.3f}"
        for b in BUDGETS) + " |")
    for kind in ("explanation", "surrogate"):
        points = [getattr(r, kind) for r in results]
        print(f"{kind}s: mean held-out IoU {statistics.mean(p.heldout_iou for p in points):.3f}, "
              f"mean size {statistics.mean(p.size for p in points):.1f}, "
              f"largest {max(p.size for p in points)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model directory (with --text)")
    parser.add_argument("--text", help="paragraphs to extract from")
    parser.add_argument("--run", type=Path, help="report a finished run instead")
    parser.add_argument("--out", type=Path, help="run directory (default: a temporary one)")
    args, extra = parser.parse_known_args()
    if args.run is not None:
        report(args.run)
        return
    if not (args.model and args.text):
        parser.error("give --model and --text, or --run")
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or Path(scratch) / "run"
        seconds = run_synth(args.model, args.text, out, extra)
        report(out)
        print(f"headcode synth --heads all: {seconds:.0f} s wall")


if __name__ == "__main__":
    main()
