"""The request pipeline (`judgekit.pipeline`) and its wrappers (`judgekit.wrappers`), against the local server.

Covers: the wrapper recipe of docs/contributing.md (a toy wrapper, carried out as written there), the fallback
and shared-concurrency wrappers, an attempt-level policy (the hook a circuit breaker plugs into), a batch's
concurrency passed as a scope, the per-item ``on_invalid`` policy of `SimplifiedJudge` batches, the advice
for a reply that ended inside its reasoning, and a user provider overriding only ``evaluate``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from judgekit import (
    ConfigError,
    JudgeConfig,
    JudgeFactory,
    JudgeInterface,
    JudgeRequest,
    JudgeResponse,
    SimplifiedJudge,
)
from judgekit import provider_registry as registry
from judgekit.errors import ProviderError
from judgekit.pipeline import AttemptPolicy, BatchScope, Pipeline
from judgekit.testing import FakeLLMServer, Fault, Reply
from judgekit.wrappers import FallbackPipeline, PipelineWrapper, SharedConcurrency, SharedLimit

T = TypeVar("T")
ITEM = {"question": "2+2?", "answer": "4", "prediction": "4"}


def config_for(server: FakeLLMServer, **fields: Any) -> JudgeConfig:
    settings: dict[str, Any] = {
        "api_type": "openai",
        "base_url": server.base_url,
        "api_key": "sk-test-key",
        "model_name": "gpt-4o",
        "retry_delay": 0.01,
        "max_retry_delay": 0.02,
        "timeout": 5,
        **fields,
    }
    return JudgeConfig(**settings)


def ask(text: str = "Is 4 right? Answer 1 or 0.") -> JudgeRequest:
    return JudgeRequest(messages=[{"role": "user", "content": text}])


# ------------------------------------------------------------------------------------------------ the recipe


class Tagged(PipelineWrapper):
    """The recipe's toy wrapper: counts the requests it sees and tags each answer's provider."""

    def __init__(self, inner: Pipeline, tag: str) -> None:
        super().__init__(inner)
        self.tag, self.seen = tag, 0

    async def aevaluate(self, request: JudgeRequest, *, scope: BatchScope | None = None) -> JudgeResponse:
        self.seen += 1
        response = await self.inner.aevaluate(request, scope=scope)
        response.provider = f"{self.tag}:{response.provider}"
        return response


def test_the_wrapper_recipe_reaches_every_path(server: FakeLLMServer) -> None:
    judge = JudgeFactory.create_judge(config=config_for(server))
    judge.pipeline = Tagged(judge.pipeline, "toy")  # the recipe's one line

    assert judge.evaluate(ask()).provider == "toy:openai"
    assert [r.provider for r in judge.evaluate_batch([ask("a"), ask("b")])] == ["toy:openai"] * 2

    simple = SimplifiedJudge(judge=judge)
    assert simple.evaluate_binary(**ITEM)["provider"] == "toy:openai"
    results = simple.evaluate_batch("binary", [ITEM, ITEM, ITEM], max_concurrency=2)
    assert [r["result"] for r in results] == [1, 1, 1] and {r["provider"] for r in results} == {"toy:openai"}
    assert judge.pipeline.seen == 1 + 2 + 1 + 3  # type: ignore[attr-defined]
    assert server.count("/v1/chat/completions") == 7
    # the wrapper passes the rest on: the cache, limits and config are the inner pipeline's
    assert judge.concurrency_limit is judge.pipeline.inner.concurrency_limit  # type: ignore[attr-defined]
    judge.close()


# ------------------------------------------------------------------------------------------------ fallback


def test_fallback_answers_when_the_primary_fails(server: FakeLLMServer) -> None:
    with FakeLLMServer(default_reply="0") as backup_server:
        primary = JudgeFactory.create_judge(config=config_for(server, num_retries=1))
        backup = JudgeFactory.create_judge(config=config_for(backup_server, model_name="backup-model"))
        primary.pipeline = FallbackPipeline(primary.pipeline, backup.pipeline)
        judge = SimplifiedJudge(judge=primary)

        server.enqueue(Fault.status_code(500), Fault.status_code(500))  # the primary's try and its one retry
        result = judge.evaluate_binary(**ITEM, temperature=0.3)
        assert result["success"] and result["result"] == 0 and result["model"] == "backup-model"
        assert server.count() == 2 and backup_server.count() == 1
        sent = backup_server.requests[0].json
        assert sent["model"] == "backup-model" and sent["temperature"] == 0.3  # the call's change, the judge's own
        assert backup_server.requests[0].headers["authorization"] == "Bearer sk-test-key"

        ok = judge.evaluate_binary(**ITEM)  # a primary success never reaches the backup
        assert ok["result"] == 1 and backup_server.count() == 1

        server.enqueue(Fault.status_code(500), Fault.status_code(500))
        backup_server.enqueue(Fault.status_code(400))
        both = judge.evaluate_binary(**ITEM)
        assert not both["success"] and both["result"] is None
        assert "500" in both["error_message"] and "400" in both["error_message"]  # each judge's reason
        judge.close()
        backup.close()


# ------------------------------------------------------------------------------------------------ shared concurrency


def test_shared_concurrency_bounds_several_judges_together(server: FakeLLMServer) -> None:
    server.latency = 0.1
    server.hold_until_in_flight(3)  # replies wait for that many in flight, however slowly a busy machine sends
    shared = SharedLimit(3)
    judges = [JudgeFactory.create_judge(config=config_for(server, max_concurrent=8)) for _ in range(2)]
    for judge in judges:
        judge.pipeline = SharedConcurrency(judge.pipeline, shared)

    async def both() -> list[list[JudgeResponse]]:
        return await asyncio.gather(*(j.aevaluate_batch([ask(f"{i}") for i in range(12)]) for j in judges))

    from judgekit._sync import run_sync

    results = run_sync(both())
    assert all(r.success for batch in results for r in batch)
    assert server.max_in_flight == 3  # 16 allowed by the judges, 3 by the shared limit
    for judge in judges:
        judge.close()


# ------------------------------------------------------------------------------------------------ attempt policies


class FailFast(AttemptPolicy):
    """A toy circuit breaker: after ``threshold`` failed attempts in a row, attempts fail without a request."""

    def __init__(self, threshold: int) -> None:
        self.threshold, self.failures = threshold, 0

    async def attempt(self, send: Callable[[], Awaitable[T]], config: JudgeConfig) -> T:
        if self.failures >= self.threshold:
            raise ProviderError("circuit open: the endpoint keeps failing", retryable=False)
        try:
            result = await send()
        except ProviderError:
            self.failures += 1
            raise
        self.failures = 0
        return result


def test_an_attempt_policy_sees_every_attempt_and_may_fail_fast(server: FakeLLMServer) -> None:
    judge = JudgeFactory.create_judge(config=config_for(server, num_retries=5))
    judge.pipeline.policies.append(FailFast(threshold=2))
    server.enqueue(Fault.status_code(500), Fault.status_code(503))
    response = judge.evaluate(ask())
    assert not response.success and "circuit open" in response.error_message
    assert response.attempts == 3 and server.count() == 2  # the third attempt never reached the server
    judge.close()


# ------------------------------------------------------------------------------------------------ batch scope


def test_a_batch_concurrency_travels_as_its_scope(server: FakeLLMServer) -> None:
    server.latency = 0.1
    judge = JudgeFactory.create_judge(config=config_for(server, max_concurrent=2))
    server.hold_until_in_flight(6)  # replies wait for that many in flight, however slowly a busy machine sends
    assert all(r.success for r in judge.evaluate_batch([ask(str(i)) for i in range(12)], max_concurrency=6))
    assert server.max_in_flight == 6  # the batch's own bound, above the judge's 2
    server.reset()
    server.hold_until_in_flight(2)
    assert all(r.success for r in judge.evaluate_batch([ask(str(i)) for i in range(12)]))
    assert server.max_in_flight == 2  # no scope: the judge's own
    server.reset()
    server.hold_until_in_flight(4)
    scope = judge.pipeline.scope(4)

    async def scoped() -> list[JudgeResponse]:
        return await asyncio.gather(*(judge.pipeline.aevaluate(ask(str(i)), scope=scope) for i in range(12)))

    from judgekit._sync import run_sync

    assert all(r.success for r in run_sync(scoped())) and server.max_in_flight == 4
    judge.close()


# ------------------------------------------------------------------------------------------------ on_invalid


def test_on_invalid_fails_a_bad_item_alone_or_raises(server: FakeLLMServer) -> None:
    judge = SimplifiedJudge(config=config_for(server))
    items: list[Any] = [ITEM, {"question": "2+2?", "answer": "4"}, ITEM, "not a dict"]
    with pytest.raises(ConfigError, match=r"items\[1\]"):
        judge.evaluate_batch("binary", items)
    assert server.count() == 0  # nothing spent

    results = judge.evaluate_batch("binary", items, on_invalid="fail")
    assert [r["success"] for r in results] == [True, False, True, False]
    assert results[1]["error_type"] == "ConfigError" and "'prediction'" in results[1]["error_message"]
    assert results[1]["result"] is None and results[1]["kind"] == "binary"
    assert "dict" in results[3]["error_message"]
    assert server.count() == 2 and judge.last_batch_stats.failed == 2  # type: ignore[union-attr]

    with pytest.raises(ConfigError, match="on_invalid"):
        judge.evaluate_batch("binary", items, on_invalid="skip")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="kind"):
        judge.evaluate_batch("binaryy", items, on_invalid="fail")  # an unknown kind is the batch's error
    judge.close()


# ------------------------------------------------------------------------------------------------ reasoning


def test_a_reply_that_stopped_inside_its_reasoning_does_not_blame_max_tokens(server: FakeLLMServer) -> None:
    judge = JudgeFactory.create_judge(config=config_for(server))
    server.enqueue(Reply("<think>the answer is 4, so", finish_reason="stop"))
    stopped = judge.evaluate(ask())
    assert not stopped.success and stopped.attempts == 1
    assert "finish_reason=stop" in stopped.error_message and "max_tokens will not help" in stopped.error_message
    assert "turn the model's thinking off" in stopped.error_message and "stop sequence" in stopped.error_message
    assert "raise max_tokens" not in stopped.error_message

    server.enqueue(Reply("<think>the answer is 4, so", finish_reason="length"))
    cut = judge.evaluate(ask())
    assert not cut.success and "finish_reason=length" in cut.error_message
    assert "raise max_tokens" in cut.error_message
    judge.close()


# ------------------------------------------------------------------------------------------------ a sync-only provider


class EchoJudge(JudgeInterface):
    """A user provider that overrides only ``evaluate``, sending with a plain blocking HTTP client."""

    provider_name = "echo"

    def evaluate(self, request: JudgeRequest) -> JudgeResponse:
        import json
        import urllib.error
        import urllib.request

        body = json.dumps({"model": self.config.model_name, "messages": request.messages}).encode()
        sent = urllib.request.Request(
            f"{self.config.base_url}/chat/completions",
            data=body,
            headers={"Authorization": f"Bearer {self.config.api_key}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(sent, timeout=5) as reply:
                data = json.load(reply)
        except urllib.error.HTTPError as exc:
            raise ProviderError(f"HTTP {exc.code}", status_code=exc.code, retryable=exc.code >= 500) from None
        return JudgeResponse(content=data["choices"][0]["message"]["content"], model_used="echo")


def test_a_provider_overriding_only_evaluate_gains_retries_limits_and_cache(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(
        registry._providers, "echo", registry.get_provider("echo") or registry.ProviderSpec("echo", EchoJudge)
    )  # restored after
    JudgeFactory.register_judge("echo", EchoJudge)
    judge = JudgeFactory.create_judge(api_type="echo", config=config_for(server, cache="memory", max_concurrent=2))
    server.enqueue(Fault.status_code(503))
    response = judge.evaluate(ask())
    assert response.success and response.content == "1" and response.attempts == 2  # retried
    again = judge.evaluate(ask())
    assert again.cached and server.count() == 2  # the cache answered
    server.latency = 0.05
    server.hold_until_in_flight(2)
    results = judge.evaluate_batch([ask(str(i)) for i in range(8)])
    assert all(r.success for r in results) and server.max_in_flight == 2  # within max_concurrent
    judge.close()
