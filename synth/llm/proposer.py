"""The LLM proposer: shows a model a head's attention (and the best programs so far), reads
candidate programs from its reply, and sends the rejected ones back for repair.

    proposer = LLMProposer(LLMClient(LLMConfig(backend="openai-responses", model="gpt-5-mini")))
    programs = proposer.propose(head_view, history, n=8)

Every candidate is only parsed and type-checked (`candidates.judge`); nothing is executed.
Programs with holes `?` are returned as they are, for the synthesizer's fitter to fill
(`Proposal.with_holes` lists them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ...dsl.holes import has_holes
from ...dsl.printer import show
from ...dsl.program import Program
from .candidates import Verdict, judge
from .client import LLMClient
from .prompt import SummaryLimits, first_message, language_reference, repair_message
from .views import HeadView, Scored


@dataclass(frozen=True)
class Proposal:
    """The outcome of one `propose`: new checked programs, those of them with holes, the
    candidates rejected (with their errors) or repeating earlier ones, and the requests made."""

    programs: list[Program]
    with_holes: list[Program] = field(default_factory=list)
    rejected: list[Verdict] = field(default_factory=list)
    repeated: list[Verdict] = field(default_factory=list)
    requests: int = 0


class LLMProposer:
    """Proposes programs for a head through `client`; at most `repair_rounds` follow-up requests
    per call feed errors back and ask for the programs still missing."""

    def __init__(self, client: LLMClient, repair_rounds: int = 2,
                 limits: SummaryLimits = SummaryLimits()):
        if repair_rounds < 0:
            raise ValueError("repair_rounds must be >= 0")
        self.client = client
        self.repair_rounds = repair_rounds
        self.limits = limits

    def propose(self, head: HeadView, history: Sequence[Scored] = (), n: int = 8) -> list[Program]:
        """Up to `n` new programs for `head`, none repeating a program of `history`."""
        return self.propose_detailed(head, history, n).programs

    def propose_detailed(self, head: HeadView, history: Sequence[Scored] = (),
                         n: int = 8) -> Proposal:
        """`propose`, with what became of every candidate."""
        if n < 1:
            raise ValueError("n must be at least 1")
        backend = self.client.backend
        seen = {show(scored.program.closed) for scored in history}
        user = first_message(head, history, n, backend.instruction(n), self.limits)
        request = backend.start(language_reference(), user, n)
        accepted: list[Program] = []
        rejected: list[Verdict] = []
        repeated: list[Verdict] = []
        requests = 0
        while True:
            reply = self.client.send(request)
            requests += 1
            verdicts = [judge(text, seen) for text in backend.candidates(reply)]
            accepted += [v.program for v in verdicts if v.program is not None]
            rejected += [v for v in verdicts if v.error is not None]
            repeated += [v for v in verdicts if v.repeats is not None]
            wanted = n - len(accepted)
            if wanted <= 0 or requests > self.repair_rounds:
                break
            message = repair_message(verdicts, wanted, backend.instruction(wanted))
            request = backend.follow_up(request, reply, [v.feedback() for v in verdicts],
                                        message, wanted)
        programs = accepted[:n]
        with_holes = [p for p in programs if has_holes(p.expr)]
        return Proposal(programs, with_holes, rejected, repeated, requests)
