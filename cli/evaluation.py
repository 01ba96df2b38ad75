"""Evaluation commands: qa, report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from headcode.workflow import curve_for_run, program_assignments, write_report

from .app import (
    MODEL_HELP,
    Device,
    Dtype,
    Order,
    Programs,
    Replace,
    Tokenizer,
    app,
    check_program_options,
    fail,
    is_report,
    is_run,
    make_dir,
    program_sources,
)


@app.command()
def qa(
    model: Annotated[str, typer.Option(help=MODEL_HELP)],
    data: Annotated[Optional[Path], typer.Option(
        help="JSONL of items {\"prompt\": str, \"choices\": [str, ...], \"answer\": int} "
             "(default: the bundled stories-qa.jsonl, 60 TinyStories-style items).")] = None,
    tokenizer: Tokenizer = None,
    dtype: Dtype = "float32",
    device: Device = "auto",
    batch_size: Annotated[int, typer.Option(
        min=1, help="Prompt + choice sequences per forward pass.")] = 16,
    programs: Programs = None,
    replace: Replace = None,
    order: Order = "iou",
    control: Annotated[Optional[str], typer.Option(
        help="Replace the same heads by a control instead: uniform (causal), mean "
             "(mean-ablation over the QA prompts) or random (a seeded random program of the "
             "file).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of --control random.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Multiple-choice QA accuracy by log-likelihood, optionally with heads replaced by
    programs or by a control (docs/qa.md).

    Each choice is scored by the summed log-likelihood of its tokens given the prompt, and by
    the per-token mean; the best choice (ties: the first) is the prediction. Prints the
    accuracy by both. With --programs, the first --replace of all heads, taken from the file's
    assigned heads in --order, are replaced, and the accuracy without and with them is printed
    (--json: items, baseline_accuracy_sum, baseline_accuracy_mean, accuracy_sum,
    accuracy_mean, replaced).

    Examples:

    \b
      headcode qa --model ../shared/models/stories260K
      headcode qa --model ../shared/models/stories260K --programs heads.hc --replace 0.25
      headcode qa --model gpt2 --data my-items.jsonl --programs heads.hc --control mean --json
    """
    from headcode.eval.qa import STORIES_QA, compare, load_items, prompt_rows, score
    from headcode.models.loading import load_model, model_shape
    from headcode.models.tokenizer import load_tokenizer

    if programs is None:
        if replace is not None or control is not None:
            fail("error: --replace and --control need --programs")
    else:
        check_program_options(replace, order, control)
        loaded, assigned = program_assignments(programs, order)
    data = data or STORIES_QA
    items = load_items(data)
    lm = load_model(model, dtype=dtype, device=device)
    tok = load_tokenizer(tokenizer or model)
    if programs is None:
        result = score(lm, tok, items, batch_size=batch_size)
        if as_json:
            typer.echo(json.dumps({
                "model": model, "data": str(data), "items": len(items),
                "accuracy_sum": result.accuracy_sum, "accuracy_mean": result.accuracy_mean,
            }))
        else:
            typer.echo(f"accuracy {result.accuracy_sum:.3f} (sum), {result.accuracy_mean:.3f} "
                       f"(mean) on {len(items)} items of {data}")
        return
    reference = prompt_rows(tok, items) if control == "mean" else []
    sources, chosen = program_sources(
        lm, loaded, assigned, 0.25 if replace is None else replace, control, reference, seed
    )
    result = compare(lm, tok, items, sources, batch_size=batch_size)
    result["replaced"] = [[layer, head] for layer, head in chosen]
    if as_json:
        typer.echo(json.dumps({"model": model, "data": str(data), **result}))
        return
    by = f"control {control}" if control else "their programs"
    typer.echo(
        f"accuracy {result['baseline_accuracy_sum']:.3f} -> {result['accuracy_sum']:.3f} (sum), "
        f"{result['baseline_accuracy_mean']:.3f} -> {result['accuracy_mean']:.3f} (mean) with "
        f"{len(chosen)} of {len(model_shape(lm).heads)} heads replaced by {by} "
        f"({len(items)} items of {data})"
    )
    typer.echo("replaced: " + (" ".join(f"{la}.{h}" for la, h in chosen) or "none"))


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(
        help="A run directory of `headcode synth` (or `headcode demo`).", metavar="RUN_DIR")],
    out: Annotated[Optional[Path], typer.Option(
        help="Where to write report.html, report.md and figures/ (default: RUN_DIR).")] = None,
    example: Annotated[Optional[int], typer.Option(
        min=0, help="The dump sequence the heatmaps show (default: the first held-out one).")
    ] = None,
    curve: Annotated[bool, typer.Option(
        "--curve", help="First measure the perplexity curve (RUN_DIR/curve.json) with the "
                        "run's model: 0/10/25/50/100% of heads replaced, with the controls.")
    ] = False,
    text: Annotated[Optional[str], typer.Option(
        help="With --curve: the text (default: the run's, its paragraphs after those the run "
             "used).")] = None,
    ppl_sequences: Annotated[int, typer.Option(
        min=1, help="With --curve: paragraphs to measure perplexity on.")] = 100,
    seed: Annotated[int, typer.Option(help="With --curve: seed of the random control.")] = 0,
    device: Annotated[str, typer.Option(help="With --curve: auto, cpu, cuda or cuda:N.")
    ] = "auto",
) -> None:
    """Write a report of a synthesis run and print the path of its report.html.

    report.html is one self-contained page (open it offline, send it as one file): the run's
    summary, the perplexity curve of explanations and surrogates against the controls (when
    RUN_DIR/curve.json exists), a sortable table of every head's explanation and surrogate IoU
    and size, and per head both programs with their glosses, its front (IoU against size), the
    explanation's emitted Python and its real attention beside the explanation's matrix (when
    the run has no surrogates.hc or results.jsonl, the rest). report.md holds the same in
    Markdown, with the PNGs in figures/. Without the run's attention dump (RUN_DIR/dump, or
    the --dump the run used) the report has no heatmaps.

    Example:

    \b
      headcode report runs/stories                  # runs/stories/report.html
      headcode report runs/stories --out /tmp/rep   # /tmp/rep/report.html
      headcode report runs/stories --curve          # measure the perplexity curve first
    """
    if out is not None:
        make_dir(out, lambda p: is_run(p) or is_report(p))
    if curve:
        curve_for_run(run_dir, text, ppl_sequences, seed, device)
    elif text is not None:
        fail("error: --text needs --curve")
    typer.echo(str(write_report(run_dir, out, example=example)))
