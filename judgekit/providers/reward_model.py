"""Scalar judges over HTTP: `RewardModelJudge` (api_type ``reward_model``) scores conversations with a reward
model (a sequence-classification head, Bradley-Terry style) served by vLLM (``--runner pooling --convert
classify``: ``POST /classify`` or ``POST /pooling``), SGLang (``/v1/classify``) or an OpenRLHF reward server
(``POST /get_reward`` with ``{"query": [...]}`` -> ``{"rewards": [...]}``). See docs/trained-judges.md.

It reads ``request.task`` (every ``SimplifiedJudge.evaluate_*`` call carries it): the kind says which
conversations are scored (`judgekit.scalars.conversations`) and how the scalars become the result
(`judgekit.scalars.ScalarMap`, shared with the torch reward head). ``reward_model.input`` says how a conversation
goes on the wire:

- ``messages``: ``{"messages": [...]}``, the server applies the model's chat template; vLLM takes one
  conversation per request, so each conversation is its own request (concurrent up to ``max_concurrent``);
- ``tokens``: each conversation is rendered by the server (``POST /tokenize`` with its messages), then the token
  lists of concurrent requests go together in one ``/classify`` or ``/pooling`` request;
- ``text``: rendered here with the chat template of a local tokenizer (``reward_model.tokenizer``), then sent
  together as ``input`` texts (``query`` for OpenRLHF).

Concurrent requests (`evaluate_batch`, the reward adapter, `aevaluate_many`) share requests of up to
``reward_model.batch_size`` conversations with ``tokens`` and ``text``. Each judge request still goes through
the shared retry, timeout and concurrency path; a shared request that fails fails each of its judge requests
with the reason (then retried on their own). A 4xx/5xx, a reply of the wrong shape (a missing or extra score, a
per-token output where one value was expected) and a non-finite score are failures that say so.
"""

from __future__ import annotations

import asyncio
import math
import os
from typing import Any, ClassVar

from judgekit._sync import LoopLocal
from judgekit._transport import HTTPTransport
from judgekit.config import JudgeConfig
from judgekit.errors import ConfigError, MissingDependencyError, ProviderResponseError
from judgekit.interface import JudgeInterface, ScoreType
from judgekit.scalars import KINDS, ScalarMap, conversations
from judgekit.types import JudgeRequest, JudgeResponse, JudgeTask, Usage

__all__ = ["RewardModelJudge"]

_PATHS = {"classify": "/classify", "pooling": "/pooling", "openrlhf": "/get_reward"}

Conversation = list[dict[str, str]]


