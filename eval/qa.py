"""Multiple-choice QA by log-likelihood, with or without heads replaced (docs/qa.md).

Items are JSONL lines `{"prompt": str, "choices": [str, ...], "answer": int}`. Each choice is
scored by the summed log-likelihood of its tokens given the prompt, and by the per-token mean;
the prediction is the best-scoring choice, ties going to the first (as numpy's argmax, and
lm-evaluation-harness, do). Accuracy is the fraction of items whose prediction is the answer.

Tokenization rule (`encode_choice`): trailing whitespace of the prompt is moved to the front of
the choice (as lm-evaluation-harness does). The context is tokenizer(prompt), leading special
tokens (BOS) included. If tokenizer(prompt + choice) starts with the context, the choice's
tokens are the rest of it; otherwise a merge crosses the boundary (GPT-2: "hello wor" + "ld") and
the choice is encoded on its own, without special tokens, after the context's ids, so that every
choice is conditioned on the same context. Trailing special tokens (an appended EOS) are dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ..dsl.tokens import Tokens, tokens_from_ids
from ..models.attention import Source
from ..models.errors import ModelError
from ..models.substitute import Head, Substitution, pad

DATA = Path(__file__).resolve().parent / "data"
STORIES_QA = DATA / "stories-qa.jsonl"


class QAError(ModelError):
    """A QA file or item is malformed, or cannot be scored."""


@dataclass(frozen=True)
class Item:
    """One multiple-choice question; `where` is FILE:LINE."""

    prompt: str
    choices: list[str]
    answer: int
    where: str = ""


def load_items(path: str | Path) -> list[Item]:
    """The items of a JSONL file; a one-line `QAError` with FILE:LINE for the first bad one."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise QAError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise QAError(f"{path}: cannot read ({e})") from None
    return parse_items(text.splitlines(), str(path))


def parse_items(lines: Iterable[str], name: str = "<items>") -> list[Item]:
    """Items from JSONL lines (blank lines skipped); errors name `name`:LINE."""
    items = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            items.append(_item(line, f"{name}:{number}"))
    if not items:
        raise QAError(f"{name}: no items (one JSON object per line: prompt, choices, answer)")
    return items


def _item(line: str, where: str) -> Item:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as e:
        raise QAError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(data, dict):
        raise QAError(f"{where}: expected a JSON object with prompt, choices and answer")
    missing = [key for key in ("prompt", "choices", "answer") if key not in data]
    if missing:
        raise QAError(f"{where}: missing field {', '.join(missing)}")
    prompt, choices, answer = data["prompt"], data["choices"], data["answer"]
    if not isinstance(prompt, str) or not prompt.strip():
        raise QAError(f"{where}: prompt must be a non-empty string")
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        raise QAError(f"{where}: choices must be a list of strings")
    if len(choices) < 2:
        raise QAError(f"{where}: choices must hold at least 2 strings (got {len(choices)})")
    if not all(c.strip() for c in choices):
        raise QAError(f"{where}: every choice must be a non-blank string")
    if len(set(choices)) != len(choices):
        raise QAError(f"{where}: choices must be distinct")
    if isinstance(answer, bool) or not isinstance(answer, int):
        raise QAError(f"{where}: answer must be an integer index into choices")
    if not 0 <= answer < len(choices):
        raise QAError(f"{where}: answer {answer} is out of range for {len(choices)} choices")
    return Item(prompt=prompt, choices=list(choices), answer=answer, where=where)


def _ids(tokenizer, text: str, special: bool) -> list[int]:
    """Token ids of `text`, trailing special tokens (an appended EOS) dropped."""
    ids = list(tokenizer(text, add_special_tokens=special)["input_ids"])
    specials = set(tokenizer.all_special_ids)
    while ids and ids[-1] in specials:
        ids.pop()
    return ids


def encode_choice(tokenizer, prompt: str, choice: str) -> tuple[list[int], list[int]]:
    """(context ids, choice ids) by the module's tokenization rule."""
    stripped = prompt.rstrip()
    choice = prompt[len(stripped):] + choice
    context = _ids(tokenizer, stripped, True)
    whole = _ids(tokenizer, stripped + choice, True)
    if len(whole) > len(context) and whole[: len(context)] == context:
        continuation = whole[len(context):]
    else:
        specials = set(tokenizer.all_special_ids)
        continuation = [i for i in _ids(tokenizer, choice, False) if i not in specials]
    if not context:
        raise QAError(f"the prompt {prompt!r} has no tokens and the tokenizer adds no BOS")
    if not continuation:
        raise QAError(f"the choice {choice!r} has no tokens")
    return context, continuation


