"""Programs as head sources, and the choice of which heads a program file replaces.

`ProgramSource(program)` is a source (see `models.substitute`): it lowers the program with the
torch back end on the batch's device. The token features of a forward pass are computed once
and shared by every program head of that pass (`FeatureCache`).

A program file written by the synthesizer records each head's measured fidelity in the trailing
comment of its assignment:

    head 2.5 = last(k.period) ?? first  # held-out IoU 0.432, synthesis IoU 0.430, size 12

`recorded(comment)` reads every figure of such a comment (held-out and synthesis IoU, size,
origin); `assignments(loaded)` reads the held-out IoU; `ordered(..., "iou")` sorts the heads by
descending held-out IoU (the protocol's greedy order, docs/measures.md); `choose(...)` takes the
first round(fraction * total heads); `replacements(...)` builds the program sources or a control
on those heads.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..dsl.errors import EvaluationError
from ..dsl.holes import has_holes
from ..dsl.program import LoadedFile, Program
from ..dsl.tokens import Tokens
from ..dsl.torch_backend import BatchFeatures, TorchProgram, batch_features
from .attention import Batch, Source
from .errors import ModelError
from .loading import Shape, model_shape
from .substitute import Head, RandomProgramSource, UniformSource, mean_ablations

ORDERS = ("iou", "file")
CONTROLS = ("uniform", "mean", "random")
_NUMBER = r"([0-9]+(?:\.[0-9]+)?)"
_FIGURES = {
    "heldout_iou": re.compile(rf"held-out IoU {_NUMBER}"),
    "synthesis_iou": re.compile(rf"synthesis IoU {_NUMBER}"),
    "size": re.compile(r"\bsize ([0-9]+)\b"),
}


class FeatureCache:
    """The `BatchFeatures` of the last few batches, keyed by the batch's token list, n and device.

    Every head of one forward pass sees the same `batch.tokens` list (a `Batch` is copied per
    head, its list is not). The cache holds that list, so its id cannot be reused while cached.
    """

    def __init__(self, size: int = 4):
        self.size = size
        self._entries: OrderedDict[tuple, tuple[list, BatchFeatures]] = OrderedDict()

    def features(self, batch: Batch, device: torch.device) -> BatchFeatures:
        """The features of `batch.tokens`, right-padded to `batch.n`, on `device`."""
        key = (id(batch.tokens), batch.n, str(device))
        entry = self._entries.get(key)
        if entry is not None and entry[0] is batch.tokens:
            self._entries.move_to_end(key)
            return entry[1]
        for _, older in self._entries.values():  # keep lowered programs of one batch only
            older.forget()
        features = _features(batch.tokens, batch.n, device)
        self._entries[key] = (batch.tokens, features)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return features


def _features(tokens: Sequence[Tokens], n: int, device: torch.device) -> BatchFeatures:
    if not tokens:
        raise ModelError("a program head needs the batch's tokens (run it through Substitution)")
    if max(len(t) for t in tokens) > n:
        raise ModelError(f"the batch's tokens are longer than its {n} positions")
    return batch_features(tokens, device, n)


FEATURES = FeatureCache()


class ProgramSource:
    """A head replaced by a program's matrices, computed on the model's device and dtype."""

    causal = True  # the torch back end never weights a key after its query

    def __init__(self, program: Program, cache: FeatureCache = FEATURES):
        self.program = program
        self.lowered = TorchProgram(program)
        self.cache = cache

    def matrices(self, batch: Batch, device, dtype) -> torch.Tensor:
        features = self.cache.features(batch, torch.device(device))
        return self.lowered(features, dtype)

    def __repr__(self) -> str:
        return f"ProgramSource({self.program.label!r})"


@dataclass(frozen=True)
class Assignment:
    """One head of a program file: its program and the held-out IoU its comment records."""

    head: Head
    program: Program
    iou: float | None


@dataclass(frozen=True)
class Recorded:
    """The figures a synthesizer's comment records for a head (None where it has none)."""

    heldout_iou: float | None = None
    synthesis_iou: float | None = None
    size: int | None = None
    origin: str | None = None


def recorded(comment: str | None) -> Recorded:
    """The figures of an assignment's trailing comment, e.g.
    `held-out IoU 0.432, synthesis IoU 0.430, size 12, fallback`: its comma-separated parts that
    are figures, and the other parts as the origin (only when some part is a figure)."""
    found: dict[str, float | int] = {}
    rest: list[str] = []
    for part in (comment or "").split(","):
        figure = False
        for name, pattern in _FIGURES.items():
            match = pattern.search(part)
            if match:
                figure = True
                if name not in found:
                    value = match.group(1)
                    found[name] = int(value) if name == "size" else float(value)
        if not figure and part.strip():
            rest.append(part.strip())
    if not found:
        return Recorded()
    return Recorded(**found, origin=", ".join(rest) or None)


def held_out_iou(comment: str | None) -> float | None:
    """The `held-out IoU X` figure of an assignment's trailing comment, if it has one."""
    return recorded(comment).heldout_iou


def assignments(loaded: LoadedFile) -> list[Assignment]:
    """The file's head assignments in file order, with their recorded held-out IoU."""
    programs = loaded.heads
    return [
        Assignment((a.layer, a.head), programs[(a.layer, a.head)], held_out_iou(a.trailing))
        for a in loaded.checked.file.assignments
    ]


