"""The one request path: retries over real loopback HTTP, fail-fast, timeouts, sync/async twins, batches."""

from __future__ import annotations

import asyncio
import pickle
import time

import pytest

from judgekit import (
    JudgeConfig,
    JudgeFactory,
    JudgeInterface,
    JudgeRequest,
    JudgeResponse,
    ProviderError,
    RateLimitError,
)
from judgekit._sync import run_sync
from judgekit.testing import FakeLLMServer, Fault, Reply

REQ = JudgeRequest(messages=[{"role": "user", "content": "Is 2+2=4? Answer 1 or 0."}])


def make_judge(config: JudgeConfig, **update: object) -> JudgeInterface:
    return JudgeFactory.create_judge(config=config.merged(**update))


def test_success(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    response = make_judge(fast_config).evaluate(REQ)
    assert response.success and response.content == "1"
    assert response.attempts == 1 and response.latency_s > 0
    assert response.model_used == "gpt-4o" and response.usage.total_tokens > 0


@pytest.mark.parametrize(
    "fault",
    [
        Fault.rate_limit(0.0),
        Fault.status_code(500),
        Fault.status_code(503),
        Fault.drop(),
        Fault.garbage(),
        Fault.empty(),
    ],
    ids=["429", "500", "503", "dropped", "garbage", "no-choices"],
)
def test_transient_faults_are_retried(server: FakeLLMServer, fast_config: JudgeConfig, fault: Fault) -> None:
    server.enqueue(fault, fault, "0")
    response = make_judge(fast_config).evaluate(REQ)
    assert response.success, response.error_message
    assert response.content == "0" and response.attempts == 3
    assert server.count("/v1/chat/completions") == 3


def test_retry_after_is_honoured(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    server.enqueue(Fault.rate_limit(retry_after=0.4))
    started = time.perf_counter()
    response = make_judge(fast_config).evaluate(REQ)
    assert response.success and response.attempts == 2
    assert time.perf_counter() - started >= 0.4


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_fail_fast(server: FakeLLMServer, fast_config: JudgeConfig, status: int) -> None:
    server.enqueue(Fault.status_code(status))
    response = make_judge(fast_config).evaluate(REQ)
    assert not response.success and response.attempts == 1
    assert response.status_code == status
    assert server.count() == 1
    if status in (401, 403):
        assert response.error_type == "AuthenticationError" and "API key" in (response.error_message or "")


def test_retries_exhausted_is_an_honest_failure(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    server.enqueue(*[Fault.status_code(500)] * 4)
    response = make_judge(fast_config, num_retries=2).evaluate(REQ)
    assert not response.success
    assert response.content == "" and response.attempts == 3
    assert "after 3 attempts" in (response.error_message or "")
    assert response.error_type == "ProviderError" and response.status_code == 500


def test_timeout_is_retried_then_fails(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    server.enqueue(Fault.slow(2.0), Fault.slow(2.0))
    started = time.perf_counter()
    response = make_judge(fast_config, timeout=0.3, num_retries=1).evaluate(REQ)
    assert not response.success and response.error_type == "JudgeTimeoutError"
    assert response.attempts == 2 and time.perf_counter() - started < 1.9


def test_empty_reply_is_a_failure_not_retried(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    server.enqueue(Reply(""))
    response = make_judge(fast_config).evaluate(REQ)
    assert not response.success and response.attempts == 1
    assert "empty reply" in (response.error_message or "")


def test_connection_refused(fast_config: JudgeConfig) -> None:
    config = fast_config.merged(base_url="http://127.0.0.1:9/v1", num_retries=1)
    response = make_judge(config).evaluate(REQ)
    assert not response.success and response.error_type == "ProviderConnectionError"
    assert response.attempts == 2


async def test_async_twin_and_sync_inside_running_loop(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    judge = make_judge(fast_config)
    assert (await judge.aevaluate(REQ)).content == "1"
    # A running loop (like Jupyter's) must not break the synchronous call.
    assert judge.evaluate(REQ).content == "1"
    await judge.aclose()


def test_run_sync_refuses_its_own_loop() -> None:
    async def inner() -> None:
        async def noop() -> int:
            return 1

        run_sync(noop())

    with pytest.raises(RuntimeError, match="await the async twin"):
        run_sync(inner())


def test_batch_keeps_order_and_length_whatever_fails(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    judge = make_judge(fast_config, num_retries=0)
    server.default_reply = lambda rec: rec.json["messages"][-1]["content"]  # echo
    requests = [JudgeRequest(messages=[{"role": "user", "content": f"item {i}"}]) for i in range(40)]
    server.enqueue(Fault.status_code(400), Fault.status_code(401))
    responses = judge.evaluate_batch(requests, max_concurrency=8)
    assert len(responses) == 40
    assert sum(not r.success for r in responses) == 2
    for i, response in enumerate(responses):
        if response.success:
            assert response.content == f"item {i}"


async def test_concurrency_is_bounded(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    server.latency = 0.05
    judge = make_judge(fast_config, max_concurrent=4)
    server.hold_until_in_flight(4)  # replies wait for that many in flight, however slowly a busy machine sends
    responses = await judge.aevaluate_batch([REQ] * 20)  # no batch bound: the judge's max_concurrent holds
    assert all(r.success for r in responses)
    assert server.max_in_flight == 4
    server.reset()
    server.hold_until_in_flight(2)
    responses = await judge.aevaluate_batch([REQ] * 20, max_concurrency=2)
    assert all(r.success for r in responses) and server.max_in_flight == 2
    await judge.aclose()


async def test_batch_max_concurrency_is_the_batch_bound_even_above_max_concurrent(
    server: FakeLLMServer, fast_config: JudgeConfig
) -> None:
    """Defect 3: a judge made with max_concurrent=4 and a batch asking for 16 runs 16 in flight."""
    server.latency = 0.1
    judge = make_judge(fast_config, max_concurrent=4)
    server.hold_until_in_flight(16)  # replies wait for that many in flight, however slowly a busy machine sends
    responses = await judge.aevaluate_batch([REQ] * 32, max_concurrency=16)
    assert all(r.success for r in responses)
    assert server.max_in_flight == 16
    await judge.aclose()


def test_seed_style_sync_subclass_works_async_and_in_batches() -> None:
    class SeedJudge(JudgeInterface):
        provider_name = "seed"

        def evaluate(self, request: JudgeRequest) -> JudgeResponse:
            text = request.messages[-1]["content"]
            if text == "boom":
                raise ProviderError("backend exploded", provider="seed")
            return JudgeResponse(content=text.upper(), model_used="seed")

    judge = SeedJudge(JudgeConfig(model_name="seed"))
    assert judge.evaluate(JudgeRequest(messages=[{"role": "user", "content": "ok"}])).content == "OK"
    results = judge.evaluate_batch(
        [JudgeRequest(messages=[{"role": "user", "content": t}]) for t in ("a", "boom", "c")]
    )
    assert [r.success for r in results] == [True, False, True]
    assert results[1].error_message and "backend exploded" in results[1].error_message


def test_unexpected_exception_becomes_failure() -> None:
    class Buggy(JudgeInterface):
        async def _send(self, request: JudgeRequest, config: JudgeConfig) -> JudgeResponse:
            raise KeyError("choices")

    response = Buggy(JudgeConfig()).evaluate(REQ)
    assert not response.success and response.error_type == "UnexpectedError"  # a closed set (FailureKind)
    assert response.error_message and response.error_message.startswith("KeyError: ")


def test_batch_cancellation_leaves_no_tasks(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    server.latency = 0.5
    judge = make_judge(fast_config)

    async def run() -> int:
        task = asyncio.ensure_future(judge.aevaluate_batch([REQ] * 30, max_concurrency=10))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0)
        current = asyncio.current_task()
        return len([t for t in asyncio.all_tasks() if t is not current and not t.done()])

    assert asyncio.run(run()) == 0


def test_provider_errors_pickle() -> None:
    exc = RateLimitError("slow down", provider="openai", model="m", status_code=429, retry_after=2.0)
    again = pickle.loads(pickle.dumps(exc))
    assert isinstance(again, RateLimitError)
    assert (again.status_code, again.retry_after, again.retryable, str(again)) == (429, 2.0, True, str(exc))


def test_context_managers(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    with make_judge(fast_config) as judge:
        assert judge.evaluate(REQ).success

    async def run() -> bool:
        async with make_judge(fast_config) as judge:
            return (await judge.aevaluate(REQ)).success

    assert asyncio.run(run())


# ---------------------------------------------------------------------------- a request's own config


def test_seed_advanced_usage_runs_verbatim(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    """Defect 1: the project's "Advanced Usage" example, with only OPENAI_API_KEY / OPENAI_API_URL set."""
    from PIL import Image

    monkeypatch.chdir(tmp_path)  # the example reads "path/to/image.jpg"
    (tmp_path / "path" / "to").mkdir(parents=True)  # type: ignore[operator]
    Image.new("RGB", (8, 8), "orange").save("path/to/image.jpg")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-only-in-env")
    monkeypatch.setenv("OPENAI_API_URL", f"{server.base_url}/chat/completions")
    server.api_key = "sk-only-in-env"  # the server refuses any other key
    server.default_reply = "Yes, it is a cat."

    from judgekit import JudgeConfig, JudgeFactory, JudgeRequest

    # Custom configuration
    config = JudgeConfig(
        model_name="gpt-4o-2024-08-06", temperature=0.0, max_tokens=256, num_retries=3, judge_type="binary"
    )

    # Create judge instance
    judge = JudgeFactory.create_judge(api_type="openai", config=config)

    # Create request with images
    request = JudgeRequest(
        messages=[{"role": "user", "content": "Is this a cat?"}], images=["path/to/image.jpg"], config=config
    )

    # Evaluate
    response = judge.evaluate(request)
    print(response.content)

    assert response.success, response.error_message
    assert response.content == "Yes, it is a cat."
    sent = server.requests[-1].json
    assert sent["model"] == "gpt-4o-2024-08-06" and sent["max_tokens"] == 256
    assert sent["messages"][-1]["content"][-1]["type"] == "image_url"


def test_request_config_overrides_only_what_it_sets(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    judge = make_judge(fast_config, cache=True)
    request = JudgeRequest(messages=REQ.messages, config=JudgeConfig(temperature=0.7, max_tokens=7))
    effective = judge.config_for(request)
    assert effective.temperature == 0.7 and effective.max_tokens == 7
    assert effective.secret() == "sk-test-key" and effective.base_url == fast_config.base_url
    assert effective.model_name == "gpt-4o" and effective.timeout == fast_config.timeout
    assert judge.evaluate(request).success
    assert server.requests[-1].json["temperature"] == 0.7
    assert judge.cache_key(request) != judge.cache_key(REQ)  # the overlaid config is part of the key
    assert judge.cache_key(request) == judge.cache_key(request.model_copy())


# ---------------------------------------------------------------------------- hooks, typed errors


def test_base_class_hooks_have_safe_defaults(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    class Plain(JudgeInterface):
        async def _send(self, request: JudgeRequest, config: JudgeConfig) -> JudgeResponse:
            return JudgeResponse(content=request.messages[-1]["content"].upper())

    judge = Plain(JudgeConfig(model_name="m"))
    assert judge.model_for(judge.config) == "m" and judge.native_score_type() is None
    assert judge.warm_up() is None
    texts = [f"item {i}" for i in range(7)]
    responses = run_sync(judge.aevaluate_many([JudgeRequest(messages=[{"role": "user", "content": t}]) for t in texts]))
    assert [r.content for r in responses] == [t.upper() for t in texts]
    openai = make_judge(fast_config, model_name=None)
    assert openai.model_for(openai.config) == "gpt-4o-2024-11-20"  # the provider's default model


def test_an_empty_reply_is_typed(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    from judgekit.errors import EmptyReplyError, ProviderResponseError

    server.enqueue(Fault.status_code(200, body={"choices": [{"message": {"content": ""}, "finish_reason": "length"}]}))
    response = make_judge(fast_config).evaluate(REQ)
    assert not response.success and response.error_type == "EmptyReplyError" and response.attempts == 1
    assert issubclass(EmptyReplyError, ProviderResponseError)


def test_retries_count_and_then_fail_with_the_last_error(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    server.enqueue(*[Fault.status_code(503)] * 3)
    response = make_judge(fast_config, num_retries=2).evaluate(REQ)
    assert not response.success and response.attempts == 3 and response.status_code == 503
    assert "(after 3 attempts)" in (response.error_message or "")
    assert server.count("/v1/chat/completions") == 3


def test_nested_options_are_laid_over_field_by_field() -> None:
    from pydantic import BaseModel

    from judgekit.pipeline import _set_fields

    class Inner(BaseModel):
        a: int = 1
        b: int = 2

    class Outer(BaseModel):
        inner: Inner = Inner()
        x: int = 0

    base = Outer(inner=Inner(a=5, b=6), x=1)
    assert _set_fields(Outer(inner=Inner(b=9)), base) == {"inner": Inner(a=5, b=9)}  # a stays the judge's
    assert _set_fields(Outer(x=3), base) == {"x": 3}
