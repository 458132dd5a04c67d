"""The judge server's group endpoints on a real uvicorn server: ``/group_judge`` and OpenRLHF's
``/get_reward`` (posted as OpenRLHF posts it, with ``requests``), judged by the local fake LLM server."""

from __future__ import annotations

import math
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from judgekit import SimplifiedJudge
from judgekit.server import ServerThread, create_app
from judgekit.testing import FakeLLMServer
from judgekit.testing.groups import prompt_of, rule_judge


def quality(text: str) -> float:
    return float(re.search(r"quality (\d+)", text)[1])


@pytest.fixture
def judged(server: FakeLLMServer) -> FakeLLMServer:
    rule = rule_judge(quality)
    server.default_reply = lambda rec: "no idea" if "UNREADABLE" in prompt_of(rec) else rule(rec)
    return server


def serving(server: FakeLLMServer, **options: object) -> ServerThread:
    judge = SimplifiedJudge(base_url=server.base_url, model_name="judge", num_retries=0)
    return ServerThread(create_app(judge, max_wait_s=0.002, **options), timeout_graceful_shutdown=10)


@pytest.fixture
def group_server(judged: FakeLLMServer) -> Iterator[ServerThread]:
    srv = serving(judged, group_kind="listwise")
    srv.start()
    yield srv
    srv.stop()


def test_group_judge_listwise_one_request(group_server: ServerThread, judged: FakeLLMServer) -> None:
    body = {"prompt": "q?", "completions": [f"c{i} quality {q}" for i, q in enumerate([4, 10, 1])], "request_id": "g"}
    reply = requests.post(group_server.url + "/group_judge", json=body, timeout=30)
    assert reply.status_code == 200, reply.text
    out = reply.json()
    assert judged.count("/v1/chat/completions") == 1
    assert [r["score"] for r in out["responses"]] == [pytest.approx(3 / 9), 1.0, 0.0]
    assert [r["request_id"] for r in out["responses"]] == ["g/0", "g/1", "g/2"]
    assert sorted(r["metadata"]["position"] for r in out["responses"]) == [1, 2, 3]


def test_group_judge_failure_and_validation(group_server: ServerThread) -> None:
    bad = requests.post(group_server.url + "/group_judge", json={"prompt": "UNREADABLE", "completions": ["a", "b"]})
    assert bad.status_code == 200
    assert [(r["score"], r["error_type"]) for r in bad.json()["responses"]] == [(None, "ParseError")] * 2
    wrong = requests.post(group_server.url + "/group_judge", json={"prompt": "q", "completions": [], "kind": "x"})
    assert wrong.status_code == 422
    short = requests.post(group_server.url + "/get_reward", json={"query": ["a", "b"], "prompts": ["a"]})
    assert short.status_code == 422 and short.json()["field"] == "prompts"


def test_openrlhf_remote_rm_groups_by_prompt(group_server: ServerThread, judged: FakeLLMServer) -> None:
    prompts = ["<user>P1</user>"] * 4 + ["<user>UNREADABLE</user>"] * 2 + ["<user>P2</user>"] * 4
    responses = [f" answer quality {q}" for q in (1, 4, 7, 10, 2, 3, 10, 10, 1, 1)]
    body = {"query": [p + r for p, r in zip(prompts, responses, strict=True)], "prompts": prompts, "labels": [""] * 10}
    reply = requests.post(group_server.url + "/get_reward", json=body, timeout=30)  # as OpenRLHF posts it
    assert reply.status_code == 200, reply.text
    out = reply.json()
    assert judged.count("/v1/chat/completions") == 3  # one listwise request per prompt
    rewards = out["rewards"]
    assert rewards[:4] == [0.0, pytest.approx(1 / 3), pytest.approx(2 / 3), 1.0]
    assert rewards[6:] == [1.0, 1.0, 0.0, 0.0]
    assert all(math.isnan(r) for r in rewards[4:6])  # failed: NaN, never 0
    assert out["extra_logs"]["judge_failed"] == [0.0] * 4 + [1.0] * 2 + [0.0] * 4
    assert out["scores"][:4] == rewards[:4]
    sent = prompt_of(judged.requests[0])
    assert "[Question]\n<user>P1</user>" in sent and "<user>P1</user> answer" not in sent  # prompt split off


def test_openrlhf_remote_rm_one_by_one(judged: FakeLLMServer) -> None:
    srv = serving(judged, kind="pointwise")
    srv.start()
    try:
        body = {"query": ["P a quality 3", "P b quality 9"], "prompts": ["P", "P"]}
        out = requests.post(srv.url + "/get_reward", json=body, timeout=30).json()
    finally:
        srv.stop()
    assert judged.count("/v1/chat/completions") == 2
    assert out["rewards"] == [pytest.approx(2 / 9), pytest.approx(8 / 9)]


def test_judgekit_serve_group_kind_for_openrlhf(judged: FakeLLMServer) -> None:
    """The documented command: ``judgekit serve ... --group-kind listwise``, then OpenRLHF's request."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cmd = [sys.executable, "-m", "judgekit.cli", "serve", "--api-type", "openai", "--base-url", judged.base_url,
           "--model", "judge", "--port", str(port), "--group-kind", "listwise", "--log-level", "warning"]  # fmt: skip
    env = {
        **os.environ,
        "OPENAI_API_KEY": "sk-test",
        "JUDGE_SERVER_API_KEY": "",
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        body = {"query": ["P x quality 2", "P y quality 8"], "prompts": ["P", "P"], "labels": ["", ""]}
        deadline = time.monotonic() + 60
        while True:
            try:
                reply = requests.post(f"http://127.0.0.1:{port}/get_reward", json=body, timeout=10)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and proc.poll() is None, "judgekit serve did not start"
                time.sleep(0.2)
        assert reply.json()["rewards"] == [pytest.approx(1 / 9), pytest.approx(7 / 9)]
        assert judged.count("/v1/chat/completions") == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
