"""A checker worker: runs untrusted ``check(response) -> bool`` sources, one request per line, until stdin closes.

Started by `judgekit.reward.sandbox.CheckerPool` as ``python -I <this file> <scratch> <memory_bytes>``, so it
imports nothing from judgekit and nothing from PYTHONPATH. Before the first check it lowers its own limits
(address space, file size, no new processes), moves into its scratch directory and installs an audit hook
that refuses writes outside that directory, sockets, subprocesses and ctypes. A refused action raises
``PermissionError`` in the checker and is also recorded, so a checker that swallows the error still fails.

Protocol: each request is one JSON line ``{"source", "prompt", "response"}``; each reply is one JSON line
``{"ok": true, "value": bool}`` or ``{"ok": false, "kind": ..., "error": ...}``, written to a private copy of
the original stdout (fd 1 itself goes to /dev/null, so a checker's ``print`` cannot corrupt the protocol).
"""

from __future__ import annotations

import inspect
import json
import os
import resource
import sys

CHECK_NAMES = ("check", "check_following", "evaluate")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_PATH_EVENTS = {
    "os.remove": 0,
    "os.rename": 0,
    "os.mkdir": 0,
    "os.rmdir": 0,
    "os.chmod": 0,
    "os.chown": 0,
    "os.symlink": 1,
    "os.link": 1,
    "os.truncate": 0,
    "os.utime": 0,
    "shutil.rmtree": 0,
    "shutil.copyfile": 1,
    "shutil.move": 1,
}
_DENIED_PREFIXES = ("socket.", "subprocess.", "os.exec", "os.spawn", "os.posix_spawn", "ctypes.")
_DENIED = {"os.system", "os.fork", "os.forkpty", "os.kill", "os.killpg", "pty.spawn", "sys.addaudithook", "os.chdir"}


def checker_function(namespace: dict[str, object]) -> object:
    """The checker a source defines: ``check``, else VerIF's ``check_following``, else ``evaluate``."""
    for name in CHECK_NAMES:
        fn = namespace.get(name)
        if callable(fn):
            return fn
    raise NameError(f"the checker source defines none of {', '.join(CHECK_NAMES)}")


def call_checker(fn, prompt: str, response: str) -> object:
    """``fn(response)``, or ``fn(prompt, response)`` for a checker that takes two arguments (VerIF's
    ``check_following(instruction, response)``)."""
    try:
        params = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
    except (TypeError, ValueError):
        params = []
    return fn(prompt, response) if len(params) >= 2 else fn(response)


class _Guard:
    """The audit hook: refuses what a checker may not do, and remembers the first refusal of a check."""

    def __init__(self, scratch: str) -> None:
        self.scratch = os.path.realpath(scratch)
        self.violation: str | None = None
        self.active = False

    def inside(self, path: object) -> bool:
        if isinstance(path, int):
            return True  # an already-open descriptor: its opening was checked
        try:
            real = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return False
        return real == self.scratch or real.startswith(self.scratch + os.sep)

    def refuse(self, message: str) -> None:
        if self.violation is None:
            self.violation = message
        raise PermissionError(f"judgekit checker sandbox: {message}")

    def __call__(self, event: str, args: tuple) -> None:
        if not self.active:
            return
        if event == "open":
            path, mode, flags = args
            writing = (isinstance(flags, int) and flags & _WRITE_FLAGS) or (
                isinstance(mode, str) and any(c in mode for c in "wax+")
            )
            if writing and not self.inside(path):
                self.refuse(f"writing {path!r} outside the scratch directory")
        elif event in _PATH_EVENTS:
            for path in args[: _PATH_EVENTS[event] + 1]:
                if path is not None and not self.inside(path):
                    self.refuse(f"{event} on {path!r} outside the scratch directory")
        elif event in _DENIED or event.startswith(_DENIED_PREFIXES):
            self.refuse(f"{event} is not allowed")


def _limit(memory_bytes: int) -> None:
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 20, 16 << 20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _check(request: dict, cache: dict[str, object], guard: _Guard) -> dict:
    source = request["source"]
    guard.violation = None
    guard.active = True
    try:
        fn = cache.get(source)
        if fn is None:
            namespace: dict[str, object] = {"__name__": "judgekit_checker"}
            exec(compile(source, "<checker>", "exec"), namespace)
            fn = checker_function(namespace)
            if len(cache) > 4096:
                cache.clear()
            cache[source] = fn
        value = call_checker(fn, request.get("prompt", ""), request["response"])
    except MemoryError:
        return {"ok": False, "kind": "memory", "error": "ran out of its memory limit"}
    except BaseException as exc:
        if guard.violation:
            return {"ok": False, "kind": "blocked", "error": guard.violation}
        return {"ok": False, "kind": "raised", "error": f"{type(exc).__name__}: {exc}"[:500]}
    finally:
        guard.active = False
    if guard.violation:
        return {"ok": False, "kind": "blocked", "error": guard.violation}
    if not isinstance(value, bool):
        return {"ok": False, "kind": "non_bool", "error": f"returned {type(value).__name__}, not bool"}
    return {"ok": True, "value": value}


def main() -> None:
    scratch, memory_bytes = sys.argv[1], int(sys.argv[2])
    reply = os.fdopen(os.dup(1), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the worker
    os.chdir(scratch)
    sys.dont_write_bytecode = True  # importing a module must not try to write a .pyc outside the scratch dir
    _limit(memory_bytes)
    guard = _Guard(scratch)
    sys.addaudithook(guard)
    cache: dict[str, object] = {}
    for line in sys.stdin:
        try:
            answer = _check(json.loads(line), cache, guard)
        except MemoryError:
            answer = {"ok": False, "kind": "memory", "error": "ran out of its memory limit"}
        reply.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
