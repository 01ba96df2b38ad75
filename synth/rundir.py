"""A synthesis run directory: results written per head as they finish, atomically, so that a
run killed at any moment continues where it stopped.

    RUN_DIR/run.json        the settings; a resumed run must use the same
    RUN_DIR/results.jsonl   one line per finished head
    RUN_DIR/programs.hc     one head assignment per head, IoU and size in a comment
    RUN_DIR/explanations.py the emitted Python of programs.hc (PROGRAMS, HEADS)
    RUN_DIR/library.json    the library and the library-constrained assignment curve
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from headcode.dsl.emitter import emit
from headcode.dsl.errors import HeadcodeError
from headcode.dsl.program import load_file, write_atomic


@dataclass(frozen=True)
class HeadResult:
    """The program kept for one head and how well it explains the head."""

    layer: int
    head: int
    program: str
    synthesis_iou: float
    heldout_iou: float
    size: int
    origin: str
    candidates: int

    @property
    def key(self) -> tuple[int, int]:
        return (self.layer, self.head)

    def comment(self) -> str:
        return (f"held-out IoU {self.heldout_iou:.3f}, synthesis IoU {self.synthesis_iou:.3f}, "
                f"size {self.size}, {self.origin}")


class RunDir:
    """The files of one run; every write replaces a whole file atomically."""

    def __init__(self, path: str | Path, settings: dict):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise HeadcodeError(f"{self.path}: exists and is not a directory")
        self.path.mkdir(parents=True, exist_ok=True)
        saved = self.path / "run.json"
        if saved.exists():
            before = json.loads(saved.read_text())
            changed = sorted(k for k in set(before) | set(settings)
                             if before.get(k) != settings.get(k))
            if changed:
                raise HeadcodeError(
                    f"{self.path} holds a run with other settings ({', '.join(changed)}): "
                    "use the same command to continue it, or another --out")
        else:
            write_atomic(saved, json.dumps(settings, indent=2) + "\n")
        self.settings = settings

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
                result = HeadResult(**json.loads(line))
                out[result.key] = result
        return out

    def record(self, new: list[HeadResult]) -> None:
        """Add finished heads (replacing earlier results of the same heads)."""
        results = self.results()
        results.update({r.key: r for r in new})
        lines = [json.dumps(asdict(r)) for _, r in sorted(results.items())]
        write_atomic(self.results_path, "\n".join(lines) + "\n")

    def write_programs(self) -> Path:
        """programs.hc and explanations.py from the results so far."""
        results = self.results()
        model = self.settings.get("model", "")
        lines = [f"# Head programs for {model}, synthesised by headcode.",
                 "# Each comment gives the program's soft IoU with the head's real attention on "
                 "held-out and synthesis text.", ""]
        for _, r in sorted(results.items()):
            lines.append(f"head {r.layer}.{r.head} = {r.program}  # {r.comment()}")
        programs = self.path / "programs.hc"
        write_atomic(programs, "\n".join(lines) + "\n")
        write_atomic(self.path / "explanations.py", emit(load_file(programs), "programs.hc"))
        return programs
