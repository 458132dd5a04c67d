"""``torch.mode="reward"``: a sequence-classification head with one label gives a scalar per (question,
response); pairwise preference is Bradley-Terry, ``sigmoid(r_A - r_B)``."""

from __future__ import annotations

from typing import Any

from judgekit.providers.torch._runner import ModelRunner, Result, _Item, _sigmoid
from judgekit.providers.torch.loading import torch
from judgekit.types import JudgeResponse, Usage


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


def reward_chat(question: str, response: str) -> list[dict[str, str]]:
    """The conversation a reward head scores: the question, then the response."""
    return [{"role": "user", "content": question}, {"role": "assistant", "content": response}]
