"""The substitution curve: perplexity as more and more heads are replaced by their programs.

Heads are replaced greedily in descending held-out IoU (docs/measures.md) at each fraction of the
model's heads, and the same heads are also replaced by each control (uniform, mean-ablation,
random program). The result is the `curve.json` of a run directory:

    {"sequences": 40, "tokens": 5123, "baseline_ppl": 5.4,
     "points": [{"fraction": 0.1, "heads": 4, "replaced": [[1, 2], ...],
                 "ppl": {"program": 5.6, "uniform": 6.1, "mean": 5.9, "random": 6.8}}, ...]}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from ..dsl.program import LoadedFile, write_atomic
from ..dsl.tokens import Tokens
from ..models import programs as plan
from ..models.loading import model_shape
from ..models.perplexity import perplexity

FRACTIONS = (0.0, 0.1, 0.25, 0.5, 1.0)
SOURCES = ("program", *plan.CONTROLS)


def substitution_curve(
    model,
    rows: Sequence[Tokens],
    loaded: LoadedFile,
    *,
    fractions: Sequence[float] = FRACTIONS,
    reference: Sequence[Tokens] = (),
    seed: int = 0,
    batch_size: int = 8,
    advance: Callable[[int], None] | None = None,
) -> dict:
    """Perplexity of `model` on `rows` with the first heads of `loaded` (by held-out IoU)
    replaced by their programs and by each control, at every fraction of the model's heads.

    Mean-ablation averages over `reference` (default: `rows`). `advance(1)` is called after
    each perplexity evaluation (1 + fractions above 0 x sources).
    """
    items = plan.head_assignments(loaded)
    shape = model_shape(model)
    plan.check_heads(items, shape, str(loaded.path))
    library = plan.library(loaded)
    sources = {
        name: plan.replacements(items, library, None if name == "program" else name,
                                model=model, reference=list(reference or rows), seed=seed)
        for name in SOURCES
    }
    step = advance or (lambda _: None)

    def ppl(replace: dict) -> tuple[float, int]:
        result = perplexity(model, rows, replace=replace, batch_size=batch_size)
        step(1)
        return result.ppl, result.tokens

    baseline, tokens = ppl({})
    points = []
    for fraction in fractions:
        chosen, _ = plan.choose(items, fraction, len(shape.heads))
        heads = [a.head for a in chosen]
        if heads:
            values = {name: ppl({h: sources[name][h] for h in heads})[0] for name in SOURCES}
        else:
            values = dict.fromkeys(SOURCES, baseline)
        points.append({
            "fraction": float(fraction), "heads": len(heads),
            "replaced": [[int(layer), int(head)] for layer, head in heads], "ppl": values,
        })
    return {"sequences": len(rows), "tokens": tokens, "baseline_ppl": baseline, "points": points}


def evaluations(fractions: Sequence[float], assigned: int, total: int) -> int:
    """How many perplexity evaluations `substitution_curve` runs (for a progress bar)."""
    nonzero = sum(1 for f in fractions if plan.choose(range(assigned), f, total)[0])
    return 1 + nonzero * len(SOURCES)


def write_curve(path: str | Path, curve: dict) -> Path:
    """Write a curve as JSON (atomically)."""
    path = Path(path)
    write_atomic(path, json.dumps(curve, indent=1) + "\n")
    return path
