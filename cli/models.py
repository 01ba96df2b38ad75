"""Commands that run models: extract, perplexity, convert."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from headcode.workflow import program_assignments

from .app import (
    MODEL_HELP,
    TEXT_HELP,
    Device,
    Dtype,
    Order,
    Programs,
    Replace,
    Tokenizer,
    app,
    check_program_options,
    fail,
    program_sources,
    say,
)


@app.command()
def extract(
    model: Annotated[str, typer.Option(help=MODEL_HELP)],
    text: Annotated[str, typer.Option(help=TEXT_HELP)],
    out: Annotated[Path, typer.Option(help="The dump directory to write (see docs/formats.md).")],
    sequences: Annotated[int, typer.Option(min=1, help="How many paragraphs to use.")] = 200,
    max_tokens: Annotated[int, typer.Option(
        min=1, help="Truncate each sequence to this many tokens (BOS included).")] = 128,
    jsonl_field: Annotated[str, typer.Option(
        "--jsonl-field", "--text-field", help="The text field of .jsonl lines or dataset rows.")
    ] = "text",
    shuffle: Annotated[bool, typer.Option(
        help="A random sample of paragraphs (see --seed) instead of the first ones.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of --shuffle.")] = 0,
    tokenizer: Tokenizer = None,
    dtype: Dtype = "float32",
    dump_dtype: Annotated[str, typer.Option(
        help="Stored attention: float16 (half the size) or float32.")] = "float16",
    device: Device = "auto",
    batch_size: Annotated[int, typer.Option(min=1, help="Sequences per forward pass.")] = 16,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing dump at --out.")] = False,
) -> None:
    """Run a model on paragraphs and dump every head's attention matrices to a directory.

    The dump (docs/formats.md) holds the tokens, their features and each head's causal
    attention, and is what --dump options of other commands read.

    Examples:

    \b
      headcode extract --model ../shared/models/stories260K \\
          --text ../shared/data/tinystories/valid-a.txt --sequences 200 --max-tokens 128 \\
          --out runs/stories.dump

    \b
      headcode extract --model gpt2 --text corpus.jsonl --jsonl-field body \\
          --shuffle --seed 1 --sequences 500 --out runs/gpt2.dump --device cuda
    """
    import time

    from headcode.models.corpus import load_corpus
    from headcode.models.dump import check_target
    from headcode.models.extract import extract as run_extract
    from headcode.models.loading import load_model
    from headcode.models.tokenizer import load_tokenizer

    if dump_dtype not in ("float16", "float32"):
        fail(f"--dump-dtype must be float16 or float32 (got {dump_dtype!r})")
    check_target(out, overwrite)  # before the model loads; only a dump is ever replaced
    texts = load_corpus(text, n=sequences, shuffle=shuffle, seed=seed, text_field=jsonl_field)
    lm = load_model(model, dtype=dtype, device=device)
    tok = load_tokenizer(tokenizer or model)
    start = time.perf_counter()
    dump = run_extract(
        lm, tok, texts, out, max_tokens=max_tokens, batch_size=batch_size, dtype=dump_dtype,
        overwrite=overwrite, progress=sys.stderr.isatty(),
        extra={"text": str(text), "shuffle": shuffle, "seed": seed if shuffle else None},
    )
    size = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file())
    typer.echo(
        f"wrote {out}: {len(dump)} sequences, {int(dump.lengths.sum())} tokens, "
        f"{dump.n_layers} layers x {dump.n_heads} heads, {dump_dtype}, "
        f"{size / 1e6:.1f} MB in {time.perf_counter() - start:.1f} s"
    )


@app.command()
def perplexity(
    model: Annotated[str, typer.Option(help=MODEL_HELP)],
    text: Annotated[str, typer.Option(help=TEXT_HELP)],
    sequences: Annotated[Optional[int], typer.Option(
        min=1, help="Use the first N paragraphs (default: all).")] = None,
    max_tokens: Annotated[int, typer.Option(
        min=1, help="Tokens per sequence after BOS (the protocol: 512).")] = 512,
    jsonl_field: Annotated[str, typer.Option(
        "--jsonl-field", "--text-field", help="The text field of .jsonl lines or dataset rows.")
    ] = "text",
    tokenizer: Tokenizer = None,
    dtype: Dtype = "float32",
    device: Device = "auto",
    batch_size: Annotated[int, typer.Option(min=1, help="Sequences per forward pass.")] = 16,
    programs: Programs = None,
    replace: Replace = None,
    order: Order = "iou",
    control: Annotated[Optional[str], typer.Option(
        help="Replace the same heads by a control instead: uniform (causal), mean "
             "(mean-ablation) or random (a seeded random program of the file).")] = None,
    reference: Annotated[Optional[str], typer.Option(
        help="Reference corpus of --control mean (default: the first paragraphs of --text).")
    ] = None,
    reference_sequences: Annotated[int, typer.Option(
        min=1, help="Paragraphs of the reference corpus for --control mean.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of --control random.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Token-weighted perplexity of a model on paragraphs (the protocol of docs/measures.md),
    optionally with heads replaced by programs or by a control.

    One sequence per paragraph, BOS + at most 512 tokens; the mean NLL of all predicted
    tokens, exponentiated. With --programs, the first --replace of all heads, taken from the
    file's assigned heads in --order, are replaced; prints the baseline and substituted
    perplexity (--json: baseline_ppl, ppl, relative_increase, tokens, replaced). Mean-ablation
    averages each head's output over the first --reference-sequences paragraphs of --reference,
    by default of --text itself.

    Examples:

    \b
      headcode perplexity --model ../shared/models/stories260K \\
          --text ../shared/data/tinystories/valid-a.txt            (prints 5.40)
      headcode perplexity --model gpt2 --text wiki.jsonl --sequences 500 --json
      headcode perplexity --model ../shared/models/stories260K \\
          --text ../shared/data/tinystories/valid-a.txt --programs heads.hc --replace 0.25
      ... --programs heads.hc --replace 0.25 --control random --json
    """
    from headcode.eval.perplexity import perplexity as run_perplexity
    from headcode.eval.perplexity import sequences as protocol_sequences
    from headcode.models.corpus import load_corpus
    from headcode.models.loading import load_model, position_limit
    from headcode.models.tokenizer import load_tokenizer

    if programs is None:
        if replace is not None or control is not None or reference is not None:
            fail("error: --replace, --control and --reference need --programs")
    else:
        check_program_options(replace, order, control)
        loaded, items = program_assignments(programs, order)
    texts = load_corpus(text, n=sequences, text_field=jsonl_field)
    lm = load_model(model, dtype=dtype, device=device)
    tok = load_tokenizer(tokenizer or model)
    limit = position_limit(lm)
    rows = protocol_sequences(tok, texts, max_tokens, limit)
    if programs is not None:
        if control == "mean":
            reference_texts = load_corpus(
                reference or text, n=reference_sequences, text_field=jsonl_field)
            reference_rows = protocol_sequences(tok, reference_texts, max_tokens, limit)
        else:
            reference_rows = []
        sources, chosen = program_sources(
            lm, loaded, items, 0.25 if replace is None else replace, control, reference_rows, seed
        )
        _echo_comparison(lm, rows, sources, chosen, control, batch_size, as_json)
        return
    result = run_perplexity(lm, rows, batch_size=batch_size, progress=sys.stderr.isatty())
    if as_json:
        typer.echo(json.dumps({
            "model": model, "text": text, "sequences": len(rows), "tokens": result.tokens,
            "ppl": result.ppl, "mean_nll": result.mean_nll,
        }))
    else:
        typer.echo(
            f"perplexity {result.ppl:.2f} ({len(rows)} sequences, {result.tokens} tokens scored)"
        )


