"""A real vLLM server (the CPU build, in its own venv) for the vLLM test tier and the benchmarks.

`serve_vllm` starts ``python -m vllm.entrypoints.openai.api_server`` on a free loopback port, waits until
``GET /v1/models`` answers, yields the root URL and stops the whole process group afterwards. Offline: no hub
access, no usage stats, a 1 GiB CPU KV cache.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

__all__ = ["VLLMStartError", "free_port", "serve_vllm"]


class VLLMStartError(RuntimeError):
    """vLLM exited or did not become ready; the message ends with the tail of its log."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/v1/models", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)  # vLLM runs its engine in child processes: stop the whole group
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextmanager
def serve_vllm(
    model: str | Path,
    *,
    python: str | Path,
    log_path: str | Path,
    served_name: str = "tiny",
    args: Sequence[str] = (),
    startup_timeout: float = 300.0,
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """Serve ``model`` with the vLLM installed for ``python``; yields ``http://127.0.0.1:PORT`` (no ``/v1``).

    ``args`` are extra server flags (``--logprobs-mode raw_logprobs``, ...); the server's output goes to
    ``log_path``. Raises `VLLMStartError` when it exits or is not ready within ``startup_timeout`` seconds.
    """
    port, log_path = free_port(), Path(log_path)
    environment = {
        **os.environ,
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "HF_HUB_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        **(env or {}),
    }
    command = [
        str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
        "--served-model-name", served_name, "--host", "127.0.0.1", "--port", str(port),
        "--max-model-len", "2048", "--dtype", "float32", *args,
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment, start_new_session=True)
    try:
        while not _ready(url):
            if proc.poll() is not None:
                raise VLLMStartError(
                    f"vLLM exited with code {proc.returncode} while starting; {log_path}:\n{_tail(log_path)}"
                )
            if time.monotonic() - started > startup_timeout:
                raise VLLMStartError(f"vLLM not ready within {startup_timeout:g}s; {log_path}:\n{_tail(log_path)}")
            time.sleep(1.0)
        yield url
    finally:
        _stop(proc)
