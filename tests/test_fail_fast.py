"""Fail fast on an endpoint that cannot be reached (`judgekit.circuit.EndpointCircuit`, ``JudgeConfig.fail_fast``):
the circuit on a clock the test controls, then the Python batch and ``judgekit batch`` against a closed port and a
port whose server starts late, and the retry warnings counted instead of repeated."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from judgekit import SimplifiedJudge
from judgekit.errors import ProviderConnectionError, ProviderError
from judgekit.testing import FakeLLMServer


class Clock:
    """A clock the test moves; ``sleep`` moves it instead of waiting."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def refused() -> ProviderConnectionError:
    return ProviderConnectionError("connection failed: refused", unreachable=True)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------------------- the circuit


async def test_three_refusals_hold_the_requests_then_fail_them_at_once() -> None:
    from judgekit.circuit import EndpointCircuit

    clock = Clock()
    probes: list[float] = []

    async def probe() -> str | None:
        probes.append(clock.now)
        return "refused"

    circuit = EndpointCircuit(["http://h:1/v1"], patience=20.0, probe=probe, clock=clock, sleep=clock.sleep)
    sent = 0

    async def send() -> str:
        nonlocal sent
        sent += 1
        raise refused()

    for _ in range(3):
        with pytest.raises(ProviderConnectionError, match="refused"):
            await circuit.call(send)
    assert sent == 3 and circuit.breaker.state == "open"
    with pytest.raises(ProviderConnectionError, match=r"cannot reach http://h:1/v1: refused") as held:
        await circuit.call(send)  # held (probing every 0.5 s) until 20 s have passed, then failed
    assert sent == 3 and held.value.retryable is False and held.value.unreachable
    assert clock.now == pytest.approx(20.0, abs=0.2) and 30 <= len(probes) <= 41
    before = clock.now
    for _ in range(50):  # the rest fail at once: no waiting, no request
        with pytest.raises(ProviderConnectionError, match="cannot reach"):
            await circuit.call(send)
    assert sent == 3 and clock.now - before < 1.0


async def test_an_endpoint_that_comes_back_gets_the_held_requests() -> None:
    from judgekit.circuit import EndpointCircuit

    clock = Clock()
    up_at = 5.0

    async def probe() -> str | None:
        return None if clock.now >= up_at else "refused"

    async def send() -> str:
        if clock.now < up_at:
            raise refused()
        return "ok"

    circuit = EndpointCircuit(["http://h:1/v1"], patience=20.0, probe=probe, clock=clock, sleep=clock.sleep)
    await circuit.preflight()  # refused: the circuit opens before anything is sent
    assert circuit.breaker.state == "open"
    results = await asyncio.gather(*(circuit.call(send) for _ in range(20)))
    assert results == ["ok"] * 20 and clock.now >= up_at
    assert circuit.breaker.state == "closed" and not circuit.unreachable


async def test_http_errors_and_timeouts_do_not_open_it() -> None:
    from judgekit.circuit import EndpointCircuit

    circuit = EndpointCircuit(["http://h:1/v1"], threshold=2, probe=None)

    async def server_error() -> str:
        raise ProviderError("boom", status_code=500, retryable=True)

    for _ in range(10):
        with pytest.raises(ProviderError):
            await circuit.call(server_error)
    assert circuit.breaker.state == "closed"


# -------------------------------------------------------------------------------- through a judge


def judge_at(base_url: str, **config: object) -> SimplifiedJudge:
    return SimplifiedJudge(**{"api_type": "openai", "base_url": base_url, "api_key": "k", "model_name": "m",
                              "retry_delay": 0.05, **config})  # fmt: skip


ITEMS = [{"question": f"{i}+1?", "answer": str(i + 1), "prediction": str(i + 1)} for i in range(60)]


def test_python_batch_against_a_closed_port_fails_every_item_with_one_reason(log_lines: list[str]) -> None:
    judge = judge_at(f"http://127.0.0.1:{closed_port()}/v1", fail_fast_after=1.0)
    results = judge.evaluate_batch("binary", ITEMS)
    assert len(results) == 60 and not any(r.success for r in results)
    assert all(re.search(r"cannot reach http://127\.0\.0\.1:\d+/v1", r.error_message) for r in results)
    assert all(r.error_type == "ProviderConnectionError" for r in results)
    assert len(log_lines) <= 3, log_lines  # went down, gave up: not one warning per attempt


