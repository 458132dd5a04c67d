"""`JudgeRewardSystem`: a failure-aware reward from any judge, behind a synchronous call.

Behind ``reward(prompt, completion, answer)``: an LRU cache on (prompt, completion, answer, answer_type),
a circuit breaker, the shared `DynamicBatcher` (collects for ``batch_timeout``, up to ``max_batch_size``;
``max_concurrent_requests`` batches in flight), then the judge. A failed judgement falls back to the rules
verifier (tagged ``rule_fallback``) or returns ``failure_reward`` (None by default, tagged ``failed``):
never a silent 0.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import statistics
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from loguru import logger

from judgekit import server_protocol as protocol
from judgekit._sync import run_sync
from judgekit.batching.dynamic import DynamicBatcher
from judgekit.cache import MemoryCache, cache_key
from judgekit.circuit import CircuitBreaker
from judgekit.errors import ConfigError, JudgeError
from judgekit.interface import JudgeInterface
from judgekit.kinds import get_kind
from judgekit.reward.config import RewardConfig
from judgekit.scoring import resolve_kind, score_result
from judgekit.simplified import SimplifiedJudge
from judgekit.types import JudgeRequest, JudgeResponse, JudgeResult
from judgekit.verifiers import verify_answer

__all__ = [
    "BaseJudgeReward",
    "JudgeOutcome",
    "JudgeRewardSystem",
    "RewardRequest",
    "RewardScore",
    "create_judge_reward",
]

_LATENCY_WINDOW = 10_000


@dataclass(frozen=True)
class RewardRequest:
    """One thing to reward: the prompt, the policy's completion, and the reference answer if any."""

    prompt: str
    completion: str
    answer: str | None = None
    answer_type: str | None = None


@dataclass(frozen=True)
class JudgeOutcome:
    """What the judge said about one `RewardRequest`: a score, or an error."""

    score: float | None
    explanation: str = ""
    error: str | None = None


@dataclass(frozen=True)
class RewardScore:
    """`compute_reward`'s answer: ``score`` is None when the sample could not be rewarded."""

    score: float | None
    source: str
    explanation: str = ""
    error: str | None = None
    latency_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "reward": self.score,
            **{k: v for k, v in asdict(self).items() if k != "score"},
            "cached": self.source == "cache",
        }