class RewardModelJudge(JudgeInterface):
    """A reward model served over HTTP (see the module docstring). ``base_url`` (``REWARD_MODEL_URL``) is the
    server root, e.g. ``http://127.0.0.1:8000``; the key (``REWARD_MODEL_API_KEY``) is sent as a Bearer token."""

    provider_name: ClassVar[str] = "reward_model"

    def __init__(self, config: JudgeConfig | None = None) -> None:
        super().__init__(config)
        self._transport = HTTPTransport(self.provider_name)
        self._batches: LoopLocal[dict[tuple[Any, ...], _Batch]] = LoopLocal(dict)
        self._tokenizers: dict[str, Any] = {}

    def is_available(self) -> bool:
        return bool(self.config.base_urls)

    def native_score_type(self) -> ScoreType | None:
        """A raw reward is unbounded; with ``reward_model.scale="score_range"`` a pointwise score is in
        ``score_range`` and read like any judge's score."""
        return "unbounded" if self.config.reward_model.scale == "raw" else None

    def supports_kind(self, kind: str) -> bool:
        return kind in KINDS

    def cache_key_data(self, request: JudgeRequest, config: JudgeConfig) -> dict[str, Any] | None:
        """The reply depends on ``request.task``, not on the judge prompt built for generative judges."""
        data = super().cache_key_data(request, config)
        if data is not None:
            data.pop("messages", None)
        return data

    # -- where -----------------------------------------------------------------------------------------

    def root(self, config: JudgeConfig) -> str:
        """The server root (a trailing ``/v1`` or endpoint path is dropped)."""
        urls = config.base_urls
        if not urls:
            raise ConfigError(
                "reward_model: no server URL; set REWARD_MODEL_URL or pass base_url, e.g. http://127.0.0.1:8000",
                "base_url",
            )
        if len(urls) > 1:
            raise ConfigError("reward_model: one server per judge; pass one base_url", "base_url")
        url = urls[0].rstrip("/")
        for suffix in ("/classify", "/pooling", "/get_reward", "/v1"):
            url = url.removesuffix(suffix)
        return url

    def url(self, config: JudgeConfig) -> str:
        options = config.reward_model
        return self.root(config) + (options.path or _PATHS[options.endpoint])

    def headers(self, config: JudgeConfig) -> dict[str, str]:
        key = config.secret()
        return {**({"Authorization": f"Bearer {key}"} if key else {}), **config.extra_headers}

    # -- one request -----------------------------------------------------------------------------------

    async def _send(self, request: JudgeRequest, config: JudgeConfig) -> JudgeResponse:
        task = _task_of(request)
        if config.reward_model.endpoint == "openrlhf" and config.reward_model.input != "text":
            raise ConfigError("reward_model: an OpenRLHF server takes text; set reward_model.input='text'",
                              "reward_model.input")  # fmt: skip
        options = {"output_format": config.output_format, "score_range": config.score_range, **task.options}
        chats = conversations(task.kind, task.fields)
        if config.reward_model.input == "messages":
            scored = await asyncio.gather(*(self._score_messages(chat, config) for chat in chats))
            rewards, tokens = [r for r, _ in scored], sum(t for _, t in scored)
        else:
            rendered = await asyncio.gather(*(self._render(chat, config) for chat in chats))
            rewards, tokens = await self._batch_for(config).score(list(rendered))
        answer = ScalarMap.from_config(config).answer(task.kind, options, rewards)
        return JudgeResponse(
            content=answer.content,
            model_used=config.model_name or "",
            usage=Usage(prompt_tokens=tokens, completion_tokens=0, total_tokens=tokens),
            raw_response={"rewards": answer.rewards, "endpoint": config.reward_model.endpoint},
            score=answer.score,
            decisions=answer.decisions,
            provider=self.provider_name,
            finish_reason="stop",
        )

    async def _score_messages(self, chat: Conversation, config: JudgeConfig) -> tuple[float, int]:
        """One conversation as ``messages`` (vLLM: one conversation per request)."""
        body = {**self._body_base(config), "messages": chat, **config.extra_body}
        rewards, tokens = await self._post(body, 1, config)
        return rewards[0], tokens

    async def _render(self, chat: Conversation, config: JudgeConfig) -> Any:
        """A conversation as the server will see it: token ids (``tokens``) or text (``text``)."""
        if config.reward_model.input == "tokens":
            payload = {"messages": chat, "add_generation_prompt": False, **_model(config)}
            data = await self._transport.request_json(
                "POST",
                self.root(config) + "/tokenize",
                payload=payload,
                headers=self.headers(config),
                timeout=config.timeout,
                model=config.model_name,
            )
            ids = data.get("tokens") if isinstance(data, dict) else None
            if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
                raise self._bad_reply(f"/tokenize answered no token list: {str(data)[:200]}", config)
            return ids
        tokenizer = self._tokenizer(config)
        if getattr(tokenizer, "chat_template", None):
            return tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=False)
        return "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in chat)

    def _tokenizer(self, config: JudgeConfig) -> Any:
        source = config.reward_model.tokenizer or config.model_name
        if not source or not os.path.isdir(source):
            raise ConfigError(
                "reward_model.input='text' renders conversations with a local tokenizer's chat template: set "
                f"reward_model.tokenizer to its directory (got {source!r}), or use input='messages' or 'tokens'",
                "reward_model.tokenizer",
            )
        if source not in self._tokenizers:
            try:
                from transformers import AutoTokenizer
            except ImportError as exc:
                hint = 'reward_model input="text" needs transformers: pip install "judgekit[torch]"'
                raise MissingDependencyError(hint) from exc
            self._tokenizers[source] = AutoTokenizer.from_pretrained(source)
        return self._tokenizers[source]

    def _batch_for(self, config: JudgeConfig) -> _Batch:
        options = config.reward_model
        key = (self.url(config), config.model_name, options, config.secret(), tuple(sorted(config.extra_body)))
        batches = self._batches.get()
        if key not in batches:
            post = lambda inputs: self._post_many(inputs, config)  # noqa: E731
            batches[key] = _Batch(post, options.batch_size, options.batch_wait_s)
        return batches[key]

    # -- the wire --------------------------------------------------------------------------------------

    def _body_base(self, config: JudgeConfig) -> dict[str, Any]:
        options = config.reward_model
        if options.endpoint == "openrlhf":
            return {}
        body: dict[str, Any] = {**_model(config), "use_activation": options.activation}
        if options.endpoint == "pooling":
            body["task"] = "classify"
        return body

    async def _post_many(self, inputs: list[Any], config: JudgeConfig) -> tuple[list[float], int]:
        """Many rendered conversations in one request."""
        options = config.reward_model
        if options.endpoint == "openrlhf":
            body: dict[str, Any] = {"query": inputs}
        else:
            body = {**self._body_base(config), "input": inputs}
            if options.input == "text":
                body["add_special_tokens"] = False  # the chat template already has them, as the server's own
        return await self._post({**body, **config.extra_body}, len(inputs), config)

    async def _post(self, body: dict[str, Any], expected: int, config: JudgeConfig) -> tuple[list[float], int]:
        data = await self._transport.request_json(
            "POST", self.url(config), payload=body, headers=self.headers(config), timeout=config.timeout,
            model=config.model_name,
        )  # fmt: skip
        rewards = self._read(data, config)
        if len(rewards) != expected:
            raise self._bad_reply(f"{len(rewards)} scores for {expected} inputs", config)
        for i, reward in enumerate(rewards):
            if not math.isfinite(reward):
                raise self._bad_reply(f"a non-finite score ({reward}) for input {i}", config)
        usage = data.get("usage") if isinstance(data, dict) else None
        tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
        return rewards, int(tokens) if isinstance(tokens, int) else 0

    def _read(self, data: Any, config: JudgeConfig) -> list[float]:
        """The scalars of a reply, in input order."""
        options = config.reward_model
        if options.endpoint == "openrlhf":
            rewards = data.get("rewards") if isinstance(data, dict) else None
            if not isinstance(rewards, list):
                raise self._bad_reply(f"expected {{'rewards': [...]}}, got {str(data)[:200]}", config)
            return [self._number(r, config) for r in rewards]
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise self._bad_reply(f"expected {{'data': [...]}}, got {str(data)[:200]}", config)
        items = sorted(items, key=lambda item: item.get("index", 0) if isinstance(item, dict) else 0)
        field = "probs" if options.endpoint == "classify" else "data"
        out = []
        for item in items:
            values = item.get(field) if isinstance(item, dict) else None
            if not isinstance(values, list) or not values or isinstance(values[0], list):
                raise self._bad_reply(f"expected one list of numbers in {field!r}, got {str(values)[:200]}", config)
            if options.label >= len(values):
                raise self._bad_reply(
                    f"reward_model.label={options.label}, but the head has {len(values)} output(s)", config
                )
            out.append(self._number(values[options.label], config))
        return out

    def _number(self, value: Any, config: JudgeConfig) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if value is None or isinstance(value, str):  # JSON has no NaN: servers send null or "NaN"
                try:
                    return float(value) if value is not None else math.nan
                except ValueError:
                    pass
            raise self._bad_reply(f"a score that is not a number: {value!r:.80}", config)
        return float(value)

    def _bad_reply(self, message: str, config: JudgeConfig) -> ProviderResponseError:
        return ProviderResponseError(
            f"reward model at {self.url(config)}: {message}",
            provider=self.provider_name,
            model=config.model_name,
            retryable=False,
        )

    async def aclose(self) -> None:
        await self._transport.aclose()


