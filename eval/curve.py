"""The substitution curve: perplexity as more and more heads are replaced by their programs.

Heads are replaced greedily in descending held-out IoU (docs/measures.md) at each fraction of the
model's heads: by their explanations (`programs.hc`), by the controls on the same heads (uniform,
mean-ablation, random program) and, when given, by their surrogates (`surrogates.hc`, the
best-fitting programs), which replace heads in the surrogates' own held-out-IoU order, as
`headcode perplexity --programs surrogates.hc --replace F` would. The result is the `curve.json`
of a run directory:

    {"sequences": 40, "tokens": 5123, "baseline_ppl": 5.4,
     "points": [{"fraction": 0.1, "heads": 4, "replaced": [[1, 2], ...],
                 "replaced_surrogate": [[1, 2], ...],
                 "ppl": {"program": 5.6, "surrogate": 5.5, "uniform": 6.1, "mean": 5.9,
                         "random": 6.8}}, ...]}

"program" is the explanations' perplexity and "replaced" their heads (the controls replace the
same heads); a curve measured without surrogates has no "surrogate" or "replaced_surrogate".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from ..dsl.program import LoadedFile
from ..dsl.tokens import Tokens
from ..files import write_atomic
from ..models import programs as plan
from ..models.loading import model_shape
from .perplexity import perplexity

FRACTIONS = (0.0, 0.1, 0.25, 0.5, 1.0)
SOURCES = ("program", *plan.CONTROLS)
SURROGATE = "surrogate"


def substitution_curve(
    model,
    rows: Sequence[Tokens],
    loaded: LoadedFile,
    surrogates: LoadedFile | None = None,
    *,
    fractions: Sequence[float] = FRACTIONS,
    reference: Sequence[Tokens] = (),
    seed: int = 0,
    batch_size: int = 8,
    advance: Callable[[int], None] | None = None,
) -> dict:
    """Perplexity of `model` on `rows` with the first heads of `loaded` (by held-out IoU)
    replaced by their programs and by each control, and the first heads of `surrogates` (by
    their own held-out IoU) by theirs, at every fraction of the model's heads.

    Mean-ablation averages over `reference` (default: `rows`). `advance(1)` is called after
    each perplexity evaluation (see `evaluations`).
    """
    shape = model_shape(model)
    items = _checked(loaded, shape)
    library = plan.library(loaded)
    sources = {
        name: plan.replacements(items, library, None if name == "program" else name,
                                model=model, reference=list(reference or rows), seed=seed)
        for name in SOURCES
    }
    others = _checked(surrogates, shape) if surrogates is not None else []
    surrogate_sources = plan.replacements(others, plan.library(surrogates)) if others else {}
    step = advance or (lambda _: None)

    def ppl(replace: dict) -> tuple[float, int]:
        result = perplexity(model, rows, replace=replace, batch_size=batch_size)
        step(1)
        return result.ppl, result.tokens

    baseline, tokens = ppl({})
    points = []
    for fraction in fractions:
        heads = _heads(items, fraction, len(shape.heads))
        values = {name: ppl({h: sources[name][h] for h in heads})[0] if heads else baseline
                  for name in SOURCES}
        point = {"fraction": float(fraction), "heads": len(heads), "replaced": _pairs(heads),
                 "ppl": values}
        if surrogates is not None:
            chosen = _heads(others, fraction, len(shape.heads))
            values[SURROGATE] = (ppl({h: surrogate_sources[h] for h in chosen})[0] if chosen
                                 else baseline)
            point["replaced_surrogate"] = _pairs(chosen)
        points.append(point)
    return {"sequences": len(rows), "tokens": tokens, "baseline_ppl": baseline, "points": points}


def _checked(loaded: LoadedFile, shape) -> list[plan.Assignment]:
    """The file's head assignments by held-out IoU; one-line errors for none or unknown heads."""
    items = plan.head_assignments(loaded)
    plan.check_heads(items, shape, str(loaded.path))
    return items


def _heads(items: Sequence[plan.Assignment], fraction: float, total: int) -> list:
    return [a.head for a in plan.choose(items, fraction, total)[0]]


def _pairs(heads: list) -> list[list[int]]:
    return [[int(layer), int(head)] for layer, head in heads]


def evaluations(fractions: Sequence[float], assigned: int, total: int,
                surrogates: int = 0) -> int:
    """How many perplexity evaluations `substitution_curve` runs (for a progress bar), with
    `assigned` explanation heads and `surrogates` surrogate heads (0: no surrogates)."""
    def nonzero(count: int) -> int:
        return sum(1 for f in fractions if plan.choose(range(count), f, total)[0])

    return 1 + nonzero(assigned) * len(SOURCES) + nonzero(surrogates)


def write_curve(path: str | Path, curve: dict) -> Path:
    """Write a curve as JSON (atomically)."""
    path = Path(path)
    write_atomic(path, json.dumps(curve, indent=1) + "\n")
    return path
