"""The LLM proposer against a real llama.cpp server: what it adds over the enumeration.

Extracts a small dump of stories260K, runs the enumerative search alone on a few heads, then
the enumeration and the LLM proposer together once per backend, both backends on one
llama.cpp server (llama-cpp-python's) serving a GGUF model: `llamacpp` sends the typed
grammar, `plain` sends none. Prints, per backend: the share of the LLM's candidates that parse
and check, the held-out IoU each head's best program gains over `enum` alone, and the seconds
per head spent waiting for the server, with the prompt and completion tokens.

    python benchmarks/llm_proposer.py \\
        --gguf ../shared/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf \\
        --model ../shared/models/stories260K --text ../shared/data/tinystories/valid-a.txt

Needs `pip install "../shared/wheels/llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl[server]"`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from headcode.models.corpus import load_corpus
from headcode.models.dump import open_dump
from headcode.models.extract import extract
from headcode.models.loading import load_model
from headcode.models.tokenizer import load_tokenizer
from headcode.scoring import parse_heads
from headcode.synth.data import split_dump
from headcode.synth.llm import LLMClient, LLMConfig, LLMProposer
from headcode.synth.llm.local_server import llama_server
from headcode.synth.pipeline import synthesize_group
from headcode.synth.settings import SynthSettings

BACKENDS = ("llamacpp", "plain")


def best_heldout(results) -> dict[tuple[int, int], float]:
    """Each head's best held-out IoU (its surrogate's)."""
    return {r.key: r.surrogate.heldout_iou for r in results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gguf", required=True, help="GGUF model the server serves")
    parser.add_argument("--model", required=True, help="the model whose heads are explained")
    parser.add_argument("--text", required=True, help="paragraphs to extract attention from")
    parser.add_argument("--heads", default="1.3,3.6")
    parser.add_argument("--synth-sequences", type=int, default=20)
    parser.add_argument("--heldout-sequences", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=48, help="tokens per sequence")
    parser.add_argument("--prompt", default="compact", choices=("full", "compact"))
    parser.add_argument("--candidates", type=int, default=4)
    parser.add_argument("--reply-tokens", type=int, default=96, help="max tokens per reply")
    parser.add_argument("--context", type=int, default=4096, help="the server's context")
    parser.add_argument("--device", default="auto", help="extraction device")
    args = parser.parse_args()

    n = args.synth_sequences + args.heldout_sequences
    with tempfile.TemporaryDirectory() as tmp:
        texts = load_corpus(args.text, n=n)
        extract(load_model(args.model, device=args.device), load_tokenizer(args.model), texts,
                Path(tmp) / "dump", max_tokens=args.max_tokens, progress=False)
        dump = open_dump(Path(tmp) / "dump")
        heads = parse_heads(args.heads, dump.n_layers, dump.n_heads)
        synth, heldout = split_dump(dump, heads, args.synth_sequences, args.heldout_sequences)
        quiet = lambda message: None  # noqa: E731

        start = time.perf_counter()
        enum = best_heldout(synthesize_group(synth, heldout, SynthSettings(), quiet))
        print(f"enum alone: {time.perf_counter() - start:.1f} s for {len(heads)} heads; "
              "held-out IoU " + ", ".join(f"{a}.{b} {enum[(a, b)]:.3f}" for a, b in heads))
        with llama_server(args.gguf, context=args.context) as server:
            for backend in BACKENDS:
                config = LLMConfig(backend=backend, model=Path(args.gguf).stem,
                                   base_url=server.url, cache_dir=None, prompt=args.prompt,
                                   candidates=args.candidates, max_tokens=args.reply_tokens)
                proposer = LLMProposer(LLMClient(config))
                settings = SynthSettings(proposers=("enum", "llm"), llm=proposer)
                both = best_heldout(synthesize_group(synth, heldout, settings, quiet))
                counts, stats = proposer.counts, proposer.client.stats
                seen = counts["accepted"] + counts["rejected"] + counts["repeated"]
                checked = counts["accepted"] + counts["repeated"]
                gains = ", ".join(f"{a}.{b} {both[(a, b)] - enum[(a, b)]:+.3f}" for a, b in heads)
                print(f"{backend}: {checked}/{seen} candidates parse and check "
                      f"({checked / max(seen, 1):.0%}); held-out IoU over enum: {gains}; "
                      f"{stats.seconds / len(heads):.0f} s per head waiting for the server "
                      f"({stats.requests} requests, {stats.prompt_tokens} prompt + "
                      f"{stats.completion_tokens} completion tokens)")


if __name__ == "__main__":
    main()
