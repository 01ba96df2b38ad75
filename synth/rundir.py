"""A synthesis run directory: results written per head as they finish, atomically, so that a
run killed at any moment continues where it stopped.

    RUN_DIR/run.json        the search settings; a resumed run must use the same
    RUN_DIR/results.jsonl   one line per finished head: its front, explanation and surrogate
    RUN_DIR/programs.hc     each head's explanation (the short program), its gloss above it,
                            IoU and size in a comment
    RUN_DIR/explanations.py the emitted Python of programs.hc (PROGRAMS, HEADS)
    RUN_DIR/surrogates.hc   each head's surrogate (the best-fitting program of any size)
    RUN_DIR/surrogates.py   the emitted Python of surrogates.hc
    RUN_DIR/library.json    the library and the library-constrained assignment curve

How the explanation and surrogate are chosen from a front (`Choice`) is not a search setting:
a finished run re-chooses with the current one and rewrites the program files.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from headcode.dsl import nodes as n
from headcode.dsl.checker import check_file
from headcode.dsl.emitter import emit
from headcode.dsl.gloss import gloss
from headcode.dsl.parser import parse_expr
from headcode.dsl.program import LoadedFile
from headcode.errors import HeadcodeError
from headcode.files import write_atomic

from .front import Choice, Point, explanation, surrogate

PROGRAM_FILES = {"explanation": ("programs.hc", "explanations.py"),
                 "surrogate": ("surrogates.hc", "surrogates.py")}


@dataclass(frozen=True)
class HeadResult:
    """One head's front and the two programs chosen from it: the explanation (short) and the
    surrogate (best-fitting)."""

    layer: int
    head: int
    front: tuple[Point, ...]
    explanation: Point
    surrogate: Point
    candidates: int
    # the syntax trees of the two programs where the search still has them (not recorded):
    # writing the program files then needs no parsing
    trees: dict[str, n.Node] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> tuple[int, int]:
        return (self.layer, self.head)

    @classmethod
    def choose(cls, layer: int, head: int, front: list[Point], choice: Choice,
               candidates: int, trees: dict[str, n.Node] | None = None) -> HeadResult:
        """The explanation and surrogate of `front`; `trees` maps program texts to trees."""
        chosen = (explanation(front, choice), surrogate(front, choice))
        kept = {p.program: trees[p.program] for p in chosen if trees and p.program in trees}
        return cls(layer, head, tuple(front), *chosen, candidates, kept)

    def to_json(self) -> dict:
        return {"layer": self.layer, "head": self.head,
                "front": [asdict(p) for p in self.front],
                "explanation": asdict(self.explanation), "surrogate": asdict(self.surrogate),
                "candidates": self.candidates}

    @classmethod
    def from_json(cls, record: dict, choice: Choice) -> HeadResult:
        """A recorded head, its two programs chosen again from its front by `choice`."""
        front = [Point(**p) for p in record["front"]]
        return cls.choose(record["layer"], record["head"], front, choice, record["candidates"])


class RunDir:
    """The files of one run; every write replaces a whole file atomically."""

    def __init__(self, path: str | Path, settings: dict, choice: Choice = Choice()):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise HeadcodeError(f"{self.path}: exists and is not a directory")
        self.path.mkdir(parents=True, exist_ok=True)
        saved = self.path / "run.json"
        record = {**settings, "choice": asdict(choice)}
        before = json.loads(saved.read_text()) if saved.exists() else None
        if before is not None:
            changed = sorted(k for k in set(before) | set(settings)
                             if k != "choice" and before.get(k) != settings.get(k))
            if changed:
                raise HeadcodeError(
                    f"{self.path} holds a run with other settings ({', '.join(changed)}): "
                    "use the same command to continue it, or another --out")
        if record != before:  # reading a run writes nothing
            write_atomic(saved, json.dumps(record, indent=2) + "\n")
        self.settings = settings
        self.choice = choice
        self.trees: dict[str, n.Node] = {}  # program text to tree, from recorded results

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """A run written before, with the choice it was written with (read only)."""
        saved = Path(path) / "run.json"
        if not saved.is_file():
            raise HeadcodeError(f"{path}: not a synthesis run (no run.json)")
        try:
            settings = json.loads(saved.read_text())
            choice = Choice(**settings.pop("choice", {}))
        except (ValueError, TypeError) as e:
            raise HeadcodeError(f"{saved}: not a readable run.json ({e})") from None
        return cls(path, settings, choice)

    @property
    def results_path(self) -> Path:
        return self.path / "results.jsonl"

    def results(self) -> dict[tuple[int, int], HeadResult]:
        """The heads finished so far."""
        if not self.results_path.exists():
            return {}
        out = {}
        for line in self.results_path.read_text().splitlines():
            if line.strip():
                try:
                    result = HeadResult.from_json(json.loads(line), self.choice)
                except (ValueError, KeyError, TypeError) as e:
                    raise HeadcodeError(
                        f"{self.results_path}: not a readable list of head results ({e!r}; "
                        "written by an older headcode? start a new run)") from None
                out[result.key] = result
        return out

    def record(self, new: list[HeadResult]) -> None:
        """Add finished heads (replacing earlier results of the same heads)."""
        for r in new:
            self.trees.update(r.trees)
        results = self.results()
        results.update({r.key: r for r in new})
        lines = [json.dumps(r.to_json()) for _, r in sorted(results.items())]
        write_atomic(self.results_path, "\n".join(lines) + "\n")

    def write_programs(self) -> Path:
        """programs.hc and explanations.py (the explanations), surrogates.hc and
        surrogates.py (the surrogates), from the results so far; returns programs.hc.
        Each file's programs are parsed once, for both the glosses and the emitted module."""
        results = [r for _, r in sorted(self.results().items())]
        model = self.settings.get("model", "")
        for kind, (program_name, module_name) in PROGRAM_FILES.items():
            points = [(r, getattr(r, kind)) for r in results]
            path = self.path / program_name
            loaded = LoadedFile(str(path), check_file(n.ProgramFile(tuple(
                n.Assignment(r.layer, r.head, self._tree(point.program)) for r, point in points))))
            lines = [f"# Head {kind}s for {model}, synthesised by headcode.",
                     "# Above each head, its program in plain English; beside it, the program's "
                     "soft IoU with the head's real", "# attention on held-out and synthesis "
                     "text, and its size in syntax nodes.", ""]
            for (r, point), assignment in zip(points, loaded.checked.file.assignments):
                lines.append(f"# {gloss(assignment.expr)}")
                lines.append(f"head {r.layer}.{r.head} = {point.program}  # {point.comment()}")
            write_atomic(path, "\n".join(lines) + "\n")
            write_atomic(self.path / module_name, emit(loaded, program_name))
        return self.path / "programs.hc"

    def _tree(self, program: str) -> n.Node:
        """A recorded program's tree: kept from the search, else parsed (and kept)."""
        if program not in self.trees:
            self.trees[program] = parse_expr(program)
        return self.trees[program]
