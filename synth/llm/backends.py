"""How each kind of server is asked for programs, and where the programs are in its reply.

- `openai-responses`: `POST /responses` with a custom tool whose input format is the served
  Lark grammar; one program per tool call.
- `vllm`: `POST /chat/completions` with `structured_outputs: {grammar: ...}` (GBNF for its
  xgrammar back end, or Lark for guidance); 1 to n programs, one per line.
- `llamacpp`: `POST /chat/completions` with `grammar: GBNF`; 1 to n programs, one per line.
- `plain`: `POST /chat/completions` without a grammar; one program per line, by instruction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .candidates import split_candidates
from .errors import LLMError
from .served import served_gbnf, served_lark

TOOL_NAME = "head_program"
TOOL_DESCRIPTION = ("One headcode program (a selector or pattern expression) explaining the "
                    "attention head. Call once per candidate program.")


@dataclass(frozen=True)
class LLMRequest:
    """One request: `params` are keyword arguments of the openai client's `create`, and
    `extra_body` the fields it does not know (grammars) merged into the JSON body."""

    endpoint: str  # "chat" or "responses"
    params: dict
    extra_body: dict = field(default_factory=dict)

    def body(self) -> dict:
        """The JSON body as sent."""
        return {**self.params, **self.extra_body}


class Backend(ABC):
    """Builds a backend's requests and reads the candidate programs out of its replies."""

    name: str
    endpoint: str

    def __init__(self, model: str, temperature: float | None = None,
                 max_tokens: int | None = None):
        self.model = model
        self.temperature = temperature
        self.max_tokens = max_tokens

    constrained = True  # whether requests carry a grammar

    @abstractmethod
    def instruction(self, n: int) -> str:
        """How the model should deliver `n` programs."""

    @abstractmethod
    def start(self, system: str, user: str, n: int) -> LLMRequest:
        """The first request of a conversation."""

    @abstractmethod
    def candidates(self, reply: dict) -> list[str]:
        """The candidate program texts of a reply, in order."""

    @abstractmethod
    def follow_up(self, request: LLMRequest, reply: dict, verdicts: Sequence[str], user: str,
                  n: int) -> LLMRequest:
        """The next request: the conversation so far, the reply, one verdict per candidate of
        the reply, and a new user message asking for `n` programs."""


class ChatBackend(Backend):
    """Chat completions; `grammar(n)` gives the extra body fields that constrain a reply to
    1 to n programs, one per line (None: no constraint)."""

    endpoint = "chat"

    def __init__(self, name: str, model: str, grammar: Callable[[int], dict] | None = None,
                 **sampling):
        super().__init__(model, **sampling)
        self.name = name
        self.grammar = grammar

    def instruction(self, n: int) -> str:
        return (f"Reply with {n} programs, one per line, and nothing else: no numbering, code "
                "fences, comments or explanations.")

    def _request(self, messages: list[dict], n: int) -> LLMRequest:
        params: dict = {"model": self.model, "messages": messages}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.max_tokens is not None:
            params["max_tokens"] = self.max_tokens
        return LLMRequest("chat", params, self.grammar(n) if self.grammar else {})

    def start(self, system: str, user: str, n: int) -> LLMRequest:
        return self._request([{"role": "system", "content": system},
                              {"role": "user", "content": user}], n)

    @property
    def constrained(self) -> bool:
        return self.grammar is not None

    def candidates(self, reply: dict) -> list[str]:
        """One per line; a reply cut off at `max_tokens` loses its last, unfinished line."""
        found = []
        for choice in reply.get("choices") or []:
            text = (choice.get("message") or {}).get("content") or ""
            if choice.get("finish_reason") == "length":
                text = text.rpartition("\n")[0]
            found += split_candidates(text)
        return found

    def follow_up(self, request, reply, verdicts, user, n):
        choices = reply.get("choices") or [{}]
        said = (choices[0].get("message") or {}).get("content") or ""
        messages = [*request.params["messages"], {"role": "assistant", "content": said},
                    {"role": "user", "content": user}]
        return self._request(messages, n)


