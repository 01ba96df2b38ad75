"""Soft IoU of many programs against many heads: on an encoded corpus or streamed from a dump.

    corpus = encode_corpus([(features, attention), ...])    # once
    ious = score_corpus(programs, corpus)                   # (programs, heads), many times

`score` streams a memory-mapped dump chunk by chunk, so a dump larger than memory works.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numba
import numpy as np

from ...dsl import nodes as n
from ...dsl.errors import EvaluationError
from ...dsl.program import Program
from .columns import Interner
from .compiler import CompiledPrograms, compile_programs
from .corpus import ScoringCorpus, iter_dump_corpora
from .kernel import score_block

BLOCK_BYTES = 1 << 20  # attention of a block of sequences: stays in a core's cache
CHUNK_BYTES = 16 << 20  # attention of a chunk of a dump encoded at once (memory is reused)
Progress = Callable[[int], None]  # called with the number of sequences just scored


def _compiled(programs, interner: Interner) -> CompiledPrograms:
    if isinstance(programs, CompiledPrograms):
        if programs.interner is not interner:
            raise EvaluationError("programs were compiled for another corpus's string table")
        return programs
    return compile_programs(list(programs), interner)


def _require_ids(compiled: CompiledPrograms, has_ids: bool) -> None:
    if not has_ids and compiled.uses_id.any():
        raise EvaluationError("a program uses the `id` feature: the corpus has no token ids")


def block_ious(
    programs: list[Program | n.Node] | CompiledPrograms,
    corpus: ScoringCorpus,
    block_bytes: int = BLOCK_BYTES,
    threads: int | None = None,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """(first, last, IoU (programs, heads, last - first)) for consecutive blocks of sequences.

    Blocks are scored on `threads` threads (default: Numba's thread count) and yielded in order.
    """
    compiled = _compiled(programs, corpus.interner)
    _require_ids(compiled, corpus.has_ids)
    blocks = corpus.block_starts(block_bytes)

    def run(first: int, last: int) -> tuple[int, int, np.ndarray]:
        out = np.empty((len(compiled), corpus.n_heads, last - first), dtype=np.float64)
        if len(compiled):
            score_block(
                compiled.code, compiled.starts, compiled.reals, compiled.options,
                compiled.n_slots, corpus.columns, corpus.previous, corpus.token_starts,
                corpus.attention, corpus.entry_starts, corpus.attention_sums, first, last, out,
            )
        return int(first), int(last), out

    threads = threads or numba.get_num_threads()
    pending: deque = deque()  # at most 2 blocks per thread in flight: bounded memory
    with ThreadPoolExecutor(threads) as pool:
        for first, last in zip(blocks[:-1], blocks[1:]):
            pending.append(pool.submit(run, first, last))
            if len(pending) >= 2 * threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def sequence_ious(
    programs: list[Program | n.Node] | CompiledPrograms,
    corpus: ScoringCorpus,
    progress: Progress | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """IoU of every program with every head on every sequence: (programs, heads, sequences)."""
    out = None
    for first, last, ious in block_ious(programs, corpus, threads=threads):
        if out is None:
            out = np.empty(ious.shape[:2] + (len(corpus),), dtype=np.float64)
        out[:, :, first:last] = ious
        if progress is not None:
            progress(last - first)
    return out


def _sums(compiled: CompiledPrograms, corpus: ScoringCorpus, progress: Progress | None,
          threads: int | None = None) -> np.ndarray:
    """Sum over the corpus's sequences of each program's IoU with each head."""
    total = np.zeros((len(compiled), corpus.n_heads), dtype=np.float64)
    for first, last, ious in block_ious(compiled, corpus, threads=threads):
        total += ious.sum(axis=2)
        if progress is not None:
            progress(last - first)
    return total


def score_corpus(
    programs: list[Program | n.Node] | CompiledPrograms,
    corpus: ScoringCorpus,
    progress: Progress | None = None,
    threads: int | None = None,
) -> np.ndarray:
    """Each head's score for each program, the mean IoU over sequences: (programs, heads)."""
    compiled = _compiled(programs, corpus.interner)
    return _sums(compiled, corpus, progress, threads) / len(corpus)


def parse_heads(spec: str | None, n_layers: int, n_heads: int) -> list[tuple[int, int]]:
    """`all` (or None) or `L.H,L.H,...` as (layer, head) pairs, checked against the model."""
    every = [(layer, head) for layer in range(n_layers) for head in range(n_heads)]
    if spec is None or spec.strip() == "all":
        return every
    heads = []
    for part in spec.split(","):
        layer, dot, head = part.strip().partition(".")
        if not (dot and layer.isdigit() and head.isdigit()):
            raise EvaluationError(f"bad head {part.strip()!r}: write LAYER.HEAD, e.g. 2.5, or all")
        key = (int(layer), int(head))
        if not (key[0] < n_layers and key[1] < n_heads):
            raise EvaluationError(
                f"head {key[0]}.{key[1]} is out of range: the model has {n_layers} layers "
                f"(0-{n_layers - 1}) of {n_heads} heads (0-{n_heads - 1})"
            )
        if key not in heads:
            heads.append(key)
    return heads


def score(
    programs: list[Program | n.Node],
    dump,
    heads: list[tuple[int, int]] | None = None,
    progress: Progress | None = None,
    chunk_bytes: int = CHUNK_BYTES,
    threads: int | None = None,
) -> np.ndarray:
    """Mean IoU of every program with every head of a dump (all heads by default).

    `dump` is an opened dump (`models.dump.open_dump`) or its path; it is read in chunks of
    about `chunk_bytes` of attention. Returns (programs, heads), heads in the order given.
    """
    if isinstance(dump, (str, Path)):
        from ...models.dump import open_dump

        dump = open_dump(dump)
    heads = list(dump.heads) if heads is None else list(heads)
    interner = Interner()
    compiled = compile_programs(list(programs), interner)
    total = np.zeros((len(compiled), len(heads)), dtype=np.float64)
    for corpus in iter_dump_corpora(dump, heads, interner, chunk_bytes):
        total += _sums(compiled, corpus, progress, threads)
    return total / len(dump)