class _Batch:
    """Conversations from concurrent judge requests, sent together (one event loop's; `RewardModelJudge`)."""

    def __init__(self, post: Any, size: int, wait_s: float) -> None:
        self._post = post
        self._size = size
        self._wait_s = wait_s
        self._pending: list[tuple[list[Any], asyncio.Future[tuple[list[float], int]]]] = []
        self._count = 0
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def score(self, inputs: list[Any]) -> tuple[list[float], int]:
        """The rewards of ``inputs`` (kept in one request) and the prompt tokens they used."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[list[float], int]] = loop.create_future()
        self._pending.append((inputs, future))
        self._count += len(inputs)
        if self._count >= self._size:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self._wait_s, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._pending:
            group, count = [], 0
            while self._pending and (not group or count + len(self._pending[0][0]) <= self._size):
                entry = self._pending.pop(0)
                group.append(entry)
                count += len(entry[0])
            task = asyncio.get_running_loop().create_task(self._send(group))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._count = 0

    async def _send(self, group: list[tuple[list[Any], asyncio.Future[tuple[list[float], int]]]]) -> None:
        live = [(inputs, future) for inputs, future in group if not future.done()]  # a timed-out caller has gone
        if not live:
            return
        try:
            rewards, tokens = await self._post([x for inputs, _ in live for x in inputs])
        except BaseException as exc:
            for _, future in live:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        total = sum(len(inputs) for inputs, _ in live)
        at = 0
        for inputs, future in live:
            share = tokens * len(inputs) // total if total else 0
            if not future.done():
                future.set_result((rewards[at : at + len(inputs)], share))
            at += len(inputs)


def _model(config: JudgeConfig) -> dict[str, str]:
    return {"model": config.model_name} if config.model_name else {}


def _task_of(request: JudgeRequest) -> JudgeTask:
    if request.task is None:
        raise ConfigError(
            "reward_model judges structured tasks (request.task); use SimplifiedJudge.evaluate_pointwise, "
            "evaluate_pairwise, evaluate_binary or evaluate_correctness",
            "task",
        )
    if request.images:
        raise ConfigError("reward_model: a reward model here scores text only; images are not sent", "images")
    return request.task
