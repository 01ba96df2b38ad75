"""Soft IoU of many programs against many heads: on an encoded corpus or streamed from a dump.

    corpus = encode_corpus([(features, attention), ...])    # once
    ious = score_corpus(programs, corpus)                   # (programs, heads), many times

`score` streams a memory-mapped dump chunk by chunk, so a dump larger than memory works.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numba
import numpy as np

from ..dsl import nodes as n
from ..dsl.errors import EvaluationError
from ..dsl.program import Program
from .columns import Interner
from .compiler import CompiledPrograms, compile_programs, shared_limit
from .corpus import ScoringCorpus, iter_dump_corpora
from .kernel import buffers, head_marker, score_block

BLOCK_BYTES = 1 << 20  # attention of a block of sequences: one thread's unit of work
CHUNK_BYTES = 16 << 20  # attention of a chunk of a dump encoded at once (memory is reused)
Progress = Callable[[int], None]  # called with the number of sequences just scored


def _compiled(programs, interner: Interner, width: int) -> CompiledPrograms:
    if isinstance(programs, CompiledPrograms):
        if programs.interner is not interner:
            raise EvaluationError("programs were compiled for another corpus's string table")
        return programs
    return compile_programs(list(programs), interner, shared_limit(width))


def _require_ids(compiled: CompiledPrograms, has_ids: bool) -> None:
    if not has_ids and compiled.uses_id.any():
        raise EvaluationError("a program uses the `id` feature: the corpus has no token ids")


def _blocks(
    compiled: CompiledPrograms,
    corpora: Iterable[ScoringCorpus],
    width: int,
    accumulate: bool,
    threads: int | None = None,
    block_bytes: int = BLOCK_BYTES,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Score the corpora's consecutive blocks of sequences, of at most `width` tokens, on
    `threads` threads (default: Numba's thread count); yields (first, last, out) in order, as
    `kernel.score_block` fills out, which is only valid until the next block is asked for.
    One stream of blocks for all corpora: the next corpus is taken (for a dump, encoded)
    while the threads score the blocks in flight. Buffers are reused, since fresh ones per
    block cost page faults and unmappings: each thread keeps its work buffers, and the sums of
    `accumulate` go round through `spare`. Blocks are summed apart and yielded in order, so the
    result does not depend on which thread scored what."""
    local = threading.local()
    spare: deque = deque()

    def run(corpus: ScoringCorpus, first: int, last: int) -> tuple[int, int, np.ndarray]:
        if not hasattr(local, "work"):
            local.work = buffers(compiled.n_slots, compiled.n_shared, len(compiled.flat),
                                 len(compiled.parts), corpus.n_heads, width)
        if accumulate:
            try:
                out = spare.pop()
                out.fill(0.0)
            except IndexError:
                out = np.zeros((len(compiled), corpus.n_heads, 1))
        else:
            out = np.empty((len(compiled), corpus.n_heads, last - first), dtype=np.float64)
        if len(compiled):
            score_block(
                compiled.code, compiled.starts, compiled.mixes, compiled.flat, compiled.parts,
                compiled.softs, compiled.soft_terms, *compiled.shared, compiled.reals,
                compiled.options, corpus.columns, corpus.previous, corpus.token_starts,
                corpus.attention, corpus.entry_starts, corpus.attention_sums, first, last, out,
                accumulate, head_marker(corpus.n_heads), local.work,
            )
        return int(first), int(last), out

    def tasks() -> Iterator[tuple[ScoringCorpus, int, int]]:
        for corpus in corpora:
            _require_ids(compiled, corpus.has_ids)
            blocks = corpus.block_starts(block_bytes)
            for first, last in zip(blocks[:-1], blocks[1:]):
                yield corpus, first, last

    def finished(future) -> Iterator[tuple[int, int, np.ndarray]]:
        done = future.result()
        yield done
        if accumulate:  # the caller is done with it
            spare.append(done[2])

    threads = threads or numba.get_num_threads()
    pending: deque = deque()  # at most 4 blocks per thread in flight: bounded memory
    with ThreadPoolExecutor(threads) as pool:
        for task in tasks():
            pending.append(pool.submit(run, *task))
            if len(pending) >= 4 * threads:
                yield from finished(pending.popleft())
        while pending:
            yield from finished(pending.popleft())


def block_ious(
    programs: list[Program | n.Node] | CompiledPrograms,
    corpus: ScoringCorpus,
    block_bytes: int = BLOCK_BYTES,
    threads: int | None = None,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """(first, last, IoU (programs, heads, last - first)) for consecutive blocks of sequences.

    Blocks are scored on `threads` threads (default: Numba's thread count) and yielded in order.
    """
    width = int(corpus.lengths.max())
    compiled = _compiled(programs, corpus.interner, width)
    yield from _blocks(compiled, [corpus], width, False, threads, block_bytes)


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


def _sums(compiled: CompiledPrograms, corpora: Iterable[ScoringCorpus], width: int,
          n_heads: int, progress: Progress | None, threads: int | None = None) -> np.ndarray:
    """Sum over the corpora's sequences of each program's IoU with each head."""
    total = np.zeros((len(compiled), n_heads), dtype=np.float64)
    for first, last, sums in _blocks(compiled, corpora, width, True, threads):
        total += sums[:, :, 0]
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
    width = int(corpus.lengths.max())
    compiled = _compiled(programs, corpus.interner, width)
    return _sums(compiled, [corpus], width, corpus.n_heads, progress, threads) / len(corpus)


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
        from ..models.dump import open_dump

        dump = open_dump(dump)
    heads = list(dump.heads) if heads is None else list(heads)
    interner = Interner()
    width = int(np.max(dump.lengths))
    compiled = compile_programs(list(programs), interner, shared_limit(width))
    chunks = iter_dump_corpora(dump, heads, interner, chunk_bytes)
    return _sums(compiled, chunks, width, len(heads), progress, threads) / len(dump)
