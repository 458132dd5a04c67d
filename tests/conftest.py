"""Shared fixtures: a clean environment and a real local OpenAI/Anthropic-compatible server."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from judgekit import JudgeConfig
from judgekit.config import known_env_variables
from judgekit.testing import FakeLLMServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No judge settings from the host environment leak into a test: every variable the registered providers
    declare (read from the registry, so a provider added later is covered too)."""
    for name in known_env_variables():
        if "{" not in name:  # an openai_compatible vendor's names are only known with its service
            monkeypatch.delenv(name, raising=False)


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