class BaseJudgeReward:
    """The reward adapter. Override `_request_judge` to judge a batch your own way.

    ``config`` is the integration's ``reward.config`` dict (or a `RewardConfig`); ``judge`` an existing
    `SimplifiedJudge` or `JudgeInterface` to use instead of building one from the config.
    """

    def __init__(
        self,
        config: RewardConfig | Mapping[str, Any] | None = None,
        *,
        judge: SimplifiedJudge | JudgeInterface | None = None,
        **overrides: Any,
    ) -> None:
        self.config = RewardConfig.build(config, **overrides)
        cfg = self.config
        if isinstance(judge, JudgeInterface):
            judge = SimplifiedJudge(judge=judge)
        self._judge: SimplifiedJudge | None = judge
        self._judge_lock = threading.Lock()
        self._cache: MemoryCache | None = MemoryCache(cfg.cache_size) if cfg.use_cache else None
        self.circuit_breaker = CircuitBreaker(cfg.circuit_breaker_threshold, cfg.circuit_breaker_timeout)
        self._batcher: DynamicBatcher[RewardRequest, JudgeOutcome] = DynamicBatcher(
            self._process_batch,
            max_batch_size=cfg.max_batch_size,
            max_wait_s=cfg.batch_timeout,
            concurrency=cfg.max_concurrent_requests,
            max_queue=cfg.max_queue_size,
            name="judgekit-reward",
        )
        self._lock = threading.Lock()
        self._counts: collections.Counter[str] = collections.Counter()
        self._latencies: collections.deque[float] = collections.deque(maxlen=_LATENCY_WINDOW)
        self._in_flight = 0

    # -- the judge -------------------------------------------------------------------------------

    @property
    def judge(self) -> SimplifiedJudge:
        """The judge, built on first use from the config (a judge server, or any judgekit backend)."""
        if self._judge is None:
            with self._judge_lock:
                if self._judge is None:
                    self._judge = self._build_judge()
        return self._judge

    def _build_judge(self) -> SimplifiedJudge:
        cfg = self.config
        fields: dict[str, Any] = {
            "timeout": cfg.timeout,
            "num_retries": cfg.max_retries,
            "max_concurrent": cfg.max_concurrent_requests,
            **cfg.judge,
        }
        if cfg.judge_url:
            api_type, base_url = "judge_server", cfg.judge_url
        else:
            api_type, base_url = cfg.api_type, cfg.base_url
        if cfg.api_key is not None:
            fields["api_key"] = cfg.api_key.get_secret_value()
        return SimplifiedJudge(model_name=cfg.model_name, api_type=api_type, base_url=base_url, **fields)

    async def _request_judge(self, requests: list[RewardRequest]) -> list[JudgeOutcome]:
        """Judge one batch; return one `JudgeOutcome` per request, in order. The override point.

        With a ``judge_url`` the whole batch goes to the judge server through the backend's native batch call
        (`JudgeInterface.aevaluate_many`: one ``POST /batch_judge``), and the server's kind and score apply.
        Any other judge is asked for a correctness verdict where there is a reference answer and a pointwise
        score where there is none, scored into [0, 1] by the rules the judge server uses (`judgekit.scoring`).
        """
        backend = self.judge.judge
        if self.config.judge_url and backend.native_score_type() == "probability":
            tasks = [protocol.task_for("auto", r.prompt, r.completion, r.answer, r.answer_type) for r in requests]
            prompts = [
                JudgeRequest(messages=[{"role": "user", "content": r.prompt}], task=task)
                for r, task in zip(requests, tasks, strict=True)
            ]
            responses = await backend.aevaluate_many(prompts)
            return [
                JudgeOutcome(r.score, r.reasoning or "")
                if r.success and r.score is not None
                else JudgeOutcome(None, error=r.error_message or "the judge gave no score")
                for r in responses
            ]
        kinds = [self._kind_for(r) for r in requests]
        outcomes: list[JudgeOutcome | None] = [None] * len(requests)
        reward_head = backend.native_score_type() == "unbounded"
        for kind in dict.fromkeys(kinds):
            index = [i for i, k in enumerate(kinds) if k == kind]
            items = [
                protocol.fields_for(
                    kind, requests[i].prompt, requests[i].completion, requests[i].answer, requests[i].answer_type
                )
                for i in index
            ]
            results = await self.judge.aevaluate_batch(kind, items)
            for i, result in zip(index, results, strict=True):
                outcomes[i] = outcome_from_result(result, kind, self.judge.config.score_range, reward_head=reward_head)
        return outcomes  # type: ignore[return-value]

    def _check_answers(self, answers: Sequence[str | None]) -> None:
        """A configured kind that checks against a reference (correctness, binary) refuses a sample without
        one rather than judging it pointwise behind the caller's back; ``auto`` judges those pointwise."""
        kind = self.config.kind
        if kind == "auto" or not get_kind(kind).verdict:
            return
        missing = [i for i, answer in enumerate(answers) if answer is None or not str(answer).strip()]
        if missing:
            raise ConfigError(
                f"kind {kind!r} needs a reference answer, and {len(missing)} of {len(answers)} samples have none "
                f"(first: sample {missing[0]}); give every sample its answer, or use kind='auto' to judge those "
                "without one pointwise",
                "answer",
            )

    def _kind_for(self, request: RewardRequest) -> str:
        """``auto`` -> correctness with a reference answer, pointwise without (a configured verdict kind never
        gets here without one: `_check_answers`)."""
        kind = resolve_kind(None, self.config.kind, request.answer)
        return "pointwise" if get_kind(kind).verdict and not request.answer else kind

    def _cannot_judge(self, request: RewardRequest) -> str | None:
        """Why the built-in judging cannot judge ``request`` at all (a sample without a reference answer for
        a backend that only checks answers, such as the rules judge), or None. Such a sample fails on its
        own, without a round trip and without counting against the circuit breaker."""
        if request.answer is not None or type(self)._request_judge is not BaseJudgeReward._request_judge:
            return None
        kind, backend = self._kind_for(request), self.judge.judge
        if backend.supports_kind(kind):
            return None
        return f"no reference answer, and the {backend.provider_name} judge cannot judge {kind!r} without one"

    async def _process_batch(self, requests: list[RewardRequest]) -> list[JudgeOutcome]:
        if not self.circuit_breaker.allow():
            return [JudgeOutcome(None, error="circuit breaker open: the judge failed repeatedly")] * len(requests)
        try:
            if inspect.iscoroutinefunction(self._request_judge):
                outcomes = await self._request_judge(requests)
            else:  # a synchronous override
                outcomes = await asyncio.to_thread(self._request_judge, requests)  # type: ignore[arg-type]
            outcomes = list(outcomes)
            if len(outcomes) != len(requests):
                raise JudgeError(f"_request_judge returned {len(outcomes)} outcomes for {len(requests)} requests")
        except ConfigError:
            raise
        except Exception as exc:
            logger.warning("judgekit.reward: judging a batch of {} failed: {}", len(requests), exc)
            self.circuit_breaker.record_failure()
            return [JudgeOutcome(None, error=f"{type(exc).__name__}: {exc}")] * len(requests)
        if all(o.error is not None for o in outcomes):
            self.circuit_breaker.record_failure()
        else:
            self.circuit_breaker.record_success()
        return outcomes

    # -- rewards -------------------------------------------------------------------------------

    async def areward_batch(
        self,
        prompts: Sequence[str],
        completions: Sequence[str],
        answers: Sequence[str | None] | None = None,
        answer_types: Sequence[str | None] | None = None,
    ) -> list[dict[str, Any]]:
        """Rewards for many samples; one dict per sample, in order (async twin of `reward_batch`)."""
        answers, answer_types = batch_columns(prompts, completions, answers, answer_types)
        self._check_answers(answers)
        requests = [
            RewardRequest(str(p), str(c), None if a is None else str(a), t)
            for p, c, a, t in zip(prompts, completions, answers, answer_types, strict=True)
        ]
        scores = await asyncio.gather(*(self._reward_one(r) for r in requests))
        return [s.as_dict() for s in scores]

    async def _reward_one(self, request: RewardRequest) -> RewardScore:
        started = time.perf_counter()
        with self._lock:
            self._counts["requests"] += 1
        key = cache_key(asdict(request)) if self._cache is not None else ""
        if self._cache is not None and (hit := self._cache.get(key)) is not None:
            with self._lock:
                self._counts["cache"] += 1
            return RewardScore(hit.score, "cache", hit.content, latency_s=time.perf_counter() - started)
        if (reason := self._cannot_judge(request)) is not None:
            outcome = JudgeOutcome(None, error=reason)
        elif self.circuit_breaker.state == "open":
            outcome = JudgeOutcome(None, error="circuit breaker open: the judge failed repeatedly")
        else:
            with self._lock:
                self._in_flight += 1
            try:
                outcome = await self._batcher.asubmit(request)
            finally:
                with self._lock:
                    self._in_flight -= 1
        latency = time.perf_counter() - started
        if outcome.error is None and outcome.score is not None:
            if self._cache is not None:
                self._cache.put(key, JudgeResponse(content=outcome.explanation, score=outcome.score, provider="reward"))
            with self._lock:
                self._counts["judge"] += 1
                self._latencies.append(latency)
            return RewardScore(outcome.score, "judge", outcome.explanation, latency_s=latency)
        return self._failed(request, outcome.error or "the judge gave no score", latency)

    def _failed(self, request: RewardRequest, error: str, latency: float) -> RewardScore:
        with self._lock:
            self._counts["judge_errors"] += 1
        if self.config.fallback_to_rule and request.answer is not None:
            try:
                check = verify_answer(request.completion, request.answer, request.answer_type)
            except ConfigError as exc:
                error = f"{error}; rule fallback impossible: {exc}"
            else:
                with self._lock:
                    self._counts["rule_fallback"] += 1
                return RewardScore(
                    float(check.correct),
                    "rule_fallback",
                    f"judge failed ({error}); {check.detail}",
                    error=error,
                    latency_s=latency,
                )
        with self._lock:
            self._counts["failed"] += 1
        return RewardScore(self.config.failure_reward, "failed", "", error=error, latency_s=latency)

    def reward_batch(
        self,
        prompts: Sequence[str],
        completions: Sequence[str],
        answers: Sequence[str | None] | None = None,
        answer_types: Sequence[str | None] | None = None,
    ) -> list[dict[str, Any]]:
        """Rewards for many samples, judged concurrently and batched; one dict per sample, in order."""
        return run_sync(self.areward_batch(prompts, completions, answers, answer_types))

    async def areward(
        self, prompt: str, completion: str, answer: str | None = None, answer_type: str | None = None, **_: Any
    ) -> dict[str, Any]:
        """Async twin of `reward`."""
        return (await self.areward_batch([prompt], [completion], [answer], [answer_type]))[0]

    def reward(
        self, prompt: str, completion: str, answer: str | None = None, answer_type: str | None = None, **_: Any
    ) -> dict[str, Any]:
        """``{"reward": float | None, "source": "judge" | "cache" | "rule_fallback" | "failed",
        "explanation", "error", "latency_s", "cached"}`` for one sample."""
        return self.reward_batch([prompt], [completion], [answer], [answer_type])[0]

    def compute_reward(
        self, prompt: str, completion: str, answer: str | None = None, answer_type: str | None = None, **_: Any
    ) -> RewardScore:
        """Like `reward`, as an object with ``.score`` (as multi-judge code expects)."""
        result = self.reward(prompt, completion, answer, answer_type)
        return RewardScore(
            result["reward"], result["source"], result["explanation"], result["error"], result["latency_s"]
        )

    # -- observability -------------------------------------------------------------------------

    def get_metrics(self) -> dict[str, Any]:
        """Counters for dashboards: cache hit rate, latency percentiles, error rate, batching, queue, circuit.

        ``current_queue_size``: samples waiting for a batch; ``in_flight``: samples sent to the judging path and
        not yet answered (those waiting included).
        """
        with self._lock:
            counts = dict(self._counts)
            latencies = sorted(self._latencies)
            in_flight = self._in_flight
        requests = counts.get("requests", 0)
        judged = counts.get("judge", 0) + counts.get("judge_errors", 0)
        batching = self._batcher.stats.as_dict()
        return {
            "total_requests": requests,
            "cache_hits": counts.get("cache", 0),
            "cache_hit_rate": counts.get("cache", 0) / requests if requests else 0.0,
            "judge_requests": judged,
            "error_rate": counts.get("judge_errors", 0) / judged if judged else 0.0,
            "rule_fallbacks": counts.get("rule_fallback", 0),
            "failed": counts.get("failed", 0),
            "latency": _percentiles(latencies),
            "batched_fraction": batching["batched_fraction"],
            "mean_batch_size": batching["mean_batch_size"],
            "batches": batching["batches"],
            "current_queue_size": self._batcher.queue_size,
            "in_flight": in_flight,
            "circuit_breaker": self.circuit_breaker.snapshot(),
        }

    def close(self) -> None:
        """Stop the batcher and release the judge's connections."""
        self._batcher.close()
        if self._judge is not None:
            self._judge.close()

    def __enter__(self) -> BaseJudgeReward:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class JudgeRewardSystem(BaseJudgeReward):
    """Drop-in for a ``RewardSystem``: ``JudgeRewardSystem(config.get('reward', {}).get('config', {}))``."""


