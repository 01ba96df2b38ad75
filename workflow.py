"""The end-to-end work: extract -> synthesize -> measure the substitution curve -> report.

Each stage is a named function that the command line and tests call; each raises a
`HeadcodeError` subclass for bad input and reports long work to a progress bar.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .dsl.program import LoadedFile, load_file
from .errors import HeadcodeError
from .synth.front import Choice
from .synth.rundir import HeadResult
from .synth.settings import SynthSettings


class RunError(HeadcodeError):
    """A run cannot go on: too little text, a run directory without the settings it needs."""


Say = Callable[[str], None]  # one line of news about a long run
RUN_MAX_TOKENS = 128  # tokens per sequence a run extracts


def _quiet(message: str) -> None:
    pass


def _bars() -> bool:
    return sys.stderr.isatty()


def relative_to(path: Path, run_dir: Path) -> str:
    """`path` as run.json records it: relative to the run directory when inside it (a copied
    run finds its own dump), else absolute."""
    path, run_dir = Path(path).absolute(), Path(run_dir).absolute()
    return str(path.relative_to(run_dir)) if path.is_relative_to(run_dir) else str(path)


def program_assignments(path: Path, order: str) -> tuple[LoadedFile, list]:
    """A program file and its head assignments in replacement `order`."""
    from .models.programs import head_assignments

    loaded = load_file(path)
    return loaded, head_assignments(loaded, order)


# ---------------------------------------------------------------- 1. extract


def extract_for_run(model: str | None, text: str, out: Path, sequences: int, max_tokens: int,
                    device: str, loaded: tuple | None = None) -> None:
    """The attention a run needs, extracted into `out` (with the model and tokenizer `loaded`,
    if given, else loaded here)."""
    from .models.corpus import load_corpus
    from .models.extract import extract
    from .models.loading import load_model
    from .models.tokenizer import load_tokenizer

    texts = load_corpus(text, n=sequences)
    if len(texts) < sequences:
        raise RunError(f"{text} holds {len(texts)} paragraphs; the run needs {sequences}")
    lm, tok = loaded or (load_model(model, device=device), load_tokenizer(model))
    extract(lm, tok, texts, out, max_tokens=max_tokens, progress=_bars(),
            extra={"text": str(text)})


# ---------------------------------------------------------------- 2. synthesize


def synthesize_run(out: Path, model: str | None, text: str | None, dump: Path | None,
                   heads: str, proposer: str, settings: SynthSettings, max_tokens: int,
                   device: str, jobs: int, loaded: tuple | None = None) -> list[HeadResult]:
    """Extract (unless `dump` is given), synthesize every head, write the library report.

    `out` must exist. `loaded`: the model and tokenizer when the caller has them already."""
    from .models.dump import open_dump
    from .models.heads import parse_heads
    from .progress import progress_bar
    from .synth.pipeline import library_report, synthesize
    from .synth.rundir import RunDir

    if dump is None:
        dump = out / "dump"
        if not (dump / "meta.json").exists():
            extract_for_run(model, text, dump, settings.n_synth + settings.n_heldout,
                            max_tokens, device, loaded)
    attention = open_dump(dump)
    chosen = parse_heads(heads, attention.n_layers, attention.n_heads)
    run = RunDir(out, choice=settings.choice, settings={
        "model": model or attention.meta.get("model"), "text": text,
        "dump": relative_to(dump, out), "heads": heads, "proposer": proposer,
        "synth_sequences": settings.n_synth, "heldout_sequences": settings.n_heldout,
        "max_tokens": max_tokens,
    })
    with progress_bar(len(chosen), "synth", _bars()) as bar:
        results = synthesize(attention, chosen, run, settings, jobs=jobs, say=bar.say,
                             advance=bar.advance)
    report = library_report(attention, results, settings)
    (out / "library.json").write_text(json.dumps(report, indent=2) + "\n")
    return results


def iou_summary(results: list[HeadResult]) -> str:
    """`N heads: mean held-out IoU: explanations X (mean size S), surrogates Y (mean size T)`."""
    from .synth.pipeline import mean_heldout

    def mean_size(kind: str) -> float:
        return sum(getattr(r, kind).size for r in results) / max(len(results), 1)

    return (f"{len(results)} heads: mean held-out IoU: explanations "
            f"{mean_heldout(results, 'explanation'):.3f} (mean size "
            f"{mean_size('explanation'):.1f}), surrogates {mean_heldout(results, 'surrogate'):.3f} "
            f"(mean size {mean_size('surrogate'):.1f})")


# ---------------------------------------------------------------- 3. substitution curve


def measure_curve(out: Path, lm, tok, name: str, text: str, texts: list[str],
                  seed: int) -> dict:
    """The substitution curve of OUT/programs.hc (and OUT/surrogates.hc, when the run has one)
    on `texts`, written to OUT/curve.json."""
    from .eval.curve import FRACTIONS, evaluations, substitution_curve, write_curve
    from .eval.perplexity import sequences
    from .models.loading import model_shape, position_limit
    from .progress import progress_bar

    loaded, items = program_assignments(out / "programs.hc", "iou")
    surrogates, others = program_assignments(out / "surrogates.hc", "iou") \
        if (out / "surrogates.hc").is_file() else (None, [])
    rows = sequences(tok, texts, limit=position_limit(lm))
    if not rows:
        raise RunError("no text left for the perplexity curve")
    total = evaluations(FRACTIONS, len(items), len(model_shape(lm).heads), len(others))
    with progress_bar(total, "perplexity", _bars()) as bar:
        curve = substitution_curve(lm, rows, loaded, surrogates, seed=seed, advance=bar.advance)
    curve = {"model": name, "text": text, **curve}
    write_curve(out / "curve.json", curve)
    return curve


def curve_for_run(run_dir: Path, text: str | None, n: int, seed: int, device: str) -> dict:
    """Measure a run's substitution curve with the model and text its run.json names (`text`:
    another text, all of whose paragraphs may be used)."""
    from .eval.report import read_settings
    from .models.corpus import load_corpus
    from .models.loading import load_model
    from .models.tokenizer import load_tokenizer

    settings = read_settings(run_dir)
    if not settings:
        raise RunError(f"{run_dir}: no run.json (is it a `headcode synth` run?)")
    name = settings.get("model")
    if not name:
        raise RunError(f"{run_dir}/run.json names no model")
    used = 0 if text is not None else (settings.get("synth_sequences", 0)
                                       + settings.get("heldout_sequences", 0))
    text = text or settings.get("text")
    if not text:
        raise RunError(f"{run_dir}/run.json names no text: give --text")
    texts = load_corpus(text, n=used + n)[used:]
    if not texts:
        raise RunError(f"{text} has no paragraphs after the {used} the run used: give --text")
    lm = load_model(name, device=device)
    return measure_curve(run_dir, lm, load_tokenizer(name), name, text, texts, seed)


def quarter_summary(curve: dict) -> str | None:
    """The perplexity increase at 25% of heads replaced, by explanations and by surrogates."""
    quarter = next((p for p in curve["points"] if p["fraction"] == 0.25), None)
    if quarter is None:
        return None
    base = curve["baseline_ppl"]
    by = [f"{quarter['ppl'][k]:.2f} ({quarter['ppl'][k] / base - 1:+.1%}) with {label}"
          for k, label in (("program", "explanations"), ("surrogate", "surrogates"))
          if k in quarter["ppl"]]
    return (f"perplexity {base:.2f} -> {', '.join(by)} at the 25% point: "
            f"{quarter['heads']} heads replaced")


# ---------------------------------------------------------------- 4. report


def write_report(run_dir: Path, out: Path | None = None, example: int | None = None) -> Path:
    """The run's report (report.html, report.md, figures/), with a bar over its figures; the
    page's path."""
    from contextlib import ExitStack

    from .eval.report import build_report
    from .progress import progress_bar

    with ExitStack() as stack:
        bars: list = []  # opened at the first figure, when the number of heads is known

        def advance(done: int, total: int) -> None:
            if not bars:
                bars.append(stack.enter_context(progress_bar(total, "figures", _bars())))
            bars[0].advance(1)

        return build_report(run_dir, out, example=example, progress=advance)


