"""Forward time with 25% of heads substituted, against eager and sdpa attention.

    python benchmarks/substitution.py [--model ../shared/models/stories260K] [--source uniform]
        [--fraction 0.25] [--sequences 32] [--max-tokens 128] [--batch-size 16] [--repeats 10]
        [--programs FILE] [--threads N] [--device auto]

Runs the same batches (paragraphs of the TinyStories validation text, BOS + up to --max-tokens
tokens, right-padded) through: transformers' eager attention, its sdpa attention, headcode's
attention with nothing replaced, and headcode's attention with `--fraction` of the heads
(a seeded random choice) replaced by `--source`. Prints the best-of-repeats wall time of one
pass over all batches (variants interleaved) and the ratios to eager.
Goal: substituted <= 1.5x eager.

`--source` is `uniform`, `identity`, `mean`, `program` (small programs of the language,
`PROGRAMS` in turn over the chosen heads, as `ProgramSource`s) or `module:callable`, where the
callable takes (model, tokenizer, heads) and returns a {(layer, head): source} dict.
`--programs FILE` (a synthesizer's programs.hc) instead replaces the file's best heads by
held-out IoU, each by its own program.
"""

from __future__ import annotations

import argparse
import importlib
import random
import time
from pathlib import Path

import torch

from headcode.dsl.program import load_file, program_from_text
from headcode.eval.perplexity import sequences
from headcode.models.corpus import load_corpus
from headcode.models.loading import load_model, model_shape
from headcode.models.programs import ProgramSource, programs_by_iou
from headcode.models.substitute import (
    IdentitySource,
    Substitution,
    UniformSource,
    mean_ablations,
    pad,
)
from headcode.models.tokenizer import load_tokenizer

SHARED = Path(__file__).resolve().parents[2] / "shared"

# Small hand-written programs: mixtures, fallbacks, a short soft score. Synthesized programs
# are often much larger (softmax of 50+ terms): measure those with --programs programs.hc.
PROGRAMS = [
    "mix(0.5: last(k.period) ?? first, 0.5: decay(causal, 0.8))",
    "softmax(2 * [first] + 1.5 * [keys(k.punct)] - 0.1 * dist)",
    "shift(same(text) - self, 1) ?? first",
    "mix(0.7: decay(same(sentence), 0.7), 0.3: first)",
]


def make_sources(spec: str, model, tokenizer, heads, rows):
    """{head: source} for the `--source` spec."""
    if spec == "uniform":
        return {head: UniformSource() for head in heads}
    if spec == "identity":
        return {head: IdentitySource() for head in heads}
    if spec == "mean":
        return mean_ablations(model, rows, heads)
    if spec == "program":
        programs = [program_from_text(text) for text in PROGRAMS]
        return {head: ProgramSource(programs[i % len(programs)]) for i, head in enumerate(heads)}
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)(model, tokenizer, heads)


def best_times(runs: dict, repeats: int) -> dict[str, float]:
    """Best wall time of each `run()`, the runs interleaved so that load drifts hit all alike."""
    for run in runs.values():
        run()  # warm-up
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=str(SHARED / "models" / "stories260K"))
    parser.add_argument("--text", default=str(SHARED / "data" / "tinystories" / "valid-a.txt"))
    parser.add_argument("--source", default="uniform")
    parser.add_argument("--programs", help="a program file: its best heads, by their programs")
    parser.add_argument("--fraction", type=float, default=0.25)
    parser.add_argument("--sequences", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    model = load_model(args.model, device=args.device)
    eager = load_model(args.model, device=args.device, attn_implementation="eager")
    sdpa = load_model(args.model, device=args.device, attn_implementation="sdpa")
    tokenizer = load_tokenizer(args.model)
    rows = sequences(tokenizer, load_corpus(args.text, n=args.sequences), args.max_tokens)
    batches = [rows[i : i + args.batch_size] for i in range(0, len(rows), args.batch_size)]
    padded = [pad(batch, model.device) for batch in batches]

    shape = model_shape(model)
    count = max(1, round(args.fraction * len(shape.heads)))
    if args.programs:
        chosen = programs_by_iou(load_file(args.programs))[:count]
        count, args.source = len(chosen), f"programs of {args.programs}"
        sources = {a.head: ProgramSource(a.program) for a in chosen}
    else:
        heads = sorted(random.Random(args.seed).sample(shape.heads, count))
        sources = make_sources(args.source, model, tokenizer, heads, rows)
    replaced = Substitution(model, sources)
    plain = Substitution(model)

    def plain_model(m):
        def run():
            with torch.inference_mode():
                for ids, mask, _ in padded:
                    m(input_ids=ids, attention_mask=mask, use_cache=False)

        return run

    def substituted(sub):
        def run():
            for batch in batches:
                sub.logits(batch)

        return run

    label = f"headcode, {count}/{len(shape.heads)} heads -> {args.source}"
    runs = {
        "eager": plain_model(eager),
        "sdpa": plain_model(sdpa),
        "headcode, nothing replaced": substituted(plain),
        label: substituted(replaced),
    }
    results = best_times(runs, args.repeats)
    tokens = sum(len(r) for r in rows)
    print(
        f"model {args.model}; {len(rows)} sequences, {tokens} tokens (<= {args.max_tokens} each), "
        f"batch {args.batch_size}, device {model.device}, torch threads {torch.get_num_threads()}, "
        f"best of {args.repeats}"
    )
    for name, seconds in results.items():
        print(f"  {name:<45} {seconds * 1000:8.1f} ms   {seconds / results['eager']:.2f}x eager")


if __name__ == "__main__":
    main()
