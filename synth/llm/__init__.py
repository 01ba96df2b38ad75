"""The LLM proposer: candidate head programs from a language model behind any OpenAI-compatible
server, constrained by the language's grammar where the server can, and always parsed and
type-checked (never executed) before use. See docs/llm.md."""

from .backends import BACKENDS, LLMRequest
from .client import LLMClient, LLMConfig
from .costs import read_log, totals
from .prompt import SummaryLimits
from .proposer import LLMProposer, Proposal
from .served import served_gbnf, served_lark
from .views import HeadView, RowMiss, Scored, worst_rows

__all__ = [
    "BACKENDS", "HeadView", "LLMClient", "LLMConfig", "LLMProposer", "LLMRequest", "Proposal",
    "RowMiss", "Scored", "SummaryLimits", "read_log", "served_gbnf", "served_lark", "totals",
    "worst_rows",
]