class ResponsesBackend(Backend):
    """The Responses API with a custom tool whose input is constrained by the Lark grammar."""

    name = "openai-responses"
    endpoint = "responses"

    def instruction(self, n: int) -> str:
        return (f"Call the tool `{TOOL_NAME}` {n} times, once per program: the input of each "
                "call is one program.")

    def tool(self) -> dict:
        return {"type": "custom", "name": TOOL_NAME, "description": TOOL_DESCRIPTION,
                "format": {"type": "grammar", "syntax": "lark", "definition": served_lark()}}

    def _request(self, system: str, items: list[dict]) -> LLMRequest:
        params: dict = {"model": self.model, "instructions": system, "input": items,
                        "tools": [self.tool()], "tool_choice": "required",
                        "parallel_tool_calls": True}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.max_tokens is not None:
            params["max_output_tokens"] = self.max_tokens
        return LLMRequest("responses", params)

    def start(self, system, user, n):
        return self._request(system, [{"role": "user", "content": user}])

    @staticmethod
    def _calls(reply: dict) -> list[dict]:
        return [item for item in reply.get("output") or []
                if item.get("type") == "custom_tool_call" and item.get("name") == TOOL_NAME]

    @staticmethod
    def _text(reply: dict) -> str:
        return "\n".join(part.get("text") or "" for item in reply.get("output") or []
                         if item.get("type") == "message" for part in item.get("content") or []
                         if part.get("type") == "output_text")

    def candidates(self, reply: dict) -> list[str]:
        calls = self._calls(reply)
        if reply.get("status") == "incomplete":  # cut off at max_output_tokens
            calls = calls[:-1]
        if calls:
            return [text for call in calls for text in split_candidates(call.get("input") or "")]
        return split_candidates(self._text(reply))  # a model that answered without the tool

    def follow_up(self, request, reply, verdicts, user, n):
        items = list(request.params["input"])
        calls = self._calls(reply)
        if calls:
            for call, verdict in zip(calls, _per_call(calls, verdicts)):
                items.append({"type": "custom_tool_call", "call_id": call["call_id"],
                              "name": call["name"], "input": call["input"]})
                items.append({"type": "custom_tool_call_output", "call_id": call["call_id"],
                              "output": verdict})
        elif self._text(reply):
            items.append({"role": "assistant", "content": self._text(reply)})
        items.append({"role": "user", "content": user})
        return self._request(request.params["instructions"], items)


def _per_call(calls: list[dict], verdicts: Sequence[str]) -> list[str]:
    """Verdicts grouped per tool call (a call normally holds one candidate)."""
    out, at = [], 0
    for call in calls:
        count = max(1, len(split_candidates(call.get("input") or "")))
        out.append("; ".join(verdicts[at:at + count]) or "empty input")
        at += count
    return out


BACKENDS = ("openai-responses", "vllm", "llamacpp", "plain")
GRAMMAR_DIALECTS = ("gbnf", "lark")


def make_backend(name: str, model: str, grammar_dialect: str = "gbnf",
                 temperature: float | None = None, max_tokens: int | None = None) -> Backend:
    """The backend called `name` (one of BACKENDS); `grammar_dialect` is vLLM's: GBNF for its
    default xgrammar back end, Lark for its guidance back end."""
    sampling = {"temperature": temperature, "max_tokens": max_tokens}
    if name == "openai-responses":
        return ResponsesBackend(model, **sampling)
    if name == "vllm":
        if grammar_dialect not in GRAMMAR_DIALECTS:
            raise LLMError(f"vLLM grammar dialect must be one of {', '.join(GRAMMAR_DIALECTS)}, "
                           f"not {grammar_dialect!r}")
        served = served_gbnf if grammar_dialect == "gbnf" else served_lark
        return ChatBackend(name, model, lambda n: {"structured_outputs": {"grammar": served(n)}},
                           **sampling)
    if name == "llamacpp":
        return ChatBackend(name, model, lambda n: {"grammar": served_gbnf(n)}, **sampling)
    if name == "plain":
        return ChatBackend(name, model, None, **sampling)
    raise LLMError(f"unknown LLM backend {name!r}: choose one of {', '.join(BACKENDS)}")
