"""How a synthesis run searches and chooses (one set of defaults), and what a proposer is."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from .front import Choice

if TYPE_CHECKING:
    from ..dsl.program import Program
    from .llm.views import HeadView, Scored


class Proposer(Protocol):
    """Proposes checked programs for one head, shown its attention and the best so far (e.g.
    `synth.llm.proposer.LLMProposer`); holes `?` are fitted afterwards."""

    def propose(self, head: HeadView, history: Sequence[Scored] = ()) -> list[Program]: ...


@dataclass
class SynthSettings:
    """How a run searches (proposers, data split, group size, budgets) and how it chooses."""

    proposers: tuple[str, ...] = ("enum",)
    n_synth: int = 60
    n_heldout: int = 20
    group: int = 16  # heads searched together: their fits share the candidate terms
    choice: Choice = field(default_factory=Choice)
    steps: int = 60  # fitting steps of the soft score over every candidate term
    max_selectors: int = 600  # the enumeration's candidate budget
    seconds: float | None = None  # time budget of each group's soft-score search
    llm_sequences: int = 4  # synthesis sequences the LLM is shown
    llm: Proposer | None = field(default=None, repr=False)  # needed when "llm" in proposers
