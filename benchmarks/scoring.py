"""Benchmark: scoring a candidate set of programs against every head of stories260K.

Compares, in one run, three ways to get the soft IoU of every (program, head):
  (a) the compiled engine, `scoring.score`, streaming the memory-mapped dump;
  (b) the emitted-Python way (how the paper's pipeline scores): the candidates emitted as one
      module by `headcode.dsl.emitter`, each function run on each sequence, then a NumPy IoU
      against each head; timed on a subset of programs and sequences spread evenly over both
      (every program kind, short and long sequences) and extrapolated by throughput, i.e.
      units / (units of the subset per second); its emission and import are not timed;
  (c) dense and vectorised: per sequence, every program's dense matrix against every head by
      torch broadcasting; the matrices are made by the engine and not timed, so (c) is its IoU
      stage alone (a lower bound on its cost); timed on a subset of sequences, extrapolated.
Throughput is (program x head x query row) per second. The JIT compilation of (a) is timed
separately, against an empty Numba cache; (a)'s figure is the wall time of the whole job. Each of
(a), (b) and (c) is timed `--repeat` times and its best time counts ((c) per sequence; this
machine's timings move by up to 1.5x from run to run); the times of (a) and (b) are printed.

    python benchmarks/scoring.py                   # 2,000 programs x 40 heads x 200 sequences
    python benchmarks/scoring.py --dump DUMP       # a dump made by `headcode extract`
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared"
MODEL = SHARED / "models" / "stories260K"
TEXT = SHARED / "data" / "tinystories" / "valid-a.txt"

BOOL = ["bos", "word_start", "punct", "period", "comma", "quote", "newline", "capital", "digit"]
UNITS = ["word", "sentence", "line"]
WORDS = ['" the"', '" a"', '" and"', '" he"', '" she"', '" was"', '"."', '","', '" Lily"']


def simple_selectors() -> list[str]:
    """The one-construct selectors a synthesizer enumerates first."""
    out = ["self", "first", "causal"]
    out += [f"prev({k})" for k in range(1, 9)]
    out += [f"window({a}, {b})" for a in range(0, 4) for b in (a + 1, a + 3, a + 7)]
    out += [f"last(k.{f})" for f in BOOL] + [f"last(k.{f}, 2)" for f in BOOL[:5]]
    out += [f"last(k.{f}, 3)" for f in BOOL[:3]]
    out += [f"keys(k.{f})" for f in BOOL] + [f"keys(not k.{f})" for f in BOOL[:4]]
    out += [f"keys(k.text == {w})" for w in WORDS]
    out += [f"keys(k.text in {{{a}, {b}}})" for a, b in itertools.combinations(WORDS[:5], 2)]
    out += [f"same({f})" for f in ["text", "word", "sentence", "line", "capital"]]
    out += [f"same({f}) - self" for f in ["text", "word", "sentence", "line"]]
    out += [f"start({u})" for u in UNITS]
    out += [f"shift(same(text) - self, {k})" for k in (1, 2)]
    out += [f"shift(last(k.{f}), 1)" for f in BOOL[:5]]
    out += ["keys(k.word == q.word)", "keys(k.sentence == q.sentence) - self"]
    return out


def candidate_programs(count: int, seed: int = 0) -> list[str]:
    """A realistic candidate set: simple selectors, decays, mixes with `first`, fallbacks,
    if-forms and softmax forms, then random two-selector mixes up to `count`."""
    sels = simple_selectors()
    out = list(sels)
    decayed = ["causal", "window(0, 7)", "same(sentence)", "same(line)", "keys(k.punct)",
               "keys(k.word_start)"]
    out += [f"decay({s}, {r})" for s in decayed for r in (0.3, 0.5, 0.7, 0.9)]
    out += [f"mix({w}: first, {round(1 - w, 2)}: {s})" for s in sels for w in (0.3, 0.7)]
    lasts = [s for s in sels if s.startswith("last")]
    out += [f"{s} ?? {t}" for s in lasts for t in ("first", "prev(1)", "self")]
    out += [f"softmax({c} * [k.{f}] - {r} * dist)"
            for f in BOOL for c in (1, 3) for r in (0.1, 0.5)]
    out += [f"softmax(4 * [first] + {c} * [k.{f}] - 0.3 * dist)" for f in BOOL[:6] for c in (1, 2)]
    branches = [("prev(1)", "first"), ("last(k.period)", "self"), ("first", "window(1, 3)")]
    out += [f"if q.{f} then {a} else {b}" for f in BOOL[1:6] for a, b in branches]
    rng = random.Random(seed)
    while len(out) < count:
        a, b = rng.sample(sels, 2)
        w = rng.choice((0.2, 0.5, 0.8))
        out.append(f"mix({w}: {a}, {round(1 - w, 2)}: {b})")
    return out[:count]


def make_dump(path: Path, sequences: int, max_tokens: int) -> None:
    """Extract stories260K's attention on the first paragraphs of valid-a.txt (float16)."""
    from headcode.models.corpus import load_corpus
    from headcode.models.extract import extract
    from headcode.models.loading import load_model
    from headcode.models.tokenizer import load_tokenizer

    model = load_model(str(MODEL), device="cpu")
    texts = load_corpus(TEXT, n=sequences)
    extract(model, load_tokenizer(str(MODEL)), texts, path, max_tokens=max_tokens)


