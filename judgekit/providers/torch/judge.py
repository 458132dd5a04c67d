"""The in-process judge: a transformers model run with torch, fed by judgekit's shared `DynamicBatcher`.

``config.torch.mode`` picks how the model judges (one module each): ``generate`` (`.generate`), ``logprob``
(`.logprob`) and ``reward`` (`.reward`). Loading lives in `.loading`. See docs/torch-judge.md.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from judgekit._sync import run_sync
from judgekit.batching.dynamic import DynamicBatcher
from judgekit.config import JudgeConfig
from judgekit.errors import ConfigError, JudgeError, JudgeTimeoutError, ProviderError
from judgekit.interface import JudgeInterface
from judgekit.kinds import KINDS, get_kind
from judgekit.providers.torch._runner import Result, _Item, _sigmoid, _text
from judgekit.providers.torch.generate import GenerateMode
from judgekit.providers.torch.loading import load_model, load_tokenizer, resolve_device, resolve_model_source
from judgekit.providers.torch.logprob import LogprobMode
from judgekit.providers.torch.reward import RewardMode
from judgekit.scalars import ScalarMap, conversations
from judgekit.types import JudgeRequest, JudgeResponse

__all__ = ["TorchJudge"]

_LOGPROB_KINDS = tuple(name for name, spec in KINDS.items() if spec.logprob)


class TorchJudge(GenerateMode, LogprobMode, RewardMode, JudgeInterface):
    """A judge model loaded in this process with transformers (``api_type="torch"``).

    Every request goes through one `DynamicBatcher` (``judge.batcher``; ``judge.batcher.stats`` shows the batch
    sizes), so concurrent callers (async tasks, threads, `evaluate_batch`, the judge server) share model calls
    of up to ``torch.batch_size`` requests. The model loads once, lazily, on first use (or `load`), outside
    the request timeout. A failed model call becomes ``success=False`` for its requests; an out-of-memory batch
    is split in halves and retried.
    """

    provider_name: ClassVar[str] = "torch"

    def __init__(self, config: JudgeConfig | None = None) -> None:
        super().__init__(config)
        self._load_lock = threading.Lock()
        self._batcher_lock = threading.Lock()
        self._tokenizer: Any = None
        self._models: dict[str, Any] = {}
        self._chat_template: bool = False
        self._memo: dict[Any, Any] = {}
        self._share_prefix = True
        self._batcher: DynamicBatcher[_Item, Result] | None = None
        self._finalizer: weakref.finalize | None = None

    def __repr__(self) -> str:
        return f"TorchJudge(model={self.config.model_name!r}, mode={self.config.torch.mode!r})"

    # -- device and loading -----------------------------------------------------------------------

    @property
    def device(self) -> str:
        """The device the model runs on (``torch.device``, else CUDA when available, else CPU)."""
        return resolve_device(self.config)[0]

    @property
    def dtype(self) -> Any:
        """The torch dtype the model is loaded in (``torch.dtype``, else bfloat16 on CUDA, float32 on CPU)."""
        return resolve_device(self.config)[1]

    def is_available(self) -> bool:
        try:
            resolve_model_source(self.config.model_name, self.config.torch.gguf_file)
        except ConfigError:
            return False
        return True

    def native_score_type(self) -> Literal["probability", "unbounded"] | None:
        """``logprob`` mode scores with P(yes); a ``reward`` head's raw scalar is unbounded (mapped onto
        ``score_range`` by ``reward_model.scale="score_range"``, it is read like any score); ``generate`` has none."""
        if self.config.torch.mode == "reward" and self.config.reward_model.scale != "raw":
            return None
        return {"logprob": "probability", "reward": "unbounded"}.get(self.config.torch.mode)  # type: ignore[return-value]

    def serving_defaults(self, *, max_batch_size: int) -> dict[str, Any]:
        """Served, the model scores in ``logprob`` mode (one forward pass) and runs the server's batches whole."""
        return {"torch_mode": "logprob", "torch_batch_size": max_batch_size}

    def warm_up(self) -> None:
        """Load the tokenizer and the model now, not on the first request."""
        self.load()

    @staticmethod
    def _head(mode: str) -> str:
        return "reward" if mode == "reward" else "causal"

    def load(self, mode: str | None = None) -> Any:
        """Load the tokenizer and the model for ``mode`` (default ``torch.mode``) now; returns the model."""
        head = self._head(mode or self.config.torch.mode)
        model = self._models.get(head)
        if model is not None:
            return model
        with self._load_lock:
            if head not in self._models:
                try:
                    self._models[head] = self._load(head)
                except JudgeError:
                    raise
                except Exception as exc:
                    raise ConfigError(
                        f"torch: could not load {self.config.model_name!r}: {type(exc).__name__}: {exc}",
                        field="model_name",
                    ) from exc
            return self._models[head]

    def _load(self, head: str) -> Any:
        directory, gguf_file = resolve_model_source(self.config.model_name, self.config.torch.gguf_file)
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(directory, gguf_file)
            self._chat_template = bool(getattr(self._tokenizer, "chat_template", None))
        return load_model(self.config, directory, gguf_file, head, self._tokenizer.pad_token_id)

    async def _aload(self, mode: str) -> None:
        if self._head(mode) not in self._models:
            await asyncio.to_thread(self.load, mode)

    # -- batching ---------------------------------------------------------------------------------

    @property
    def batcher(self) -> DynamicBatcher[_Item, Result]:
        """The batcher that owns the model (one worker thread, one batch at a time); reopened after `close`."""
        with self._batcher_lock:
            if self._batcher is None:
                ref = weakref.ref(self)

                def process(items: list[_Item]) -> list[Result]:
                    judge = ref()
                    if judge is None:
                        raise ProviderError("the torch judge was garbage-collected", provider="torch")
                    return judge._process(items)

                self._batcher = DynamicBatcher(
                    process,
                    max_batch_size=self.config.torch.batch_size,
                    max_wait_s=self.config.torch.batch_wait_s,
                    concurrency=1,
                    name="judgekit-torch",
                )
                # stop the worker thread when the judge is garbage (without blocking the collector); at exit the
                # batcher's own exit hook stops it in the exiting thread instead
                self._finalizer = weakref.finalize(self, _close_in_background, self._batcher)
                self._finalizer.atexit = False
            return self._batcher

    async def aclose(self) -> None:
        """Finish queued requests and stop the batcher's worker (idempotent). The model stays loaded; a later
        request starts a new worker."""
        with self._batcher_lock:
            batcher, self._batcher = self._batcher, None
            if self._finalizer is not None:
                self._finalizer.detach()
                self._finalizer = None
        if batcher is not None:
            await asyncio.to_thread(batcher.close)

    async def _submit(self, items: Sequence[_Item]) -> list[JudgeResponse]:
        batcher = self.batcher
        results = await asyncio.gather(*(batcher.asubmit(item) for item in items))
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return list(results)  # type: ignore[arg-type]

    # -- the request path -------------------------------------------------------------------------

    async def aevaluate(self, request: JudgeRequest) -> JudgeResponse:
        """Judge one request: load the model first (outside the timeout), then the usual request path."""
        await self._aload(self.config_for(request).torch.mode)
        return await super().aevaluate(request)

    async def _send(self, request: JudgeRequest, config: JudgeConfig) -> JudgeResponse:
        await self._aload(config.torch.mode)  # a batch's first request loads it here, before the timeout starts
        try:
            result = await self.batcher.asubmit(self._item(request, config), timeout=config.timeout)
        except TimeoutError:
            raise JudgeTimeoutError(
                f"the model ran this request's batch for longer than timeout={config.timeout:g}s; raise timeout "
                f"or lower torch.batch_size ({config.torch.batch_size})",
                provider=self.provider_name,
                model=config.model_name,
            ) from None
        if isinstance(result, BaseException):
            raise result
        return result

    def attempt_timeout(self, config: JudgeConfig) -> float | None:
        """None: ``timeout`` counts from the start of the batch that runs the request (`_send`), so a large
        batch queued for a slow CPU waits its turn instead of timing out in the queue."""
        return None

    def should_retry(self, exc: ProviderError) -> bool:
        """Not after a timeout: the model is still running that batch, and a retry would queue the same work
        behind it."""
        return exc.retryable and not isinstance(exc, JudgeTimeoutError)

    def _item(self, request: JudgeRequest, config: JudgeConfig) -> _Item:
        """Check the request against the mode and turn it into a worker item (no tokenizer work here)."""
        if request.images:
            raise ConfigError("the torch judge is text-only: images are not supported", field="images")
        mode, task, label = config.torch.mode, request.task, config.model_name or ""
        messages = [{"role": m["role"], "content": _text(m["content"])} for m in request.messages]
        if config.system_prompt and not any(m["role"] == "system" for m in messages):
            messages.insert(0, {"role": "system", "content": config.system_prompt})
        if mode == "generate":
            # token logprobs when the config asks (logprobs=True) or the task does (SimplifiedJudge's logprob_score)
            logprobs = bool(config.logprobs or (task and task.options.get("logprob_score")))
            top = config.top_logprobs if config.top_logprobs is not None else (20 if logprobs else 0)
            params = (config.max_tokens, config.temperature, config.top_p, logprobs, top)
            return _Item("generate", [messages], task.kind if task else None, params=params, model=label)
        if mode == "logprob":
            if task is None or get_kind(task.kind).logprob is None:
                kind = task.kind if task else "a raw request"
                raise ConfigError(
                    f"torch.mode='logprob' judges {', '.join(_LOGPROB_KINDS)}, not {kind}; use "
                    "torch.mode='generate' for it",
                    field="torch.mode",
                )
            options = dict(task.options)
            options.setdefault("output_format", config.output_format)
            options.setdefault("score_range", config.score_range)
            return _Item("logprob", [messages], task.kind, options=options, model=label)
        # reward
        if task is None:
            if messages[-1]["role"] != "assistant":
                raise ConfigError(
                    "torch.mode='reward' scores a conversation that ends with an assistant message",
                    field="messages",
                )
            return _Item("reward", [messages], None, options={"label": config.reward_model.label}, model=label)
        options = {"output_format": config.output_format, "score_range": config.score_range, **task.options}
        options.update(map=ScalarMap.from_config(config), label=config.reward_model.label)
        return _Item("reward", conversations(task.kind, task.fields), task.kind, options=options, model=label)

    # -- reward helpers ---------------------------------------------------------------------------

    async def areward_scores(self, question: str, responses: Sequence[str]) -> list[float]:
        """The reward head's scalar for each response to ``question`` (``torch.mode="reward"``)."""
        if self.config.torch.mode != "reward":
            raise ConfigError("reward_scores needs torch.mode='reward' (a reward-model head)", field="torch.mode")
        await self._aload("reward")
        label, options = self.config.model_name or "", {"label": self.config.reward_model.label}
        chats = [conversations("pointwise", {"question": question, "response": r}) for r in responses]
        items = [_Item("reward", chat, None, options, model=label) for chat in chats]
        return [float(response.score) for response in await self._submit(items)]  # type: ignore[arg-type]

    def reward_scores(self, question: str, responses: Sequence[str]) -> list[float]:
        """Synchronous twin of `areward_scores`."""
        return run_sync(self.areward_scores(question, responses))

    async def apreference(self, question: str, response1: str, response2: str) -> float:
        """P(``response1`` is better) = ``sigmoid(r1 - r2)`` (Bradley-Terry) from the reward head."""
        r1, r2 = await self.areward_scores(question, [response1, response2])
        return _sigmoid(r1 - r2)

    def preference(self, question: str, response1: str, response2: str) -> float:
        """Synchronous twin of `apreference`."""
        return run_sync(self.apreference(question, response1, response2))

    # -- the model worker (runs in the batcher's thread) ------------------------------------------

    def _process(self, items: list[_Item]) -> list[Result]:
        """One batch from the batcher: group by how it runs, sort by length, run, restore the order."""
        results: list[Result | None] = [None] * len(items)
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, item in enumerate(items):
            groups.setdefault((item.mode, item.params), []).append(i)
        for (mode, _), indices in groups.items():
            group = [items[i] for i in indices]
            try:
                self.load(mode)
                runner = {"generate": self._run_generate, "logprob": self._run_logprob, "reward": self._run_reward}
                outputs = runner[mode](group)
            except BaseException as exc:  # never let the worker die; each item gets the failure
                outputs = [self._as_failure(exc, group[0].model)] * len(group)
            for i, output in zip(indices, outputs, strict=True):
                results[i] = output
        return results  # type: ignore[return-value]


def _close_in_background(batcher: DynamicBatcher[Any, Any]) -> None:
    threading.Thread(target=batcher.close, name="judgekit-torch-close", daemon=True).start()
