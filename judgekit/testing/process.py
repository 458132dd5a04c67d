"""A `FakeLLMServer` in its own process, so that benchmarks measure the client's CPU alone."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["spawn_fake_server"]

_READY = re.compile(r"listening on (\S+)\s+\(OpenAI base URL: (\S+)\)")


@contextmanager
def spawn_fake_server(
    latency: float = 0.0, reply: str = "1", *args: str
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run ``python -m judgekit.testing`` on a free port; yields ``(process, OpenAI base URL)`` and stops it after.

    Extra ``args`` go to the server's command line (``--stream-only``, ``--api-key K``, ...).
    """
    cmd = [sys.executable, "-m", "judgekit.testing", "--port", "0", "--latency", str(latency), "--reply", reply, *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        match = _READY.search(line)
        if not match:
            raise RuntimeError(f"the test server did not start: {line!r}")
        yield proc, match[2]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
