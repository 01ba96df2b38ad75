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
from typing import NamedTuple

import torch

from headcode.dsl import nodes as n
from headcode.dsl.parser import parse_expr
from headcode.models.dump import open_dump
from headcode.synth.data import split_dump
from headcode.synth.fit import head_iou, segment_softmax
from headcode.synth.front import Point, smallest_near_best
from headcode.synth.packed import Packed, evaluate_packed
from headcode.synth.rundir import RunDir

STEPS = 150
LR = 0.05
MAX_DISTANCE = 128  # the distance profile has one weight per distance below this
TABLES = {"refitted": (), "+ a weight per distance": ("distance",),
          "+ a weight per key token": ("key",), "+ a sharpness per query token": ("query",),
          "+ both per-token tables": ("key", "query")}


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


def lookups(packed: Packed) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per entry, where it reads the tables: the key's token id, the query's token id (rows
    number the tokens) and the distance, capped to the profile's length."""
    ids = torch.cat([torch.tensor(t.ids) for t in packed.tokens])
    distance = (packed.query - packed.key).clamp(max=MAX_DISTANCE - 1)
    return ids[packed.row - packed.query + packed.key], ids[packed.row], distance


class Split(NamedTuple):
    """One split's entries, every head's program terms on them (heads, width, entries, zero-padded)
    with their coefficients (heads, width), and where each entry reads the tables (`lookups`)."""

    packed: Packed
    values: torch.Tensor
    coefs: torch.Tensor
    where: tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def split_of(points: list[Point], packed: Packed) -> Split:
    found = [program_terms(p.program, packed) for p in points]
    width = max(len(c) for _, c in found)
    values = torch.zeros(len(found), width, packed.query.shape[0])
    coefs = torch.zeros(len(found), width)
    for h, (v, c) in enumerate(found):
        values[h, :len(c)] = v
        coefs[h, :len(c)] = torch.tensor(c)
    return Split(packed, values, coefs, lookups(packed))


def ceiling(synth: Split, heldout: Split, vocabulary: int, tables: tuple[str, ...]
            ) -> torch.Tensor:
    """Held-out IoU per head of its program refitted with the `tables` asked for."""
    heads = synth.coefs.shape[0]
    coefs = synth.coefs.clone().requires_grad_(True)
    keys = torch.zeros(heads, vocabulary, requires_grad=True)
    sharp = torch.zeros(heads, vocabulary, requires_grad=True)
    profile = torch.zeros(heads, MAX_DISTANCE, requires_grad=True)

    def weights(split: Split) -> torch.Tensor:
        key_id, query_id, distance = split.where
        score = torch.einsum("hk,hke->he", coefs, split.values)
        if "distance" in tables:
            score = score + profile[:, distance]
        if "key" in tables:
            score = score + keys[:, key_id]
        if "query" in tables:
            score = score * torch.exp(sharp[:, query_id])
        return segment_softmax(score, split.packed)

    optimizer = torch.optim.Adam([coefs, keys, sharp, profile], lr=LR)
    for _ in range(STEPS):
        optimizer.zero_grad()
        (-head_iou(weights(synth), synth.packed).sum()).backward()
        optimizer.step()
    with torch.no_grad():
        return head_iou(weights(heldout), heldout.packed)


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
    points = [smallest_near_best(list(results[h].front), 0.0, args.max_size) for h in heads]
    print(f"{len(heads)} heads of {args.run}, best program of at most {args.max_size} nodes")
    print(f"| program | mean held-out IoU |\n| --- | --- |\n"
          f"| as found | {statistics.mean(p.heldout_iou for p in points):.3f} |")
    vocabulary = int(max(max(t.ids) for t in synth.tokens + heldout.tokens)) + 1
    fitting, scoring = split_of(points, synth.packed()), split_of(points, heldout.packed())
    for name, tables in TABLES.items():
        iou = ceiling(fitting, scoring, vocabulary, tables)
        print(f"| {name} | {float(iou.mean()):.3f} |", flush=True)


if __name__ == "__main__":
    main()
