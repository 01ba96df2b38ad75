"""Fuzz benchmark: hostile program texts through every stage, counting what must never happen.

Inputs, seeded: generated programs of every construct, mutations of them, random bytes and
text, chains and nesting (up to 1,000 long or deep), huge and tiny numbers, long names and
`FILE:NAME` specs. Each
goes through `load_program` (parse, check); a fifth of them also as a file (`load_file`, every
program emitted). Each checked program runs on three short token sequences in every back end:
the interpreter, the torch back end (float64 compared to 1e-9; float32 must be finite with the
interpreter's row sums), the emitted Python (1e-9) and the Numba scoring engine, in batches
(its matrices to 1e-9, its IoUs to 1e-6 of NumPy's on the interpreter's matrices).

Printed: inputs by outcome, then the three counts that should be 0: non-project exceptions
(anything but a `HeadcodeError`), disagreements between back ends, and calls (one stage on one
input) over 1 s; a Numba batch's time is shared among its programs by their length. Exits 1
if either of the first two is not 0.

    python benchmarks/fuzz.py                  # 100,000 inputs
    python benchmarks/fuzz.py --count 2000     # what CI runs
"""

from __future__ import annotations

import argparse
import collections
import random
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch

from headcode.dsl import ops
from headcode.dsl.emitter import emit, emit_function, runtime_source
from headcode.dsl.interpreter import run
from headcode.dsl.program import load_file, load_program
from headcode.dsl.tokens import Tokens
from headcode.dsl.torch_backend import TorchProgram
from headcode.errors import HeadcodeError
from headcode.scoring import compile_programs, encode_corpus, sequence_ious
from headcode.scoring.kernel import program_matrix

SEQUENCES = [
    (["<s>", "The", " cat", " sat", ".", " It", " sat", "."], [0, 5, 6, 7, 8, 9, 7, 8]),
    (["Lily", ",", ' "', "Hi", "!", '"', "\n", " 12", " Lily", " and", " he"],
     [10, 11, 12, 13, 14, 15, 16, 17, 10, 18, 19]),
    (["a"], [20]),
]
SEQUENCES = [(texts, ids, [t == "<s>" for t in texts]) for texts, ids in SEQUENCES]
BOOL = ["bos", "word_start", "punct", "period", "comma", "quote", "newline", "capital", "digit"]
INTS = ["pos", "word", "sentence", "line", "id"]
STRINGS = ['" the"', '"."', '","', '" Lily"', "'\\n'", '"zzz"', '""']
PIECES = ["last(", "k.period", ")", "??", "first", "mix(", "0.5", ":", ",", "prev(", "1", "-",
          "?", "keys(", "q.", "text", "==", '" and"', "in", "{", "}", "softmax(", "*", "[", "]",
          "dist", "if", "then", "else", "not", "and", "or", "|", "&", "head", "2.5", "=", "#",
          "\n", " ", "decay(", "shift(", "same(", "word", "start(", "window(", "x", "1e308",
          "9223372036854775808", "1e-320", "0.0", "(", "causal", "self"]
BATCH = 200


# ---------------------------------------------------------------- inputs