def _echo_comparison(lm, rows: list, sources: dict, chosen: list, control: Optional[str],
                     batch_size: int, as_json: bool) -> None:
    """Baseline and substituted perplexity; `replaced` lists heads in replacement order."""
    from headcode.eval.perplexity import compare
    from headcode.models.loading import model_shape

    result = compare(lm, rows, sources, batch_size=batch_size, progress=sys.stderr.isatty())
    result["replaced"] = [[layer, head] for layer, head in chosen]
    if as_json:
        typer.echo(json.dumps(result))
        return
    by = f"control {control}" if control else "their programs"
    typer.echo(
        f"perplexity {result['baseline_ppl']:.2f} -> {result['ppl']:.2f} "
        f"({result['relative_increase']:+.1%}) with {len(chosen)} of "
        f"{len(model_shape(lm).heads)} heads replaced by {by} "
        f"({len(rows)} sequences, {result['tokens']} tokens scored)"
    )
    typer.echo("replaced: " + (" ".join(f"{la}.{h}" for la, h in chosen) or "none"))


@app.command()
def convert(
    source: Annotated[Path, typer.Argument(help="A GGUF model file.", metavar="FILE.gguf")],
    out: Annotated[Path, typer.Argument(
        help="The Hugging Face directory to write (must not exist).", metavar="OUT_DIR")],
    overwrite: Annotated[bool, typer.Option(
        help="Replace an earlier conversion at OUT_DIR (never any other directory).")] = False,
) -> None:
    """Convert a GGUF model file to a Hugging Face directory that loads in seconds.

    Every command takes --model FILE.gguf, but dequantising the file takes about 30 s each
    time; the directory holds the dequantised float32 weights (model.safetensors), the
    tokenizer and the config, and gives identical logits. It also holds headcode-convert.json,
    which marks it as a conversion that --overwrite may replace. Needs the gguf extra:
    pip install 'headcode[gguf]'.

    Example:

    \b
      headcode convert SmolLM2-135M-Instruct.Q4_1.gguf models/smollm2
      headcode extract --model models/smollm2 --text stories.txt --out runs/smollm2.dump
    """
    from headcode.models.gguf import convert as run_convert

    typer.echo(f"wrote {run_convert(source, out, overwrite=overwrite, say=say)}")