# ---------------------------------------------------------------- all four: the demo


@dataclass
class DemoSettings:
    """What the demo explains, on what text, and how (one set of defaults)."""

    out: Path = Path("runs/demo")
    model: str | None = None  # default: the bundled demo model
    text: str | None = None  # default: stories sampled from the model
    heads: str = "all"
    synth_sequences: int = SynthSettings.n_synth
    heldout_sequences: int = SynthSettings.n_heldout
    ppl_sequences: int = 100
    max_tokens: int = RUN_MAX_TOKENS
    seed: int = 0
    jobs: int = 1
    choice: Choice = field(default_factory=Choice)
    device: str = "auto"


@dataclass
class DemoResult:
    results: list[HeadResult]
    curve: dict[str, Any]
    page: Path
    seconds: float


def demo(settings: DemoSettings, say: Say = _quiet) -> DemoResult:
    """Explain every head of a model end to end into `settings.out` (which must exist):
    corpus, extract, synthesize, substitution curve, report."""
    from .eval.report import build_report
    from .models.corpus import load_corpus
    from .models.demo import demo_model_dir, write_corpus
    from .models.heads import parse_heads
    from .models.loading import load_model, model_shape
    from .models.sample import sample_texts
    from .models.tokenizer import load_tokenizer

    start = time.perf_counter()
    s, out = settings, settings.out
    name = s.model or str(demo_model_dir())
    used = s.synth_sequences + s.heldout_sequences
    wanted = used + s.ppl_sequences
    lm = load_model(name, device=s.device)
    tok = load_tokenizer(name)
    shape = model_shape(lm)
    parse_heads(s.heads, shape.n_layers, shape.n_heads)  # a bad head fails before any work
    text = s.text
    if text is None:
        say(f"[1/5] sampling {wanted} stories from {name} (seed {s.seed})")
        texts = sample_texts(lm, tok, wanted, max_new_tokens=s.max_tokens, seed=s.seed)
        text = str(write_corpus(out / "corpus.txt", texts))
    else:
        say(f"[1/5] reading {text}")
        texts = load_corpus(text, n=wanted)
        if len(texts) <= used:
            raise RunError(f"{text} holds {len(texts)} paragraphs; the demo needs more than "
                           f"{used} (synthesis + held-out + perplexity)")
    say("[2/5] extracting attention, [3/5] synthesizing a program per head")
    synth = SynthSettings(n_synth=s.synth_sequences, n_heldout=s.heldout_sequences,
                          choice=s.choice)
    results = synthesize_run(out, name, text, None, s.heads, "enum", synth, s.max_tokens,
                             s.device, s.jobs, loaded=(lm, tok))
    say("[4/5] perplexity with heads replaced by explanations, surrogates and controls")
    curve = measure_curve(out, lm, tok, name, text, texts[used:], s.seed)
    say("[5/5] writing the report")
    page = build_report(out)
    return DemoResult(results, curve, page, time.perf_counter() - start)
