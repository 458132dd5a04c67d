"""`SimplifiedJudge`: binary, comparative, rubric, correctness, pointwise, pairwise and custom judging.

Each kind is glue only: fill its prompt (`judgekit.prompts`), send it through a `JudgeInterface`,
read the reply with `judgekit.parsing`, and return a `JudgeResult`. A backend failure or an unreadable
reply gives ``success=False`` with the reason; ``result`` and ``scores`` are then None, never 0.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from judgekit import _tracing, logprobs
from judgekit._sync import run_sync
from judgekit.batching.engine import BUDGET_EXCEEDED, BatchStats, config_failure, run_batch
from judgekit.calibration import Calibrator
from judgekit.config import JudgeConfig
from judgekit.errors import ConfigError, JudgeError, ParseError, ProviderError
from judgekit.factory import JudgeFactory, cached_judge
from judgekit.group import listwise_members, tournament_members, tournament_pairs
from judgekit.images import load_image
from judgekit.interface import JudgeInterface
from judgekit.jury import combine_results
from judgekit.kinds import CUSTOM, GROUP_KINDS, KINDS, REQUEST_OPTIONS, KindSpec, get_kind, kind_of_method
from judgekit.pipeline import BatchScope
from judgekit.prompts import build_prompt, load_template, template_fields
from judgekit.types import FailureKind, ImageInput, JudgeRequest, JudgeResponse, JudgeResult, JudgeTask, trusted

if TYPE_CHECKING:
    from judgekit.batching.batch_api import BatchAPIOptions

__all__ = ["SimplifiedJudge", "get_binary_judge_response"]

SELF_CONSISTENCY_TEMPERATURE = 0.7
"""The temperature self-consistency samples are drawn at when the judge's is 0."""


OnInvalid = Literal["raise", "fail"]
"""What a batch does with a malformed item: raise `ConfigError` for the whole batch, or fail that item alone."""


@dataclass(slots=True)
class _Job:
    """One prepared judgement: its kind, the prompt, what its request is built from, and the resolved options its
    reply is read with."""

    spec: KindSpec
    prompt: str
    options: dict[str, Any]
    logprob_score: bool = False
    swapped: _Job | None = None
    n_samples: int = 1
    custom_prompt: str | None = None
    """The caller's template, when it replaced the kind's built-in one."""
    fields: dict[str, Any] | None = None
    task_options: dict[str, Any] | None = None
    images: list[Any] | None = None
    config: JudgeConfig | None = None
    built: JudgeRequest | None = None
    """A request the caller's own messages made (checked when the job was prepared); else `request` builds one."""

    @property
    def request(self) -> JudgeRequest:
        """The request to send: the prompt as one user message, with the structured task.

        Built when it is sent, not kept: a batch prepares every job before sending any, and the few objects a
        job holds until then (rather than the request's dozen) keep the garbage collector's work per item small.
        """
        if self.built is not None:
            return self.built
        messages = [{"role": "user", "content": self.prompt}]
        values = {"messages": messages, "images": self.images or [], "config": self.config, "task": self.task}
        return trusted(JudgeRequest, values)  # made of checked parts: the prompt a string, the images loaded

    @property
    def task(self) -> JudgeTask | None:
        """The structured task of the request (what a decision backend's answers are read against)."""
        if self.built is not None:
            return self.built.task
        values = {"kind": self.spec.name, "fields": self.fields or {}, "options": self.task_options or {}}
        return trusted(JudgeTask, values)


