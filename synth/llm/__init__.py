"""The LLM proposer: candidate head programs from a language model behind any OpenAI-compatible
server, constrained by the language's typed grammar where the server can, and always parsed and
type-checked (never executed) before use. See docs/llm.md.

Names are loaded on first use, so that `headcode.synth.llm.config` (the settings and their
defaults) imports without the `openai` client.
"""

from importlib import import_module

_WHERE = {
    "BACKENDS": "backends", "LLMRequest": "backends", "LLMClient": "client",
    "LLMConfig": "config", "read_log": "costs", "totals": "costs", "PROMPT_STYLES": "prompt",
    "PromptStyle": "prompt", "SummaryLimits": "prompt", "LLMProposer": "proposer",
    "Proposal": "proposer", "served_gbnf": "served", "served_lark": "served",
    "HeadView": "views", "RowMiss": "views", "Scored": "views", "worst_rows": "views",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f".{_WHERE[name]}", __name__), name)
