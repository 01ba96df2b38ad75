"""Where the fidelity a short program misses lies: each head's best program of at most 24 nodes,
refitted, then the same with free tables beside it (per distance, per token) that no short
program states.

For every head of a finished run, the best program on its front within `--max-size` nodes is
taken (a soft score keeps its terms; any other program enters as the log of its pattern) and
refitted on the run's synthesis sequences by soft IoU: alone, with a free weight per distance
added to its score, with a free weight per key token id, with a free sharpness per query token
id (the score multiplied by exp(t[query token])), and with both per-token tables. Each is
scored on the held-out sequences; the script prints the mean held-out IoU over the heads.

    python benchmarks/ceiling.py --run RUN_DIR       # a run of `headcode synth` (with its dump)
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from headcode.dsl import nodes as n
from headcode.dsl.parser import parse_expr
from headcode.models.dump import open_dump
from headcode.synth.data import split_dump
from headcode.synth.fit import head_iou, segment_softmax
from headcode.synth.front import Point
from headcode.synth.packed import Packed, evaluate_packed
from headcode.synth.rundir import RunDir

STEPS = 150
LR = 0.05
MAX_DISTANCE = 128  # the distance profile has one weight per distance below this
TABLES = {"refitted": (), "+ a weight per distance": ("distance",),
          "+ a weight per key token": ("key",), "+ a sharpness per query token": ("query",),
          "+ both per-token tables": ("key", "query")}


def best_point(front: list[Point], max_size: int) -> Point:
    return max((p for p in front if p.size <= max_size), key=lambda p: p.heldout_iou)


def program_terms(program: str, packed: Packed) -> tuple[torch.Tensor, list[float]]:
    """A program's score terms on `packed`'s entries (terms, entries) and their coefficients."""
    expr = parse_expr(program)
    if not isinstance(expr, n.Softmax):
        pattern = evaluate_packed([expr], packed)[0]
        return torch.log(pattern.clamp(min=1e-4))[None], [1.0]
    rows, coefs = [], []
    for term in expr.terms:
        coefs.append(float(term.coef.value))
        rows.append(packed.distance if term.indicator is None else
                    evaluate_packed([term.indicator], packed, as_pattern=False)[0])
    return torch.stack(rows), coefs


def token_ids(packed: Packed) -> tuple[torch.Tensor, torch.Tensor]:
    """The key's and the query's token id on every entry."""
    ids = torch.cat([torch.tensor(t.ids) for t in packed.tokens])
    start = torch.cumsum(packed.lengths, 0) - packed.lengths
    return ids[start[packed.seq] + packed.key], ids[start[packed.seq] + packed.query]


def stacked(points: list[Point], packed: Packed) -> tuple[torch.Tensor, torch.Tensor]:
    """Every head's terms (heads, width, entries), zero-padded, and coefficients (heads, width)."""
    found = [program_terms(p.program, packed) for p in points]
    width = max(len(c) for _, c in found)
    values = torch.zeros(len(found), width, packed.query.shape[0])
    coefs = torch.zeros(len(found), width)
    for h, (v, c) in enumerate(found):
        values[h, :len(c)] = v
        coefs[h, :len(c)] = torch.tensor(c)
    return values, coefs


def ceiling(points: list[Point], synth: Packed, heldout: Packed, tables: tuple[str, ...]
            ) -> torch.Tensor:
    """Held-out IoU per head of its program refitted with the `tables` asked for."""
    values, start = stacked(points, synth)
    held_values, _ = stacked(points, heldout)
    vocabulary = int(max(max(t.ids) for t in synth.tokens + heldout.tokens)) + 1
    coefs = start.clone().requires_grad_(True)
    keys = torch.zeros(len(points), vocabulary, requires_grad=True)
    sharp = torch.zeros(len(points), vocabulary, requires_grad=True)
    profile = torch.zeros(len(points), MAX_DISTANCE, requires_grad=True)

    def weights(v: torch.Tensor, packed: Packed) -> torch.Tensor:
        key_id, query_id = token_ids(packed)
        score = torch.einsum("hk,hke->he", coefs, v)
        if "distance" in tables:
            distance = (packed.query - packed.key).clamp(max=MAX_DISTANCE - 1)
            score = score + profile[:, distance]
        if "key" in tables:
            score = score + keys[:, key_id]
        if "query" in tables:
            score = score * torch.exp(sharp[:, query_id])
        return segment_softmax(score, packed)

    optimizer = torch.optim.Adam([coefs, keys, sharp, profile], lr=LR)
    for _ in range(STEPS):
        optimizer.zero_grad()
        (-head_iou(weights(values, synth), synth).sum()).backward()
        optimizer.step()
    with torch.no_grad():
        return head_iou(weights(held_values, heldout), heldout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a finished synth run")
    parser.add_argument("--max-size", type=int, default=24)
    args = parser.parse_args()
    run = RunDir.open(args.run)
    results = run.results()
    heads = sorted(results)
    synth, heldout = split_dump(open_dump(args.run / run.settings["dump"]), heads,
                                run.settings["synth_sequences"],
                                run.settings["heldout_sequences"])
    points = [best_point(list(results[h].front), args.max_size) for h in heads]
    print(f"{len(heads)} heads of {args.run}, best program of at most {args.max_size} nodes")
    print(f"| program | mean held-out IoU |\n| --- | --- |\n"
          f"| as found | {statistics.mean(p.heldout_iou for p in points):.3f} |")
    packed_synth, packed_held = synth.packed(), heldout.packed()
    for name, tables in TABLES.items():
        iou = ceiling(points, packed_synth, packed_held, tables)
        print(f"| {name} | {float(iou.mean()):.3f} |", flush=True)


if __name__ == "__main__":
    main()
