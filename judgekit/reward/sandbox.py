"""Running untrusted checker code: a pool of reused worker processes with a time limit, a memory limit, no
network and no writes outside a scratch directory.

Each worker is ``python -I judgekit/reward/_checker_worker.py`` (that file documents the in-worker limits),
started inside a new user and network namespace (``unshare --user --map-root-user --net``) where the machine
allows it, so it has no network interface but loopback of its own. A check that runs past ``timeout_s``, or a
worker that dies, costs that worker: it is killed and the next check starts a fresh one.

What this stops: checker mistakes and ordinary misuse (a loop that never ends, a memory blow-up, writing or
deleting files outside the scratch directory, opening sockets, starting processes, ctypes). What it does not
stop: a determined attacker. The checker runs in the worker's interpreter, so it can read any file the user
can read, and code written to defeat Python's audit hooks (they are not a security boundary) can get around
the file and process rules; only the network namespace (when available) and the resource limits are enforced
by the kernel. Run checker code you have not read in a container or VM of its own.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import json
import os
import queue
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from loguru import logger

from judgekit.errors import ConfigError

__all__ = ["DEFAULT_TIMEOUT_S", "CheckFailure", "CheckOutcome", "CheckerPool", "FailureKind", "check_timeout"]

FailureKind = Literal["judge", "raised", "timeout", "non_bool", "blocked", "memory", "crashed"]
"""Why an item could not be graded: the judge failed, or its checker raised, ran out of time, returned a
non-bool, did something the sandbox refuses, ran out of memory, or its worker died."""

_WORKER = str(Path(__file__).with_name("_checker_worker.py"))
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_MEMORY_MB = 1024


@dataclass(frozen=True)
class CheckFailure:
    """A checker that gave no verdict: the kind of failure and what happened."""

    kind: FailureKind
    error: str


CheckOutcome = bool | CheckFailure


def check_timeout(timeout_s: float) -> float:
    """``timeout_s`` if it is a usable per-check time limit, else a `ConfigError` naming ``checker_timeout_s``."""
    if not timeout_s > 0:
        raise ConfigError(
            f"checker_timeout_s must be a positive number of seconds, got {timeout_s!r}", "checker_timeout_s"
        )
    return timeout_s


def _network_isolation() -> list[str]:
    """The command prefix that starts a process without network, or [] where the machine does not allow it."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    prefix = [unshare, "--user", "--map-root-user", "--net"]
    try:
        subprocess.run([*prefix, "true"], check=True, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return []
    return prefix


class _Worker:
    def __init__(self, prefix: list[str], memory_bytes: int) -> None:
        self.scratch = tempfile.mkdtemp(prefix="judgekit-checker-")
        # a clean environment: no API keys for a checker to put in an error message
        env = {"PATH": os.defpath, "HOME": self.scratch, "TMPDIR": self.scratch, "LANG": "C.UTF-8"}
        self.process = subprocess.Popen(
            [*prefix, sys.executable, "-I", _WORKER, self.scratch, str(memory_bytes)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=self.scratch,
            env=env,
            start_new_session=True,
        )
        self.buffer = b""

    def run(self, request: dict[str, str], timeout_s: float) -> CheckOutcome:
        """One check, or a failure; raises `_Broken` when this worker must be replaced."""
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(json.dumps(request).encode() + b"\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise _Broken("crashed", f"its worker died ({exc})") from exc
        deadline = time.monotonic() + timeout_s
        fd = self.process.stdout.fileno()
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Broken("timeout", f"ran longer than checker_timeout_s={timeout_s:g}")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    code = self.process.poll()
                    raise _Broken("crashed", f"its worker died (exit status {code}); memory limit or a crash")
                self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        try:
            reply = json.loads(line)
            if reply["ok"]:
                return bool(reply["value"])
            return CheckFailure(reply["kind"], str(reply["error"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise _Broken("crashed", f"its worker sent a reply that is not the protocol's: {line[:80]!r}") from exc

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        shutil.rmtree(self.scratch, ignore_errors=True)


class _Broken(Exception):
    def __init__(self, kind: FailureKind, error: str) -> None:
        super().__init__(error)
        self.failure = CheckFailure(kind, error)


class CheckerPool:
    """Runs checker sources (Python defining ``check(response) -> bool``) in ``size`` reused sandboxed workers.

    ``timeout_s`` bounds each check (the worker that overruns is killed and replaced); ``memory_mb`` is each
    worker's address-space limit (``RLIMIT_AS``). ``network_isolation`` is ``"auto"`` (a network namespace
    where available), ``"required"`` (a `ConfigError` where not) or ``"off"`` (only the audit hook).
    Workers start on first use; `close` stops them (also done at exit).
    """

    def __init__(
        self,
        size: int | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        memory_mb: int = DEFAULT_MEMORY_MB,
        network_isolation: Literal["auto", "required", "off"] = "auto",
    ) -> None:
        check_timeout(timeout_s)
        self.size = size or max(1, min(4, os.cpu_count() or 1))
        self.timeout_s = timeout_s
        self.memory_bytes = memory_mb << 20
        self._prefix = [] if network_isolation == "off" else _network_isolation()
        if network_isolation == "required" and not self._prefix:
            raise ConfigError("network_isolation='required' but unshare --net is not allowed here", "network_isolation")
        if not self._prefix:
            logger.warning("judgekit checker sandbox: no network namespace; sockets are refused by an audit hook only")
        self._idle: queue.SimpleQueue[_Worker | None] = queue.SimpleQueue()
        for _ in range(self.size):
            self._idle.put(None)  # a slot; its worker starts on first use
        self._workers: set[_Worker] = set()
        self._threads = concurrent.futures.ThreadPoolExecutor(self.size, thread_name_prefix="judgekit-checker")
        self._lock = threading.Lock()
        self._closed = False
        atexit.register(self.close)

    @property
    def network_isolated(self) -> bool:
        """Whether workers run in a network namespace of their own (else only the audit hook refuses sockets)."""
        return bool(self._prefix)

    def check(self, source: str, response: str, prompt: str = "") -> CheckOutcome:
        """The checker's verdict on ``response``, or a `CheckFailure` (never raises for the checker's faults)."""
        if self._closed:
            raise RuntimeError("this CheckerPool is closed")
        worker = self._idle.get()
        try:
            if worker is None:
                worker = _Worker(self._prefix, self.memory_bytes)
                with self._lock:
                    self._workers.add(worker)
            outcome = worker.run({"source": source, "prompt": prompt, "response": response}, self.timeout_s)
        except _Broken as broken:
            self._discard(worker)
            worker = None
            return broken.failure
        finally:
            self._idle.put(worker)
        return outcome

    async def acheck(self, source: str, response: str, prompt: str = "") -> CheckOutcome:
        """Async twin of `check`: waits in one of the pool's own ``size`` threads, so ``size`` checks run at once
        and the event loop's default executor is left alone."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, self.check, source, response, prompt)

    def _discard(self, worker: _Worker | None) -> None:
        if worker is not None:
            with self._lock:
                self._workers.discard(worker)
            worker.kill()

    def close(self) -> None:
        """Stops every worker and removes their scratch directories."""
        self._closed = True
        self._threads.shutdown(wait=False)
        with self._lock:
            workers, self._workers = list(self._workers), set()
        for worker in workers:
            worker.kill()

    def __enter__(self) -> CheckerPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
