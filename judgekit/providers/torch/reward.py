"""``torch.mode="reward"``: a sequence-classification head gives a scalar per (question, response), mapped onto
each kind by `judgekit.scalars` exactly as the HTTP reward-model provider maps a served head's scalar (pairwise
preference is Bradley-Terry, ``sigmoid(r_A - r_B)``)."""

from __future__ import annotations

from typing import Any

from judgekit.providers.torch._runner import ModelRunner, Result, _Item
from judgekit.providers.torch.loading import torch
from judgekit.scalars import ScalarMap
from judgekit.types import JudgeResponse, Usage

_RAW = ScalarMap()  # a raw conversation (no task): its reward as the score


class RewardMode(ModelRunner):
    """Scalar rewards from a reward-model head."""

    def _run_reward(self, items: list[_Item]) -> list[Result]:
        rows = [self._encode(item.chats, generation=False) for item in items]
        return self._guarded(
            items,
            [max(len(r) for r in rs) for rs in rows],
            lambda idx: self._reward(items, rows, idx),
            self._models["reward"],
        )

    def _reward(self, items: list[_Item], rows: list[list[list[int]]], indices: list[int]) -> list[Result]:
        model = self._models["reward"]
        flat = [row for i in indices for row in rows[i]]

        def run(shared: bool) -> Any:
            inputs = self._pad(flat, model, shared=shared)
            with torch.inference_mode():
                return model(**inputs.forward_kwargs()).logits

        outputs = self._with_shared_prefix(run).float().tolist()  # one row of head outputs per chat
        results: list[Result] = []
        at = 0
        for i in indices:
            item, n = items[i], len(rows[i])
            rewards, at = [row[item.options.get("label", 0)] for row in outputs[at : at + n]], at + n
            tokens = sum(len(r) for r in rows[i])
            usage = Usage(prompt_tokens=tokens, completion_tokens=0, total_tokens=tokens)
            answer = item.options.get("map", _RAW).answer(item.kind, item.options, rewards)
            results.append(
                JudgeResponse(
                    content=answer.content,
                    model_used=item.model,
                    usage=usage,
                    finish_reason="stop",
                    score=answer.score,
                    decisions=answer.decisions,
                    raw_response={"mode": "reward", "rewards": rewards},
                    provider=self.provider_name,
                )
            )
        return results
