"""The `judgekit` command through its entry point (``python -m judgekit.cli`` and the installed script)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from judgekit.testing import FakeLLMServer, Fault

KEY = "sk-cli-SECRET-0123456789abcdefWXYZ"


def run_cli(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "judgekit.cli", *args],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def openai_flags(server: FakeLLMServer) -> list[str]:
    return [
        "--api-type",
        "openai",
        "--base-url",
        server.base_url,
        "--api-key-env",
        "CLI_TEST_KEY",
        "--model",
        "m",
        "--retry-delay",
        "0.01",
    ]


# ------------------------------------------------------------------------------------------------- help


def test_help_everywhere_with_examples() -> None:
    for command in ([], ["judge"], ["batch"], ["serve"], ["providers"]):
        out = run_cli(*command, "--help")
        assert out.returncode == 0 and "examples:" in out.stdout, out.stderr
    demo = run_cli("demo", "--help")
    assert demo.returncode == 0 and "--no-model" in demo.stdout  # the demo's own options
    script = Path(sys.executable).parent / "judgekit"
    installed = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert installed.returncode == 0 and "judge" in installed.stdout
    assert run_cli().returncode == 2  # no command


def test_import_is_light() -> None:
    code = (
        "import sys, judgekit.cli; "
        "print([m for m in ('torch', 'fastapi', 'uvicorn', 'judgekit.server.app', 'tqdm') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------------------------------------ judge


def test_judge_from_flags_and_stdin_with_rules() -> None:
    out = run_cli("judge", "--api-type", "rules", "-q", "2+2?", "-a", "4", "-p", "The answer is 4")
    assert (out.returncode, out.stdout.strip()) == (0, "1"), out.stderr
    item = {"kind": "correctness", "question": "1/2+1/4?", "answer": "3/4", "prediction": "0.5"}
    out = run_cli("judge", "--api-type", "rules", "--json", stdin=json.dumps(item))
    result = json.loads(out.stdout)
    assert out.returncode == 0 and result["success"] and result["result"] == 0 and result["kind"] == "correctness"


def test_judge_against_an_openai_backend(server: FakeLLMServer) -> None:
    env = {"CLI_TEST_KEY": KEY}
    server.default_reply = "<score>8</score>"
    out = run_cli(
        "judge",
        "--kind",
        "pointwise",
        "-q",
        "Explain DNS",
        "--response",
        "It maps names.",
        *openai_flags(server),
        env=env,
    )
    assert (out.returncode, out.stdout.strip()) == (0, "8.0"), out.stderr
    assert server.requests[-1].headers["authorization"] == f"Bearer {KEY}"
    server.default_reply = lambda request: Fault.status_code(500)
    out = run_cli("judge", "-q", "2+2?", "-a", "4", "-p", "4", *openai_flags(server), "--num-retries", "0", env=env)
    assert out.returncode == 1 and out.stdout == "" and "judge failed" in out.stderr and "HTTP 500" in out.stderr
    assert KEY not in out.stderr


def test_judge_usage_errors_exit_2() -> None:
    missing = run_cli("judge", "--api-type", "rules", "-q", "2+2?", "-a", "4")
    assert missing.returncode == 2 and "--prediction" in missing.stderr
    wrong_kind_flag = run_cli("judge", "--api-type", "rules", "-q", "q", "-a", "4", "-p", "4", "--response1", "x")
    assert wrong_kind_flag.returncode == 2 and "does not take --response1" in wrong_kind_flag.stderr
    unknown = run_cli("judge", "--api-type", "rulez", "-q", "q", "-a", "4", "-p", "4")
    assert unknown.returncode == 2 and "Did you mean 'rules'" in unknown.stderr
    assert run_cli("judge", "--api-type", "rules", stdin="[1, 2]").returncode == 2
    assert run_cli("judge", "--api-type", "rules").returncode == 2  # no item at all


# ------------------------------------------------------------------------------------------------ batch


def _items(n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"item-{i}", "question": f"{i}+{i}?", "answer": str(2 * i), "prediction": str(2 * i)} for i in range(n)
    ]


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_batch_resumes_judging_only_what_is_missing(server: FakeLLMServer, tmp_path: Path) -> None:
    items = _items(10)
    del items[7]["id"]  # matched by its line index instead
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("\n".join(json.dumps(item) for item in items) + "\n\n")
    done = [{"index": i, "id": f"item-{i}", "success": True, "result": 1} for i in (0, 3, 5)]
    done.append({"index": 7, "success": True, "result": 1})
    out.write_text("\n".join(json.dumps(r) for r in done) + '\n{"index": 9, "id": "item-9", "succ')  # cut short
    env = {"CLI_TEST_KEY": KEY}

    first = run_cli("batch", str(src), "-o", str(out), "--kind", "binary", *openai_flags(server), env=env)
    assert first.returncode == 0, first.stderr
    assert server.count("/v1/chat/completions") == 6  # 10 items, 4 already judged
    assert "summary: items=10 succeeded=6 failed=0 skipped=4" in first.stderr and "tokens=" in first.stderr
    records = [r for r in _lines_lenient(out) if "prompt" not in r]
    judged = {r["index"] for r in records if r.get("success")}
    assert judged == set(range(10)) and all(r["result"] == 1 for r in records)
    new = [r for r in records if r["index"] not in (0, 3, 5, 7)]
    assert len(new) == 6 and all(r["id"] == f"item-{r['index']}" and r["model"] == "m" for r in new)

    again = run_cli("batch", str(src), "-o", str(out), "--kind", "binary", *openai_flags(server), env=env)
    assert again.returncode == 0 and server.count("/v1/chat/completions") == 6
    assert "skipped=10" in again.stderr


def _lines_lenient(path: Path) -> list[dict[str, Any]]:
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    return records


def test_batch_failures_exit_1_and_retry_failed(server: FakeLLMServer, tmp_path: Path) -> None:
    items = _items(4)
    items[2] = {"id": "bad", "question": "no prediction", "answer": "1"}  # malformed: a ConfigError line
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("\n".join(json.dumps(item) for item in items))
    server.enqueue(Fault.status_code(500))  # one item's only attempt fails
    flags = [*openai_flags(server), "--num-retries", "0", "--concurrency", "1", "--no-progress"]
    first = run_cli("batch", str(src), "-o", str(out), *flags, env={"CLI_TEST_KEY": KEY})
    assert first.returncode == 1 and "succeeded=2 failed=2" in first.stderr
    failed = [r for r in _lines(out) if not r["success"]]
    assert {r["error_type"] for r in failed} == {"ConfigError", "ProviderError"}
    assert all(r["result"] is None and r["error_message"] for r in failed)
    assert server.count("/v1/chat/completions") == 3

    # a rerun retries the malformed item only (still malformed); --retry-failed also the provider failure
    rerun = run_cli("batch", str(src), "-o", str(out), *flags, env={"CLI_TEST_KEY": KEY})
    assert rerun.returncode == 1 and "skipped=3" in rerun.stderr and server.count("/v1/chat/completions") == 3
    retry = run_cli("batch", str(src), "-o", str(out), *flags, "--retry-failed", env={"CLI_TEST_KEY": KEY})
    assert "skipped=2" in retry.stderr and server.count("/v1/chat/completions") == 4


def test_batch_rejects_a_bad_input_line(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"question": "q", "answer": "1", "prediction": "1"}\nnot json\n')
    out = run_cli("batch", str(src), "-o", str(tmp_path / "out.jsonl"), "--api-type", "rules")
    assert out.returncode == 2 and "in.jsonl:2" in out.stderr and not (tmp_path / "out.jsonl").exists()


# ------------------------------------------------------------------------------------ providers, serve


def test_providers_masks_secrets() -> None:
    env = {
        "OPENAI_API_KEY": KEY,
        "JUDGE_MODEL_API_KEY": "short-key",
        "JUDGE_MODEL_URL": "http://127.0.0.1:8888",
        "API_TYPE": "judge_server",
    }
    out = run_cli("providers", env=env)
    assert out.returncode == 0, out.stderr
    assert KEY not in out.stdout and "SECRET" not in out.stdout and "short-key" not in out.stdout
    lines = {line.split()[0].lstrip("*"): line for line in out.stdout.splitlines() if line.strip()}
    assert "set (sk-…WXYZ)" in lines["openai"] and lines["judge_server"].startswith("*judge_server")
    assert "set" in lines["judge_server"] and "http://127.0.0.1:8888" in lines["judge_server"]
    listing = json.loads(run_cli("providers", "--json", env=env).stdout)
    assert {row["api_type"] for row in listing} >= {"openai", "judge_server", "rules"}
    assert KEY not in json.dumps(listing)


def test_serve_answers_and_stops_gracefully_on_sigterm() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "judgekit.cli",
            "serve",
            "--api-type",
            "rules",
            "--port",
            str(port),
            "--api-key-env",
            "CLI_SERVER_KEY",
            "--log-level",
            "warning",
        ],
        env={**os.environ, "CLI_SERVER_KEY": KEY},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        body = json.dumps({"prompt": "2+2?", "completion": "4", "answer": "4"}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/judge", data=body, headers={"Authorization": f"Bearer {KEY}"}
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(request, timeout=5) as resp:
                    reply = json.loads(resp.read())
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        assert reply["score"] == 1.0
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "auth on (key from CLI_SERVER_KEY)" in stderr and KEY not in stderr


@pytest.mark.parametrize(
    "args", [["serve", "--api-type", "nope"], ["serve", "--max-batch-size", "0", "--api-type", "rules"]]
)
def test_serve_configuration_errors_exit_2(args: list[str]) -> None:
    out = run_cli(*args)
    assert out.returncode == 2 and "error:" in out.stderr
