"""The connection to an OpenAI-compatible server: API key, disk cache, bounded retries, run log.

    client = LLMClient(LLMConfig(backend="vllm", model="Qwen/Qwen3-8B",
                                 base_url="http://127.0.0.1:8000/v1"))
    reply = client.send(client.backend.start(system, user, n=8))   # the reply's JSON

Retried with exponential backoff (honouring Retry-After, bounded): 408, 409, 429, 5xx, refused
or dropped connections and connect timeouts. Not retried: a request that timed out waiting for
its answer (the server may still be computing it: sending it again only queues a second copy;
`LLMError` naming `timeout`), 401/403 (`LLMError` naming the key variables) and other 4xx
(`LLMError` with the server's message). The openai client's own retries are off, so that every
attempt is counted and logged here.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from openai import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    OpenAI,
    PermissionDeniedError,
)

from .backends import Backend, LLMRequest, make_backend
from .cache import ReplyCache, request_key
from .config import LLMConfig
from .costs import RunLog, cost_usd, usage_tokens
from .errors import LLMError

OPENAI_URL = "https://api.openai.com/v1"
KEY_VARIABLES = ("HEADCODE_API_KEY", "OPENAI_API_KEY")  # looked up in this order
NO_KEY = "headcode-no-key"  # sent to servers that need none (a local vLLM or llama.cpp)
RETRIED_STATUS = (408, 409, 429)


def resolve_api_key(config: LLMConfig, base_url: str) -> tuple[str, bool]:
    """The key to send and whether it is a real one; OpenAI's own API requires one."""
    key = config.api_key or next(
        (os.environ[v] for v in KEY_VARIABLES if os.environ.get(v)), None)
    if key:
        return key, True
    if urlparse(base_url).hostname == urlparse(OPENAI_URL).hostname:
        raise LLMError(f"no API key for {base_url}: set {' or '.join(KEY_VARIABLES)}")
    return NO_KEY, False


@dataclass
class ClientStats:
    """Counts since the client was made: requests asked for, answered from the cache, HTTP
    attempts made (retries included), and the prompt and completion tokens and seconds of the
    requests a server answered."""

    requests: int = 0
    cached: int = 0
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0