def test_python_batch_waits_for_a_server_that_starts_late() -> None:
    port = closed_port()
    late = FakeLLMServer(port=port, default_reply="1")
    timer = threading.Timer(1.0, late.start)
    timer.start()
    try:
        results = judge_at(f"http://127.0.0.1:{port}/v1", fail_fast_after=15.0).evaluate_batch("binary", ITEMS)
        assert [r.result for r in results] == [1] * 60
        assert late.count("/v1/chat") == 60  # held, not sent into the closed port and retried
    finally:
        timer.join()
        late.stop()


def test_keep_retrying_is_the_old_behaviour() -> None:
    judge = judge_at(f"http://127.0.0.1:{closed_port()}/v1", fail_fast=False, num_retries=4, max_retry_delay=0.05)
    result = judge.evaluate_binary("2+2?", "4", "4")
    assert not result.success and "cannot reach" not in result.error_message
    assert result.error_message.endswith("(after 5 attempts)")


def test_retry_warnings_are_counted_not_repeated(log_lines: list[str]) -> None:
    from judgekit._logtally import WarningTally

    now = [0.0]
    tally = WarningTally(interval=30.0, clock=lambda: now[0])
    with tally.batch():
        for i in range(100):
            tally.warn("openai retries after ProviderConnectionError", f"judgekit: attempt {i} failed")
            now[0] += 0.1
        assert log_lines == ["judgekit: attempt 0 failed"]
    summary = "judgekit: 99 more openai retries after ProviderConnectionError (the last: attempt 99 failed)"
    assert log_lines[1] == summary
    now[0] += 31
    tally.warn("openai retries after ProviderConnectionError", "judgekit: attempt 0 failed")  # a new batch: shown
    assert len(log_lines) == 3


# ---------------------------------------------------------------------------------- judgekit batch


def run_batch(tmp_path: Path, port: int, *extra: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({**item, "id": i}) + "\n" for i, item in enumerate((ITEMS * 4)[:200])))
    out = tmp_path / "judged.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "judgekit.cli", "batch", str(items), "-o", str(out), "--model", "m",
         "--base-url", f"http://127.0.0.1:{port}/v1", "--api-key-env", "FAIL_FAST_KEY", *extra],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        env={**os.environ, "FAIL_FAST_KEY": "k"},
    )  # fmt: skip
    return done, [json.loads(line) for line in out.read_text().splitlines()]


def log_records(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if re.search(r"\| (WARNING|ERROR|INFO) ", line)]


def test_cli_batch_of_200_against_a_closed_port(tmp_path: Path) -> None:
    done, records = run_batch(tmp_path, closed_port(), "--set", "fail_fast_after=2", "--no-progress")
    assert done.returncode == 1
    assert len(records) == 200 and all("cannot reach" in r["error_message"] for r in records)
    assert len(log_records(done.stderr)) <= 3, done.stderr
    assert "summary: items=200 succeeded=0 failed=200" in done.stderr


def test_cli_batch_of_200_against_a_port_that_recovers(tmp_path: Path) -> None:
    port = closed_port()
    late = FakeLLMServer(port=port, default_reply="Yes")
    timer = threading.Timer(4.0, late.start)  # after the pre-flight found the port closed
    timer.start()
    try:
        done, records = run_batch(tmp_path, port, "--no-progress")
    finally:
        timer.join()
        late.stop()
    assert done.returncode == 0, done.stderr
    assert len(records) == 200 and all(r["success"] for r in records)
    assert len(log_records(done.stderr)) <= 3, done.stderr


# ------------------------------------------------------------------------------------ judgekit serve's backend


def test_a_judge_server_in_front_of_a_dead_endpoint_answers_cannot_reach() -> None:
    from judgekit.server import ServerThread, create_app

    backend = judge_at(f"http://127.0.0.1:{closed_port()}/v1", fail_fast_after=1.0, retry_delay=10.0)
    srv = ServerThread(create_app(backend, max_wait_s=0.002), timeout_graceful_shutdown=10).start()
    try:
        client = SimplifiedJudge(api_type="judge_server", base_url=srv.url, num_retries=0, timeout=30)
        results = client.evaluate_batch("correctness", [{"question": "2+2?", "answer": "4", "prediction": "4"}] * 8)
        client.close()
    finally:
        srv.stop()
    # not 6 attempts 10 s apart each: held for fail_fast_after, then one clear reason for every item
    assert all(not r.success and "cannot reach http://127.0.0.1:" in r.error_message for r in results)
