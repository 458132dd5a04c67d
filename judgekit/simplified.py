"""`SimplifiedJudge`: binary, comparative, rubric, correctness, pointwise and pairwise judging.

Each kind is glue only: fill its prompt (`judgekit.prompts`), send it through a `JudgeInterface`,
read the reply with `judgekit.parsing`, and return a `JudgeResult`. A backend failure or an unreadable
reply gives ``success=False`` with the reason; ``result`` and ``scores`` are then None, never 0.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from judgekit import logprobs
from judgekit._batch import BUDGET_EXCEEDED, BatchStats, run_batch
from judgekit._sync import run_sync
from judgekit.config import JudgeConfig
from judgekit.errors import ConfigError, JudgeError, ParseError, ProviderError
from judgekit.factory import JudgeFactory, cached_judge
from judgekit.images import load_image
from judgekit.interface import JudgeInterface
from judgekit.parsing import (
    parse_binary,
    parse_comparative,
    parse_correctness,
    parse_pairwise,
    parse_pointwise,
    parse_rubric,
    split_reasoning,
)
from judgekit.prompts import build_prompt
from judgekit.questions import read_decisions
from judgekit.types import ImageInput, JudgeRequest, JudgeResponse, JudgeResult, JudgeTask

__all__ = ["SimplifiedJudge", "get_binary_judge_response"]

KIND_METHODS = {
    "binary": "evaluate_binary",
    "comparative": "evaluate_comparative",
    "rubric": "evaluate_with_rubric",
    "correctness": "evaluate_correctness",
    "pointwise": "evaluate_pointwise",
    "pairwise": "evaluate_pairwise",
}


_TASK_FIELDS = ("question", "answer", "prediction", "response", "response1", "response2", "context")
_LOGPROB_KINDS = ("binary", "correctness", "pointwise")  # p_yes, p_yes, expected_score


@dataclass
class _Job:
    """One prepared judgement: the prompt, the request, how to read the reply and where to put it."""

    kind: str
    prompt: str
    request: JudgeRequest
    parse: Callable[[str], Any]
    slot: str  # "result" or "scores"
    swapped: _Job | None = None
    combine: Callable[[Any, Any], tuple[Any, Any, bool]] | None = None
    logprob_score: bool = False


class SimplifiedJudge:
    """Everyday judging on any backend.

    >>> judge = SimplifiedJudge(model_name="gpt-4o-2024-08-06")            # doctest: +SKIP
    >>> judge.evaluate_binary(question="2+2?", answer="4", prediction="4")["result"]  # doctest: +SKIP
    1

    ``model_name``, ``api_type``, ``api_key``, ``base_url`` (or ``azure_endpoint``), ``api_version`` and
    any other `JudgeConfig` field configure the backend; unset ones come from the environment. Pass
    ``judge=`` to use an existing `JudgeInterface`. Unlike lmms-eval, nothing is written to ``os.environ``.

    ``logprob_score=True`` (here, or per call) adds log-probability scores where the backend returns
    logprobs: ``p_yes`` for binary and correctness, ``expected_score`` for pointwise (docs/logprobs.md).
    """

    def __init__(
        self,
        model_name: str | None = None,
        api_type: str | None = None,
        api_key: str | None = None,
        base_url: str | Sequence[str] | None = None,
        azure_endpoint: str | None = None,
        api_version: str | None = None,
        *,
        judge: JudgeInterface | None = None,
        config: JudgeConfig | None = None,
        logprob_score: bool = False,
        **config_fields: Any,
    ) -> None:
        if judge is None:
            given = {
                "model_name": model_name, "api_key": api_key, "base_url": base_url or azure_endpoint,
                "api_version": api_version, **config_fields,
            }
            shared = {} if isinstance(given.get("cache"), (bool, str, type(None))) else {"cache": given.pop("cache")}
            base = config if config is not None else JudgeConfig()
            base = base.merged(**{k: v for k, v in given.items() if v is not None})
            judge = JudgeFactory.create_judge(api_type=api_type, config=base, **shared)  # shared: a cache object
        self.judge = judge
        self.config = judge.config
        self.last_batch_stats: BatchStats | None = None
        """What the most recent `evaluate_batch` / `aevaluate_batch` did: items, failures, cache hits, tokens,
        cost, wall time."""
        self.logprob_score = logprob_score

    def __repr__(self) -> str:
        return f"SimplifiedJudge({self.judge!r})"

    # -- binary -----------------------------------------------------------------------------

    def evaluate_binary(self, question: str, answer: str, prediction: str, **options: Any) -> JudgeResult:
        """Does ``prediction`` match ``answer``? ``result`` is 1/0 (``output_format="0/1"``) or a
        yes/no `~judgekit.parsing.Verdict` (``"yes/no"``) whose truth value is the verdict.

        Options: ``output_format``, ``custom_prompt``, ``images``, ``answer_type`` (a hint for the rules judge
        and judge servers: choice, number, math, text), and extra ``{fields}`` for a custom prompt.
        """
        return run_sync(self.aevaluate_binary(question, answer, prediction, **options))

    async def aevaluate_binary(self, question: str, answer: str, prediction: str, **options: Any) -> JudgeResult:
        """Async twin of `evaluate_binary`."""
        return await self._execute(self._binary(question, answer, prediction, **options))

    def _binary(
        self,
        question: str,
        answer: str,
        prediction: str,
        *,
        output_format: str | None = None,
        answer_type: str | None = None,
        custom_prompt: str | None = None,
        images: Sequence[ImageInput] | None = None,
        **fields: Any,
    ) -> _Job:
        fmt = output_format or self.config.output_format
        positive, negative = _verdict_words(fmt)
        values = {**fields, "question": question, "answer": answer, "prediction": prediction,
                  "pred": prediction, "positive": positive, "negative": negative}
        return self._job("binary", values, custom_prompt, images, lambda text: parse_binary(text, fmt), "result",
                         output_format=fmt, answer_type=answer_type)

    # -- correctness --------------------------------------------------------------------------

    def evaluate_correctness(self, question: str, answer: str, prediction: str, **options: Any) -> JudgeResult:
        """Is the final math/science answer in ``prediction`` equivalent to ``answer``? ``result`` is 1/0."""
        return run_sync(self.aevaluate_correctness(question, answer, prediction, **options))

    async def aevaluate_correctness(
        self, question: str, answer: str, prediction: str, **options: Any
    ) -> JudgeResult:
        """Async twin of `evaluate_correctness`."""
        return await self._execute(self._correctness(question, answer, prediction, **options))

    def _correctness(
        self,
        question: str,
        answer: str,
        prediction: str,
        *,
        answer_type: str | None = None,
        custom_prompt: str | None = None,
        images: Sequence[ImageInput] | None = None,
        **fields: Any,
    ) -> _Job:
        values = {**fields, "question": question, "answer": answer, "prediction": prediction,
                  "pred": prediction, "positive": "Yes", "negative": "No"}
        return self._job("correctness", values, custom_prompt, images, parse_correctness, "result",
                         answer_type=answer_type)

    # -- comparative --------------------------------------------------------------------------

    def evaluate_comparative(self, question: str, response1: str, response2: str, **options: Any) -> JudgeResult:
        """Score two responses in ``score_range``: ``scores`` is ``(score1, score2)``.

        With ``swap=True`` both orders are judged; ``scores`` is the average after undoing the swap and
        ``swap_agreed`` says whether both orders preferred the same response.
        Options: ``context``, ``score_range``, ``swap``, ``custom_prompt``, ``images``, extra fields.
        """
        return run_sync(self.aevaluate_comparative(question, response1, response2, **options))

    async def aevaluate_comparative(
        self, question: str, response1: str, response2: str, **options: Any
    ) -> JudgeResult:
        """Async twin of `evaluate_comparative`."""
        return await self._execute(self._comparative(question, response1, response2, **options))

    def _comparative(
        self,
        question: str,
        response1: str,
        response2: str,
        *,
        context: str | None = None,
        score_range: tuple[float, float] | None = None,
        swap: bool = False,
        custom_prompt: str | None = None,
        images: Sequence[ImageInput] | None = None,
        **fields: Any,
    ) -> _Job:
        low, high = self._range(score_range)

        def make(first: str, second: str) -> _Job:
            values = {**fields, "question": question, "response1": first, "response2": second,
                      "context": context, "context_section": _section("Context", context),
                      "min_score": _num(low), "max_score": _num(high)}
            return self._job("comparative", values, custom_prompt, images,
                             lambda text: parse_comparative(text, (low, high)), "scores", score_range=(low, high))

        job = make(response1, response2)
        if swap:
            job.swapped, job.combine = make(response2, response1), _combine_scores
        return job

    # -- rubric ------------------------------------------------------------------------------

    def evaluate_with_rubric(
        self, question: str, prediction: str, rubric: Mapping[str, str] | Sequence[str], **options: Any
    ) -> JudgeResult:
        """Score ``prediction`` on each rubric criterion: ``scores`` is ``{criterion: number}``.

        ``rubric`` maps criterion names to descriptions (or is a list of names). Every criterion must be
        scored, or the result is a failure. Options: ``answer`` (a reference), ``context``,
        ``score_range``, ``custom_prompt``, ``images``, extra fields.
        """
        return run_sync(self.aevaluate_with_rubric(question, prediction, rubric, **options))

    async def aevaluate_with_rubric(
        self, question: str, prediction: str, rubric: Mapping[str, str] | Sequence[str], **options: Any
    ) -> JudgeResult:
        """Async twin of `evaluate_with_rubric`."""
        return await self._execute(self._rubric(question, prediction, rubric, **options))

    def _rubric(
        self,
        question: str,
        prediction: str,
        rubric: Mapping[str, str] | Sequence[str],
        *,
        answer: str | None = None,
        context: str | None = None,
        score_range: tuple[float, float] | None = None,
        custom_prompt: str | None = None,
        images: Sequence[ImageInput] | None = None,
        **fields: Any,
    ) -> _Job:
        criteria = _criteria(rubric)
        low, high = self._range(score_range)
        lines = [f"- {name}: {desc}" if desc else f"- {name}" for name, desc in criteria.items()]
        values = {**fields, "question": question, "prediction": prediction, "pred": prediction,
                  "answer": answer, "rubric": "\n".join(lines), "context": context,
                  "context_section": _section("Context", context),
                  "reference_section": _section("Reference Answer", answer, lead="\n"),
                  "example": json.dumps(dict.fromkeys(criteria, _num(high))),
                  "min_score": _num(low), "max_score": _num(high)}
        names = list(criteria)
        return self._job("rubric", values, custom_prompt, images,
                         lambda text: parse_rubric(text, names, (low, high)), "scores",
                         score_range=(low, high), criteria=criteria)

    # -- pointwise ---------------------------------------------------------------------------

    def evaluate_pointwise(self, question: str, response: str, **options: Any) -> JudgeResult:
        """Score one response, the ``<think>..</think><score>N</score>`` way: ``scores`` is N.

        Options: ``answer`` (a reference), ``context``, ``score_range``, ``custom_prompt``, ``images``.
        """
        return run_sync(self.aevaluate_pointwise(question, response, **options))

    async def aevaluate_pointwise(self, question: str, response: str, **options: Any) -> JudgeResult:
        """Async twin of `evaluate_pointwise`."""
        return await self._execute(self._pointwise(question, response, **options))

    def _pointwise(
        self,
        question: str,
        response: str,
        *,
        answer: str | None = None,
        context: str | None = None,
        score_range: tuple[float, float] | None = None,
        custom_prompt: str | None = None,
        images: Sequence[ImageInput] | None = None,
        **fields: Any,
    ) -> _Job:
        low, high = self._range(score_range)
        values = {**fields, "question": question, "response": response, "answer": answer, "context": context,
                  "context_section": _section("Context", context),
                  "reference_section": _section("Reference Answer", answer, lead="\n"),
                  "min_score": _num(low), "max_score": _num(high)}
        return self._job("pointwise", values, custom_prompt, images,
                         lambda text: parse_pointwise(text, (low, high)), "scores", score_range=(low, high))

    # -- pairwise ----------------------------------------------------------------------------

    def evaluate_pairwise(self, question: str, response1: str, response2: str, **options: Any) -> JudgeResult:
        """Which response is better, the ``<better>A</better>`` way: ``result`` is "A" (``response1``)
        or "B" (``response2``).

        With ``swap=True`` both orders are judged: ``result`` is "A"/"B" when they agree and "tie" when
        they do not; ``scores`` is the share of orders that preferred A; ``swap_agreed`` is set.
        Options: ``context``, ``swap``, ``custom_prompt``, ``images``, extra fields.
        """
        return run_sync(self.aevaluate_pairwise(question, response1, response2, **options))

    async def aevaluate_pairwise(self, question: str, response1: str, response2: str, **options: Any) -> JudgeResult:
        """Async twin of `evaluate_pairwise`."""
        return await self._execute(self._pairwise(question, response1, response2, **options))

    def _pairwise(
        self,
        question: str,
        response1: str,
        response2: str,
        *,
        context: str | None = None,
        swap: bool = False,
        custom_prompt: str | None = None,
        images: Sequence[ImageInput] | None = None,
        **fields: Any,
    ) -> _Job:
        def make(first: str, second: str) -> _Job:
            values = {**fields, "question": question, "response1": first, "response2": second,
                      "context": context, "context_section": _section("Context", context)}
            return self._job("pairwise", values, custom_prompt, images, parse_pairwise, "result")

        job = make(response1, response2)
        if swap:
            job.swapped, job.combine = make(response2, response1), _combine_preferences
        return job

    # -- batches -----------------------------------------------------------------------------

    def evaluate_batch(
        self,
        kind: str,
        items: Sequence[Mapping[str, Any]],
        *,
        max_concurrency: int | None = None,
        progress: bool | dict[str, Any] = False,
        max_cost: float | None = None,
        max_tokens_total: int | None = None,
    ) -> list[JudgeResult]:
        """Judge many items of one ``kind`` concurrently; one result per item, in input order.

        Each item holds the keyword arguments of that kind's ``evaluate_*`` method. Every prompt is
        built before anything is sent, so a malformed item raises `ConfigError` naming ``items[i]``
        without spending a request. ``progress`` shows a tqdm bar (failures, cache hits, cost).

        Budget: once ``max_cost`` (USD) or ``max_tokens_total`` is spent, the remaining items are not sent
        and come back as failures with ``error_type="BudgetExceeded"``; finished results are kept.
        `last_batch_stats` then holds the batch's `~judgekit.BatchStats`.
        """
        return run_sync(
            self.aevaluate_batch(
                kind,
                items,
                max_concurrency=max_concurrency,
                progress=progress,
                max_cost=max_cost,
                max_tokens_total=max_tokens_total,
            )
        )

    async def aevaluate_batch(
        self,
        kind: str,
        items: Sequence[Mapping[str, Any]],
        *,
        max_concurrency: int | None = None,
        progress: bool | dict[str, Any] = False,
        max_cost: float | None = None,
        max_tokens_total: int | None = None,
    ) -> list[JudgeResult]:
        """Async twin of `evaluate_batch`."""
        self.judge.check_budget(max_cost, max_tokens_total)
        jobs = [self._prepare(kind, item, i) for i, item in enumerate(items)]
        results, stats = await run_batch(
            jobs,
            self._execute,
            concurrency=max_concurrency or self.config.max_concurrent,
            progress=progress,
            skipped=lambda job, reason: _result(job, self.judge.budget_failure(reason), error=f"{reason}; not sent",
                                                error_type=BUDGET_EXCEEDED),
            max_cost=max_cost,
            max_tokens_total=max_tokens_total,
        )
        self.last_batch_stats = stats
        return results

    def _prepare(self, kind: str, item: Mapping[str, Any], index: int) -> _Job:
        builder = {
            "binary": self._binary, "correctness": self._correctness, "comparative": self._comparative,
            "rubric": self._rubric, "with_rubric": self._rubric, "pointwise": self._pointwise,
            "pairwise": self._pairwise,
        }.get(kind)
        if builder is None:
            raise ConfigError(f"unknown judge kind {kind!r}; use one of: {', '.join(KIND_METHODS)}", "kind")
        if not isinstance(item, Mapping):
            raise ConfigError(f"items[{index}] must be a dict of keyword arguments", f"items[{index}]")
        try:
            return builder(**item)
        except TypeError as exc:
            reason = str(exc).split("() ", 1)[-1]
            method = KIND_METHODS.get(kind, "evaluate_with_rubric")
            raise ConfigError(f"items[{index}]: bad arguments for {method}: {reason}", f"items[{index}]") from None
        except ConfigError as exc:
            raise type(exc)(f"items[{index}]: {exc}", f"items[{index}]") from None

    # -- the shared path ---------------------------------------------------------------------

    def _range(self, score_range: tuple[float, float] | None) -> tuple[float, float]:
        if score_range is None:
            return self.config.score_range
        low, high = score_range
        if not low < high:
            raise ConfigError(f"score_range must be (low, high) with low < high, got {score_range}", "score_range")
        return float(low), float(high)

    def _job(
        self,
        kind: str,
        values: dict[str, Any],
        custom_prompt: str | None,
        images: Sequence[ImageInput] | None,
        parse: Callable[[str], Any],
        slot: str,
        **options: Any,
    ) -> _Job:
        logprob_score = self._wants_logprobs(kind, values.pop("logprob_score", None))
        prompt = build_prompt(kind, values, custom_prompt)
        fields = {k: values[k] for k in _TASK_FIELDS if values.get(k) is not None}
        if custom_prompt is not None:  # backends that judge fields, not the prompt, must know it was asked for
            options["custom_prompt"] = True
        config = None
        if logprob_score:  # the request asks for logprobs; the task tells in-process judges to return them
            options["logprob_score"] = True
            config = self.config.merged(logprobs=True, top_logprobs=self.config.top_logprobs or 20)
        task = JudgeTask(kind=kind, fields=fields, options=options)
        # Images are read now, before anything is sent, so an unreadable one in a batch names its item.
        loaded = [load_image(img, max_side=self.config.image_max_side, field=f"images[{i}]")
                  for i, img in enumerate(images or [])]
        request = JudgeRequest(messages=[{"role": "user", "content": prompt}], images=loaded, task=task,
                               config=config)
        return _Job(kind=kind, prompt=prompt, request=request, parse=parse, slot=slot, logprob_score=logprob_score)

    def _wants_logprobs(self, kind: str, asked: bool | None) -> bool:
        if asked and kind not in _LOGPROB_KINDS:
            raise ConfigError(
                f"logprob_score applies to {', '.join(_LOGPROB_KINDS)} judging, not {kind}", "logprob_score"
            )
        return kind in _LOGPROB_KINDS and (self.logprob_score if asked is None else bool(asked))

    async def _execute(self, job: _Job) -> JudgeResult:
        if job.swapped is None or job.combine is None:
            return await self._judge_once(job)
        first, second = await asyncio.gather(self._judge_once(job), self._judge_once(job.swapped))
        if not first["success"] or not second["success"]:
            failed, which = (first, "original") if not first["success"] else (second, "swapped")
            return JudgeResult({**failed, "error_message": f"{which} order: {failed['error_message']}",
                                "swap_results": [first, second]})
        value, scores, agreed = job.combine(first[job.slot], second[job.slot])
        p_a = None
        if first.get("p_a") is not None and second.get("p_a") is not None:  # both orders' P(A), averaged
            p_a = scores = (first["p_a"] + 1.0 - second["p_a"]) / 2
        merged = {**first, "scores": scores, "swap_agreed": agreed, "swap_results": [first, second],
                  "latency_s": max(first["latency_s"], second["latency_s"]),
                  "usage": {k: first["usage"][k] + second["usage"][k] for k in first["usage"]},
                  "cached": first["cached"] and second["cached"],
                  "cost_usd": None if first["cost_usd"] is None or second["cost_usd"] is None
                  else first["cost_usd"] + second["cost_usd"]}
        if job.slot == "result":
            merged["result"] = value
        if p_a is not None:
            merged["p_a"] = p_a
        return JudgeResult(merged)

    async def _judge_once(self, job: _Job) -> JudgeResult:
        response = await self.judge.aevaluate(job.request)
        if not response.success:
            return _result(job, response, error=response.error_message, error_type=response.error_type)
        if response.decisions is not None and job.request.task is not None:  # a decision backend: no text to parse
            judgement = read_decisions(job.request.task, response.decisions, self.config.decision_threshold)
            return _result(job, response, value=judgement.value, **judgement.extra)
        try:
            # A reward-model head scores a response with an unbounded scalar: that is the pointwise score.
            native = job.kind == "pointwise" and response.score is not None
            value = response.score if native else job.parse(response.content)
        except ParseError as exc:
            return _result(job, response, error=f"unreadable judge reply: {exc}", error_type="ParseError")
        if job.logprob_score:
            try:
                return _result(job, response, value=value, **_logprob_scores(job, response, value))
            except ParseError as exc:
                return _result(job, response, error=f"no log-probability score: {exc}", error_type="ParseError")
        return _result(job, response, value=value)

    # -- lifecycle ---------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Release the backend's connections on the running loop."""
        await self.judge.aclose()

    def close(self) -> None:
        """Synchronous twin of `aclose`."""
        self.judge.close()

    def __enter__(self) -> SimplifiedJudge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> SimplifiedJudge:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _logprob_scores(job: _Job, response: JudgeResponse, value: Any) -> dict[str, float]:
    """``p_yes`` (binary, correctness) or ``expected_score`` (pointwise) from the reply's logprobs."""
    if not response.logprobs:
        raise ParseError(
            f"the backend ({response.provider or 'unknown'}) returned no logprobs; logprob_score needs one that "
            "does (openai, vllm and other OpenAI-compatible servers, torch)",
            kind=job.kind,
        )
    answer = split_reasoning(response.content)[0]
    if job.kind == "pointwise":
        score_range = job.request.task.options["score_range"] if job.request.task else (1, 10)
        return {"expected_score": logprobs.expected_score(response.logprobs, score_range, answer)}
    return {"p_yes": logprobs.p_yes(response.logprobs, answer, expected=bool(value))}


