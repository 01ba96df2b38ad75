"""The proposer's messages: the language reference, the head's attention as stratified edges,
the best programs so far with the rows they miss, and the repair requests.

The reference is not written here: it is the token-feature and expression sections and the
worked patterns of docs/language.md, and the served grammar derived from grammars/headcode.lark.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from ...dsl.printer import show
from .candidates import Verdict
from .errors import LLMError
from .served import served_lark
from .views import HeadView, RowMiss, Scored

LANGUAGE_DOC = Path(__file__).resolve().parents[2] / "docs" / "language.md"
REFERENCE_SECTIONS = ("Token features", "Types and expressions")

ROLE = """\
You explain attention heads of transformer language models as short programs in headcode, a \
small language. A program maps a token sequence to an attention matrix: row i (the query token) \
is a distribution over the keys j <= i. You are shown the real attention of one head; propose \
programs whose attention matches it. Programs are scored by soft IoU with the head (1 is a \
perfect match). Prefer short programs that state a general rule over ones that memorise the \
example tokens. Write ? for a number you cannot tell: the synthesizer fits it."""


@dataclass(frozen=True)
class SummaryLimits:
    """How much a prompt shows: sequences, tokens per sequence, edges per stratum, programs of
    the history, missed rows per program, and the longest program text shown (None: any; the
    enumeration's best fits are often soft scores of hundreds of characters)."""

    sequences: int = 3
    tokens: int = 64
    high: int = 12
    mid: int = 8
    low: int = 6
    history: int = 5
    misses: int = 3
    program_chars: int | None = None


@dataclass(frozen=True)
class PromptStyle:
    """How long the prompt is: the attention summary's limits, how many worked examples
    (None: all), and whether the reference holds the *Types and expressions* section and the
    served grammar."""

    limits: SummaryLimits = SummaryLimits()
    examples: int | None = None
    full_reference: bool = True


PROMPT_STYLES = {
    "full": PromptStyle(),
    # for small local models (a 135M model on 2 cores reads ~6k prompt tokens in minutes)
    "compact": PromptStyle(SummaryLimits(sequences=1, tokens=32, high=6, mid=4, low=3,
                                         history=3, misses=1, program_chars=120),
                           examples=8, full_reference=False),
}

HIGH, MID, LOW = 0.5, 0.2, 0.05  # stratum bounds: high >= 0.5 > mid >= 0.2 > low >= 0.05


# ------------------------------------------------------------------ the reference

@cache
def language_reference(doc: Path = LANGUAGE_DOC, style: PromptStyle = PromptStyle()) -> str:
    """The system prompt: role, reference sections, the served grammar and worked examples
    (the compact style: role, token features and fewer examples)."""
    try:
        text = doc.read_text(encoding="utf-8")
    except OSError:
        raise LLMError(f"{doc}: the language reference for the LLM prompt is missing") from None
    sections = {title: body.strip() for title, body in
                re.findall(r"^## (.+?)\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)}
    missing = [s for s in (*REFERENCE_SECTIONS, "Worked head patterns") if s not in sections]
    if missing:
        raise LLMError(f"{doc}: no section {missing[0]!r} to build the LLM prompt from")
    titles = REFERENCE_SECTIONS if style.full_reference else REFERENCE_SECTIONS[:1]
    parts = [ROLE, "# The headcode language"]
    parts += [f"## {title}\n\n{sections[title]}" for title in titles]
    if style.full_reference:
        parts.append("## Grammar of one program (Lark)\n\n" + served_lark().strip())
    examples = _examples(sections["Worked head patterns"])[:style.examples]
    parts.append("## Examples\n\n" + "\n".join(examples))
    return "\n\n".join(parts)


def _examples(worked: str) -> list[str]:
    """`program`: its description, for every worked pattern."""
    found = re.findall(r"^### [^\n]*\n\n(.*?)\n\n```headcode\n\w+ = (.*?)\n```",
                       worked, flags=re.M | re.S)
    return [f"- `{program}`: {' '.join(text.split())}" for text, program in found]


# ------------------------------------------------------------------ the head's attention

def quote_token(text: str) -> str:
    """A token as `'text'`, with quotes, backslashes and control characters escaped."""
    escaped = text.replace("\\", "\\\\").replace("'", "\\'")
    escaped = escaped.replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    return f"'{escaped}'"


def _token(tokens: Sequence[str], j: int) -> str:
    return f"{quote_token(tokens[j])}[{j}]"


def _spread(items: list, k: int) -> tuple[list, int]:
    """At most `k` of `items` (sorted by weight, heaviest first), evenly spread over the range
    so that the heaviest is kept; also how many were left out."""
    if len(items) <= k:
        return items, 0
    picks = sorted({round(x) for x in np.linspace(0, len(items) - 1, k)})
    return [items[p] for p in picks], len(items) - len(picks)


def sequence_summary(tokens: Sequence[str], attention: np.ndarray, number: int,
                     limits: SummaryLimits) -> str:
    """One sequence: its tokens, where each row's mass goes, folded self and first-token
    edges, and the other edges by stratum."""
    n = min(len(tokens), limits.tokens)
    shown = " ".join(f"[{j}]{quote_token(tokens[j])}" for j in range(n))
    cut = f", the first {n} shown" if n < len(tokens) else ""
    lines = [f"Sequence {number} ({len(tokens)} tokens{cut}): {shown}"]
    rows = range(1, n)
    if not rows:
        return lines[0]
    first = np.array([attention[i, 0] for i in rows])
    own = np.array([attention[i, i] for i in rows])
    previous = np.array([attention[i, i - 1] if i > 1 else 0.0 for i in rows])
    lines.append(f"  mean weight per row: first token {first.mean():.2f}, self {own.mean():.2f},"
                 f" previous token {previous.mean():.2f}, elsewhere "
                 f"{max(0.0, 1 - first.mean() - own.mean() - previous.mean()):.2f}")
    lines.append("  " + _folded("self edges", own))
    lines.append("  " + _folded("edges to the first token [0]", first))
    edges = sorted(((float(attention[i, j]), i, j) for i in rows for j in range(1, i)
                    if attention[i, j] >= LOW), reverse=True)
    strata = [("high (>= 0.5)", HIGH, 1.01, limits.high), ("mid (0.2-0.5)", MID, HIGH, limits.mid),
              ("low (0.05-0.2)", LOW, MID, limits.low)]
    for label, low, high, budget in strata:
        chosen, left = _spread([e for e in edges if low <= e[0] < high], budget)
        if not chosen:
            lines.append(f"  {label}: none")
            continue
        chosen.sort(key=lambda e: (e[1], e[2]))
        text = ", ".join(f"{_token(tokens, i)} -> {_token(tokens, j)} ({w:.2f})"
                         for w, i, j in chosen)
        lines.append(f"  {label}: {text}" + (f" (+{left} more)" if left else ""))
    return "\n".join(lines)


def _folded(label: str, weights: np.ndarray) -> str:
    """Edges of one kind counted rather than listed."""
    strong = weights[weights >= LOW]
    if strong.size == 0:
        return f"{label} (folded): none >= {LOW}"
    return (f"{label} (folded): {strong.size} of {weights.size} rows put >= {LOW} there "
            f"(mean {strong.mean():.2f}, min {strong.min():.2f}, max {strong.max():.2f})")


def attention_summary(head: HeadView, limits: SummaryLimits = SummaryLimits()) -> str:
    """The head's attention on its first `limits.sequences` sequences."""
    intro = (f"Attention of {head.name}. An edge 'a'[i] -> 'b'[j] (w) means query token i "
             "puts weight w on key token j. Row 0 always attends to itself and is left out.")
    blocks = [sequence_summary(tokens, matrix, s + 1, limits) for s, (tokens, matrix)
              in enumerate(zip(head.texts, head.attention)) if s < limits.sequences]
    return "\n\n".join([intro, *blocks])


# ------------------------------------------------------------------ programs so far

def _top_keys(tokens: Sequence[str], weights: np.ndarray, k: int = 3) -> str:
    order = [j for j in np.argsort(-weights, kind="stable")[:k] if weights[j] >= LOW]
    return ", ".join(f"{_token(tokens, j)} {weights[j]:.2f}" for j in order) or "nothing"


def miss_line(head: HeadView, miss: RowMiss) -> str:
    """A row a program gets wrong: where the head looks, and where the program looks."""
    tokens = head.texts[miss.sequence]
    return (f"sequence {miss.sequence + 1}, row {_token(tokens, miss.row)}: head "
            f"{_top_keys(tokens, miss.real)}; program {_top_keys(tokens, miss.program)}")


def history_summary(head: HeadView, history: Sequence[Scored],
                    limits: SummaryLimits = SummaryLimits()) -> str:
    """The best programs so far, best first, each with the rows it misses most."""
    shown = [s for s in history if limits.program_chars is None
             or len(show(s.program.closed)) <= limits.program_chars]
    best = sorted(shown, key=lambda s: -s.iou)[:limits.history]
    lines = [f"Programs tried so far ({len(history)}), best first:"]
    for rank, scored in enumerate(best, 1):
        lines.append(f"{rank}. IoU {scored.iou:.3f}: {show(scored.program.closed)}")
        lines += [f"   misses {miss_line(head, m)}" for m in scored.worst_rows[:limits.misses]]
    return "\n".join(lines)


# ------------------------------------------------------------------ the messages

def first_message(head: HeadView, history: Sequence[Scored], n: int, instruction: str,
                  limits: SummaryLimits = SummaryLimits()) -> str:
    """The user message of a first round."""
    parts = [attention_summary(head, limits)]
    if history:
        parts.append(history_summary(head, history, limits))
        parts.append("Improve on these: fix the rows they miss, and try other ideas too. "
                     "Do not repeat a program already tried.")
    parts.append(f"Propose {n} different candidate programs for this head. {instruction}")
    return "\n\n".join(parts)


def repair_message(verdicts: Sequence[Verdict], wanted: int, instruction: str) -> str:
    """The user message after a round that left `wanted` programs to find: each rejected
    candidate with its error (`LINE:COL: message`) under the offending text."""
    lines = []
    for verdict in verdicts:
        if verdict.error is not None:
            lines += [f"- `{verdict.text}` was rejected:", *_pointed(verdict.text, verdict.error)]
        elif verdict.repeats is not None:
            lines.append(f"- `{verdict.text}` is not new ({verdict.repeats} was proposed before).")
    head = "Some candidates were not accepted:\n" + "\n".join(lines) + "\n\n" if lines else ""
    return (f"{head}Send {wanted} more programs: corrected versions of the rejected ones and "
            f"new ideas. {instruction}")


def _pointed(text: str, error: str) -> list[str]:
    """The candidate with a caret under the error's column when the error is on line 1."""
    where = re.match(r"1:(\d+): ", error)
    out = [f"    {text}"]
    if where and "\n" not in text:
        out.append("    " + " " * (int(where.group(1)) - 1) + "^")
    return [*out, f"    {error}"]
