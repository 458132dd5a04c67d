"""Shared fixtures: a clean environment and a real local OpenAI/Anthropic-compatible server."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator

import pytest

from judgekit import JudgeConfig
from judgekit.config import known_env_variables
from judgekit.testing import FakeLLMServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# A run started in the background of a non-interactive shell (`bash scripts/test.sh &`) inherits SIGINT ignored,
# and so would every subprocess the tests start: the Ctrl-C tests need Ctrl-C to mean what it means at a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def patient_math_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    """math-verify's guard is wall-clock time: on a loaded machine a plain fraction can take longer than its 5 s.
    The tests check what it decides, not how fast."""
    from judgekit import verifiers

    monkeypatch.setattr(verifiers, "MATH_TIMEOUT_S", 120)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No judge settings from the host environment leak into a test: every variable the registered providers
    declare (read from the registry, so a provider added later is covered too)."""
    for name in known_env_variables():
        if "{" not in name:  # an openai_compatible vendor's names are only known with its service
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def fresh_verl_rewards() -> Iterator[None]:
    """The verl reward functions keep one reward system (judge, cache, circuit breaker) per set of settings for
    the life of the process: a test that judged an item must not hand its cached verdict to the next test."""
    yield
    module = sys.modules.get("judgekit.reward.verl")
    if module is not None:
        module.reset()


@pytest.fixture(scope="session")
def _session_server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(default_reply="1") as srv:
        yield srv


@pytest.fixture
def server(_session_server: FakeLLMServer) -> Iterator[FakeLLMServer]:
    """The shared local server, reset before each test (default reply "1", no latency)."""
    _session_server.reset()
    _session_server.latency = 0.0
    _session_server.default_reply = "1"
    _session_server.api_key = None
    yield _session_server
    _session_server.reset()


@pytest.fixture
def fast_config(server: FakeLLMServer) -> JudgeConfig:
    """A config pointing at the local server with quick retries."""
    return JudgeConfig(
        api_type="openai",
        base_url=server.base_url,
        api_key="sk-test-key",
        model_name="gpt-4o",
        retry_delay=0.01,
        max_retry_delay=0.05,
        timeout=5,
    )


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """The messages judgekit logs at WARNING and above during the test."""
    from loguru import logger

    lines: list[str] = []
    handler = logger.add(lambda message: lines.append(message.record["message"]), level="WARNING")
    yield lines
    logger.remove(handler)


def _signal_state() -> tuple[object, object, frozenset[int]]:
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, []) if threading.current_thread() is threading.main_thread() else ()
    return signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM), frozenset(int(s) for s in mask)


@pytest.fixture(autouse=True)
def no_signal_leaks() -> Iterator[None]:
    """A test that leaves a SIGINT/SIGTERM handler or a blocked signal behind fails, and the state is restored.

    Handlers and the signal mask outlive a test: a leaked SIGINT handler swallows the Ctrl-C a later test sends,
    and a blocked or ignored signal is inherited by every subprocess a later test starts."""
    before = _signal_state()
    yield
    after = _signal_state()
    if after != before:
        signal.signal(signal.SIGINT, before[0])  # type: ignore[arg-type]
        signal.signal(signal.SIGTERM, before[1])  # type: ignore[arg-type]
        if threading.current_thread() is threading.main_thread():
            signal.pthread_sigmask(signal.SIG_SETMASK, before[2])
        pytest.fail(f"the test left signal state behind: {before} -> {after}")