class Inputs:
    """Every kind of hostile text, from one seeded random source."""

    def __init__(self, seed: int, spec_file: Path):
        self.r = random.Random(seed)
        self.spec_file = spec_file

    def number(self, kind: str) -> str:
        r = self.r
        if r.random() < 0.15:
            return r.choice(["1000000000", "1000000001", "9223372036854775808", "1e308", "1e6",
                             "1000000.0", "1e-320", "0", "0.0", "1" + "0" * r.randint(10, 400),
                             "1e400", "5e-324"])
        if kind == "int":
            return str(r.choice([0, 1, 1, 2, 3, 5]))
        return r.choice(["0.5", "1", "2", "0.25", "3.5", "0.9", "1.5"])

    def pred(self, d: int, side: str | None = None) -> str:
        r = self.r
        s = side or r.choice("kq")
        leaves = [lambda: f"{s}.{r.choice(BOOL)}", lambda: f"{s}.text == {r.choice(STRINGS)}",
                  lambda: f"{s}.{r.choice(INTS)} {r.choice(['==', '<', '>=', '!='])} "
                          f"{self.number('int')}",
                  lambda: f"{s}.text in {{{', '.join(r.sample(STRINGS, r.randint(1, 3)))}}}",
                  lambda: f"k.{r.choice(INTS)} == q.{r.choice(INTS)}"]
        if d <= 0 or r.random() < 0.5:
            return r.choice(leaves if side is None else leaves[:4])()
        return r.choice([lambda: f"not {self.pred(d - 1, side)}",
                         lambda: f"({self.pred(d - 1, side)} and {self.pred(d - 1, side)})",
                         lambda: f"({self.pred(d - 1, side)} or {self.pred(d - 1, side)})"])()

    def sel(self, d: int) -> str:
        r = self.r
        leaves = [lambda: r.choice(["self", "first", "causal"]),
                  lambda: f"prev({self.number('int')})",
                  lambda: f"window({self.number('int')}, {self.number('int')})",
                  lambda: f"keys({self.pred(1)})",
                  lambda: f"same({r.choice(['text', 'word', 'id', 'punct'])})",
                  lambda: f"last({self.pred(1)})",
                  lambda: f"last({self.pred(1)}, {self.number('int')})",
                  lambda: f"start({r.choice(['word', 'sentence', 'line'])})"]
        if d <= 0 or r.random() < 0.4:
            return r.choice(leaves)()
        return r.choice([lambda: f"shift({self.sel(d - 1)}, {r.choice(['-1', '1', '2', '0'])})",
                         lambda: f"({self.sel(d - 1)} {r.choice('|&-')} {self.sel(d - 1)})"])()

    def pat(self, d: int) -> str:
        r = self.r
        if d <= 0 or r.random() < 0.3:
            return self.sel(1)

        def softmax() -> str:
            return "softmax(" + " + ".join(
                f"{self.number('real')} * " + r.choice(["dist", f"[{self.sel(1)}]",
                                                       f"[{self.pred(1)}]"])
                for _ in range(r.randint(1, 3))) + ")"

        return r.choice([
            lambda: f"decay({self.sel(d - 1)}, {r.choice(['0.5', '0.9', '1', '1e-300'])})",
            lambda: "mix(" + ", ".join(f"{self.number('real')}: {self.pat(d - 1)}"
                                       for _ in range(r.randint(1, 3))) + ")",
            lambda: f"{self.pat(d - 1)} ?? {self.pat(d - 1)}",
            lambda: f"if {self.pred(1, 'q')} then {self.pat(d - 1)} else {self.pat(d - 1)}",
            softmax,
        ])()

    def generated(self) -> str:
        return self.r.choice([self.pat, self.sel, self.pred])(self.r.randint(0, 4))

    def mutated(self) -> str:
        r, text = self.r, self.generated()
        for _ in range(r.randint(1, 4)):
            at = r.randint(0, len(text))
            choice = r.random()
            if choice < 0.3:
                text = text[:at] + text[at + r.randint(1, 6):]
            elif choice < 0.7:
                text = text[:at] + " " + r.choice(PIECES) + " " + text[at:]
            else:
                end = min(len(text), at + r.randint(1, 30))
                text = text[:end] + text[at:end] * r.randint(1, 5) + text[end:]
        return text

    def random_text(self) -> str:
        r = self.r
        if r.random() < 0.5:
            data = bytes(r.randrange(256) for _ in range(r.randint(0, 80)))
            return data.decode("utf-8", "surrogateescape")
        return "".join(r.choice(PIECES + ["\x00", "\udcff", "é", "\t", "'", '"', "\\"])
                       for _ in range(r.randint(1, 40)))

    def chain(self) -> str:
        r = self.r
        k = r.choice([2, 5, 20, 24, 26, 60, 99, 100, 101, 300, 500, 1000])
        op, item = r.choice([("|", "first"), ("-", "self"), ("&", "causal"), ("??", "first"),
                             ("or", "k.punct"), ("and", "q.capital"), (",", "first")])
        body = f" {op} ".join([item] * k)
        if op == ",":
            strings = ", ".join(['"a"'] * k)
            return r.choice([f"mix({', '.join(['1: first'] * k)})",
                             f"softmax({' + '.join(['2 * [self]'] * k)})",
                             f"keys(k.text in {{{strings}}})"])
        return body

    def deep(self) -> str:
        r = self.r
        k = r.choice([10, 50, 98, 99, 100, 101, 340, 400, 490, 500, 1000])
        return r.choice(["keys(" + "not " * k + "k.punct)",
                         "shift(" * k + "first" + ", 1)" * k,
                         "(" * k + "first" + ")" * k,
                         "mix(1: " * k + "first" + ")" * k,
                         "if q.bos then " * k + "first" + " else self" * k,
                         " ?? ".join(["first"] * k)])

    def huge(self) -> str:
        r = self.r
        big = r.choice(["9223372036854775808", "1e308", "1e39", "1e400", "1" + "0" * 5000,
                        "1000000001", "1000000", "1000000.0", "1e-320", "999999999"])
        return r.choice([f"window(0, {big})", f"prev({big})", f"shift(first, {big})",
                         f"mix({big}: first, {big}: self)",
                         f"softmax({big} * [first] + {big} * [self])",
                         f"softmax({big} * [first] - {big} * [first] + dist)",
                         f"keys(k.pos <= {big})", f"decay(first, {big})",
                         f"last(k.punct, {big})"])

    def name(self) -> str:
        r = self.r
        long = "x" * r.choice([10, 255, 300, 5000])
        return r.choice([long, f"{long}:{long}", f"{self.spec_file}:p{r.randint(0, 3)}",
                         f"{self.spec_file}:{long}", f"{self.spec_file}:",
                         f"mix(0.6: softmax({' + '.join(['1.5 * [k.punct]'] * 20)}), 0.4: first)",
                         f"{'/' * 300}:x", f"{self.generated()}:x"])

    def next(self) -> tuple[str, str]:
        kinds = [("generated", 30), ("mutated", 25), ("random_text", 10), ("chain", 10),
                 ("deep", 8), ("huge", 9), ("name", 8)]
        kind = self.r.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
        return kind, getattr(self, kind)()