def create_judge_reward(config: RewardConfig | Mapping[str, Any] | None = None, **overrides: Any) -> JudgeRewardSystem:
    """A `JudgeRewardSystem` from a reward config dict (``{'judge_url': ...}``) or judgekit backend settings."""
    return JudgeRewardSystem(config, **overrides)


def outcome_from_result(
    result: JudgeResult, kind: str, score_range: tuple[float, float], *, reward_head: bool = False
) -> JudgeOutcome:
    """A `JudgeResult` as a reward in [0, 1] (`judgekit.scoring.score_result`), or its error."""
    if not result["success"]:
        return JudgeOutcome(None, error=result["error_message"] or "the judge failed")
    explanation = (result.get("reasoning") or result.get("raw_response") or "")[:500]
    try:
        return JudgeOutcome(score_result(kind, result, score_range, reward_head=reward_head).score, explanation)
    except ValueError as exc:
        return JudgeOutcome(None, error=str(exc))


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"mean": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0}

    def at(q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))]

    return {"mean": statistics.fmean(values), "p50": at(0.5), "p90": at(0.9), "p99": at(0.99)}


def batch_columns(
    prompts: Sequence[str],
    completions: Sequence[str],
    answers: Sequence[str | None] | None,
    answer_types: Sequence[str | None] | None,
) -> tuple[list[str | None], list[str | None]]:
    """A reward batch's answers and answer types as lists (None: one None per completion), every column checked
    to be as long as ``completions``."""
    n = len(completions)
    answers = list(answers) if answers is not None else [None] * n
    answer_types = list(answer_types) if answer_types is not None else [None] * n
    if not (len(prompts) == n == len(answers) == len(answer_types)):
        raise ConfigError(
            f"reward_batch: prompts ({len(prompts)}), completions ({n}), answers ({len(answers)}) and "
            f"answer_types ({len(answer_types)}) must have the same length",
            "completions",
        )
    return answers, answer_types
