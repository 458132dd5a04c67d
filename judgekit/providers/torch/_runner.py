"""What every mode shares: worker items, tokenizing, padding with a shared prompt prefix, and running a batch
sorted by length with out-of-memory splitting."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from loguru import logger

from judgekit.errors import JudgeError, ProviderError
from judgekit.providers.torch.loading import torch
from judgekit.types import JudgeResponse

_IMPOSSIBLE = -9999.0  # what OpenAI reports as the logprob of a token with no probability (JSON has no -inf)


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


def _common_prefix(rows: Sequence[Sequence[int]]) -> int:
    """Length of the token prefix all rows share, leaving each row at least one token of its own."""
    limit = min(len(r) for r in rows) - 1
    first, n = rows[0], 0
    while n < limit and all(r[n] == first[n] for r in rows):
        n += 1
    return n


def length_groups(rows: list[list[int]], slack: float = 1.2) -> list[list[int]]:
    """Indices of ``rows`` in groups of similar length, shortest first: a group's padded cells (its longest row's
    tokens past the prefix all rows share, times its size) stay within ``slack`` times its real tokens, so a
    long row does not make every short one pay for its padding."""
    shared = _common_prefix(rows) if len(rows) > 1 else 0
    groups: list[list[int]] = []
    real = 0
    for i in sorted(range(len(rows)), key=lambda i: len(rows[i])):
        own = len(rows[i]) - shared
        if groups and own * (len(groups[-1]) + 1) <= slack * (real + own):
            groups[-1].append(i)
            real += own
        else:
            groups.append([i])
            real = own
    return groups


def _device(model: Any) -> Any:
    return model.get_input_embeddings().weight.device


def context_length(model: Any, tokenizer: Any) -> int | None:
    """The most tokens ``model`` reads: its config's ``max_position_embeddings`` (a GGUF's context length
    lands there too) or ``n_positions``, else the tokenizer's ``model_max_length`` when it is a real limit."""
    for name in ("max_position_embeddings", "n_positions"):
        value = getattr(getattr(model, "config", None), name, None)
        if isinstance(value, int) and value > 0:
            return value
    value = getattr(tokenizer, "model_max_length", None)
    return value if isinstance(value, int) and 0 < value < 10_000_000 else None  # unset: a huge sentinel


class ModelRunner:
    """Model-side state and helpers the mode mixins share; `TorchJudge` sets ``_tokenizer``, ``_models``,
    ``_chat_template``, ``_memo`` and ``_share_prefix``."""

    provider_name: str
    _tokenizer: Any
    _models: dict[str, Any]
    _chat_template: bool
    _memo: dict[Any, Any]
    _share_prefix: bool

    def _as_failure(self, exc: BaseException, model: str) -> BaseException:
        if isinstance(exc, JudgeError):
            return exc
        logger.opt(exception=exc).error("judgekit: torch model call failed")
        return ProviderError(f"model call failed: {type(exc).__name__}: {exc}", provider="torch", model=model)

    def _guarded(
        self, items: list[_Item], lengths: list[int], run: Callable[[list[int]], list[Result]], model: Any
    ) -> list[Result]:
        """``run`` over the items sorted by length (less padding); an out-of-memory batch is split in halves.
        An item longer than ``model``'s context fails alone, with its length and the limit, and never runs."""
        results: list[Result | None] = [None] * len(items)
        limit = context_length(model, self._tokenizer)
        for i, n in enumerate(lengths):
            if limit is not None and n > limit:
                results[i] = ProviderError(
                    f"the prompt is {n} tokens, longer than the model's context of {limit} tokens; shorten the "
                    "input or use a model with a longer context",
                    provider="torch",
                    model=items[i].model,
                )
        order = sorted((i for i in range(len(items)) if results[i] is None), key=lambda i: lengths[i])
        outputs = self._split_on_oom(order, items, lengths, run) if order else []
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
                        "prompt, a smaller max_tokens, or torch.device_map='auto'",
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
        prefix = 0
        if shared and self._share_prefix:  # a single row shares what an earlier batch left (`_prefix_cache`)
            prefix = _common_prefix(rows) if len(rows) > 1 else self._cached_prefix(model, rows[0])
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
        device = _device(model)
        ids, mask, positions = ids.to(device), mask.to(device), positions.to(device)
        cache = None
        if prefix:
            cache = self._prefix_cache(model, head)
            cache.batch_repeat_interleave(len(rows))
        return _Inputs(ids, mask, positions, cache, prefix)

    def _cached_prefix(self, model: Any, row: list[int]) -> int:
        """How many leading tokens of ``row`` (all but its last) the kept prefix cache covers."""
        kept = self._memo.get(("prefix", id(model)))
        if kept is None:
            return 0
        return _common_prefix([(*kept[0], -1), row])

    def _prefix_cache(self, model: Any, head: list[int]) -> Any:
        """A KV cache of the prompt prefix ``head``, the caller's own copy. The judge keeps the prefix it last
        ran (the judge template's instructions), cut to what the next prefix shares with it, so consecutive
        batches of one template run those tokens once, not once per batch; only ``head``'s own rest runs."""
        key = ("prefix", id(model))
        kept = self._memo.get(key)
        shared = _common_prefix([(*kept[0], -1), [*head, -1]]) if kept is not None else 0
        with torch.inference_mode():
            if shared < _MIN_SHARED_PREFIX:
                cache = model(input_ids=torch.tensor([head], device=_device(model)), use_cache=True).past_key_values
                self._memo[key] = (tuple(head), copy.deepcopy(cache))
                return cache
            tokens, cache = kept  # type: ignore[misc]
            if shared < len(tokens):  # keep only what is shared: the template, not one batch's question
                cache = copy.deepcopy(cache)
                cache.crop(shared - len(tokens))  # negative: drop that many from the end (any transformers)
                self._memo[key] = (tokens[:shared], cache)
            cache = copy.deepcopy(cache)
            if shared < len(head):
                rest = torch.tensor([head[shared:]], device=_device(model))
                positions = torch.arange(shared, len(head), device=rest.device).unsqueeze(0)
                model(input_ids=rest, past_key_values=cache, position_ids=positions, use_cache=True)
        return cache

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