# ---------------------------------------------------------------- back ends


class Fuzz:
    def __init__(self):
        self.outcomes: collections.Counter = collections.Counter()
        self.crashes: list[str] = []
        self.disagreements: list[str] = []
        self.slow: list[str] = []
        self.runtime: dict = {}
        exec(compile(runtime_source(), "runtime", "exec"), self.runtime)  # noqa: S102
        self.tokens = [Tokens(ids, texts, special) for texts, ids, special in SEQUENCES]
        rng = np.random.default_rng(0)
        self.attention = []
        for texts, _, _ in SEQUENCES:
            a = (rng.random((2, len(texts), len(texts))) + 1e-3) * np.tri(len(texts))
            self.attention.append((a / a.sum(-1, keepdims=True)).astype(np.float32))
        self.corpus = encode_corpus([(ops.features(*seq), a)
                                     for seq, a in zip(SEQUENCES, self.attention)])
        self.batch: list[tuple[str, object, list[np.ndarray]]] = []

    def crash(self, text: str, stage: str) -> None:
        self.crashes.append(f"{stage}: {text[:120]!r}\n{traceback.format_exc(limit=-3)}")

    def differ(self, text: str, stage: str, detail: str = "") -> None:
        self.disagreements.append(f"{stage}: {text[:160]!r} {detail}")

    def clock(self, stage: str, text: str, since: float) -> None:
        """Count a call of `stage` that took over a second since `since`."""
        seconds = time.perf_counter() - since
        if seconds > 1.0:
            self.slow.append(f"{stage} {seconds:.2f} s: {text[:120]!r}")

    def one(self, text: str, as_file: bool, spec_dir: Path) -> None:
        """Every stage on one input."""
        start = time.perf_counter()
        try:
            program = load_program(text, predicate_as_keys=True)
        except HeadcodeError:
            self.outcomes["refused"] += 1
            program = None
        except Exception:  # noqa: BLE001 - what the fuzzing is for
            self.crash(text, "load_program")
            return
        self.clock("load_program", text, start)
        if as_file:
            self.file(text, spec_dir)
        if program is not None:
            self.back_ends(text, program)

    def file(self, text: str, spec_dir: Path) -> None:
        path = spec_dir / "fuzz.hc"
        path.write_text(f"p = {text}\nhead 0.1 = p\nhead 0.2 = {text}\n",
                        encoding="utf-8", errors="surrogateescape")
        start = time.perf_counter()
        try:
            emit(load_file(path), "fuzz.hc")
        except HeadcodeError:
            pass
        except Exception:  # noqa: BLE001
            self.crash(text, "load_file/emit")
        self.clock("load_file/emit", text, start)

    def back_ends(self, text: str, program) -> None:
        start = time.perf_counter()
        try:
            expected = [run(program, *seq) for seq in SEQUENCES]
        except HeadcodeError:
            self.outcomes["checked, not runnable (holes)"] += 1
            return
        except Exception:  # noqa: BLE001
            self.crash(text, "interpreter")
            return
        self.clock("interpreter", text, start)
        self.outcomes["checked and run"] += 1
        for m in expected:
            sums = m.sum(axis=1)
            if not (np.isfinite(m).all() and np.all(np.isclose(sums, 1) | (sums == 0))):
                self.differ(text, "interpreter rows")
        stage, start = "torch", time.perf_counter()
        try:
            lowered = TorchProgram(program)
            exact = lowered.on_tokens(self.tokens, dtype=torch.float64).numpy()
            single = lowered.on_tokens(self.tokens, dtype=torch.float32).numpy()
            for s, m in enumerate(expected):
                n = len(m)
                if not np.allclose(exact[s, :n, :n], m, atol=1e-9, rtol=0):
                    self.differ(text, "torch float64", f"sequence {s}")
                got = single[s, :n, :n]
                if not (np.isfinite(got).all()
                        and np.allclose(got.sum(axis=1), m.sum(axis=1), atol=1e-4)):
                    self.differ(text, "torch float32", f"sequence {s}")
            self.clock(stage, text, start)
            stage, start = "emitted", time.perf_counter()
            source = emit_function(program)
            name = re.match(r"def (\w+)\(", source).group(1)
            namespace = dict(self.runtime)
            exec(compile(source, "emitted", "exec"), namespace)  # noqa: S102
            for s, (seq, m) in enumerate(zip(SEQUENCES, expected)):
                if not np.allclose(namespace[name](*seq), m, atol=1e-9, rtol=0):
                    self.differ(text, "emitted", f"sequence {s}")
            self.clock(stage, text, start)
        except Exception:  # noqa: BLE001 - a HeadcodeError here is a disagreement too
            self.crash(text, stage)
            return
        self.batch.append((text, program, expected))

    def flush(self) -> None:
        """Score the batch in the Numba engine (a batch's seconds count for each program as
        its share by size)."""
        if not self.batch:
            return
        start = time.perf_counter()
        batch, self.batch = self.batch, []
        try:
            compiled = compile_programs([p for _, p, _ in batch], self.corpus.interner)
            ious = sequence_ious(compiled, self.corpus)
        except Exception:  # noqa: BLE001
            self.crash(" / ".join(t for t, _, _ in batch[:3]), "scoring batch")
            return
        self.clock_batch(batch, start)
        for p, (text, _, expected) in enumerate(batch):
            for s, m in enumerate(expected):
                if not np.allclose(program_matrix(compiled, self.corpus, p, s), m, atol=1e-9,
                                   rtol=0):
                    self.differ(text, "numba matrix", f"sequence {s}")
                a = self.attention[s].astype(np.float64)
                for h in range(2):
                    iou = np.minimum(m, a[h]).sum() / np.maximum(m, a[h]).sum()
                    if abs(ious[p, h, s] - iou) > 1e-6:
                        self.differ(text, "numba IoU", f"sequence {s} head {h}")

    def clock_batch(self, batch: list, start: float) -> None:
        """Each program's share of a batch's time: its length's share of the batch's."""
        seconds = time.perf_counter() - start
        total = sum(len(text) for text, _, _ in batch)
        for text, _, _ in batch:
            if seconds * len(text) / total > 1.0:
                self.slow.append(f"scoring {seconds * len(text) / total:.2f} s: {text[:120]!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000, help="How many inputs.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=5, help="Examples of each problem shown.")
    args = parser.parse_args()
    torch.set_num_threads(1)
    fuzz = Fuzz()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        spec_dir = Path(tmp)
        spec_file = spec_dir / "programs.hc"
        spec_file.write_text("p0 = first\np1 = last(k.punct) ?? p0\np2 = k.capital\n"
                             "p3 = softmax(2 * [p2] - dist)\n")
        inputs = Inputs(args.seed, spec_file)
        fuzz.one("first", False, spec_dir)
        fuzz.flush()  # the engine's JIT load is not an input's time
        fuzz.outcomes.clear()
        kinds: collections.Counter = collections.Counter()
        for k in range(args.count):
            kind, text = inputs.next()
            kinds[kind] += 1
            fuzz.one(text, k % 5 == 0, spec_dir)
            if len(fuzz.batch) >= BATCH or k == args.count - 1:
                fuzz.flush()
    wall = time.perf_counter() - start
    print(f"{args.count} inputs in {wall:.0f} s: "
          + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(fuzz.outcomes.items())))
    for title, found in (("non-project exceptions", fuzz.crashes),
                         ("disagreements between back ends", fuzz.disagreements),
                         ("calls over 1 s", fuzz.slow)):
        print(f"{title}: {len(found)}")
        for example in found[: args.show]:
            print("    " + example.replace("\n", "\n    "))
    sys.exit(1 if fuzz.crashes or fuzz.disagreements else 0)


if __name__ == "__main__":
    main()
