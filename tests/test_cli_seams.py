"""The seams between ``judgekit batch`` and ``judgekit validate``: a labelled file judged as it is, nothing judged
explained, input a person would send (a BOM, a misspelt field), an output that stays valid JSONL after a kill, and
progress when stderr is not a terminal."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from judgekit.testing import FakeLLMServer
from judgekit.validation import load_sample


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "judgekit.cli", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def write_jsonl(path: Path, rows: list[dict], prefix: str = "") -> Path:
    path.write_text(prefix + "".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def openai_at(server: FakeLLMServer) -> list[str]:
    return ["--base-url", server.base_url, "--api-key-env", "SEAMS_KEY", "--model", "m", "--retry-delay", "0.01"]


# ----------------------------------------------------------------------------------- validate: nothing judged


def test_validate_with_a_wrong_key_says_why_nothing_was_judged(tmp_path: Path, server: FakeLLMServer) -> None:
    server.api_key = "the-right-key"
    labelled = write_jsonl(tmp_path / "labelled.jsonl", load_sample("binary")[:12])
    out = cli("validate", str(labelled), *openai_at(server), env={"SEAMS_KEY": "a-wrong-key"})
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr and "empty input array" not in out.stderr
    assert "no item could be judged: 12 of 12 failed (12 AuthenticationError)" in out.stderr
    assert "authentication failed (check the API key)" in out.stderr and "a-wrong-key" not in out.stderr


def test_validate_judged_file_where_every_item_failed(tmp_path: Path) -> None:
    rows = load_sample("binary")[:6]
    labelled = write_jsonl(tmp_path / "labelled.jsonl", rows)
    failed = [
        {"index": i, "id": r["id"], "success": False, "error_type": "ParseError" if i % 2 else "JudgeTimeoutError",
         "error_message": "could not read a verdict" if i % 2 else "no reply within 60s"}
        for i, r in enumerate(rows)
    ]  # fmt: skip
    judged = write_jsonl(tmp_path / "judged.jsonl", failed)
    out = cli("validate", str(labelled), "--judged", str(judged))
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "6 of 6 failed (3 JudgeTimeoutError, 3 ParseError)" in out.stderr
    assert "3 x could not read a verdict" in out.stderr and "3 x no reply within 60s" in out.stderr


# --------------------------------------------------------------------------- batch: a labelled file as it is


def test_batch_once_then_validate_on_the_labelled_file(tmp_path: Path, server: FakeLLMServer) -> None:
    """docs/validation.md: judge the labelled file once with `judgekit batch`, then `validate --judged` it."""
    rows = [dict(r, source="web") for r in load_sample("binary")[:20]]
    labelled = write_jsonl(tmp_path / "labelled.jsonl", rows)
    judged = tmp_path / "judged.jsonl"
    env = {"SEAMS_KEY": "k"}
    batch = cli("batch", str(labelled), "-o", str(judged), "--meta", "source", *openai_at(server), "--no-progress",
                env=env)  # fmt: skip
    assert batch.returncode == 0, batch.stderr
    records = sorted((json.loads(line) for line in judged.read_text().splitlines()), key=lambda r: r["index"])
    assert [r["label"] for r in records] == [r["label"] for r in rows]  # carried to the output
    assert all(r["success"] and r["source"] == "web" and r["kind"] == "binary" for r in records)
    out = cli("validate", str(labelled), "--judged", str(judged), "--json", "--resamples", "50")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["n"]["value"] == 20


def test_batch_judges_the_lines_of_its_kind_in_a_mixed_file(tmp_path: Path) -> None:
    mixed = write_jsonl(tmp_path / "mixed.jsonl", load_sample("binary")[:5] + load_sample("pairwise")[:3])
    judged = tmp_path / "judged.jsonl"
    out = cli("batch", str(mixed), "-o", str(judged), "--api-type", "rules", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert "3 of 8 lines name another kind (pairwise): not judged with --kind binary" in out.stderr
    assert len(judged.read_text().splitlines()) == 5


def test_batch_input_with_a_bom_and_a_misspelt_field(tmp_path: Path) -> None:
    bom = write_jsonl(tmp_path / "bom.jsonl", [{"question": "2+2?", "answer": "4", "prediction": "4"}], prefix="\ufeff")
    out = cli("batch", str(bom), "-o", str(tmp_path / "a.jsonl"), "--api-type", "rules", "--no-progress")
    assert out.returncode == 0, out.stderr
    typo = write_jsonl(tmp_path / "typo.jsonl", [{"question": "2+2?", "answer": "4", "predction": "4"}])
    out = cli("batch", str(typo), "-o", str(tmp_path / "b.jsonl"), "--api-type", "rules", "--no-progress")
    record = json.loads((tmp_path / "b.jsonl").read_text())
    assert out.returncode == 1 and record["error_type"] == "ConfigError"
    assert "the input has 'predction': did you mean 'prediction'?" in record["error_message"]


def test_a_torn_last_line_is_dropped_on_resume(tmp_path: Path) -> None:
    items = write_jsonl(tmp_path / "items.jsonl", [{"id": i, "question": f"{i}?", "answer": "1", "prediction": "1"}
                                                    for i in range(4)])  # fmt: skip
    out = tmp_path / "judged.jsonl"
    assert cli("batch", str(items), "-o", str(out), "--api-type", "rules", "--no-progress").returncode == 0
    lines = out.read_text().splitlines(keepends=True)
    out.write_text("".join(lines[:3]) + lines[3][:25])  # killed (-9) while writing the last record
    again = cli("batch", str(items), "-o", str(out), "--api-type", "rules", "--no-progress")
    assert again.returncode == 0 and "dropped a half-written last line" in again.stderr
    frame = pd.read_json(out, lines=True)
    assert sorted(frame["id"]) == [0, 1, 2, 3] and frame["success"].all()


def test_ctrl_c_says_how_to_resume(tmp_path: Path, server: FakeLLMServer) -> None:
    server.latency = 0.5
    items = write_jsonl(tmp_path / "items.jsonl", [{"question": f"{i}?", "answer": "1", "prediction": "1"}
                                                    for i in range(50)])  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "judgekit.cli", "batch", str(items), "-o", str(tmp_path / "o.jsonl"),
         *openai_at(server), "--concurrency", "2", "--no-progress"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "SEAMS_KEY": "k"},
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while server.count("/v1/chat") < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "re-run the same command to resume" in stderr


# ------------------------------------------------------------------------------ progress without a terminal


def test_plain_progress_prints_a_line_every_few_seconds() -> None:
    from judgekit._progress import PlainProgress

    now = [0.0]
    lines: list[str] = []

    class Sink:
        def write(self, text: str) -> None:
            lines.extend(line for line in text.splitlines() if line)

        def flush(self) -> None: ...

    bar = PlainProgress(240, desc="judging (binary)", file=Sink(), interval=5.0, clock=lambda: now[0], background=False)
    for _ in range(120):
        now[0] += 0.125
        bar.update(1)
    bar.set_postfix(failed=3)
    now[0] += 20  # nothing finishes for a while: a line anyway
    bar.tick()
    bar.close()
    assert lines[:3] == [f"judging (binary): {n}/240 ({p}%), 8.0 items/s, {t}s" for n, p, t in
                         ((40, 17, 5), (80, 33, 10), (120, 50, 15))]  # fmt: skip
    assert lines[3:] == ["judging (binary): 120/240 (50%), 3.4 items/s, 35s, failed=3"] * 2  # the tick, the close


def test_validate_shows_progress_when_stderr_is_not_a_terminal() -> None:
    out = cli("validate", "--kind", "binary", "--api-type", "rules", "--resamples", "20")
    assert out.returncode == 0, out.stderr
    n = len(load_sample("binary"))  # the shipped sample's binary items, every part
    assert re.search(rf"judging: {n}/{n} \(100%\), [\d.]+ items/s", out.stderr), out.stderr
