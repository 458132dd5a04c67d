"""Helpers to run judgekit inside verl 0.9 for tests and benchmarks (needs ``verl``; see docs/testing-server.md).

- `documented_overrides(doc)`: the ``key=value`` overrides of the verl command marked ``<!-- verl-config -->``
  in a Markdown file (docs/reward.md), so a test loads exactly the documented config.
- `compose_ppo_config(overrides)`: verl's ``ppo_trainer`` config, composed by Hydra from verl's own files.
- `make_batch(tokenizer_dir, samples)`: a ``DataProto`` as verl's rollout leaves it.
- `run_reward_loop(config, batch)`: verl's ``RewardLoopManager.compute_rm_score`` with fresh Ray workers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["compose_ppo_config", "documented_overrides", "make_batch", "run_reward_loop"]


def documented_overrides(doc: str | Path) -> list[str]:
    """The ``key=value`` tokens of the bash block that follows ``<!-- verl-config -->`` in ``doc``."""
    block = re.search(r"<!-- verl-config -->\s*```bash\n(.*?)```", Path(doc).read_text(), re.S)
    if block is None:
        raise ValueError(f"{doc} has no <!-- verl-config --> bash block")
    lines = [line.split("#", 1)[0] for line in block.group(1).replace("\\\n", " ").splitlines()]
    return [token for line in lines for token in line.split() if "=" in token and not token.startswith("-")]


def compose_ppo_config(overrides: Sequence[str]) -> Any:
    """verl's ``ppo_trainer`` config (an OmegaConf ``DictConfig``) with Hydra command-line ``overrides``."""
    import verl.trainer.main_ppo
    from hydra import compose, initialize_config_dir

    config_dir = Path(verl.trainer.main_ppo.__file__).parent / "config"
    with initialize_config_dir(config_dir=str(config_dir), version_base=None):
        return compose(config_name="ppo_trainer", overrides=list(overrides))


def make_batch(tokenizer_dir: str | Path, samples: Sequence[dict[str, Any]]) -> Any:
    """A ``DataProto`` of ``samples`` (dicts with ``question``, ``response``, ``answer``; optional ``uid``,
    ``extra_info``, ``data_source``): left-padded ``prompts``, right-padded ``responses`` ending in EOS, the
    attention mask over both, and the non-tensor fields verl's datasets give (``data_source``,
    ``reward_model.ground_truth``, ``extra_info``, ``raw_prompt``, ``uid``)."""
    import numpy as np
    import torch
    from tensordict import TensorDict
    from transformers import AutoTokenizer
    from verl import DataProto

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    prompts = [tok(s["question"])["input_ids"] for s in samples]
    responses = [tok(s["response"])["input_ids"] + [tok.eos_token_id] for s in samples]
    n, p_len, r_len = len(samples), max(map(len, prompts)), max(map(len, responses)) + 3
    prompt_ids = torch.full((n, p_len), tok.pad_token_id)
    response_ids = torch.full((n, r_len), tok.pad_token_id)
    mask = torch.zeros((n, p_len + r_len), dtype=torch.long)
    for i, (p, r) in enumerate(zip(prompts, responses, strict=True)):
        prompt_ids[i, p_len - len(p) :] = torch.tensor(p)
        mask[i, p_len - len(p) : p_len] = 1
        response_ids[i, : len(r)] = torch.tensor(r)
        mask[i, p_len : p_len + len(r)] = 1

    def column(values: list[Any]) -> Any:
        array = np.empty(n, dtype=object)
        array[:] = values
        return array

    tensors = {
        "prompts": prompt_ids,
        "responses": response_ids,
        "attention_mask": mask,
        "input_ids": torch.cat([prompt_ids, response_ids], dim=1),
    }
    return DataProto(
        batch=TensorDict(tensors, batch_size=n),
        non_tensor_batch={
            "data_source": column([s.get("data_source", "judgekit") for s in samples]),
            "reward_model": column([{"ground_truth": s.get("answer"), "style": "model"} for s in samples]),
            "extra_info": column([dict(s.get("extra_info", {"question": s["question"]})) for s in samples]),
            "raw_prompt": column([[{"role": "user", "content": s["question"]}] for s in samples]),
            "uid": column([str(s.get("uid", i)) for i, s in enumerate(samples)]),
        },
    )


def run_reward_loop(config: Any, batch: Any) -> Any:
    """``RewardLoopManager(config).compute_rm_score(batch)``: verl starts ``reward.num_workers`` reward
    workers on the running Ray cluster; they are stopped afterwards (their names are fixed by verl)."""
    import ray
    from verl.experimental.reward_loop import RewardLoopManager

    manager = RewardLoopManager(config)
    try:
        return manager.compute_rm_score(batch)
    finally:
        for worker in manager.reward_loop_workers:
            ray.kill(worker)
