"""Tests for `judgekit.testing.FakeLLMServer`, driven by the official OpenAI and Anthropic SDKs."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from judgekit.testing import FakeLLMServer, Fault, RecordedRequest, Reply

KEY = "sk-test"
MSGS: list[Any] = [{"role": "user", "content": "is the sky blue"}]


@pytest.fixture(scope="module")
def shared() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as srv:
        yield srv


@pytest.fixture
def srv(shared: FakeLLMServer) -> FakeLLMServer:
    shared.reset()
    shared.latency = 0.0
    shared.default_reply = "Yes"
    return shared


@pytest.fixture
def oai(srv: FakeLLMServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=srv.base_url, api_key=KEY, max_retries=0) as client:
        yield client


@pytest.fixture
def ant(srv: FakeLLMServer) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=srv.url, api_key=KEY, max_retries=0) as client:
        yield client


def _post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


# ---------------------------------------------------------------- OpenAI


def test_openai_chat(srv: FakeLLMServer, oai: openai.OpenAI) -> None:
    resp = oai.chat.completions.create(model="judge-x", messages=MSGS)
    assert resp.choices[0].message.content == "Yes"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.model == "judge-x"
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (4, 1, 5)
    (rec,) = srv.requests
    assert rec.method == "POST" and rec.path == "/v1/chat/completions"
    assert rec.headers["Authorization"] == f"Bearer {KEY}" and rec.headers.get("authorization")
    assert rec.json["messages"] == MSGS


def test_openai_reply_overrides(srv: FakeLLMServer, oai: openai.OpenAI) -> None:
    srv.enqueue(
        Reply(
            "No",
            reasoning_content="think hard",
            finish_reason="length",
            model="m2",
            usage={"prompt_tokens": 7},
        )
    )
    resp = oai.chat.completions.create(model="judge-x", messages=MSGS)
    msg = resp.choices[0].message
    assert (msg.content, getattr(msg, "reasoning_content", None)) == ("No", "think hard")
    assert resp.choices[0].finish_reason == "length" and resp.model == "m2"
    assert resp.usage is not None and (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (7, 3)


def test_openai_stream_with_usage(srv: FakeLLMServer, oai: openai.OpenAI) -> None:
    text = "The answer is yes, clearly."
    srv.enqueue(Reply(text, reasoning_content="step one step two", chunk_size=4))
    stream = oai.chat.completions.create(
        model="judge-x", messages=MSGS, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    reasoning = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices)
    assert content == text and reasoning == "step one step two"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == len(text.split()) + 4
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == -(-len(text) // 4)


def test_openai_logprobs_and_n(srv: FakeLLMServer, oai: openai.OpenAI) -> None:
    resp = oai.chat.completions.create(model="m", messages=MSGS, logprobs=True, top_logprobs=2)
    lp = resp.choices[0].logprobs
    assert lp is not None and lp.content is not None
    assert [(t.token, t.logprob, t.top_logprobs) for t in lp.content] == [("Yes", 0.0, [])]

    scripted = [{"token": "No", "logprob": -0.1, "top_logprobs": [{"token": "No", "logprob": -0.1}]}]
    srv.enqueue(Reply("No", logprobs=scripted))
    resp = oai.chat.completions.create(model="m", messages=MSGS, logprobs=True, top_logprobs=1, n=3)
    assert [c.index for c in resp.choices] == [0, 1, 2]
    assert all(c.message.content == "No" for c in resp.choices)
    lp = resp.choices[2].logprobs
    assert lp is not None and lp.content is not None and lp.content[0].top_logprobs[0].logprob == -0.1

    # No logprobs unless asked for (or scripted).
    assert oai.chat.completions.create(model="m", messages=MSGS).choices[0].logprobs is None


def test_models_and_health(srv: FakeLLMServer, oai: openai.OpenAI) -> None:
    assert [m.id for m in oai.models.list()] == ["fake-judge"]
    with urllib.request.urlopen(srv.url + "/health", timeout=5) as resp:
        assert json.loads(resp.read()) == {"status": "ok"}
    assert srv.count() == 2 and srv.count("/v1/") == 1 and srv.count("/health") == 1


# ---------------------------------------------------------------- Azure


def test_azure(srv: FakeLLMServer) -> None:
    with openai.AzureOpenAI(azure_endpoint=srv.url, api_version="2024-10-21", api_key=KEY, max_retries=0) as client:
        resp = client.chat.completions.create(model="gpt-4o-judge", messages=MSGS)
    assert resp.choices[0].message.content == "Yes" and resp.model == "gpt-4o-judge"
    (rec,) = srv.requests
    assert rec.path == "/openai/deployments/gpt-4o-judge/chat/completions"
    assert rec.query == {"api-version": "2024-10-21"}
    assert rec.headers["api-key"] == KEY

    status, body = _post(srv.url + "/openai/deployments/d/chat/completions", {"messages": MSGS})
    assert status == 400 and "api-version" in body["error"]["message"]


def test_azure_auth() -> None:
    with FakeLLMServer(api_key=KEY) as srv:
        for key, ok in ((KEY, True), ("wrong", False)):
            with openai.AzureOpenAI(
                azure_endpoint=srv.url, api_version="2024-10-21", api_key=key, max_retries=0
            ) as client:
                if ok:
                    assert client.chat.completions.create(model="d", messages=MSGS).choices
                else:
                    with pytest.raises(openai.AuthenticationError):
                        client.chat.completions.create(model="d", messages=MSGS)


# ---------------------------------------------------------------- Anthropic


def test_anthropic_create(srv: FakeLLMServer, ant: anthropic.Anthropic) -> None:
    image = base64.b64encode(b"\x89PNG fake").decode()
    srv.enqueue("It is blue indeed")
    msg = ant.messages.create(
        model="claude-judge",
        max_tokens=64,
        system="You are a strict judge",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": image}},
                    {"type": "text", "text": "what colour"},
                ],
            }
        ],
    )
    assert msg.content[0].type == "text" and msg.content[0].text == "It is blue indeed"
    assert msg.model == "claude-judge" and msg.stop_reason == "end_turn" and msg.role == "assistant"
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (7, 4)
    (rec,) = srv.requests
    assert rec.path == "/v1/messages" and rec.json["max_tokens"] == 64
    assert KEY in (rec.headers.get("x-api-key"), rec.headers["authorization"].removeprefix("Bearer "))
    assert rec.json["system"] == "You are a strict judge"
    assert rec.json["messages"][0]["content"][0]["source"]["data"] == image


def test_anthropic_stream(srv: FakeLLMServer, ant: anthropic.Anthropic) -> None:
    text = "A fairly long streamed answer."
    srv.enqueue(Reply(text, chunk_size=5), Reply("raw events", reasoning_content="hmm"))
    with ant.messages.stream(model="c", max_tokens=64, messages=MSGS) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(pieces) == text and len(pieces) == -(-len(text) // 5)
    assert final.content[0].type == "text" and final.content[0].text == text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 5 and final.usage.input_tokens == 4

    events = list(ant.messages.create(model="c", max_tokens=64, messages=MSGS, stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    deltas = [e.delta for e in events if e.type == "content_block_delta"]
    assert "".join(d.thinking for d in deltas if d.type == "thinking_delta") == "hmm"
    assert "".join(d.text for d in deltas if d.type == "text_delta") == "raw events"


def test_anthropic_errors(srv: FakeLLMServer, ant: anthropic.Anthropic) -> None:
    srv.enqueue(Fault.rate_limit(2), Fault.status_code(529), Fault.empty())
    with pytest.raises(anthropic.RateLimitError) as info:
        ant.messages.create(model="c", max_tokens=8, messages=MSGS)
    assert info.value.response.headers["retry-after"] == "2"
    assert info.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    with pytest.raises(anthropic.APIStatusError) as info2:
        ant.messages.create(model="c", max_tokens=8, messages=MSGS)
    assert info2.value.status_code == 529
    assert ant.messages.create(model="c", max_tokens=8, messages=MSGS).content == []

    with (
        FakeLLMServer(api_key=KEY) as locked,
        anthropic.Anthropic(base_url=locked.url, api_key="nope", max_retries=0) as bad,
    ):
        with pytest.raises(anthropic.AuthenticationError) as info3:
            bad.messages.create(model="c", max_tokens=8, messages=MSGS)
        assert info3.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]


# ---------------------------------------------------------------- faults


def test_openai_status_faults(srv: FakeLLMServer, oai: openai.OpenAI) -> None:
    srv.enqueue(
        Fault.rate_limit(1.5),
        Fault.status_code(500),
        Fault.status_code(503, body={"detail": "overloaded"}, retry_after=3),
        Fault.status_code(400, body="bad prompt"),
    )
    with pytest.raises(openai.RateLimitError) as info:
        oai.chat.completions.create(model="m", messages=MSGS)
    assert info.value.response.headers["Retry-After"] == "1.5"
    assert info.value.code == "rate_limit_exceeded"
    with pytest.raises(openai.InternalServerError) as info2:
        oai.chat.completions.create(model="m", messages=MSGS)
    assert info2.value.status_code == 500 and info2.value.type == "server_error"
    with pytest.raises(openai.APIStatusError) as info3:
        oai.chat.completions.create(model="m", messages=MSGS)
    assert info3.value.status_code == 503 and info3.value.body == {"detail": "overloaded"}
    assert info3.value.response.headers["retry-after"] == "3"
    with pytest.raises(openai.BadRequestError, match="bad prompt"):
        oai.chat.completions.create(model="m", messages=MSGS)
    assert oai.chat.completions.create(model="m", messages=MSGS).choices[0].message.content == "Yes"


def test_openai_connection_faults(srv: FakeLLMServer, oai: openai.OpenAI) -> None:
    srv.enqueue(Fault.drop(), Fault.garbage(), Fault.empty(), Fault.slow(1.0))
    with pytest.raises(openai.APIConnectionError):
        oai.chat.completions.create(model="m", messages=MSGS)
    with pytest.raises((openai.OpenAIError, ValueError)):
        oai.chat.completions.create(model="m", messages=MSGS)
    assert oai.chat.completions.create(model="m", messages=MSGS).choices == []
    with pytest.raises(openai.APITimeoutError):
        oai.chat.completions.create(model="m", messages=MSGS, timeout=0.2)
    assert srv.count("/v1/chat/completions") == 4


def test_slow_then_default_reply(srv: FakeLLMServer, oai: openai.OpenAI) -> None:
    srv.default_reply = Reply("late")
    srv.enqueue(Fault.slow(0.2))
    t0 = time.perf_counter()
    assert oai.chat.completions.create(model="m", messages=MSGS).choices[0].message.content == "late"
    assert time.perf_counter() - t0 >= 0.2


def test_openai_auth() -> None:
    with FakeLLMServer(api_key=KEY) as srv:
        with openai.OpenAI(base_url=srv.base_url, api_key="wrong", max_retries=0) as bad:
            with pytest.raises(openai.AuthenticationError) as info:
                bad.chat.completions.create(model="m", messages=MSGS)
            assert info.value.status_code == 401 and info.value.code == "invalid_api_key"
        with openai.OpenAI(base_url=srv.base_url, api_key=KEY, max_retries=0) as good:
            assert good.chat.completions.create(model="m", messages=MSGS).choices[0].message.content == "Yes"


def test_stream_only() -> None:
    with FakeLLMServer(stream_only=True) as srv:
        srv.enqueue("first")
        with openai.OpenAI(base_url=srv.base_url, api_key=KEY, max_retries=0) as client:
            with pytest.raises(openai.BadRequestError, match="only supports stream mode") as info:
                client.chat.completions.create(model="qwq-plus", messages=MSGS)
            assert info.value.status_code == 400
            stream = client.chat.completions.create(model="qwq-plus", messages=MSGS, stream=True)
            assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "first"


# ---------------------------------------------------------------- scripting, counters, lifecycle


def test_fifo_shared_queue_and_callable(srv: FakeLLMServer, oai: openai.OpenAI, ant: anthropic.Anthropic) -> None:
    srv.enqueue("one", Reply("two"), "three")
    assert oai.chat.completions.create(model="m", messages=MSGS).choices[0].message.content == "one"
    assert ant.messages.create(model="c", max_tokens=8, messages=MSGS).content[0].text == "two"  # type: ignore[union-attr]
    assert oai.chat.completions.create(model="m", messages=MSGS).choices[0].message.content == "three"

    def echo(req: RecordedRequest) -> str:
        return f"echo {req.json['model']}"

    srv.default_reply = echo
    assert oai.chat.completions.create(model="abc", messages=MSGS).choices[0].message.content == "echo abc"
    srv.reset()
    assert srv.requests == [] and srv.count() == 0 and srv.max_in_flight == 0


def test_latency(srv: FakeLLMServer, oai: openai.OpenAI) -> None:
    oai.chat.completions.create(model="m", messages=MSGS)  # warm the connection
    srv.latency = 0.25
    srv.enqueue(Reply("x", delay=0.1))
    t0 = time.perf_counter()
    oai.chat.completions.create(model="m", messages=MSGS)
    elapsed = time.perf_counter() - t0
    assert 0.35 <= elapsed < 1.5


async def test_max_in_flight_and_a_hold_until_that_many(srv: FakeLLMServer) -> None:
    # replies wait until all 10 are in flight, however slowly a busy machine sends them
    srv.hold_until_in_flight(10)
    async with openai.AsyncOpenAI(base_url=srv.base_url, api_key=KEY, max_retries=0) as client:
        results = await asyncio.gather(*(client.chat.completions.create(model="m", messages=MSGS) for _ in range(10)))
        assert all(r.choices[0].message.content == "Yes" for r in results)
        assert srv.max_in_flight == 10 and srv.count() == 10
        # a hold never reached lets each request go after its timeout
        srv.reset()
        srv.hold_until_in_flight(2, timeout=0.3)
        t0 = time.perf_counter()
        await client.chat.completions.create(model="m", messages=MSGS)
        assert time.perf_counter() - t0 >= 0.3 and srv.max_in_flight == 1
        srv.hold_until_in_flight(2, timeout=60)
        srv.reset()  # lifts the hold: the next request is answered at once, not after a minute
        reply = await client.with_options(timeout=10).chat.completions.create(model="m", messages=MSGS)
        assert reply.choices[0].message.content == "Yes"


def test_restart_reuses_port() -> None:
    srv = FakeLLMServer()
    srv.start()
    try:
        port, url = srv.port, srv.base_url
        with openai.OpenAI(base_url=url, api_key=KEY, max_retries=0) as client:
            assert client.chat.completions.create(model="m", messages=MSGS).choices
            srv.stop()
            with pytest.raises(openai.APIConnectionError):
                client.chat.completions.create(model="m", messages=MSGS)
            srv.start()
            assert srv.port == port and srv.base_url == url
            assert client.chat.completions.create(model="m", messages=MSGS).choices
        assert srv.count() == 2  # the refused request never reached the server
    finally:
        srv.stop()


def test_stop_cuts_in_flight_requests() -> None:
    srv = FakeLLMServer(latency=5.0)
    srv.start()
    with openai.OpenAI(base_url=srv.base_url, api_key=KEY, max_retries=0) as client:
        errors: list[BaseException] = []

        def call() -> None:
            try:
                client.chat.completions.create(model="m", messages=MSGS)
            except BaseException as err:
                errors.append(err)

        thread = threading.Thread(target=call)
        thread.start()
        while srv.in_flight == 0:
            time.sleep(0.01)
        t0 = time.perf_counter()
        srv.stop()
        thread.join(5)
        assert time.perf_counter() - t0 < 2
        assert len(errors) == 1 and isinstance(errors[0], openai.APIConnectionError)


def test_cli() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "judgekit.testing", "--port", "0", "--reply", "Yes", "--latency", "0.01"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        base_url = line.split("OpenAI base URL: ")[1].split(")")[0]
        status, body = _post(base_url + "/chat/completions", {"model": "m", "messages": MSGS})
        assert status == 200 and body["choices"][0]["message"]["content"] == "Yes"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