class LLMClient:
    """Sends `LLMRequest`s built by `backend` and returns the replies' JSON."""

    def __init__(self, config: LLMConfig, sleep: Callable[[float], None] = time.sleep):
        self.config = config
        self.backend: Backend = make_backend(config.backend, config.model, config.grammar_dialect,
                                             config.temperature, config.max_tokens)
        self.base_url = (config.base_url or OPENAI_URL).rstrip("/")
        key, self.key_given = resolve_api_key(config, self.base_url)
        self.openai = OpenAI(api_key=key, base_url=self.base_url, timeout=config.timeout,
                             max_retries=0)
        self.cache = ReplyCache(config.cache_dir) if config.cache_dir is not None else None
        log_path = config.log_path or (
            Path(config.cache_dir) / "requests.jsonl" if config.cache_dir is not None else None)
        self.log = RunLog(log_path, run=uuid.uuid4().hex[:12])
        self.stats = ClientStats()
        self._sleep = sleep
        self._draws: Counter[str] = Counter()

    # ------------------------------------------------------------ sending

    def send(self, request: LLMRequest) -> dict:
        """The reply to `request`, from the cache if this draw of it was answered before."""
        body = {"endpoint": request.endpoint, **request.body()}
        first_draw = request_key(self.base_url, body, 0)
        draw = self._draws[first_draw]
        self._draws[first_draw] += 1
        key = first_draw if draw == 0 else request_key(self.base_url, body, draw)
        self.stats.requests += 1
        if self.cache is not None and (hit := self.cache.get(key)) is not None:
            self.stats.cached += 1
            self._record(key, draw, hit, cached=True, attempts=0, seconds=0.0)
            return hit
        started = time.monotonic()
        reply, attempts = self._with_retries(request, key, draw, started)
        if self.cache is not None:
            self.cache.put(key, reply)
        self._record(key, draw, reply, cached=False, attempts=attempts,
                     seconds=time.monotonic() - started)
        return reply

    def _with_retries(self, request: LLMRequest, key: str, draw: int,
                      started: float) -> tuple[dict, int]:
        """The reply and the number of attempts it took."""
        last: Exception | None = None
        attempt = 0
        while attempt <= self.config.retries:
            if last is not None:
                self._sleep(self._delay(attempt - 1, last))
            attempt += 1
            self.stats.attempts += 1
            try:
                return self._post(request), attempt
            except (AuthenticationError, PermissionDeniedError) as e:
                raise self._failed(key, draw, attempt, started, self._auth_error(e)) from None
            except APITimeoutError as e:
                if not _connect_timeout(e):
                    error = LLMError(f"{self.base_url}: no answer within {self.config.timeout:g} s "
                                     "(not sent again: the server may still be computing it); "
                                     "allow more time (--llm-timeout) or send a shorter prompt "
                                     "(--llm-prompt compact)")
                    raise self._failed(key, draw, attempt, started, error) from None
                last = e
            except (APIStatusError, APIConnectionError) as e:
                if not _retried(e):
                    error = LLMError(f"{self.base_url} rejected the request "
                                     f"({getattr(e, 'status_code', '?')}): {_message(e)}")
                    raise self._failed(key, draw, attempt, started, error) from None
                last = e
            except LLMError as e:
                raise self._failed(key, draw, attempt, started, e) from None
        error = LLMError(f"{self.base_url}: no answer after {attempt} attempts "
                         f"(last: {_describe(last)})")
        raise self._failed(key, draw, attempt, started, error)

    def _post(self, request: LLMRequest) -> dict:
        api = self.openai.chat.completions if request.endpoint == "chat" else self.openai.responses
        raw = api.with_raw_response.create(**request.params,
                                           extra_body=request.extra_body or None)
        try:
            reply = json.loads(raw.text)
        except ValueError:
            raise LLMError(f"{self.base_url} answered with something that is not JSON") from None
        if not isinstance(reply, dict):
            raise LLMError(f"{self.base_url} answered with JSON that is not an object")
        return reply

    def _delay(self, retry: int, error: Exception | None) -> float:
        """Exponential backoff from `backoff`, or the server's Retry-After; at most
        `max_backoff` seconds."""
        delay = self.config.backoff * 2 ** retry
        response = getattr(error, "response", None)
        if response is not None:
            try:
                delay = float(response.headers.get("retry-after", ""))
            except ValueError:
                pass
        return max(0.0, min(delay, self.config.max_backoff))

    def _auth_error(self, error: APIStatusError) -> LLMError:
        if not self.key_given:
            return LLMError(f"{self.base_url} needs an API key ({error.status_code}): set "
                            f"{' or '.join(KEY_VARIABLES)}")
        return LLMError(f"{self.base_url} refused the API key ({error.status_code}: "
                        f"{_message(error)}); check {' or '.join(KEY_VARIABLES)}")

    # ------------------------------------------------------------ the run log

    def _record(self, key: str, draw: int, reply: dict, cached: bool, attempts: int,
                seconds: float) -> None:
        got_in, got_out = usage_tokens(reply)
        if not cached:
            self.stats.prompt_tokens += got_in or 0
            self.stats.completion_tokens += got_out or 0
            self.stats.seconds += seconds
        cost = 0.0 if cached else cost_usd(self.config.model, got_in, got_out, self.config.prices)
        self.log.record(backend=self.backend.name, model=self.config.model,
                        base_url=self.base_url, key=key, draw=draw, status="ok", cached=cached,
                        grammar=self.backend.constrained,
                        attempts=attempts, seconds=round(seconds, 3), input_tokens=got_in,
                        output_tokens=got_out, cost_usd=cost)

    def _failed(self, key: str, draw: int, attempts: int, started: float,
                error: LLMError) -> LLMError:
        """Log a failed request; return its error to raise."""
        self.log.record(backend=self.backend.name, model=self.config.model,
                        base_url=self.base_url, key=key, draw=draw, status="error", cached=False,
                        attempts=attempts, seconds=round(time.monotonic() - started, 3),
                        error=str(error))
        return error


def _connect_timeout(error: APITimeoutError) -> bool:
    """Whether the request timed out before reaching the server (safe to send again)."""
    cause = error.__cause__  # the HTTP library's exception (httpx or its successor)
    return any(kind.__name__ == "ConnectTimeout" for kind in type(cause).__mro__)


def _retried(error: Exception) -> bool:
    if isinstance(error, APIConnectionError):  # timeouts included
        return True
    status = getattr(error, "status_code", 0)
    return status in RETRIED_STATUS or status >= 500


def _message(error: Exception) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(getattr(error, "message", None) or error)


def _describe(error: Exception | None) -> str:
    if isinstance(error, APIStatusError):
        return f"{error.status_code}: {_message(error)}"
    if isinstance(error, APITimeoutError):
        return "timed out"
    if isinstance(error, APIConnectionError):
        return f"connection failed: {_message(error)}"
    return "none"
