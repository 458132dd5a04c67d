"""``judgekit export`` output loaded by verl 0.9.1's own dataset classes (the verl tier, marked ``verl``; run in
.venv-verl: ``.venv-verl/bin/python -m pytest -q -m verl tests/test_verl_export.py``).

Every format: ``sft`` in ``MultiTurnSFTDataset``, ``verl_rm`` in ``RMDataset``, ``grpo_pointwise`` and
``grpo_pairwise`` in ``RLHFDataset``, and the seed's ``bradley_terry`` message lists through the tokenizer's chat
template (verl has no dataset class for them; the seed's recipe renders them so).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from judgekit.training_data import ExportOptions, export

pytestmark = pytest.mark.verl


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    from judgekit.testing.tiny_models import build_tiny_tokenizer

    work = tmp_path_factory.mktemp("export")
    tokenizer = build_tiny_tokenizer(work / "tok")
    rows = []
    for i in range(30):
        question = f"Which is the better answer to question {i}?"
        better = "AB"[i % 2]
        rows.append({"index": len(rows), "kind": "pairwise", "success": True, "result": better, "model": "big",
                     "raw_response": f"<better>{better}</better>", "reasoning": "A is longer.", "question": question,
                     "response1": f"first answer {i}", "response2": f"second answer {i}"})  # fmt: skip
        for response, score in ((f"good answer {i}", 4), (f"poor answer {i}", 1)):
            rows.append({"index": len(rows), "kind": "pointwise", "success": True, "scores": score, "model": "big",
                         "raw_response": f"<score>{score}</score>", "question": question,
                         "response": response})  # fmt: skip
    path = write_jsonl(work / "judged.jsonl", rows)
    card = export([path], work / "data", options=ExportOptions(val_fraction=0.2, score_range=(0, 4)))
    assert all(card.formats[f]["train"]["rows"] > 0 and card.formats[f]["validation"]["rows"] > 0 for f in card.formats)
    return work / "data", tokenizer


@pytest.mark.parametrize("split", ["train", "validation"])
def test_sft_in_multiturn_sft_dataset(exported: tuple[Path, Any], split: str) -> None:
    from omegaconf import OmegaConf
    from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset

    data, tokenizer = exported
    config = OmegaConf.create({"max_length": 1024, "truncation": "error", "messages_key": "messages"})
    dataset = MultiTurnSFTDataset(str(data / "sft" / f"{split}.parquet"), tokenizer, config)
    assert len(dataset) > 0
    item = dataset[0]
    assert item["input_ids"].shape == item["loss_mask"].shape and int(item["loss_mask"].sum()) > 0
    learned = tokenizer.decode(item["input_ids"][item["loss_mask"].bool()])
    assert "<better>" in learned or "<score>" in learned  # the judge's reply is what the model learns


def test_verl_rm_in_rm_dataset(exported: tuple[Path, Any], tmp_path: Path) -> None:
    from verl.utils.dataset.rm_dataset import RMDataset

    data, tokenizer = exported
    dataset = RMDataset(str(data / "verl_rm" / "train.parquet"), tokenizer, max_length=256, cache_dir=str(tmp_path))
    assert len(dataset) > 0
    item = dataset[0]
    assert tuple(item["input_ids"].shape) == (2, 256)
    chosen, rejected = (tokenizer.decode(row[mask.bool()]) for row, mask in zip(item["input_ids"],
                        item["attention_mask"], strict=True))  # fmt: skip
    assert chosen != rejected and "answer" in chosen


@pytest.mark.parametrize("fmt", ["grpo_pointwise", "grpo_pairwise"])
def test_grpo_in_rlhf_dataset(exported: tuple[Path, Any], fmt: str, tmp_path: Path) -> None:
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset

    data, tokenizer = exported
    config = OmegaConf.create({"prompt_key": "prompt", "max_prompt_length": 1024, "cache_dir": str(tmp_path),
                               "filter_overlong_prompts": True, "filter_overlong_prompts_workers": 1})  # fmt: skip
    dataset = RLHFDataset(str(data / fmt / "train.parquet"), tokenizer, config)
    assert len(dataset) > 0
    item = dataset[0]
    tag = "<score>" if fmt == "grpo_pointwise" else "<better>"
    assert tag in item["raw_prompt"][0]["content"]
    truth = item["reward_model"]["ground_truth"]
    assert truth in (("0", "1", "2", "3", "4") if fmt == "grpo_pointwise" else ("A", "B"))
    assert item["data_source"] == f"judgekit/{fmt}"


def test_bradley_terry_message_lists_render(exported: tuple[Path, Any]) -> None:
    import pandas as pd

    data, tokenizer = exported
    frame = pd.read_parquet(data / "bradley_terry" / "train.parquet")
    assert list(frame.columns) == ["chosen", "rejected"] and len(frame) > 0
    for column in ("chosen", "rejected"):
        messages = json.loads(frame.iloc[0][column])
        ids = tokenizer.apply_chat_template(messages, tokenize=True)
        assert len(ids) > 0 and messages[-1]["role"] == "assistant"
