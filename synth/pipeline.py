"""A synthesis run: propose candidates for every head, re-rank them on held-out text into each
head's size/fidelity front, choose its explanation and surrogate from the front, and write each
head's result as soon as its group finishes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from headcode.dsl.holes import has_holes
from headcode.dsl.interpreter import run as run_program
from headcode.dsl.parser import parse_expr
from headcode.dsl.printer import show
from headcode.dsl.program import Program

from ..scoring import score_corpus
from .data import Sequences, split_dump
from .fill import fit_holes
from .front import Point, pareto_front
from .library import constrained_curve, deduplicate
from .rundir import HeadResult, RunDir
from .search import Candidate, propose
from .settings import SynthSettings

# What a head with no candidate at all gets (an LLM-only run whose replies all failed): the
# best of these by synthesis IoU, with origin `baseline`.
BASELINES = ("first", "self", "prev(1)", "causal")


HISTORY = 12  # the best candidates so far shown to the LLM proposer (its prompt style picks)


def _llm_candidates(settings: SynthSettings, synth: Sequences, head: tuple[int, int],
                    column: int, corpus, known: list[Candidate]) -> list[Candidate]:
    """Programs from the LLM proposer, holes fitted, scored on the synthesis sequences."""
    from .llm.views import HeadView, Scored, worst_rows

    k = settings.llm_sequences
    view = HeadView([t.texts for t in synth.tokens[:k]], synth.matrices(head, k),
                    layer=head[0], head=head[1])
    history = []
    for c in sorted(known, key=lambda c: -c.iou)[:HISTORY]:
        predicted = [run_program(c.expr, t.texts, t.ids, t.special) for t in synth.tokens[:k]]
        history.append(Scored(Program(c.expr), c.iou, worst_rows(view, predicted)))
    out, complete = [], []
    for program in settings.llm.propose(view, history):
        if not has_holes(program.closed):
            complete.append(program.closed)
        elif (fitted := fit_holes(program.closed, corpus, column)) is not None:
            out.append(Candidate(fitted[0], fitted[1], "llm"))
    if complete:  # programs without holes: only scored (fitting finds nothing to fill)
        scores = score_corpus(complete, corpus)[:, column]
        out += [Candidate(e, float(iou), "llm") for e, iou in zip(complete, scores)]
    return out


def _baselines(corpus, columns: list[int]) -> list[Candidate]:
    """For each head column, the best of `BASELINES` on the synthesis sequences."""
    exprs = [parse_expr(text) for text in BASELINES]
    scores = score_corpus(exprs, corpus)
    best = [int(scores[:, column].argmax()) for column in columns]
    return [Candidate(exprs[b], float(scores[b, column]), "baseline")
            for b, column in zip(best, columns)]


def synthesize_group(synth: Sequences, heldout: Sequences, settings: SynthSettings,
                     say: Callable[[str], None]) -> list[HeadResult]:
    """Results for the heads of one group (the heads of `synth` and `heldout`)."""
    heads = synth.heads
    corpus = synth.corpus()
    candidates: list[list[Candidate]] = [[] for _ in heads]
    if "enum" in settings.proposers:
        candidates = propose(synth.packed(), corpus, steps=settings.steps, progress=say,
                             max_selectors=settings.max_selectors, seconds=settings.seconds)
    if "llm" in settings.proposers:
        for column, head in enumerate(heads):
            say(f"asking the LLM about head {head[0]}.{head[1]}")
            candidates[column] += _llm_candidates(settings, synth, head, column, corpus,
                                                  candidates[column])
    empty = [column for column, found in enumerate(candidates) if not found]
    if empty:
        for column, candidate in zip(empty, _baselines(corpus, empty)):
            head = heads[column]
            say(f"head {head[0]}.{head[1]}: no candidate; baseline {show(candidate.expr)}")
            candidates[column].append(candidate)
    say("re-ranking on held-out sequences")
    pool = list(dict.fromkeys(c.expr for cs in candidates for c in cs))
    held = score_corpus(pool, heldout.corpus()) if pool else np.zeros((0, len(heads)))
    index = {expr: i for i, expr in enumerate(pool)}
    results = []
    for column, head in enumerate(heads):
        points, trees = {}, {}
        for c in candidates[column]:
            point = Point(show(c.expr), c.size, round(c.iou, 6),
                          round(float(held[index[c.expr], column]), 6), c.origin)
            points.setdefault(point.program, point)
            trees.setdefault(point.program, c.expr)
        if points:
            results.append(HeadResult.choose(head[0], head[1], pareto_front(points.values()),
                                             settings.choice, len(candidates[column]), trees))
    return results


def _group_in_worker(dump_path: str, group: list[tuple[int, int]], settings: SynthSettings
                     ) -> list[HeadResult]:
    """One group of heads in a worker process (one thread each: the workers share the cores)."""
    import torch

    from headcode.models.dump import open_dump

    torch.set_num_threads(1)
    synth, heldout = split_dump(open_dump(dump_path), group, settings.n_synth, settings.n_heldout)
    return synthesize_group(synth, heldout, settings, lambda message: None)


def synthesize(dump, heads: list[tuple[int, int]], rundir: RunDir, settings: SynthSettings,
               jobs: int = 1, say: Callable[[str], None] = lambda m: None,
               advance: Callable[[int], None] = lambda k: None) -> list[HeadResult]:
    """Explain every head of `heads` not yet finished in `rundir`; returns all results.

    Heads go in groups of `settings.group`; each group's results are saved when it finishes,
    so an interrupted run loses at most the groups in progress. The program files are written
    at the end, also of an interrupted run, from every finished head (chosen again by the
    run's current choice). With `jobs` > 1, groups run in that many worker processes.
    """
    done = rundir.results()
    pending = [h for h in heads if h not in done]
    advance(len(heads) - len(pending))
    groups = [pending[i:i + settings.group] for i in range(0, len(pending), settings.group)]
    try:
        _search(dump, groups, rundir, settings, jobs, say, advance)
    finally:
        if rundir.results():
            rundir.write_programs()
    return [r for key, r in sorted(rundir.results().items()) if key in set(heads)]


def _search(dump, groups: list[list[tuple[int, int]]], rundir: RunDir, settings: SynthSettings,
            jobs: int, say: Callable[[str], None], advance: Callable[[int], None]) -> None:
    """Synthesize the groups of heads in turn (or in `jobs` workers), recording each group's
    results as it finishes."""

    def finish(results: list[HeadResult], group: list) -> None:
        rundir.record(results)
        advance(len(group))

    if jobs > 1 and len(groups) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        say(f"{len(groups)} groups of heads on {jobs} workers")
        # spawn, not fork: a forked child of a process whose torch or Numba thread pools have
        # started can hang
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_group_in_worker, str(dump.path), g, settings): g
                       for g in groups}
            for future in as_completed(futures):
                finish(future.result(), futures[future])
    elif groups:
        pending = [head for group in groups for head in group]
        synth_all, held_all = split_dump(dump, pending, settings.n_synth, settings.n_heldout)
        for group in groups:
            say(f"heads {', '.join(f'{a}.{b}' for a, b in group)}")
            finish(synthesize_group(synth_all.select(group), held_all.select(group), settings,
                                    say), group)


def library_report(dump, results: list[HeadResult], settings: SynthSettings,
                   budgets=(1, 2, 4, 8, 16, 32)) -> dict:
    """The run's library (kept programs, deduplicated up to equivalence) and the mean held-out
    IoU when each head takes the best of at most N library programs."""
    from headcode.dsl.parser import parse_expr

    heads = [r.key for r in results]
    synth, heldout = split_dump(dump, heads, settings.n_synth, settings.n_heldout)
    exprs = deduplicate([parse_expr(r.explanation.program) for r in results], synth.packed())
    scores = score_corpus(exprs, heldout.corpus())
    curve = constrained_curve(scores, list(budgets))
    return {
        "library": [show(e) for e in exprs],
        "heads": [f"{a}.{b}" for a, b in heads],
        "unconstrained_mean_iou": mean_heldout(results, "explanation"),
        "curve": curve,
    }



def mean_heldout(results: list[HeadResult], kind: str) -> float:
    """The mean held-out IoU of the heads' explanations or surrogates (`kind`)."""
    if not results:
        return 0.0
    return float(np.mean([getattr(r, kind).heldout_iou for r in results]))