_Settings = tuple[Any, set[str], bool, dict[str, Any], int, JudgeConfig | None]
"""`SimplifiedJudge._settings`: (custom prompt, its placeholders, logprob scoring, resolved options, samples,
per-call config)."""


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
                "model_name": model_name,
                "api_key": api_key,
                "base_url": base_url or azure_endpoint,
                "api_version": api_version,
                **config_fields,
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
        self.calibrator: Calibrator | None = Calibrator.load(self.config.calibrator) if self.config.calibrator else None
        """Applied to the P(yes) of verdict results (``JudgeConfig(calibrator=path)``; docs/validation.md)."""

    def __repr__(self) -> str:
        return f"SimplifiedJudge({self.judge!r})"

    def __getattr__(self, name: str) -> Any:
        """The ``evaluate_<kind>`` method, and its async twin, of a kind added with `judgekit.kinds.register_kind`
        (or an entry point): its fields positionally or by keyword, then the options of every kind."""
        spec = kind_of_method(name)
        if spec is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

        async def asynchronous(*args: Any, **options: Any) -> JudgeResult:
            fields, rest = spec.bind(args, options)
            return await self._execute(self._job(spec.name, fields, rest))

        def synchronous(*args: Any, **options: Any) -> JudgeResult:
            return run_sync(asynchronous(*args, **options))

        return asynchronous if name == spec.async_method else synchronous

    # -- one method per kind (its spec in `judgekit.kinds` says what it takes) --------------------

    def evaluate_binary(self, question: str, answer: str, prediction: str, **options: Any) -> JudgeResult:
        """Does ``prediction`` match ``answer``? ``result`` is 1/0 (``output_format="0/1"``) or a
        yes/no `~judgekit.parsing.Verdict` (``"yes/no"``) whose truth value is the verdict.

        Options: ``output_format``, ``answer_type`` (a hint for the rules judge and judge servers: choice,
        number, math, text), and those of every kind (``custom_prompt``, ``images``, ``temperature``,
        ``max_tokens``, ``system_prompt``, ``logprob_score``, ``{placeholders}`` of the custom prompt).
        """
        return run_sync(self.aevaluate_binary(question, answer, prediction, **options))

    async def aevaluate_binary(self, question: str, answer: str, prediction: str, **options: Any) -> JudgeResult:
        """Async twin of `evaluate_binary`."""
        fields = {"question": question, "answer": answer, "prediction": prediction}
        return await self._execute(self._job("binary", fields, options))

    def evaluate_correctness(self, question: str, answer: str, prediction: str, **options: Any) -> JudgeResult:
        """Is the final math/science answer in ``prediction`` equivalent to ``answer``? ``result`` is 1/0.

        Options: ``answer_type`` and those of every kind (see `evaluate_binary`).
        """
        return run_sync(self.aevaluate_correctness(question, answer, prediction, **options))

    async def aevaluate_correctness(self, question: str, answer: str, prediction: str, **options: Any) -> JudgeResult:
        """Async twin of `evaluate_correctness`."""
        fields = {"question": question, "answer": answer, "prediction": prediction}
        return await self._execute(self._job("correctness", fields, options))

    def evaluate_comparative(self, question: str, response1: str, response2: str, **options: Any) -> JudgeResult:
        """Score two responses in ``score_range``: ``scores`` is ``(score1, score2)``.

        With ``swap=True`` both orders are judged; ``scores`` is the average after undoing the swap and
        ``swap_agreed`` says whether both orders preferred the same response.
        Options: ``context``, ``score_range``, ``swap`` and those of every kind (see `evaluate_binary`).
        """
        return run_sync(self.aevaluate_comparative(question, response1, response2, **options))

    async def aevaluate_comparative(self, question: str, response1: str, response2: str, **options: Any) -> JudgeResult:
        """Async twin of `evaluate_comparative`."""
        fields = {"question": question, "response1": response1, "response2": response2}
        return await self._execute(self._job("comparative", fields, options))

    def evaluate_with_rubric(
        self, question: str, prediction: str, rubric: Mapping[str, str] | Sequence[str], **options: Any
    ) -> JudgeResult:
        """Score ``prediction`` on each rubric criterion: ``scores`` is ``{criterion: number}``.

        ``rubric`` maps criterion names to descriptions (or is a list of names). Every criterion must be
        scored, or the result is a failure. Options: ``answer`` (a reference), ``context``,
        ``score_range`` and those of every kind (see `evaluate_binary`).
        """
        return run_sync(self.aevaluate_with_rubric(question, prediction, rubric, **options))

    async def aevaluate_with_rubric(
        self, question: str, prediction: str, rubric: Mapping[str, str] | Sequence[str], **options: Any
    ) -> JudgeResult:
        """Async twin of `evaluate_with_rubric`."""
        fields = {"question": question, "prediction": prediction, "rubric": rubric}
        return await self._execute(self._job("rubric", fields, options))

    def evaluate_pointwise(self, question: str, response: str, **options: Any) -> JudgeResult:
        """Score one response, the ``<think>..</think><score>N</score>`` way: ``scores`` is N.

        Options: ``answer`` (a reference), ``context``, ``score_range`` and those of every kind (see
        `evaluate_binary`).
        """
        return run_sync(self.aevaluate_pointwise(question, response, **options))

    async def aevaluate_pointwise(self, question: str, response: str, **options: Any) -> JudgeResult:
        """Async twin of `evaluate_pointwise`."""
        return await self._execute(self._job("pointwise", {"question": question, "response": response}, options))

    def evaluate_pairwise(self, question: str, response1: str, response2: str, **options: Any) -> JudgeResult:
        """Which response is better, the ``<better>A</better>`` way: ``result`` is "A" (``response1``)
        or "B" (``response2``).

        With ``swap=True`` both orders are judged: ``result`` is "A"/"B" when they agree and "tie" when
        they do not; ``scores`` is the share of orders that preferred A; ``swap_agreed`` is set.
        Options: ``context``, ``swap`` and those of every kind (see `evaluate_binary`).
        """
        return run_sync(self.aevaluate_pairwise(question, response1, response2, **options))

    async def aevaluate_pairwise(self, question: str, response1: str, response2: str, **options: Any) -> JudgeResult:
        """Async twin of `evaluate_pairwise`."""
        fields = {"question": question, "response1": response1, "response2": response2}
        return await self._execute(self._job("pairwise", fields, options))

    # -- a GRPO group judged together -------------------------------------------------------------

    def evaluate_group(
        self,
        question: str,
        responses: Sequence[str],
        reference: str | None = None,
        *,
        kind: str = "listwise",
        **options: Any,
    ) -> list[JudgeResult]:
        """Judge a group of responses to one question together; one result per response, in input order.

        ``kind="listwise"``: one request shows the group as [1]..[G] in a shuffled order (``seed``, else one
        derived from the content; ``order`` and ``seed`` are in every result) and reads ``{"scores": [...]}``
        in the order shown. ``kind="tournament"``: every pair judged in both orders (G(G-1) requests), combined
        by a Bradley-Terry fit (needs ``judgekit[group]``). Each result has ``reward`` in [0, 1], normalised as
        docs/reward.md says, and ``scores`` (the listwise score, or the Bradley-Terry strength). A failed or
        unreadable group reply is a failure for every member, never a default. ``reference`` is the reference
        answer. Options: ``context``, ``score_range``, ``seed`` (listwise), and ``temperature``,
        ``max_tokens``, ``system_prompt``, ``custom_prompt``.
        """
        return run_sync(self.aevaluate_group(question, responses, reference, kind=kind, **options))

    async def aevaluate_group(
        self,
        question: str,
        responses: Sequence[str],
        reference: str | None = None,
        *,
        kind: str = "listwise",
        **options: Any,
    ) -> list[JudgeResult]:
        """Async twin of `evaluate_group`."""
        spec = get_kind(kind)
        if not spec.group:
            groups = ", ".join(repr(name) for name in GROUP_KINDS)
            raise ConfigError(f"evaluate_group judges a group kind ({groups}), not {kind!r}", "kind")
        if options.get("n_samples", 1) != 1:
            raise ConfigError("n_samples > 1 does not apply to group judging", "n_samples")
        if isinstance(responses, str) or not isinstance(responses, Sequence) or not responses:
            raise ConfigError("responses must be a non-empty list of the group's responses", "responses")
        n = len(responses)
        if spec.unit is None:  # listwise: the whole group is one request
            job = self._job(spec.name, {"question": question, "responses": list(responses)},
                            {**options, "answer": reference})  # fmt: skip
            job.n_samples = 1  # a group is judged once (self-consistency does not combine scores lists)
            result = await self._execute(job)
            result = JudgeResult(result, order=job.options["order"], seed=job.options["seed"])
            return listwise_members(result, n, job.options["score_range"])
        spec.check_keywords(options)
        for name in ("seed", "score_range"):
            if name in options:
                raise ConfigError(f"{name} applies to listwise group judging, not {kind}", name)
        pairs = tournament_pairs(n)
        context = options.pop("context", None)
        if reference:
            context = f"{context}\n\nReference answer: {reference}" if context else f"Reference answer: {reference}"
        common = {**options, "swap": True, **({"context": context} if context else {})}
        items = [{"question": question, "response1": responses[i], "response2": responses[j], **common}
                 for i, j in pairs]  # fmt: skip
        results = await self.aevaluate_batch(spec.unit, items) if items else []
        return tournament_members(pairs, results, n)

    # -- the caller's own prompt and parser ------------------------------------------------------

    def evaluate_custom(
        self,
        prompt: str | None = None,
        *,
        messages: Sequence[Mapping[str, Any]] | None = None,
        images: Sequence[ImageInput] | None = None,
        parse: Callable[[str], Any] | None = None,
        system_prompt: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> JudgeResult:
        """Judge with a task's own ``prompt`` (or chat ``messages``) and read the reply with its own ``parse``.

        ``prompt`` is sent as one user message, after ``system_prompt`` if given; ``messages`` are sent as they
        are; ``images`` go with the last user message. Reasoning is split off the reply (on every backend) and
        ``result`` is ``parse(final_text)``, or the final text when ``parse`` is None. ``parse`` raising (any
        exception) or returning None makes the result a failure with ``error_type="ParseError"``, the reply
        kept in ``raw_response``. ``temperature`` and ``max_tokens`` override the judge's for this call.
        Ready parsers for common task formats are in `judgekit.task_formats` (docs/migrating-lmms-eval.md).
        """
        return run_sync(
            self.aevaluate_custom(
                prompt,
                messages=messages,
                images=images,
                parse=parse,
                system_prompt=system_prompt,
                temperature=temperature,
                max_tokens=max_tokens,
            )
        )

    async def aevaluate_custom(
        self,
        prompt: str | None = None,
        *,
        messages: Sequence[Mapping[str, Any]] | None = None,
        images: Sequence[ImageInput] | None = None,
        parse: Callable[[str], Any] | None = None,
        system_prompt: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> JudgeResult:
        """Async twin of `evaluate_custom`."""
        given = {
            "prompt": prompt,
            "messages": messages,
            "images": images,
            "parse": parse,
            "system_prompt": system_prompt,
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
        return await self._execute(self._custom_job({k: v for k, v in given.items() if v is not None}))

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
        parse: Callable[[str], Any] | None = None,
        batch_api: bool | BatchAPIOptions | dict[str, Any] | None = False,
        on_invalid: OnInvalid = "raise",
    ) -> list[JudgeResult]:
        """Judge many items of one ``kind`` concurrently; one result per item, in input order.

        Each item holds the keyword arguments of that kind's ``evaluate_*`` method; for ``"custom"``,
        ``parse`` reads every item's reply (an item's own ``parse`` wins). Every prompt is built before
        anything is sent. A malformed item (a missing field, a bad option): with ``on_invalid="raise"`` (the
        default) the batch raises `ConfigError` naming ``items[i]`` without spending a request; with
        ``on_invalid="fail"`` that item alone comes back as a failure (``error_type="ConfigError"``, the reason
        in ``error_message``) and the others are judged. A misconfigured backend (no key, an unknown model
        field) raises either way. ``progress`` shows a tqdm bar (failures, cache hits, cost).
        ``max_concurrency`` is the number of the batch's requests in flight: given and different from the
        judge's ``max_concurrent``, the batch runs under its own limit of that size (halved on a 429); not
        given, the judge's ``max_concurrent`` holds, shared with other calls.

        Budget: once ``max_cost`` (USD) or ``max_tokens_total`` is spent, the remaining items are not sent
        and come back as failures with ``error_type="BudgetExceeded"``; finished results are kept.
        `last_batch_stats` then holds the batch's `~judgekit.BatchStats`.

        ``batch_api=True`` (or `~judgekit.BatchAPIOptions`, with a ``state_path`` to resume after a kill) judges
        through the provider's batch API (openai, azure, anthropic): half the price, answers within 24 hours,
        parsed exactly as live replies; the budget is checked from an estimate before submitting and
        `last_batch_stats` is a `~judgekit.BatchAPIStats` with the live price beside (docs/batch-api.md).
        """
        return run_sync(
            self.aevaluate_batch(
                kind,
                items,
                max_concurrency=max_concurrency,
                progress=progress,
                max_cost=max_cost,
                max_tokens_total=max_tokens_total,
                parse=parse,
                batch_api=batch_api,
                on_invalid=on_invalid,
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
        parse: Callable[[str], Any] | None = None,
        batch_api: bool | BatchAPIOptions | dict[str, Any] | None = False,
        on_invalid: OnInvalid = "raise",
    ) -> list[JudgeResult]:
        """Async twin of `evaluate_batch`."""
        pipeline = self.judge.pipeline
        pipeline.check_budget(max_cost, max_tokens_total)
        if on_invalid not in ("raise", "fail"):
            raise ConfigError(f"on_invalid must be 'raise' or 'fail', got {on_invalid!r}", "on_invalid")
        spec = get_kind(kind)  # an unknown kind is the batch's error, not an item's
        if parse is not None:
            if not spec.caller_prompt:
                raise ConfigError(f"parse= applies to evaluate_batch('custom', ...), not to {kind!r}", "parse")
            items = [{"parse": parse, **item} if isinstance(item, Mapping) else item for item in items]
        plain: dict[str, _Settings] = {}  # the settings of the items without options, checked once
        jobs = [self._prepare_or_fail(spec, item, i, on_invalid, plain) for i, item in enumerate(items)]
        if batch_api:
            return await self._through_batch_api(jobs, batch_api, progress, max_cost, max_tokens_total)
        await pipeline.preflight()
        scope = pipeline.scope(max_concurrency)

        def run(job: _Job | JudgeResult) -> Awaitable[JudgeResult]:  # no coroutine of its own: one frame less
            return _done(job) if isinstance(job, JudgeResult) else self._execute(job, scope)

        def skipped(job: _Job | JudgeResult, reason: str) -> JudgeResult:
            if isinstance(job, JudgeResult):
                return job
            response = pipeline.budget_failure(reason)
            return _result(job, response, error=response.error_message, error_type=BUDGET_EXCEEDED)

        async def run_all() -> list[JudgeResult]:
            results, stats = await run_batch(
                jobs,
                run,
                concurrency=max_concurrency or self.config.max_concurrent,
                progress=progress,
                skipped=skipped,
                max_cost=max_cost,
                max_tokens_total=max_tokens_total,
            )
            self.last_batch_stats = stats
            return results

        tracer = _tracing.active()
        if tracer is None:
            return await run_all()
        info = _tracing.BatchInfo(spec.name, self.judge.provider_name, self._model(self.config), len(jobs))
        return list(await tracer.batch(info, run_all))

    async def _through_batch_api(
        self,
        jobs: list[_Job | JudgeResult],
        batch_api: bool | BatchAPIOptions | dict[str, Any],
        progress: bool | dict[str, Any],
        max_cost: float | None,
        max_tokens_total: int | None,
    ) -> list[JudgeResult]:
        """Every job's request(s) through the provider's batch API, then read exactly as live replies."""
        ready = [job for job in jobs if isinstance(job, _Job)]  # the others failed as invalid
        if any(job.n_samples > 1 for job in ready):  # a batch judges each distinct request once
            raise ConfigError("n_samples > 1 (self-consistency) does not combine with batch_api", "n_samples")
        requests = [r for job in ready for r in (job.request, *((job.swapped.request,) if job.swapped else ()))]
        responses = iter(
            await self.judge.aevaluate_batch(
                requests, progress=progress, max_cost=max_cost, max_tokens_total=max_tokens_total, batch_api=batch_api
            )
        )
        results = []
        for job in jobs:
            if isinstance(job, JudgeResult):
                results.append(job)
                continue
            result = self._read(job, next(responses))
            if job.swapped is not None:
                result = self._combine(job, result, self._read(job.swapped, next(responses)))
            results.append(result)
        self.last_batch_stats = self.judge.last_batch_stats
        return results

    def _prepare_or_fail(
        self, spec: KindSpec, item: Any, index: int, on_invalid: OnInvalid, plain: dict[str, _Settings] | None = None
    ) -> _Job | JudgeResult:
        """The job of ``item``; a malformed one raises (``on_invalid="raise"``) or is its failed result."""
        try:
            return self._prepare(spec, item, index, plain)
        except ConfigError as exc:
            if on_invalid == "raise":
                raise
            failure = config_failure(exc)  # raises when the backend is misconfigured
            response = JudgeResponse(success=False, error_message=failure["error_message"])
            never_sent = _Job(spec, "", {})
            return _result(never_sent, response, error=response.error_message, error_type=failure["error_type"])

    def _prepare(
        self, spec: KindSpec, item: Mapping[str, Any], index: int, plain: dict[str, _Settings] | None = None
    ) -> _Job:
        where = f"items[{index}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{where} must be a dict of keyword arguments", where)
        missing = [name for name in spec.fields if name not in item]
        if missing:
            raise ConfigError(f"{where}: {spec.method} needs {', '.join(map(repr, missing))}", where)
        fields = {name: item[name] for name in spec.fields}
        try:
            if spec.caller_prompt:
                return self._custom_job(item)
            options = {k: v for k, v in item.items() if k not in fields} if len(item) > len(fields) else {}
            return self._job(spec.name, fields, options, plain)
        except ConfigError as exc:
            raise type(exc)(f"{where}: {exc}", where) from None

    # -- the shared path ---------------------------------------------------------------------

    def _job(
        self, kind: str, fields: dict[str, Any], options: Mapping[str, Any], plain: dict[str, _Settings] | None = None
    ) -> _Job:
        """Everything about one judgement that can be checked before sending it: the options (an unknown one is
        a `ConfigError` with a "did you mean"), the prompt, the request and its per-call config.

        ``plain``: a batch's memo of the settings of items that pass no options (the same for all of them)."""
        spec = get_kind(kind)
        if options or plain is None:
            settings = self._settings(spec, options, fields)
        else:
            spec.check_fields(fields)
            settings = plain.get(kind) or plain.setdefault(kind, self._settings(spec, options))
        custom_prompt, placeholders, logprob_score, resolved, n_samples, config = settings
        inputs = {
            **{k: v for k, v in options.items() if k in placeholders and k not in spec.keywords},
            **{name: options.get(name) for name in spec.optional_fields},
            **fields,
        }
        images = (self._images(options) or None) if options else None

        def make(inputs: dict[str, Any]) -> _Job:
            values, derived = spec.prompt_values(inputs, resolved)
            prompt = build_prompt(spec.template, values, custom_prompt)
            task_options = {**{k: v for k, v in resolved.items() if k != "swap"}, **derived}
            if logprob_score:
                task_options["logprob_score"] = True
            if custom_prompt is not None:  # backends that judge fields, not the prompt, must know it was asked for
                task_options["custom_prompt"] = True
            # A field that `prepare` turned into prompt text (a rubric) travels as an option (criteria) instead.
            task_fields = {
                k: inputs[k] for k in spec.all_fields if inputs.get(k) is not None and values.get(k) is inputs[k]
            }
            own = custom_prompt if isinstance(custom_prompt, str) else None
            return _Job(
                spec,
                prompt,
                {**resolved, **derived},
                logprob_score,
                custom_prompt=own,
                fields=task_fields,
                task_options=task_options,
                images=images,
                config=config,
            )

        job = make(inputs)
        job.n_samples = n_samples
        if resolved.get("swap"):  # the same judgement with the last two fields (the responses) exchanged
            first, second = spec.fields[-2:]
            job.swapped = make({**inputs, first: inputs[second], second: inputs[first]})
        return job

    def _settings(
        self, spec: KindSpec, options: Mapping[str, Any], fields: Mapping[str, Any] | None = None
    ) -> _Settings:
        """The call-level settings of a judgement with ``options``, checked (and ``fields``, when given, right
        after the option names): (custom prompt, its placeholders, logprob scoring, resolved options, samples,
        per-call config)."""
        custom_prompt = options.get("custom_prompt")
        placeholders = template_fields(custom_prompt) if isinstance(custom_prompt, str) else set()
        spec.check_keywords(options, placeholders)
        if fields is not None:
            spec.check_fields(fields)
        logprob_score = self._wants_logprobs(spec, options.get("logprob_score"))
        resolved = spec.resolve_options(options, self.config)
        n_samples = _n_samples(options.get("n_samples"), self.config.n_samples)
        config = self._call_config(options, logprob_score, n_samples)
        return custom_prompt, placeholders, logprob_score, resolved, n_samples, config

    def _custom_job(self, options: Mapping[str, Any]) -> _Job:
        """A judgement with the caller's own prompt or messages and parser (`evaluate_custom`), checked before
        anything is sent."""
        spec = CUSTOM
        spec.check_keywords(options)
        self._wants_logprobs(spec, options.get("logprob_score"))  # asked for: a ConfigError
        if options.get("custom_prompt") is not None:
            raise ConfigError("evaluate_custom takes the prompt as prompt=, not custom_prompt=", "custom_prompt")
        prompt, messages = options.get("prompt"), options.get("messages")
        if prompt is not None and messages is not None:
            raise ConfigError("evaluate_custom takes prompt= or messages=, not both", "messages")
        if prompt is not None:
            if not isinstance(prompt, str) or not prompt.strip():
                raise ConfigError(f"prompt must be a non-empty string, got {prompt!r:.60}", "prompt")
            chat: list[Any] = [{"role": "user", "content": prompt}]
        elif isinstance(messages, Sequence) and not isinstance(messages, str):
            chat = [dict(m) if isinstance(m, Mapping) else m for m in messages]
            has_system = any(isinstance(m, dict) and m.get("role") == "system" for m in chat)
            if has_system and options.get("system_prompt") is not None:
                raise ConfigError("system_prompt is given, but messages already hold a system message", "system_prompt")
        else:
            raise ConfigError("evaluate_custom needs prompt= (a string) or messages= (a list of chat messages)",
                              "prompt" if messages is None else "messages")  # fmt: skip
        resolved = spec.resolve_options(options, self.config)
        task = JudgeTask(kind=spec.name)  # backends that judge fields (rules, judge servers) refuse it clearly
        request = JudgeRequest(
            messages=chat, images=self._images(options), task=task, config=self._call_config(options, False, 1)
        )
        return _Job(spec, _last_user_text(request.messages), resolved, built=request)

    def _call_config(self, options: Mapping[str, Any], logprob_score: bool, n_samples: int) -> JudgeConfig | None:
        """The judge's config with this call's overrides (temperature, max_tokens, system_prompt, logprobs; a
        sampling temperature and no cache for self-consistency)."""
        overrides = {name: options[name] for name in REQUEST_OPTIONS if options.get(name) is not None}
        if logprob_score:  # the request asks for logprobs; the task tells in-process judges to return them
            overrides.update(logprobs=True, top_logprobs=self.config.top_logprobs or 20)
        if n_samples > 1:  # self-consistency: sampled replies, never k copies of one cached reply
            if not overrides.get("temperature", self.config.temperature):
                overrides["temperature"] = SELF_CONSISTENCY_TEMPERATURE
            overrides["cache"] = False
        return self.config.merged(**overrides) if overrides else None

    def _images(self, options: Mapping[str, Any]) -> list[Any]:
        # Images are read now, before anything is sent, so an unreadable one in a batch names its item.
        return [
            load_image(img, max_side=self.config.image_max_side, field=f"images[{i}]")
            for i, img in enumerate(options.get("images") or [])
        ]

    def _wants_logprobs(self, spec: KindSpec, asked: bool | None) -> bool:
        if asked and spec.logprob is None:
            supported = ", ".join(name for name, s in KINDS.items() if s.logprob)
            raise ConfigError(f"logprob_score applies to {supported} judging, not {spec.name}", "logprob_score")
        return spec.logprob is not None and (self.logprob_score if asked is None else bool(asked))

    async def _execute(self, job: _Job, scope: BatchScope | None = None) -> JudgeResult:
        tracer = _tracing.active()
        if tracer is None:
            if job.n_samples == 1 and job.swapped is None:  # the common case, without three more coroutines
                return self._read(job, await self.judge.pipeline.aevaluate(job.request, scope=scope))
            return await self._execute_samples(job, scope)
        info = _tracing.JudgementInfo(
            kind=job.spec.name,
            judge=self.judge,
            provider=self.judge.provider_name,
            model=self._model(self.judge.config_for(job.request)),
            template=None if job.spec.caller_prompt else job.custom_prompt or load_template(job.spec.template),
            calibrator=str(self.config.calibrator) if self.config.calibrator else None,
        )
        return await tracer.judgement(info, lambda: self._execute_samples(job, scope))

    def _model(self, config: JudgeConfig) -> str | None:
        """The model a call with ``config`` will use, as far as it is known before sending."""
        try:
            return self.judge.model_for(config)
        except ConfigError:
            return None

    async def _execute_samples(self, job: _Job, scope: BatchScope | None) -> JudgeResult:
        if job.n_samples == 1:
            return await self._execute_once(job, scope)
        samples = await asyncio.gather(*(self._execute_once(job, scope) for _ in range(job.n_samples)))
        return combine_results(job.spec.name, samples, vote="mean")

    async def _execute_once(self, job: _Job, scope: BatchScope | None) -> JudgeResult:
        combine = job.spec.combine
        if job.swapped is None or combine is None:
            return await self._judge_once(job, scope)
        first, second = await asyncio.gather(self._judge_once(job, scope), self._judge_once(job.swapped, scope))
        return self._combine(job, first, second)

    def _combine(self, job: _Job, first: JudgeResult, second: JudgeResult) -> JudgeResult:
        """One result from a job judged in both orders (``second``: the swapped one)."""
        combine = job.spec.combine
        assert combine is not None
        if not first["success"] or not second["success"]:
            failed, which = (first, "original") if not first["success"] else (second, "swapped")
            return JudgeResult(
                {
                    **failed,
                    "error_message": f"{which} order: {failed['error_message']}",
                    "swap_results": [first, second],
                }
            )
        slot = job.spec.slot
        value, scores, agreed = combine(first[slot], second[slot])
        merged = {
            **first,
            "scores": scores,
            "swap_agreed": agreed,
            "swap_results": [first, second],
            "latency_s": max(first["latency_s"], second["latency_s"]),
            "usage": {k: first["usage"][k] + second["usage"][k] for k in first["usage"]},
            "cached": first["cached"] and second["cached"],
            "cost_usd": None
            if first["cost_usd"] is None or second["cost_usd"] is None
            else first["cost_usd"] + second["cost_usd"],
        }
        if slot == "result":
            merged["result"] = value
        if job.spec.decision is not None and job.spec.decision.combine is not None:  # probabilities of both orders
            merged.update(job.spec.decision.combine(first, second))
        return JudgeResult(merged)

    async def _judge_once(self, job: _Job, scope: BatchScope | None) -> JudgeResult:
        return self._read(job, await self.judge.pipeline.aevaluate(job.request, scope=scope))

    def _read(self, job: _Job, response: JudgeResponse) -> JudgeResult:
        """The result of ``job`` from the judge's ``response``: parsed, or a failure with the reason."""
        if not response.success:
            return _result(job, response, error=response.error_message, error_type=response.error_type)
        if response.decisions is not None and job.spec.decision is not None:  # a decision backend: nothing to parse
            judgement = job.spec.decision.judge(job.task, response.decisions, self.config.decision_threshold)
            return _result(job, response, value=judgement.value, **self._calibrated(job, dict(judgement.extra)))
        try:
            # A reward-model head scores a response with an unbounded scalar: that is the pointwise score.
            native = job.spec.native_score and response.score is not None
            value = response.score if native else job.spec.parse(response.content, job.options)
        except ParseError as exc:
            return _result(job, response, error=f"unreadable judge reply: {exc}", error_type="ParseError")
        scores: dict[str, float] = {}
        if job.logprob_score:
            try:
                scores = _logprob_scores(job, response, value)
            except ParseError as exc:
                return _result(job, response, error=f"no log-probability score: {exc}", error_type="ParseError")
        native = response.score is not None and self.judge.native_score_type() == "probability"
        if self.calibrator is not None and job.spec.verdict and native and "p_yes" not in scores:
            scores["p_yes"] = response.score  # the judge's own P(yes) (torch logprob mode, a judge server)
        return _result(job, response, value=value, **self._calibrated(job, scores))

    def _calibrated(self, job: _Job, scores: dict[str, Any]) -> dict[str, Any]:
        """``scores`` with a verdict's ``p_yes`` through the judge's calibrator (the raw one kept as
        ``p_yes_raw``); the verdict itself stays the judge's."""
        raw = scores.get("p_yes")
        if self.calibrator is not None and job.spec.verdict and raw is not None:
            scores.update(p_yes=self.calibrator(raw), p_yes_raw=raw)
        return scores

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


async def _done(result: JudgeResult) -> JudgeResult:
    """An item's result that is already known (it failed as invalid), as an awaitable."""
    return result


def _last_user_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text of the last user message (the prompt a result reports)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            return "\n".join(p.get("text", "") for p in content if isinstance(p, Mapping) and p.get("type") == "text")
    return ""


def _logprob_scores(job: _Job, response: JudgeResponse, value: Any) -> dict[str, float]:
    """``p_yes`` (binary, correctness) or ``expected_score`` (pointwise) from the reply's logprobs."""
    if not response.logprobs:
        raise ParseError(
            f"the backend ({response.provider or 'unknown'}) returned no logprobs; logprob_score needs one that "
            "does (openai, vllm and other OpenAI-compatible servers, torch)",
            kind=job.spec.name,
        )
    answer = response.content  # the final answer: the judge split its reasoning off
    if job.spec.logprob == "expected_score":
        return {"expected_score": logprobs.expected_score(response.logprobs, job.options["score_range"], answer)}
    return {"p_yes": logprobs.p_yes(response.logprobs, answer, expected=bool(value))}


def _result(
    job: _Job,
    response: JudgeResponse,
    *,
    value: Any = None,
    error: str | None = None,
    error_type: FailureKind | str | None = None,
    p_yes: float | None = None,
    expected_score: float | None = None,
    **extra: Any,
) -> JudgeResult:
    success = error is None
    return JudgeResult(
        kind=job.spec.name,
        success=success,
        result=value if success and job.spec.slot == "result" else None,
        scores=value if success and job.spec.slot == "scores" else None,
        raw_response=response.content,
        prompt=job.prompt,
        model=response.model_used,
        error_message=error,
        error_type=None if error_type is None else FailureKind.of(error_type),
        reasoning=response.reasoning,
        usage=dict(response.usage.__dict__),  # = model_dump() of the flat Usage model, without its overhead
        latency_s=response.latency_s,
        cached=response.cached,
        cost_usd=response.cost_usd,
        provider=response.provider,
        attempts=response.attempts,
        score=response.score,
        p_yes=p_yes,
        expected_score=expected_score,
        **({k: v for k, v in extra.items() if v is not None} if success else {}),
    )


def _n_samples(asked: Any, default: int) -> int:
    """The number of self-consistency samples of a call (``n_samples``), checked."""
    if asked is None:
        return default
    if isinstance(asked, bool) or not isinstance(asked, int) or asked < 1:
        raise ConfigError(f"n_samples must be a whole number >= 1, got {asked!r}", "n_samples")
    return asked


def get_binary_judge_response(
    question: str,
    answer: str,
    prediction: str,
    output_format: str = "0/1",
    model_name: str | None = None,
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
