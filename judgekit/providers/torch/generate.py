"""``torch.mode="generate"``: chat template, batched greedy (or sampled) generation with left padding; the reply
is parsed like any judge's, and token log-probabilities are recorded when asked."""

from __future__ import annotations

import copy
from typing import Any

from judgekit.errors import EmptyReplyError
from judgekit.providers.torch._runner import ModelRunner, Result, _Item
from judgekit.providers.torch.loading import torch, transformers
from judgekit.types import JudgeResponse, Usage


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


class GenerateMode(ModelRunner):
    """Text generation."""

    def _run_generate(self, items: list[_Item]) -> list[Result]:
        prompts = self._encode([item.chats[0] for item in items], generation=True)
        return self._guarded(
            items, [len(p) for p in prompts], lambda idx: self._generate(items, prompts, idx), self._models["causal"]
        )

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
                    EmptyReplyError(
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