def spread(count: int, total: int) -> np.ndarray:
    """`count` indices spread evenly over range(total)."""
    return np.unique(np.linspace(0, total - 1, min(count, total)).round().astype(int))


def emitted_module(programs, picks, directory: Path):
    """The picked programs as one module emitted by `headcode.dsl.emitter` (as `headcode emit`
    writes it), written to `directory` and imported: its `PROGRAMS`, in the order picked."""
    from headcode.dsl.checker import check_file
    from headcode.dsl.emitter import emit
    from headcode.dsl.parser import parse_file
    from headcode.dsl.program import LoadedFile

    source = "".join(f"p{k} = {programs[p].text}\n" for k, p in enumerate(picks))
    path = directory / "candidates.py"
    path.write_text(emit(LoadedFile("candidates.hc", check_file(parse_file(source))),
                         "candidates.hc"), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("candidates", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [module.PROGRAMS[f"p{k}"] for k in range(len(picks))]


def emitted(functions, dump, seqs) -> tuple[np.ndarray, float]:
    """(b): per-sequence IoU (programs, heads, sequences) and the seconds it took: each emitted
    function run on each sequence, then a NumPy IoU against each head."""
    from headcode.scoring.iou import soft_iou

    heads = len(dump.heads)
    out = np.zeros((len(functions), heads, len(seqs)))
    start = time.perf_counter()
    for k, s in enumerate(seqs):
        tokens = dump.tokens(int(s))
        size = len(tokens)
        attention = dump.attention(int(s)).reshape(heads, size, size).astype(np.float64)
        for row, function in enumerate(functions):
            matrix = function(tokens.texts, tokens.ids, tokens.special)
            for h in range(heads):
                a = attention[h]
                out[row, h, k] = soft_iou(matrix, a)
    return out, time.perf_counter() - start


def dense(compiled, dump, seqs, repeat: int, chunk: int = 100) -> float:
    """(c): seconds for the dense IoU of every program with every head on `seqs` (per
    sequence, the best of `repeat` timings)."""
    import torch

    from headcode import scoring
    from headcode.scoring.kernel import program_matrix

    seconds = 0.0
    for s in seqs:
        corpus = scoring.encode_corpus([(dump.features(int(s)), dump.packed(int(s)))],
                                       interner=compiled.interner)
        size = int(dump.length(int(s)))
        rows, cols = np.tril_indices(size)
        matrices = torch.from_numpy(np.stack([
            program_matrix(compiled, corpus, p, 0)[rows, cols]
            for p in range(len(compiled))
        ]).astype(np.float32))
        attention = torch.from_numpy(np.asarray(dump.packed(int(s)), dtype=np.float32))
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            for lo in range(0, len(compiled), chunk):
                p = matrices[lo : lo + chunk]
                mins = torch.minimum(p[:, None, :], attention[None]).sum(-1)
                (mins / (p.sum(-1)[:, None] + attention.sum(-1)[None] - mins)).numpy()
            times.append(time.perf_counter() - start)
        seconds += min(times)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=2000)
    parser.add_argument("--sequences", type=int, default=200)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--dump", type=Path, help="an existing dump (default: extract one)")
    parser.add_argument("--subset-programs", type=int, default=80, help="of (b)")
    parser.add_argument("--subset-sequences", type=int, default=20, help="of (b)")
    parser.add_argument("--dense-sequences", type=int, default=10, help="of (c)")
    parser.add_argument("--repeat", type=int, default=3, help="timings of each, the best counts")
    args = parser.parse_args()
    # Numba reads its cache directory when imported: an empty one, so that the JIT is timed.
    os.environ.setdefault("NUMBA_CACHE_DIR", tempfile.mkdtemp(prefix="headcode-numba-"))
    if args.dump is None and not (MODEL.is_dir() and TEXT.is_file()):
        raise SystemExit(f"needs {MODEL} and {TEXT} (the shared material beside the repository)")

    import numba
    import torch

    from headcode import scoring
    from headcode.dsl.program import program_from_text
    from headcode.models.dump import open_dump

    dump_path = args.dump
    if dump_path is None:
        dump_path = Path(tempfile.mkdtemp(prefix="headcode-bench-")) / "dump"
        start = time.perf_counter()
        make_dump(dump_path, args.sequences, args.max_tokens)
        print(f"extracted {args.sequences} sequences in {time.perf_counter() - start:.1f} s")
    dump = open_dump(dump_path)
    programs = [program_from_text(t) for t in candidate_programs(args.programs)]
    heads = dump.heads
    rows = int(dump.lengths.sum())
    units = len(programs) * len(heads) * rows
    print(f"{len(programs)} programs x {len(heads)} heads x {len(dump)} sequences of "
          f"<= {int(dump.lengths.max())} tokens ({rows} query rows) = {units:,} units; "
          f"{numba.get_num_threads()} threads, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")

    # (a): the JIT on a one-sequence corpus (empty cache), then the whole job.
    start = time.perf_counter()
    one = next(scoring.iter_dump_corpora(dump, heads, scoring.Interner(), max_bytes=1))
    scoring.sequence_ious(programs[:1], one)
    jit = time.perf_counter() - start
    runs = []
    for _ in range(args.repeat):
        start, cpu = time.perf_counter(), time.process_time()
        ious = scoring.score(programs, dump)
        runs.append((time.perf_counter() - start, time.process_time() - cpu))
    engine, engine_cpu = min(runs)
    engine_rate = units / engine
    print(f"(a) compiled engine: {engine:.2f} s wall ({engine_cpu:.2f} s CPU), the best of "
          + ", ".join(f"{wall:.2f}" for wall, _ in runs)
          + f" s; {engine_rate:,.0f} units/s; JIT {jit:.2f} s; the whole job, cold (JIT and "
          f"the first run): {jit + runs[0][0]:.2f} s")

    # (b) on a subset of programs and sequences, checked against (a) on the same.
    picks = spread(args.subset_programs, len(programs))
    seqs = spread(args.subset_sequences, len(dump))
    sub_rows = int(dump.lengths[seqs].sum())
    functions = emitted_module(programs, picks, Path(tempfile.mkdtemp(prefix="headcode-emit-")))
    times = []
    for _ in range(args.repeat):
        slow, seconds = emitted(functions, dump, seqs)
        times.append(seconds)
    seconds = min(times)
    slow_rate = len(picks) * len(heads) * sub_rows / seconds
    subset = scoring.encode_corpus([(dump.features(int(s)), dump.packed(int(s))) for s in seqs])
    fast = scoring.sequence_ious([programs[p] for p in picks], subset)
    print(f"(b) emitted Python + NumPy IoU: {slow_rate:,.0f} units/s, measured on {len(picks)} "
          f"programs x {len(seqs)} sequences ({sub_rows} query rows) in {seconds:.2f} s (runs: "
          f"{', '.join(f'{t:.2f}' for t in times)}); "
          f"extrapolated to the whole job: {units / slow_rate:,.0f} s; "
          f"max |(a) - (b)| per sequence: {np.abs(fast - slow).max():.1e}")

    # (c) every program, on a subset of sequences.
    torch.set_num_threads(numba.get_num_threads())
    compiled = scoring.compile_programs(programs, scoring.Interner())
    seqs = spread(args.dense_sequences, len(dump))
    seconds = dense(compiled, dump, seqs, args.repeat)
    dense_rate = len(programs) * len(heads) * int(dump.lengths[seqs].sum()) / seconds
    print(f"(c) dense torch IoU, matrices given: {dense_rate:,.0f} units/s, measured on "
          f"{len(programs)} programs x {len(seqs)} sequences in {seconds:.1f} s; extrapolated "
          f"to the whole job: {units / dense_rate:,.0f} s")
    print(f"ratios: (a)/(b) = {engine_rate / slow_rate:,.0f}x, (a)/(c) = "
          f"{engine_rate / dense_rate:,.1f}x; mean best IoU per head {ious.max(0).mean():.3f}")


if __name__ == "__main__":
    main()
