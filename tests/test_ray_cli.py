"""``judgekit batch --ray`` and ``judgekit serve --ray`` on one local Ray (this module's own) against the local
test server: the same output as the local ``judgekit batch``, resumable the same way; a Serve deployment that
the ``judge_server`` provider and ``judgekit batch`` use unchanged."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from judgekit import SimplifiedJudge
from judgekit.cli import main
from judgekit.testing import FakeLLMServer

ray = pytest.importorskip("ray", reason='needs the ray extra: pip install "judgekit[ray]"')

from test_ray import verdict  # noqa: E402  (the test server's judge, shared with test_ray.py)

pytestmark = pytest.mark.ray

TIMINGS = ("latency_s",)


@pytest.fixture(scope="module")
def gcs_address() -> Iterator[str]:
    sigterm = signal.getsignal(signal.SIGTERM)  # ray.init sets its own and ray.shutdown leaves it
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=256 * 1024**2, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    from ray import serve

    serve.shutdown()
    ray.shutdown()
    signal.signal(signal.SIGTERM, sigterm)


def backend(server: FakeLLMServer) -> list[str]:
    """The command-line flags of a judge on the test server."""
    return ["--kind", "binary", "--api-type", "openai", "--base-url", server.base_url, "--model", "gpt-4o",
            "--num-retries", "0"]  # fmt: skip


def write_items(path: Path, n: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for i in range(n):
        item: dict[str, Any] = {
            "question": f"question {i}",
            "answer": "reference",
            "prediction": "good-prediction" if i % 3 else "bad-prediction",
        }
        if i % 4:
            item["id"] = f"item-{i}"  # some items have ids, the others are matched by index
        if i % 37 == 5:
            item["prediction"] = "POISON"
        items.append(item)
    del items[7]["prediction"]  # malformed
    items[8]["response"] = items[8].pop("prediction")  # an alias the CLI accepts
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    return items


def records(path: Path) -> list[dict[str, Any]]:
    """The output's records by input index (the last line for an item wins; a cut line is skipped), less timings."""
    latest: dict[int, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        for name in TIMINGS:
            row.pop(name, None)
        latest[row["index"]] = row
    return [latest[index] for index in sorted(latest)]


def prediction(item: dict[str, Any]) -> Any:
    return item.get("prediction", item.get("response"))


def test_batch_ray_writes_what_batch_writes_and_resumes(
    gcs_address: str, server: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-key")
    server.default_reply = verdict
    source = tmp_path / "in.jsonl"
    items = write_items(source, 300)
    common = ["batch", str(source), *backend(server), "--no-progress"]
    local, on_ray = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    assert main([*common, "-o", str(local)]) == 1  # some items fail: exit 1 both ways
    sent_locally = server.count("/v1/chat")
    assert main([*common, "-o", str(on_ray), "--ray", "--actors", "2"]) == 1
    assert server.count("/v1/chat") == 2 * sent_locally
    assert "summary: items=300 succeeded=" in capsys.readouterr().err
    expected = records(local)
    assert len(expected) == len(items) and records(on_ray) == expected
    failed = [row for row in expected if not row["success"]]
    assert {row["error_type"] for row in failed} == {"ConfigError", "ProviderError"}
    assert all(row["result"] is None for row in failed)

    # Resume: cut the output after 100 lines and half of the next; the rerun judges only what is missing.
    lines = on_ray.read_text(encoding="utf-8").splitlines(keepends=True)
    on_ray.write_text("".join(lines[:100]) + lines[100][:20], encoding="utf-8")
    done = {json.loads(line)["index"] for line in lines[:100]}
    before = server.count("/v1/chat")
    assert main([*common, "-o", str(on_ray), "--ray", "--actors", "2"]) == 1
    malformed = {i for i, item in enumerate(items) if prediction(item) is None}  # never sent
    assert server.count("/v1/chat") - before == sum(1 for i in range(len(items)) if i not in done | malformed)
    assert records(on_ray) == expected


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def deployed(serve: Any, url: str) -> bool:
    app = serve.status().applications.get("judgekit")
    if app is None or app.status != "RUNNING":
        return False
    try:
        return json.loads(urllib.request.urlopen(url + "/health", timeout=5).read())["status"] == "ok"
    except OSError:
        return False


def test_serve_ray_with_autoscaling_serves_the_provider_and_judgekit_batch(
    gcs_address: str, server: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ray import serve

    server.default_reply = verdict
    port = free_port()
    env = {**os.environ, "OPENAI_API_KEY": "sk-test-key", "JUDGE_SERVER_API_KEY": "serve-key"}
    cmd = [
        sys.executable,
        "-m",
        "judgekit.cli",
        "serve",
        "--ray",
        "--address",
        gcs_address,
        "--autoscaling",
        '{"min_replicas": 2, "max_replicas": 3}',
        "--port",
        str(port),
        *backend(server),
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 330  # past serve_judge's own start_timeout_s (300): its error shows first
        while not deployed(serve, url):  # the app is RUNNING (all its replicas) and answers
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.5)
        status = serve.status().applications["judgekit"].deployments["JudgeDeployment"]
        assert status.replica_states.get("RUNNING") == 2  # min_replicas passed through

        client = SimplifiedJudge(api_type="judge_server", base_url=url, api_key="serve-key", num_retries=0)
        with client:
            results = client.evaluate_batch(
                "binary",
                [
                    {"question": "q", "answer": "reference", "prediction": p}
                    for p in ("good-prediction", "nope", "POISON")
                ],
            )
        assert [r["result"] for r in results] == [1, 0, None] and "rejected" in results[2]["error_message"]

        source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
        items = write_items(source, 40)
        monkeypatch.setenv("JUDGE_MODEL_API_KEY", "serve-key")
        rc = main(
            [
                "batch",
                str(source),
                "-o",
                str(out),
                "--kind",
                "binary",
                "--api-type",
                "judge_server",
                "--base-url",
                url,
                "--num-retries",
                "0",
                "--no-progress",
            ]
        )
        rows = records(out)
        assert rc == 1 and len(rows) == 40
        for row in rows:
            given = prediction(items[row["index"]])
            if given is None or given == "POISON":
                assert not row["success"] and row["result"] is None and row["error_message"]
            else:
                assert row["success"] and row["result"] == int(given == "good-prediction")
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=120)[0]
    assert proc.returncode == 0, output
    assert "judgekit" not in serve.status().applications  # the app is deleted on the way out