def _result(
    job: _Job,
    response: JudgeResponse,
    *,
    value: Any = None,
    error: str | None = None,
    error_type: str | None = None,
    p_yes: float | None = None,
    expected_score: float | None = None,
    **extra: Any,
) -> JudgeResult:
    success = error is None
    content = response.content
    if content and ("<" in content or response.reasoning):
        reasoning = split_reasoning(content, response.reasoning)[1]
    else:  # no tags in the reply: nothing to split off
        reasoning = None if content else response.reasoning
    return JudgeResult(
        kind=job.kind,
        success=success,
        result=value if success and job.slot == "result" else None,
        scores=value if success and job.slot == "scores" else None,
        raw_response=response.content,
        prompt=job.prompt,
        model=response.model_used,
        error_message=error,
        error_type=error_type,
        reasoning=reasoning,
        usage=dict(response.usage.__dict__),  # = model_dump() of the flat Usage model, without its overhead
        latency_s=response.latency_s,
        cached=response.cached,
        cost_usd=response.cost_usd,
        provider=response.provider,
        attempts=response.attempts,
        score=response.score,
        p_yes=p_yes,
        expected_score=expected_score,
        **(extra if success else {}),
    )


def _verdict_words(output_format: str) -> tuple[str, str]:
    if output_format == "0/1":
        return "1", "0"
    if output_format == "yes/no":
        return "Yes", "No"
    raise ConfigError(f"output_format must be '0/1' or 'yes/no', got {output_format!r}", "output_format")