def ordered(items: Sequence[Assignment], order: str = "iou") -> list[Assignment]:
    """`file` order, or `iou`: descending held-out IoU (ties keep file order)."""
    if order == "file":
        return list(items)
    if order != "iou":
        raise ModelError(f"unknown order {order!r}: use {' or '.join(ORDERS)}")
    missing = [_name(a.head) for a in items if a.iou is None]
    if missing:
        raise ModelError(
            f"--order iou needs each head's held-out IoU in its comment "
            f"(`# held-out IoU 0.43`); none for head {', '.join(missing)} "
            "(use --order file)"
        )
    return sorted(items, key=lambda a: -a.iou)


def programs_by_iou(loaded: LoadedFile) -> list[Assignment]:
    """The file's head assignments by descending held-out IoU."""
    return ordered(assignments(loaded), "iou")


def head_assignments(loaded: LoadedFile, order: str = "iou") -> list[Assignment]:
    """The file's head assignments in replacement `order`; a one-line error if it has none."""
    items = assignments(loaded)
    if not items:
        raise ModelError(f"{loaded.path}: the file assigns no head (`head L.H = program`)")
    return ordered(items, order)


def substitution_plan(
    model,
    loaded: LoadedFile,
    items: Sequence[Assignment],
    fraction: float,
    control: str | None = None,
    *,
    reference: Sequence[Tokens] = (),
    seed: int = 0,
) -> tuple[dict[Head, Source], list[Head], int]:
    """For the first round(fraction x all the model's heads) of `items` (in their order): their
    {head: source} (programs, or `control`), those heads in order, and how many were asked for
    (more than `len(items)` when the file assigns fewer heads)."""
    shape = model_shape(model)
    check_heads(items, shape, str(loaded.path))
    chosen, wanted = choose(items, fraction, len(shape.heads))
    sources = replacements(chosen, library(loaded), control, model=model, reference=reference,
                           seed=seed)
    return sources, [a.head for a in chosen], wanted


def _name(head: Head) -> str:
    return f"{head[0]}.{head[1]}"


def check_heads(items: Sequence[Assignment], shape: Shape, where: str) -> None:
    """Raise a one-line error for the first head that the model does not have."""
    for a in items:
        layer, head = a.head
        if not (0 <= layer < shape.n_layers and 0 <= head < shape.n_heads):
            raise ModelError(
                f"{where}: head {layer}.{head} does not exist: the model has "
                f"{shape.n_layers} layers x {shape.n_heads} heads"
            )


def check_fraction(fraction: float) -> float:
    """`fraction` itself, or a one-line error unless it lies in [0, 1]."""
    if not 0.0 <= fraction <= 1.0:  # false for NaN too
        raise ModelError(f"the fraction of heads to replace must be in [0, 1] (got {fraction})")
    return fraction


def head_count(fraction: float, total: int) -> int:
    """round(fraction * total), halves rounded up."""
    return math.floor(check_fraction(fraction) * total + 0.5)


def choose(items: Sequence[Assignment], fraction: float, total: int) -> tuple[list, int]:
    """The first round(fraction * total) of `items` (all of them when there are fewer), and
    the number asked for."""
    wanted = head_count(fraction, total)
    return list(items[:wanted]), wanted


def replacements(
    chosen: Sequence[Assignment],
    library: Sequence[Program],
    control: str | None = None,
    *,
    model=None,
    reference: Sequence[Tokens] = (),
    seed: int = 0,
) -> dict[Head, Source]:
    """{head: source} for the chosen heads: their programs, or a control on the same heads.

    `uniform`: causal uniform attention. `mean`: the head's mean output over the `reference`
    rows of `model`. `random`: a program drawn (seeded per head) from `library`, the head's own
    program excluded when the library has another.
    """
    heads = [a.head for a in chosen]
    if control is None:
        return {a.head: _lowered(a.program, f"head {_name(a.head)}") for a in chosen}
    if control == "uniform":
        return {head: UniformSource() for head in heads}
    if control == "mean":
        if model is None or not reference:
            raise ModelError("mean-ablation needs the model and a non-empty reference corpus")
        return mean_ablations(model, reference, heads) if heads else {}
    if control == "random":
        sources = [ProgramSource(p) for p in distinct(library) if not _has_holes(p)]
        out = {}
        for a in chosen:
            others = [s for s in sources if s.program.closed != a.program.closed] or sources
            out[a.head] = RandomProgramSource(others, seed)
        return out
    raise ModelError(f"unknown control {control!r}: use {', '.join(CONTROLS)}")


def _lowered(program: Program, where: str) -> ProgramSource:
    try:
        return ProgramSource(program)
    except EvaluationError as e:
        raise ModelError(f"{where}: {e}") from None


def _has_holes(program: Program) -> bool:
    return has_holes(program.closed)


def library(loaded: LoadedFile) -> list[Program]:
    """The file's programs: its named ones and every head's, each meaning once."""
    return distinct([*loaded.programs.values(), *loaded.heads.values()])


def distinct(programs: Sequence[Program]) -> list[Program]:
    """`programs` without repeats of the same (inlined) expression, first kept."""
    out: list[Program] = []
    for program in programs:
        if all(program.closed != seen.closed for seen in out):
            out.append(program)
    return out
