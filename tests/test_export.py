"""``judgekit export`` (judgekit.training_data): judgements to judge-training data, run as a user runs it: items
judged with ``judgekit batch`` against the local server, then exported; labelled files; a jury's results; the
filters, deduplication, the split by question and the data card. Loading into verl's own dataset classes is
tests/test_verl_export.py (the verl tier)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from judgekit import Jury, SimplifiedJudge
from judgekit.cli.export import FORMAT_NAMES
from judgekit.errors import ConfigError
from judgekit.testing import FakeLLMServer, RecordedRequest
from judgekit.training_data import FORMATS, ExportOptions, export


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "judgekit.cli", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "EXPORT_TEST_KEY": "sk-export"})  # fmt: skip


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def prefers_longer(rec: RecordedRequest) -> str:
    """The fake judge: the longer of [Response A] / [Response B] is better, with its reasoning."""
    text = rec.json["messages"][-1]["content"]
    a = text.split("[Response A]")[1].split("[End of Response A]")[0]
    b = text.split("[Response B]")[1].split("[End of Response B]")[0]
    return f"<think>A has {len(a)} characters, B {len(b)}.</think><better>{'A' if len(a) >= len(b) else 'B'}</better>"


def read(directory: Path, fmt: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    return tuple(pd.read_parquet(directory / fmt / f"{split}.parquet") for split in ("train", "validation"))  # type: ignore[return-value]


def test_batch_then_export_every_format(server: FakeLLMServer, tmp_path: Path) -> None:
    server.default_reply = prefers_longer
    items = [
        {"id": f"q{i}", "question": f"Question {i}?", "response1": "short", "response2": f"a much longer answer {i}"}
        for i in range(40)
    ]
    items[3]["response1"] = "the longest answer of them all, by far"  # A wins here
    write_jsonl(tmp_path / "items.jsonl", items)
    judged = tmp_path / "judged.jsonl"
    flags = ["--api-type", "openai", "--base-url", server.base_url, "--api-key-env", "EXPORT_TEST_KEY", "--model", "m"]
    done = run_cli("batch", str(tmp_path / "items.jsonl"), "-o", str(judged), "--kind", "pairwise", *flags)
    assert done.returncode == 0, done.stderr

    out = tmp_path / "data"
    done = run_cli("export", str(judged), "--items", str(tmp_path / "items.jsonl"), "-o", str(out), "--val-fraction",
                   "0.25")  # fmt: skip
    assert done.returncode == 0, done.stderr
    card = json.loads((out / "data_card.json").read_text())
    assert card["records"] == {"read": 40, "kept": 40, "dropped": {}}
    assert card["sources"][0]["models"] == {"m": 40} and card["sources"][0]["kinds"] == {"pairwise": 40}

    sft_train, sft_val = read(out, "sft")
    assert len(sft_train) + len(sft_val) == 40 and len(sft_val) > 0
    messages = list(sft_train.iloc[0]["messages"])
    assert messages[0]["role"] == "user" and "[Response A]" in messages[0]["content"]
    assert messages[1]["role"] == "assistant" and messages[1]["content"].startswith("<think>A has")
    assert (
        card["formats"]["sft"]["train"]["balance"]["pairwise=B"]
        + card["formats"]["sft"]["validation"]["balance"].get("pairwise=B", 0)
        == 39
    )

    bt_train, _ = read(out, "bradley_terry")
    chosen, rejected = json.loads(bt_train.iloc[0]["chosen"]), json.loads(bt_train.iloc[0]["rejected"])
    assert [m["role"] for m in chosen] == ["user", "assistant"] and chosen[0] == rejected[0]
    assert len(chosen[1]["content"]) > len(rejected[1]["content"])  # the judge preferred the longer one

    rm_train, rm_val = read(out, "verl_rm")
    assert list(rm_train.columns) == ["prompt", "chosen", "rejected"]
    assert all(isinstance(v, str) for v in rm_train.iloc[0])
    q3 = pd.concat([rm_train, rm_val]).set_index("prompt").loc["Question 3?"]
    assert q3["chosen"] == items[3]["response1"]

    grpo_train, _ = read(out, "grpo_pairwise")
    row = grpo_train.iloc[0]
    assert row["data_source"] == "judgekit/grpo_pairwise" and row["reward_model"]["ground_truth"] in ("A", "B")
    assert "<better>" in row["prompt"][0]["content"]
    assert not (out / "grpo_pointwise").exists() and card["formats"]["grpo_pointwise"]["train"]["rows"] == 0

    # no question in both splits, in any format
    for fmt in ("sft", "verl_rm"):
        train, val = read(out, fmt)
        key = "prompt" if fmt == "verl_rm" else "messages"
        as_text = (lambda s: s) if fmt == "verl_rm" else (lambda m: m[0]["content"])
        assert not {as_text(v) for v in train[key]} & {as_text(v) for v in val[key]}


def test_labels_filters_dedup_and_pointwise_pairs(tmp_path: Path) -> None:
    # a judge's pointwise scores, two responses per question, some with labels; one failed; one duplicated line
    rows = []
    for i in range(10):
        for response, score, label in ((f"good {i}", 8, 8 if i < 5 else None), (f"bad {i}", 3, 7 if i == 0 else None)):
            rows.append({"index": len(rows), "kind": "pointwise", "success": True, "scores": score, "model": "big",
                         "raw_response": f"<score>{score}</score>", "reasoning": "ok", "question": f"Q{i}",
                         "response": response, "label": label})  # fmt: skip
    rows.append({"index": 99, "kind": "pointwise", "success": False, "error_message": "timeout"})
    rows.append(dict(rows[2]))
    path = write_jsonl(tmp_path / "judged.jsonl", rows)

    card = export([path], tmp_path / "all", options=ExportOptions(val_fraction=0.0, score_range=(0, 10)))
    assert card.records["dropped"] == {"failed": 1} and card.records["kept"] == 21
    bt = card.formats["bradley_terry"]
    assert bt["train"]["rows"] == 10 and bt["duplicates"] == 1  # one pair per question; the repeated line
    assert card.formats["sft"]["duplicates"] == 1 and card.formats["sft"]["train"]["rows"] == 20
    sft = pd.read_parquet(tmp_path / "all" / "sft" / "train.parquet")
    replies = {m[0]["content"].split("[Response]\n")[1].split("\n")[0]: m[1]["content"] for m in sft["messages"]}
    assert replies["good 1"] == "<think>ok</think>\n<score>8</score>"  # the judge's reply, agreeing with the label
    assert replies["bad 0"] == "<score>7</score>"  # the label wins over a disagreeing verdict
    grpo = pd.read_parquet(tmp_path / "all" / "grpo_pointwise" / "train.parquet")
    assert sorted(set(grpo["reward_model"].map(lambda r: r["ground_truth"]))) == ["3", "7", "8"]

    strict = ExportOptions(require_label=True, agree_with_label=True, val_fraction=0.0)
    card = export([path], tmp_path / "strict", formats=["sft"], options=strict)
    assert card.records["dropped"] == {"failed": 1, "no_label": 14, "disagrees_with_label": 1}
    assert card.formats["sft"]["duplicates"] == 1 and card.formats["sft"]["train"]["rows"] == 5


def test_a_labelled_validation_file_and_the_split(tmp_path: Path) -> None:
    rows = [{"question": f"Q{i}", "answer": "4", "prediction": str(i % 3), "label": "yes" if i % 3 else "no"}
            for i in range(300)]  # fmt: skip
    path = write_jsonl(tmp_path / "labelled.jsonl", rows)
    card = export([path], tmp_path / "out", kind="binary", formats=["sft", "verl_rm"],
                  options=ExportOptions(val_fraction=0.2, seed=7))  # fmt: skip
    sft = card.formats["sft"]
    assert sft["train"]["rows"] + sft["validation"]["rows"] == 300
    assert 30 <= sft["validation"]["prompts"] <= 90  # about a fifth of the questions
    assert sft["train"]["balance"]["binary=1"] + sft["validation"]["balance"]["binary=1"] == 200
    assert card.formats["verl_rm"]["train"]["rows"] == 0  # one response per question: no pairs
    again = export([path], tmp_path / "again", kind="binary", formats=["sft"],
                   options=ExportOptions(val_fraction=0.2, seed=7))  # fmt: skip
    assert again.formats["sft"] == sft  # the split is a function of the question and the seed
    replies = {m[1]["content"] for m in pd.read_parquet(tmp_path / "out" / "sft" / "train.parquet")["messages"]}
    assert replies == {"1", "0"}  # the verdict words the binary prompt asks for
    export([path], tmp_path / "correct", kind="correctness", formats=["sft"], options=ExportOptions(val_fraction=0))
    replies = {m[1]["content"] for m in pd.read_parquet(tmp_path / "correct" / "sft" / "train.parquet")["messages"]}
    assert replies == {"Yes", "No"}


def test_a_jurys_verdicts_with_min_agreement(server: FakeLLMServer, tmp_path: Path) -> None:
    # the fake judge says yes to even predictions
    items = [{"question": f"Is {i} even?", "answer": "yes", "prediction": str(i)} for i in range(6)]
    server.default_reply = lambda rec: str(int(any(f" {d}\n" in rec.json["messages"][-1]["content"] for d in "024")))
    judges = [SimplifiedJudge(api_type="openai", base_url=server.base_url, api_key="k", model_name=f"j{n}")
              for n in range(3)]  # fmt: skip
    with Jury(judges) as jury:
        results = jury.evaluate_batch("binary", items)
    assert all(r.success for r in results)
    lines = [{**dict(result), "votes": None, "item": item} for result, item in zip(results, items, strict=True)]
    lines[0]["agreement"] = 2 / 3  # as if one juror had disagreed
    path = write_jsonl(tmp_path / "jury.jsonl", lines)
    card = export([path], tmp_path / "out", formats=["sft"], options=ExportOptions(min_agreement=0.9, val_fraction=0))
    assert card.records["dropped"] == {"low_jury_agreement": 1} and card.formats["sft"]["train"]["rows"] == 5


def test_errors_name_the_field(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [{"index": 0, "success": True, "result": "A", "kind": "pairwise"}])
    with pytest.raises(ConfigError, match="items") as info:
        export([path], tmp_path / "out")
    assert info.value.field == "items"
    with pytest.raises(ConfigError, match="did you mean 'verl_rm'") as info:
        export([path], tmp_path / "out", formats=["verl-rm"])
    assert info.value.field == "format"
    assert FORMAT_NAMES == FORMATS  # the CLI's list is the library's
