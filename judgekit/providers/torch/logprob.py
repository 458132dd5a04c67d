"""``torch.mode="logprob"``: one forward pass; the verdict is read from the next-token distribution after the
prompt (binary, correctness: P(positive) over the verdict tokens; pointwise: the expected score over the integer
score tokens after a ``<score>`` prefill)."""

from __future__ import annotations

import math
from typing import Any

from judgekit.config import JudgeConfig
from judgekit.embedded_models import get_model
from judgekit.errors import ConfigError, JudgeError, ProviderResponseError
from judgekit.kinds import get_kind
from judgekit.providers.torch._runner import ModelRunner, Result, _Item, _log, length_groups
from judgekit.providers.torch.loading import torch
from judgekit.types import JudgeResponse, Usage

SCORE_PREFILL = "<score>"


def _scores(item: _Item) -> bool:
    """Whether the kind asks for a score (the expected value over the score tokens) rather than a verdict."""
    return get_kind(item.kind or "").logprob == "expected_score"


class LogprobMode(ModelRunner):
    """Verdicts and expected scores from next-token log-probabilities."""

    config: JudgeConfig

    def _run_logprob(self, items: list[_Item]) -> list[Result]:
        suffixes = [SCORE_PREFILL if _scores(item) else "" for item in items]
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
                self._models["causal"],
            )
            for i, output in zip(ok, outputs, strict=True):
                results[i] = output
        return results  # type: ignore[return-value]

    def _verdict_plan(self, item: _Item) -> Any:
        """Binary/correctness: (positive word, negative word, positive ids, negative ids). Pointwise: the
        integer candidates as ``[(value, token ids)]`` (one or two tokens each)."""
        if _scores(item):
            low, high = item.options["score_range"]
            return self._score_candidates(math.ceil(low), math.floor(high))
        positive, negative = get_kind(item.kind or "").verdict_words(item.options.get("output_format"))
        key = ("verdict", positive, negative)
        if key not in self._memo:
            self._memo[key] = (positive, negative, self._word_ids(positive), self._word_ids(negative))
        return self._memo[key]

    def _threshold(self) -> float:
        """P(positive) at or above which a verdict is positive: ``torch.threshold``, else the named model's."""
        if self.config.torch.threshold is not None:
            return self.config.torch.threshold
        named = get_model(self.config.model_name)
        return named.threshold if named is not None else 0.5

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
                f"torch.mode='logprob' needs at least two integer scores in score_range, got ({low}, {high})",
                field="score_range",
            )
        if high - low > 1000:
            raise ConfigError("torch.mode='logprob' reads at most 1001 integer scores", field="score_range")
        encode = self._tokenizer.encode
        base = encode(SCORE_PREFILL, add_special_tokens=False)
        candidates = []
        for value in range(low, high + 1):
            full = encode(SCORE_PREFILL + str(value), add_special_tokens=False)
            tokens = full[len(base) :] if full[: len(base)] == base else encode(str(value), add_special_tokens=False)
            if not 1 <= len(tokens) <= 2:
                raise ConfigError(
                    f"torch.mode='logprob' reads scores of one or two tokens; {value} takes {len(tokens)} with this "
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
        """log_softmax of the next-token logits after each row (float32, CPU); rows run in groups of similar
        length (`length_groups`), each group after the prompt prefix they share."""
        model = self._models["causal"]
        out: list[Any] = [None] * len(rows)
        for group in length_groups(rows):

            def run(shared: bool, group: list[int] = group) -> Any:
                inputs = self._pad([rows[i] for i in group], model, shared=shared)
                with torch.inference_mode():
                    return model(**inputs.forward_kwargs(), logits_to_keep=1).logits

            logprobs = torch.log_softmax(self._with_shared_prefix(run)[:, -1, :].float(), dim=-1).cpu()
            for j, i in enumerate(group):
                out[i] = logprobs[j]
        return torch.stack(out)

    def _score(self, items: list[_Item], prompts: list[list[int]], plans: list[Any]) -> list[Result]:
        first = self._next_logprobs(prompts)
        # two-token scores ("10" = "1" + "0"): one more pass with each needed first token appended
        extra_rows, extra_at = [], {}
        for r, (item, plan) in enumerate(zip(items, plans, strict=True)):
            if _scores(item):
                for head in dict.fromkeys(t[0] for _, t in plan if len(t) == 2):
                    extra_at[(r, head)] = len(extra_rows)
                    extra_rows.append(prompts[r] + [head])
        second = self._next_logprobs(extra_rows) if extra_rows else None
        results: list[Result] = []
        for r, (item, plan) in enumerate(zip(items, plans, strict=True)):
            usage = Usage(prompt_tokens=len(prompts[r]), completion_tokens=1, total_tokens=len(prompts[r]) + 1)
            if _scores(item):
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
        score = p_pos / (p_pos + p_neg)
        word, p_word = (positive, p_pos) if score >= self._threshold() else (negative, p_neg)
        alternatives = sorted(
            [{"token": positive, "logprob": _log(p_pos)}, {"token": negative, "logprob": _log(p_neg)}],
            key=lambda a: -a["logprob"],
        )
        return JudgeResponse(
            content=word,
            model_used=item.model,
            finish_reason="stop",
            logprobs=[{"token": word, "logprob": _log(p_word), "top_logprobs": alternatives}],
            score=score,
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
            content=f"{SCORE_PREFILL}{best}</score>",
            model_used=item.model,
            finish_reason="stop",
            logprobs=[
                {"token": SCORE_PREFILL, "logprob": 0.0, "top_logprobs": []},
                {"token": str(best), "logprob": _log(probs[best]), "top_logprobs": alternatives},
                {"token": "</score>", "logprob": 0.0, "top_logprobs": []},
            ],
            score=expected,
            raw_response={"mode": "logprob", "distribution": {v: p / total for v, p in probs.items()}},
            provider=self.provider_name,
        )
