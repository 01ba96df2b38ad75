"""The LLM proposer: shows a model a head's attention (and the best programs so far), reads
candidate programs from its reply, and sends the rejected ones back for repair.

    proposer = LLMProposer(LLMClient(LLMConfig(backend="openai-responses", model="gpt-5-mini")))
    programs = proposer.propose(head_view, history, n=8)

Every candidate is only parsed and type-checked (`candidates.judge`); nothing is executed.
Programs with holes `?` are returned as they are, for the synthesizer's fitter to fill
(`Proposal.with_holes` lists them).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ...dsl.holes import has_holes
from ...dsl.printer import show
from ...dsl.program import Program
from .candidates import Verdict, judge
from .client import LLMClient
from .errors import LLMError
from .prompt import PROMPT_STYLES, PromptStyle, first_message, language_reference, repair_message
from .views import HeadView, Scored


@dataclass(frozen=True)
class Proposal:
    """The outcome of one `propose`: new checked programs, those of them with holes, the
    candidates rejected (with their errors) or repeating earlier ones, the requests made, and
    the error that ended a repair round early (the programs accepted before it are kept)."""

    programs: list[Program]
    with_holes: list[Program] = field(default_factory=list)
    rejected: list[Verdict] = field(default_factory=list)
    repeated: list[Verdict] = field(default_factory=list)
    requests: int = 0
    repair_error: str | None = None


class LLMProposer:
    """Proposes programs for a head through `client`; at most `repair_rounds` follow-up requests
    per call feed errors back and ask for the programs still missing. `style` sets the
    prompt's length (default: the client's `config.prompt`, see `prompt.PROMPT_STYLES`).
    `counts` adds up what became of every candidate since the proposer was made."""

    def __init__(self, client: LLMClient, repair_rounds: int = 2,
                 style: PromptStyle | None = None):
        if repair_rounds < 0:
            raise ValueError("repair_rounds must be >= 0")
        self.client = client
        self.repair_rounds = repair_rounds
        self.style = style or PROMPT_STYLES[client.config.prompt]
        self.counts: Counter[str] = Counter()

    def propose(self, head: HeadView, history: Sequence[Scored] = (),
                n: int | None = None) -> list[Program]:
        """Up to `n` (default: the client's `config.candidates`) new programs for `head`, none
        repeating a program of `history`."""
        return self.propose_detailed(head, history, n).programs

    def propose_detailed(self, head: HeadView, history: Sequence[Scored] = (),
                         n: int | None = None) -> Proposal:
        """`propose`, with what became of every candidate."""
        n = self.client.config.candidates if n is None else n
        if n < 1:
            raise ValueError("n must be at least 1")
        backend = self.client.backend
        seen = {show(scored.program.closed) for scored in history}
        user = first_message(head, history, n, backend.instruction(n), self.style.limits)
        request = backend.start(language_reference(style=self.style), user, n)
        accepted: list[Program] = []
        rejected: list[Verdict] = []
        repeated: list[Verdict] = []
        requests = 0
        repair_error = None
        while True:
            try:
                reply = self.client.send(request)
            except LLMError as e:
                if not requests:
                    raise
                repair_error = str(e)  # keep what earlier rounds found
                break
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
        self.counts.update(requests=requests, accepted=len(accepted), rejected=len(rejected),
                           repeated=len(repeated), failed_repairs=repair_error is not None)
        return Proposal(programs, with_holes, rejected, repeated, requests, repair_error)

    def summary(self) -> str:
        """One line: requests, tokens, seconds, and what became of the candidates."""
        stats, counts = self.client.stats, self.counts
        seen = counts["accepted"] + counts["rejected"] + counts["repeated"]
        grammar = "grammar-constrained" if self.client.backend.constrained else "unconstrained"
        failed = f", {counts['failed_repairs']} repair rounds failed" \
            if counts["failed_repairs"] else ""
        return (f"LLM: {stats.requests} {grammar} requests ({stats.cached} from the cache), "
                f"{stats.prompt_tokens} prompt + {stats.completion_tokens} completion tokens in "
                f"{stats.seconds:.0f} s; {seen} candidates: {counts['accepted']} checked, "
                f"{counts['rejected']} rejected, {counts['repeated']} repeated{failed}")