def _criteria(rubric: Mapping[str, str] | Sequence[str]) -> dict[str, str]:
    if isinstance(rubric, Mapping):
        criteria = {str(k): str(v or "") for k, v in rubric.items()}
    elif isinstance(rubric, Sequence) and not isinstance(rubric, str):
        criteria = {str(k): "" for k in rubric}
    else:
        raise ConfigError("rubric must be a dict {criterion: description} or a list of criteria", "rubric")
    if not criteria:
        raise ConfigError("rubric must name at least one criterion", "rubric")
    return criteria


def _section(title: str, text: str | None, lead: str = "") -> str:
    return f"{lead}[{title}]\n{text}\n[End of {title}]\n\n" if text else ""


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _combine_scores(first: tuple[float, float], second: tuple[float, float]) -> tuple[None, tuple[float, float], bool]:
    """``second`` judged (response2, response1): undo the swap, average, and check both orders agree."""
    s1, s2 = (first[0] + second[1]) / 2, (first[1] + second[0]) / 2
    agreed = _sign(first[0] - first[1]) == _sign(second[1] - second[0])
    return None, (s1, s2), agreed


def _combine_preferences(first: str, second: str) -> tuple[str, float, bool]:
    """``second`` judged with A and B swapped: map it back, then agree -> that side, else "tie"."""
    second_unswapped = "B" if second == "A" else "A"
    share_a = ((first == "A") + (second_unswapped == "A")) / 2
    agreed = first == second_unswapped
    return (first if agreed else "tie"), share_a, agreed


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def get_binary_judge_response(
    question: str, answer: str, prediction: str, output_format: str = "0/1", model_name: str | None = None,
    **options: Any,
) -> int | str:
    """The verdict alone (1/0, or a yes/no `Verdict`), with a judge configured from the environment.

    As in lmms-eval this raises when the judge cannot give a verdict: `ProviderError` when the backend
    failed, `ParseError` when the reply was unreadable. It never returns a made-up 0.
    """
    config = JudgeConfig.from_env(**({"model_name": model_name} if model_name else {}))
    judge = SimplifiedJudge(judge=cached_judge(config))
    result = judge.evaluate_binary(question, answer, prediction, output_format=output_format, **options)
    if result["success"]:
        return result["result"]
    message = result["error_message"] or "the judge gave no verdict"
    error: JudgeError = (
        ParseError(message, raw_text=result["raw_response"], kind="binary")
        if result["error_type"] == "ParseError"
        else ProviderError(message, provider=result["provider"], model=result["model"])
    )
    raise error
