"""Tests for `judgekit.legacy`: the old lmms-eval helpers, against a real local server."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import Any

import pytest
from loguru import logger

from judgekit import ConfigError, legacy
from judgekit._transport import HTTPTransport
from judgekit.legacy import get_chat_response, get_eval, parse_score
from judgekit.testing import FakeLLMServer, Fault, Reply

KEY = "sk-legacy-secret-0123456789"
_ENV = (
    "API_TYPE", "OPENAI_API_KEY", "OPENAI_API_URL", "OPENAI_BASE_URL", "MODEL_VERSION", "AZURE_API_KEY",
    "AZURE_OPENAI_API_KEY", "AZURE_ENDPOINT", "AZURE_OPENAI_ENDPOINT", "AZURE_API_VERSION", "API_VERSION",
    "OPENAI_API_VERSION", "JUDGEKIT_LEGACY_RETRY_PAUSE", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
    "http_proxy", "https_proxy", "all_proxy",
)  # fmt: skip


# -- parse_score ----------------------------------------------------------------------------------

SENTINEL = [-1, -1]


@pytest.mark.parametrize(
    ("review", "expected"),
    [
        # the old rule, unchanged
        ("8 9", [8.0, 9.0]),
        ("8,9", [8.0, 9.0]),
        ("8.5 3\nexplanation", [8.5, 3.0]),
        ("10 10\nAssistant 1 was better because ...", [10.0, 10.0]),
        ("-1 5", [-1.0, 5.0]),
        ("8 9\r\nmore", [8.0, 9.0]),  # float() strips the "\r", as before
        # where the old rule failed, exactly two plain numbers on the first line
        ("8, 9", [8.0, 9.0]),
        (" 8 9", [8.0, 9.0]),
        ("Score: 8 9", [8.0, 9.0]),
        ("8  9", [8.0, 9.0]),
        ("8 9 ", [8.0, 9.0]),
        ("8\t9", [8.0, 9.0]),  # decided: a tab separates like the double space does
        ("8 ,9", [8.0, 9.0]),
        ("7.5, 6\nwhy", [7.5, 6.0]),
        # anything else: the sentinel
        ("8 9 10", SENTINEL),
        ("8", SENTINEL),
        ("", SENTINEL),
        ("\n8 9", SENTINEL),  # only the first line counts
        ("Assistant 1: 8, Assistant 2: 9", SENTINEL),
        ("Assistant 1 gets 8", SENTINEL),
        ("8 out of 10", SENTINEL),
        ("8-9", SENTINEL),
        ("8 - 9", SENTINEL),
        ("Score:-8 9", SENTINEL),
        ("8/10 9/10", SENTINEL),
        ("eight nine", SENTINEL),
        (None, SENTINEL),
        (42, SENTINEL),
        (["8 9"], SENTINEL),
        (b"8 9", SENTINEL),
    ],
)
def test_parse_score(review: Any, expected: list[Any]) -> None:
    result = parse_score(review)
    assert result == expected
    assert [type(x) for x in result] == [type(x) for x in expected]


def test_parse_score_sentinel_is_ints_and_fresh() -> None:
    first = parse_score("no scores")
    assert first == [-1, -1] and all(type(x) is int for x in first)
    first.append(0)
    assert parse_score("no scores") == [-1, -1]


def test_parse_score_keeps_old_float_quirks() -> None:
    nan_pair = parse_score("nan 8")
    assert math.isnan(nan_pair[0]) and nan_pair[1] == 8.0
    assert parse_score("inf 1e3") == [math.inf, 1000.0]


# -- get_eval / get_chat_response -------------------------------------------------------------------


@pytest.fixture(scope="module")
def _server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(model_name="served-model", api_key=KEY, default_reply="7 8\nfine") as srv:
        yield srv


@pytest.fixture
def srv(_server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLMServer]:
    """The local server, reset, with an environment pointing only at it (full endpoint URL)."""
    _server.reset()
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_URL", _server.base_url + "/chat/completions")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    yield _server
    _server.reset()


@pytest.fixture
def logs() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lines.append, level="DEBUG", format="{message}")
    yield lines
    logger.remove(sink)


def test_get_eval_full_url_payload_and_reply(srv: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_VERSION", "gpt-4-0613")
    srv.enqueue(Reply(content="  8 9\nAssistant 1 ...  ", model="gpt-4-0613-served"))
    assert get_eval("compare these", 123, retry_pause=0) == ("8 9\nAssistant 1 ...", "gpt-4-0613-served")
    assert srv.count() == 1
    rec = srv.requests[-1]
    assert rec.path == "/v1/chat/completions"
    assert rec.headers["authorization"] == f"Bearer {KEY}"
    assert rec.json["model"] == "gpt-4-0613"
    assert rec.json["messages"] == [
        {"role": "system", "content": legacy.EVAL_SYSTEM_PROMPT},
        {"role": "user", "content": "compare these"},
    ]
    assert legacy.EVAL_SYSTEM_PROMPT == (
        "You are a helpful and precise assistant for checking the quality of the answer."
    )
    assert rec.json["temperature"] == 0.2
    assert rec.json["max_tokens"] == 123


def test_get_eval_base_url_and_server_model(srv: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_URL", srv.base_url)
    assert get_eval("q", 64, retry_pause=0) == ("7 8\nfine", "gpt-4o-2024-11-20")  # the provider's default model
    assert srv.requests[-1].path == "/v1/chat/completions"
    assert srv.requests[-1].json["model"] == "gpt-4o-2024-11-20"


def test_get_chat_response(srv: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_VERSION", "gpt-4o-mini")
    srv.enqueue(" (B) ")
    assert get_chat_response("which option?", retry_pause=0) == "(B)"
    payload = srv.requests[-1].json
    assert payload["messages"][0] == {
        "role": "system",
        "content": "You are a helpful and precise assistant for checking the correctness of the answer.",
    }
    assert payload["messages"][1] == {"role": "user", "content": "which option?"}
    assert payload["temperature"] == 0.0
    assert payload["max_tokens"] == 256
    assert payload["model"] == "gpt-4o-mini"


def test_env_is_read_at_call_time(srv: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_VERSION", "first")
    assert get_eval("q", 8, retry_pause=0)[1] == "first"
    monkeypatch.setenv("MODEL_VERSION", "second")
    assert get_eval("q", 8, retry_pause=0)[1] == "second"
    assert [r.json["model"] for r in srv.requests] == ["first", "second"]


def test_empty_reply_returns_at_once(srv: FakeLLMServer) -> None:
    srv.enqueue("   ")
    assert get_eval("q", 16, retries=5, retry_pause=5) == ("", "")
    assert get_chat_response("q", retries=5, retry_pause=5) == "7 8\nfine"  # the queue is spent
    assert srv.count() == 2


def test_faults_then_success(srv: FakeLLMServer) -> None:
    srv.enqueue(Fault.status_code(500), Fault.drop(), "9 10")
    assert get_eval("q", 16, retries=3, retry_pause=0) == ("9 10", "gpt-4o-2024-11-20")
    assert srv.count() == 3


def test_no_choices_is_retried(srv: FakeLLMServer) -> None:
    srv.enqueue(Fault.empty(), "5 5")
    assert get_chat_response("q", retries=2, retry_pause=0) == "5 5"
    assert srv.count() == 2


def test_all_attempts_fail(srv: FakeLLMServer) -> None:
    srv.enqueue(*[Fault.status_code(500)] * 5)
    started = time.perf_counter()
    assert get_eval("q", 16, retries=2, retry_pause=0) == ("", "")
    assert time.perf_counter() - started < 2
    assert srv.count() == 2
    srv.reset()
    srv.enqueue(*[Fault.status_code(503)] * 5)
    assert get_chat_response("q", retries=2, retry_pause=0) == ""
    assert srv.count() == 2


def test_zero_retries_is_an_error_not_an_empty_result(srv: FakeLLMServer) -> None:
    with pytest.raises(ConfigError, match="retries must be at least 1") as info:
        get_eval("q", 16, retries=0)
    assert info.value.field == "retries"
    assert srv.count() == 0


def test_pause_between_attempts_not_after_last(srv: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(legacy.time, "sleep", sleeps.append)
    srv.enqueue(*[Fault.status_code(500)] * 3)
    assert get_eval("q", 16, retries=3) == ("", "")
    assert sleeps == [5.0, 5.0]  # the old NUM_SECONDS_TO_SLEEP, not after the last attempt
    sleeps.clear()
    monkeypatch.setenv("JUDGEKIT_LEGACY_RETRY_PAUSE", "0.25")
    srv.enqueue(*[Fault.status_code(500)] * 2)
    assert get_chat_response("q", retries=2) == ""
    assert sleeps == [0.25]
    sleeps.clear()
    srv.enqueue(*[Fault.status_code(500)] * 2)
    assert get_chat_response("q", retries=2, retry_pause=1.5) == ""  # the argument wins over the env
    assert sleeps == [1.5]


def test_real_pause(srv: FakeLLMServer) -> None:
    srv.enqueue(*[Fault.status_code(500)] * 2)
    started = time.perf_counter()
    assert get_eval("q", 16, retries=2, retry_pause=0.3) == ("", "")
    assert 0.3 <= time.perf_counter() - started < 0.6 + 1.0
    assert srv.count() == 2


def test_azure(srv: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setenv("API_TYPE", "azure")
    monkeypatch.setenv("AZURE_ENDPOINT", srv.url)
    monkeypatch.setenv("AZURE_API_KEY", KEY)
    monkeypatch.setenv("API_VERSION", "2024-02-01")
    monkeypatch.setenv("MODEL_VERSION", "my-gpt4-deployment")
    srv.enqueue("6 7")
    assert get_eval("q", 32, retry_pause=0) == ("6 7", "my-gpt4-deployment")
    rec = srv.requests[-1]
    assert rec.path == "/openai/deployments/my-gpt4-deployment/chat/completions"
    assert rec.headers["api-key"] == KEY
    assert "authorization" not in rec.headers
    assert rec.query["api-version"] == "2024-02-01"
    assert rec.json["temperature"] == 0.2 and rec.json["max_tokens"] == 32


def test_missing_key_raises_before_any_request(monkeypatch: pytest.MonkeyPatch, srv: FakeLLMServer) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("OPENAI_API_URL")
    sent: list[Any] = []

    async def no_network(self: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(args)
        raise AssertionError("no request may be sent")

    monkeypatch.setattr(HTTPTransport, "request_json", no_network)
    for call in (lambda: get_eval("q", 16, retries=3, retry_pause=0.5), lambda: get_chat_response("q", retries=3)):
        with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
            call()  # every item of the task would otherwise be a silent empty reply
    assert sent == []


def test_misconfiguration_raises(srv: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="max_tokens"):
        get_eval("q", 0, retry_pause=0)
    monkeypatch.setenv("API_TYPE", "no-such-provider")
    with pytest.raises(ConfigError, match="no-such-provider"):
        get_chat_response("q", retry_pause=0)
    monkeypatch.setenv("API_TYPE", "openai")
    monkeypatch.setenv("OPENAI_API_URL", "not a url")
    with pytest.raises(ConfigError):
        get_eval("q", 16, retry_pause=0)
    assert srv.count() == 0


def test_a_task_local_signature_is_a_loud_error(srv: FakeLLMServer) -> None:
    """ActivityNet-QA's own get_eval(question, answer, pred, max_tokens) is not llava's: no request, no "" ."""
    with pytest.raises(TypeError):
        get_eval("what is he doing", "dancing", "dancing", 64)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"first argument must be the prompt text.*evaluate_custom"):
        get_eval(1024, "content")  # type: ignore[arg-type]  # air_bench's order, called positionally
    with pytest.raises(TypeError, match="max_tokens must be an int"):
        get_eval("content", "1024")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="temperature"):
        get_chat_response("q", temperature="0")  # type: ignore[arg-type]
    assert srv.count() == 0
    # air_bench, openhermes, ... call get_eval(max_tokens=..., content=...) by keyword: that is a drop-in
    assert get_eval(max_tokens=1024, content="q", retry_pause=0) == ("7 8\nfine", "gpt-4o-2024-11-20")


def test_get_chat_response_temperature_and_unpacking(srv: FakeLLMServer) -> None:
    srv.enqueue("10", "0.5")
    reply = get_chat_response("q", 16, temperature=0.5, retry_pause=0)
    assert reply == "10" and isinstance(reply, str) and reply.strip() == "10" and "1" in reply
    assert srv.requests[-1].json["temperature"] == 0.5
    with pytest.raises(TypeError, match=r"not \(text, model\)"):
        _content, _model = get_chat_response("q", temperature=0.5, retry_pause=0)  # mmvet's own helper's shape
    assert srv.requests[-1].json["temperature"] == 0.5


def test_key_never_logged(srv: FakeLLMServer, logs: list[str]) -> None:
    echo = f"Incorrect API key provided: {KEY}."
    srv.enqueue(Fault.status_code(401, body=echo), Fault.status_code(500, body=echo), Fault.drop())
    assert get_eval("q", 16, retries=3, retry_pause=0) == ("", "")
    assert srv.count() == 3
    assert len(logs) >= 3
    text = "\n".join(logs)
    assert KEY not in text
    assert "Incorrect API key provided: ***" in text