@dataclass(frozen=True)
class ItemScores:
    """Per-choice summed and mean log-likelihoods (nats) of one item, and its answer."""

    answer: int
    sums: list[float]
    means: list[float]
    tokens: list[int]

    @property
    def predicted_sum(self) -> int:
        """The choice of highest summed log-likelihood (ties: the first)."""
        return _first_max(self.sums)

    @property
    def predicted_mean(self) -> int:
        """The choice of highest per-token mean log-likelihood (ties: the first)."""
        return _first_max(self.means)


def _first_max(values: Sequence[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))


@dataclass(frozen=True)
class QAResult:
    """Scores of every item; accuracy by summed and by mean log-likelihood."""

    items: list[ItemScores]

    @property
    def accuracy_sum(self) -> float:
        return sum(s.predicted_sum == s.answer for s in self.items) / len(self.items)

    @property
    def accuracy_mean(self) -> float:
        return sum(s.predicted_mean == s.answer for s in self.items) / len(self.items)


def prompt_rows(tokenizer, items: Sequence[Item]) -> list[Tokens]:
    """Each item's context as a row: the reference corpus of mean-ablation on QA."""
    return [
        tokens_from_ids(tokenizer, encode_choice(tokenizer, item.prompt, item.choices[0])[0])
        for item in items
    ]


@torch.inference_mode()
def _row_scores(sub: Substitution, rows: Sequence[Tokens], starts: Sequence[int]) -> list[float]:
    """Summed log-likelihood of tokens starts[b]: of each row (right-padded in one pass)."""
    logits = sub.logits(rows)
    ids, _, _ = pad(rows, logits.device)
    n = logits.shape[1]
    scored = torch.zeros(len(rows), n, dtype=torch.bool, device=logits.device)
    for b, (row, start) in enumerate(zip(rows, starts)):
        scored[b, start : len(row)] = True
    target = scored[:, 1:]
    picked = logits[:, :-1][target].float().log_softmax(dim=-1)
    logp = picked.gather(1, ids[:, 1:][target][:, None])[:, 0]
    owner = torch.arange(len(rows), device=logits.device)[:, None].expand(-1, n - 1)[target]
    totals = torch.zeros(len(rows), dtype=torch.float64, device=logits.device)
    totals.index_add_(0, owner, logp.double())
    return totals.tolist()


def score(
    model,
    tokenizer,
    items: Sequence[Item],
    *,
    replace: Mapping[Head, Source] | None = None,
    batch_size: int = 16,
) -> QAResult:
    """Score every choice of `items` with `model` (heads in `replace` substituted)."""
    if not items:
        raise QAError("no items to score")
    sub = Substitution(model, replace)
    pairs = []  # (item index, choice index, row, start of the choice)
    for i, item in enumerate(items):
        for c, choice in enumerate(item.choices):
            try:
                context, continuation = encode_choice(tokenizer, item.prompt, choice)
            except QAError as e:
                raise QAError(f"{item.where or f'item {i}'}: {e}") from None
            row = tokens_from_ids(tokenizer, context + continuation)
            pairs.append((i, c, row, len(context)))
    pairs.sort(key=lambda p: -len(p[2]))
    sums: dict[tuple[int, int], tuple[float, int]] = {}
    step = max(1, int(batch_size))
    for start in range(0, len(pairs), step):
        chunk = pairs[start : start + step]
        totals = _row_scores(sub, [p[2] for p in chunk], [p[3] for p in chunk])
        for (i, c, row, begin), total in zip(chunk, totals):
            sums[(i, c)] = (total, len(row) - begin)
    scores = []
    for i, item in enumerate(items):
        got = [sums[(i, c)] for c in range(len(item.choices))]
        scores.append(ItemScores(
            answer=item.answer,
            sums=[s for s, _ in got],
            means=[s / k for s, k in got],
            tokens=[k for _, k in got],
        ))
    return QAResult(scores)


def compare(
    model,
    tokenizer,
    items: Sequence[Item],
    replace: Mapping[Head, Source],
    *,
    batch_size: int = 16,
) -> dict:
    """Accuracy (sum and mean) without and with the heads of `replace` substituted."""
    base = score(model, tokenizer, items, batch_size=batch_size)
    new = score(model, tokenizer, items, replace=replace, batch_size=batch_size)
    return {
        "items": len(items),
        "baseline_accuracy_sum": base.accuracy_sum,
        "baseline_accuracy_mean": base.accuracy_mean,
        "accuracy_sum": new.accuracy_sum,
        "accuracy_mean": new.accuracy_mean,
        "replaced": sorted([int(layer), int(head)] for layer, head in replace),
    }
