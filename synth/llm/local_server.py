"""llama.cpp's OpenAI-compatible server (`python -m llama_cpp.server`, from the
`llama-cpp-python` package) on a free local port, started and always stopped again:

    with llama_server("SmolLM2-135M-Instruct.Q4_1.gguf") as server:
        LLMConfig(backend="llamacpp", model="local", base_url=server.url)

Used by the integration test and benchmarks/llm_proposer.py; for long work start the server
yourself (docs/llm.md).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .errors import LLMError

HOST = "127.0.0.1"


@dataclass(frozen=True)
class LocalServer:
    """A running server: its base URL (`http://127.0.0.1:P/v1`) and process."""

    url: str
    process: subprocess.Popen

    @property
    def running(self) -> bool:
        return self.process.poll() is None


def free_port() -> int:
    """A TCP port nothing listens on at the moment of asking."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def server_command(model: Path, port: int, context: int, threads: int | None) -> list[str]:
    """The command line that serves `model` on `port`."""
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", HOST,
               "--port", str(port), "--n_ctx", str(context), "--verbose", "False"]
    if threads is not None:
        command += ["--n_threads", str(threads)]
    return command


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/models", timeout=2) as answer:
            return answer.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def llama_server(model: Path | str, context: int = 4096, threads: int | None = None,
                 startup_seconds: float = 180.0) -> Iterator[LocalServer]:
    """Serve the GGUF file `model` on a free port of 127.0.0.1 (a context of `context`
    tokens) and yield it; the server is stopped on leaving, whatever happened."""
    model = Path(model)
    if not model.is_file():
        raise LLMError(f"{model}: no such GGUF file")
    port = free_port()
    url = f"http://{HOST}:{port}/v1"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(server_command(model, port, context, threads),
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + startup_seconds
            while not _ready(url):
                if process.poll() is not None:
                    log.seek(0)
                    tail = log.read().decode(errors="replace").strip().splitlines()[-1:]
                    raise LLMError(f"llama.cpp's server stopped while starting (exit "
                                   f"{process.returncode}): {' '.join(tail) or 'no output'}")
                if time.monotonic() > deadline:
                    raise LLMError(f"llama.cpp's server did not answer within "
                                   f"{startup_seconds:g} s")
                time.sleep(0.5)
            yield LocalServer(url, process)
        finally:
            stop(process)


def stop(process: subprocess.Popen, grace: float = 15.0) -> None:
    """Terminate `process`, killing it if it outlives `grace` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
