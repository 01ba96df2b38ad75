"""Synthesis commands: synth, front, demo (the whole workflow)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from headcode.synth.front import Choice
from headcode.synth.llm.config import PROMPTS, LLMConfig
from headcode.synth.settings import SynthSettings
from headcode.workflow import (
    RUN_MAX_TOKENS,
    DemoSettings,
    iou_summary,
    quarter_summary,
    synthesize_run,
)
from headcode.workflow import demo as run_demo

from .app import Device, MaxSize, Tolerance, app, fail, is_run, make_dir, say


@app.command()
def synth(
    out: Annotated[Path, typer.Option(help="The run directory (created; an existing run is "
                                           "continued).")],
    model: Annotated[Optional[str], typer.Option(
        help="Model directory, .gguf file or hub id; its attention is extracted into "
             "RUN_DIR/dump unless --dump is given.")] = None,
    text: Annotated[Optional[str], typer.Option(
        help="Text file (blank-line separated paragraphs) or .jsonl to extract from.")] = None,
    dump: Annotated[Optional[Path], typer.Option(
        help="An attention dump to use instead of extracting (docs/formats.md).")] = None,
    heads: Annotated[str, typer.Option(help="Heads to explain: all, or L.H,L.H,...")] = "all",
    proposer: Annotated[str, typer.Option(
        help="enum (enumerative search, offline), llm, or both.")] = "enum",
    synth_sequences: Annotated[int, typer.Option(
        min=1, help="Sequences shown to the proposers (the dump's first ones).")
    ] = SynthSettings.n_synth,
    heldout_sequences: Annotated[int, typer.Option(
        min=1, help="Sequences kept for re-ranking and the reported IoU (the next ones).")
    ] = SynthSettings.n_heldout,
    max_tokens: Annotated[int, typer.Option(min=2, help="Tokens per extracted sequence.")
    ] = RUN_MAX_TOKENS,
    jobs: Annotated[int, typer.Option(min=1, help="Worker processes (heads in groups).")] = 1,
    group_size: Annotated[int, typer.Option(
        min=1, help="Heads searched together and saved together.")] = SynthSettings.group,
    max_selectors: Annotated[int, typer.Option(
        min=1, help="Budget: how many distinct selectors the enumeration may keep.")
    ] = SynthSettings.max_selectors,
    time_budget: Annotated[Optional[float], typer.Option(
        min=0, help="Budget: seconds per group of heads after which the soft-score search "
                    "starts no new round.")] = SynthSettings.seconds,
    tolerance: Tolerance = Choice.tolerance,
    max_size: MaxSize = Choice.max_size,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N (extraction).")
    ] = "auto",
    llm_backend: Annotated[str, typer.Option(
        help="openai-responses, vllm, llamacpp or plain.")] = "plain",
    llm_model: Annotated[Optional[str], typer.Option(help="Model name for --proposer llm.")
    ] = None,
    base_url: Annotated[Optional[str], typer.Option(
        help="OpenAI-compatible endpoint; key from HEADCODE_API_KEY or OPENAI_API_KEY.")] = None,
    llm_timeout: Annotated[float, typer.Option(
        min=1, help="Seconds to wait for one LLM reply; a request that times out is not sent "
                    "again (a local server may still be computing it).")] = LLMConfig.timeout,
    llm_prompt: Annotated[str, typer.Option(
        help="full, or compact: fewer examples and edges, for small local models.")
    ] = LLMConfig.prompt,
    llm_candidates: Annotated[int, typer.Option(
        min=1, help="Programs asked of the LLM per head.")] = LLMConfig.candidates,
    llm_max_tokens: Annotated[Optional[int], typer.Option(
        min=1, help="Most tokens per LLM reply (default: the server's).")] = None,
) -> None:
    """Synthesize a program for every head and check it on held-out text.

    Every head gets two programs from its size/fidelity front (all candidates of all
    proposers, re-ranked on held-out text): its explanation, the smallest program within
    --tolerance of the best held-out IoU at most --max-size syntax nodes, and its surrogate,
    the best-fitting program of any size.

    Writes RUN_DIR/programs.hc and explanations.py (the explanations, each with its plain
    English gloss), RUN_DIR/surrogates.hc and surrogates.py, RUN_DIR/results.jsonl (every
    head's front; `headcode front RUN_DIR` prints it) and RUN_DIR/library.json. Results are
    saved per group of heads as they finish: after an interruption, the same command
    continues where it stopped. Run again on a finished run with another --tolerance or
    --max-size, it chooses again from the fronts and rewrites the program files.

    Example:

    \b
      headcode synth --model ../shared/models/stories260K \\
          --text ../shared/data/tinystories/valid-a.txt --heads all --out runs/stories
    """
    import time

    proposers = {"enum": ("enum",), "llm": ("llm",), "both": ("enum", "llm")}.get(proposer)
    if proposers is None:
        fail(f"--proposer must be enum, llm or both (got {proposer!r})")
    if dump is None and (model is None or text is None):
        fail("give --model and --text (to extract attention), or --dump")
    settings = SynthSettings(proposers=proposers, n_synth=synth_sequences,
                             n_heldout=heldout_sequences, group=group_size,
                             max_selectors=max_selectors, seconds=time_budget,
                             choice=Choice(tolerance=tolerance, max_size=max_size))
    if "llm" in proposers:
        if not llm_model:
            fail("--proposer llm needs --llm-model (and --base-url for a local server)")
        if jobs > 1:
            fail("--jobs > 1 works with --proposer enum only")
        from headcode.synth.llm.client import LLMClient
        from headcode.synth.llm.proposer import LLMProposer

        if llm_prompt not in PROMPTS:
            fail(f"--llm-prompt must be {' or '.join(PROMPTS)} (got {llm_prompt!r})")
        config = LLMConfig(backend=llm_backend, model=llm_model, base_url=base_url,
                           log_path=out / "llm-log.jsonl", timeout=llm_timeout,
                           prompt=llm_prompt, candidates=llm_candidates, max_tokens=llm_max_tokens)
        settings.llm = LLMProposer(LLMClient(config))
    start = time.perf_counter()
    make_dir(out, is_run)
    results = synthesize_run(out, model, text, dump, heads, proposer, settings, max_tokens,
                             device, jobs)
    if settings.llm is not None:
        typer.echo(settings.llm.summary())
    typer.echo(f"{iou_summary(results)}, {time.perf_counter() - start:.0f} s; wrote "
               f"{out}/programs.hc (explanations) and {out}/surrogates.hc")


@app.command()
def front(
    run_dir: Annotated[Path, typer.Argument(help="A synthesis run directory.")],
    heads: Annotated[Optional[str], typer.Option(help="Heads to show: L.H,L.H,... (default: "
                                                      "every finished head).")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help='One JSON object per head: {"head": "L.H", "front": [{"program", "size", '
                       '"synthesis_iou", "heldout_iou", "origin"}, ...], "explanation": {...}, '
                       '"surrogate": {...}}.')] = False,
) -> None:
    """Print each head's size/fidelity front: the best held-out IoU at each program size.

    A program's size is its number of syntax nodes (docs/language.md). Read left to right, a
    front says what every extra node buys; E marks the head's explanation and S its surrogate.

    Example:  headcode front runs/stories --heads 1.3,2.0
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from headcode.models.heads import read_heads
    from headcode.synth.rundir import RunDir

    run = RunDir.open(run_dir)
    results = run.results()
    if not results:
        fail(f"error: {run_dir} holds no finished head yet")
    if heads is not None and heads.strip() != "all":
        wanted = read_heads(heads)
        missing = [f"{a}.{b}" for a, b in wanted if (a, b) not in results]
        if missing:
            fail(f"error: {run_dir} has no result for head {', '.join(missing)}")
        results = {key: results[key] for key in wanted}
    for (layer, head), r in results.items():
        if as_json:
            record = r.to_json()
            typer.echo(json.dumps({"head": f"{layer}.{head}", "front": record["front"],
                                   "explanation": record["explanation"],
                                   "surrogate": record["surrogate"]}))
            continue
        table = Table(title=f"head {layer}.{head}", title_justify="left")
        for column in ("", "size", "held-out IoU", "synthesis IoU", "origin", "program"):
            table.add_column(column, justify="right" if "IoU" in column or column == "size"
                             else "left")
        for p in r.front:
            mark = ("E" if p == r.explanation else "") + ("S" if p == r.surrogate else "")
            table.add_row(mark, str(p.size), f"{p.heldout_iou:.3f}", f"{p.synthesis_iou:.3f}",
                          p.origin, Text(p.program))  # text, not markup: `[k.punct]`
        Console().print(table)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="The run and report directory (created; an existing "
                                           "run is continued).")] = DemoSettings.out,
    model: Annotated[Optional[str], typer.Option(
        help="Model directory, .gguf file or hub id (default: the bundled demo model).")
    ] = None,
    text: Annotated[Optional[str], typer.Option(
        help="Text file or .jsonl of paragraphs (default: stories sampled from the model).")
    ] = None,
    heads: Annotated[str, typer.Option(help="Heads to explain: all, or L.H,L.H,...")
    ] = DemoSettings.heads,
    synth_sequences: Annotated[int, typer.Option(
        min=1, help="Sequences shown to the synthesizer.")] = DemoSettings.synth_sequences,
    heldout_sequences: Annotated[int, typer.Option(
        min=1, help="Sequences for re-ranking and the reported IoU.")
    ] = DemoSettings.heldout_sequences,
    ppl_sequences: Annotated[int, typer.Option(
        min=1, help="Further sequences for the perplexity curve.")
    ] = DemoSettings.ppl_sequences,
    max_tokens: Annotated[int, typer.Option(min=2, help="Tokens per extracted sequence.")
    ] = RUN_MAX_TOKENS,
    seed: Annotated[int, typer.Option(help="Seed of the sampled corpus and the random control.")
    ] = DemoSettings.seed,
    jobs: Annotated[int, typer.Option(min=1, help="Synthesis worker processes.")
    ] = DemoSettings.jobs,
    tolerance: Tolerance = Choice.tolerance,
    max_size: MaxSize = Choice.max_size,
    device: Device = DemoSettings.device,
) -> None:
    """Explain every head of a model end to end and write a report: the command to run first.

    Without options it runs offline on the bundled demo model (a small GPT-2 trained on
    TinyStories, docs/demo-model.md) and a corpus sampled from it with a fixed seed:

    \b
      1. corpus      sample stories (or read --text): synthesis, held-out and perplexity parts
      2. extract     record every head's attention on the synthesis and held-out parts
      3. synthesize  enumerative search for one program per head, re-ranked on held-out text
      4. substitute  perplexity with 0/10/25/50/100% of heads replaced, in descending held-out
                     IoU, by their explanations, by their surrogates and by the controls
                     (uniform, mean, random program)
      5. report      OUT/report.html (one self-contained page), OUT/report.md, OUT/figures/

    Examples:

    \b
      headcode demo --out runs/demo
      headcode demo --model ../shared/models/stories260K \\
          --text ../shared/data/tinystories/valid-a.txt --out runs/stories-demo
    """
    settings = DemoSettings(
        out=out, model=model, text=text, heads=heads, synth_sequences=synth_sequences,
        heldout_sequences=heldout_sequences, ppl_sequences=ppl_sequences, max_tokens=max_tokens,
        seed=seed, jobs=jobs, choice=Choice(tolerance=tolerance, max_size=max_size),
        device=device,
    )
    make_dir(out, is_run)
    done = run_demo(settings, say=say)
    typer.echo(iou_summary(done.results))
    quarter = quarter_summary(done.curve)
    if quarter is not None:
        typer.echo(quarter)
    typer.echo(f"report: {done.page}  ({done.seconds:.0f} s)")
