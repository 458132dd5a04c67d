"""The judge server end to end: a real uvicorn server on 127.0.0.1, driven by the judge_server provider and by
raw HTTP (protocol, scoring, batching, limits, auth, metrics, failures, graceful shutdown)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Iterator
from typing import Any, ClassVar, TypeVar

import aiohttp
import pytest

from judgekit import JudgeConfig, JudgeInterface, JudgeRequest, JudgeResponse, SimplifiedJudge
from judgekit._sync import run_sync
from judgekit.errors import ConfigError, ProviderError
from judgekit.providers.judge_server import JudgeServerJudge
from judgekit.scoring import resolve_kind, score_result
from judgekit.server import ServerThread, create_app
from judgekit.testing import FakeLLMServer, Fault, Reply

KEY = "sk-server-test-0123456789abcdef"

T = TypeVar("T")


class ScriptedJudge(JudgeInterface):
    """A backend that sleeps ``delay`` per call, fails when the prediction says "FAIL", and otherwise answers
    "1" when the prediction contains the answer ("<score>7</score>" for pointwise)."""

    provider_name: ClassVar[str] = "scripted"

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(JudgeConfig(model_name="scripted-judge", num_retries=0, timeout=10))
        self.delay = delay
        self.calls = 0
        self.gate: threading.Event | None = None  # when set up, each call waits for it after its delay

    async def _send(self, request: JudgeRequest, config: JudgeConfig) -> JudgeResponse:
        self.calls += 1
        await asyncio.sleep(self.delay)
        while self.gate is not None and not self.gate.is_set():
            await asyncio.sleep(0.01)
        task = request.task
        assert task is not None
        prediction = str(task.fields.get("prediction", task.fields.get("response", "")))
        if "FAIL" in prediction:
            raise ProviderError("backend exploded", provider="scripted", status_code=500, retryable=False)
        if task.kind == "pointwise":
            return JudgeResponse(content="<think>fine</think><score>7</score>", model_used="scripted-judge")
        verdict = "1" if str(task.fields.get("answer")) in prediction else "0"
        return JudgeResponse(content=verdict, reasoning=f"saw {prediction!r}", model_used="scripted-judge")


@contextlib.contextmanager
def serving(judge: Any, **options: Any) -> Iterator[ServerThread]:
    srv = ServerThread(create_app(judge, **options), timeout_graceful_shutdown=10)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


def http(
    url: str, body: Any = None, *, headers: dict[str, str] | None = None, raw: bytes | None = None
) -> tuple[int, dict[str, str], Any]:
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            status, head, payload = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        status, head, payload = exc.code, dict(exc.headers), exc.read()
    text = payload.decode()
    return status, head, json.loads(text) if head.get("content-type", "").startswith("application/json") else text


@pytest.fixture(scope="module")
def rules_server() -> Iterator[ServerThread]:
    with serving(SimplifiedJudge(api_type="rules"), max_wait_s=0.002) as srv:
        yield srv


# ------------------------------------------------------------------------------------------ protocol


def test_judge_scores_echoes_request_id_and_reports_metadata(rules_server: ServerThread) -> None:
    status, _, body = http(
        rules_server.url + "/judge",
        {
            "prompt": "What is 2+2?",
            "completion": "The answer is \\boxed{4}",
            "answer": "4",
            "answer_type": "NUMBER",
            "request_id": "req-1",
        },
    )
    assert status == 200 and body["score"] == 1.0 and body["request_id"] == "req-1"
    assert body["explanation"] and body["metadata"]["kind"] == "correctness"
    assert body["metadata"]["model"] == "rules" and body["metadata"]["score_source"] == "verdict"
    assert body["metadata"]["verdict"] == 1 and body["metadata"]["latency"] > 0
    status, _, body = http(rules_server.url + "/judge", {"prompt": "2+2?", "completion": "5", "answer": 4})
    assert status == 200 and body["score"] == 0.0 and len(body["request_id"]) == 32  # generated


def test_provider_round_trip_binary_correctness_and_yes_no(rules_server: ServerThread) -> None:
    judge = SimplifiedJudge(api_type="judge_server", base_url=rules_server.url + "/judge", retry_delay=0.01)
    good = judge.evaluate_binary("2+2?", "4", "it is 4")
    assert good["success"] and good["result"] == 1 and good["score"] == 1.0 and good["model"] == "rules"
    assert good["reasoning"] == "number: 4 == 4"
    assert judge.evaluate_binary("2+2?", "4", "it is 5", output_format="yes/no")["result"] == "no"
    assert judge.evaluate_correctness("1/2 + 1/4?", "3/4", "0.75")["result"] == 1
    direct = JudgeServerJudge(JudgeConfig(base_url=rules_server.url))
    with pytest.raises(ConfigError) as info:  # no task: the provider cannot build a server request
        direct.evaluate(JudgeRequest(messages=[{"role": "user", "content": "hi"}]))
    assert info.value.field == "task"
    judge.close()


def test_pointwise_scaled_both_ways() -> None:
    with serving(ScriptedJudge(), max_wait_s=0.002) as srv:
        status, _, body = http(srv.url + "/judge", {"prompt": "Explain DNS", "completion": "It maps names."})
        assert status == 200 and body["metadata"]["kind"] == "pointwise"  # auto, no answer
        assert body["score"] == pytest.approx((7 - 1) / 9) and body["metadata"]["raw_score"] == 7
        assert body["explanation"] == "fine"
        client = SimplifiedJudge(api_type="judge_server", base_url=srv.url)
        assert client.evaluate_pointwise("Explain DNS", "It maps names.")["scores"] == pytest.approx(7)
        assert client.evaluate_pointwise("Explain DNS", "x", score_range=(0, 100))["scores"] == pytest.approx(66.6667)
        client.close()


def test_batch_keeps_order_and_reports_per_item_failures() -> None:
    backend = ScriptedJudge()
    with serving(backend, max_wait_s=0.005) as srv:
        requests = [
            {"prompt": f"q{i}", "completion": "FAIL" if i % 3 == 1 else str(i), "answer": str(i), "request_id": f"r{i}"}
            for i in range(9)
        ]
        status, _, body = http(srv.url + "/batch_judge", {"requests": requests})
        assert status == 200 and [r["request_id"] for r in body["responses"]] == [f"r{i}" for i in range(9)]
        for i, reply in enumerate(body["responses"]):
            if i % 3 == 1:
                assert reply["score"] is None and "backend exploded" in reply["error"]
            else:
                assert reply["score"] == 1.0 and reply["metadata"]["batch_size"] > 1
        client = JudgeServerJudge(JudgeConfig(base_url=srv.url, retry_delay=0.01))
        replies = client.judge_many([{k: v for k, v in r.items() if k != "request_id"} for r in requests], chunk_size=4)
        assert [r["score"] for r in replies] == [None if i % 3 == 1 else 1.0 for i in range(9)]
        assert http(srv.url + "/batch_judge", {"requests": []})[2] == {"responses": []}
        with pytest.raises(ConfigError, match=r"items\[0\]\.completion"):
            client.judge_many([{"prompt": "no completion"}])
        client.close()


def test_scoring_rules() -> None:
    assert resolve_kind(None, "auto", "4") == "correctness" and resolve_kind(None, "auto", " ") == "pointwise"
    assert resolve_kind("binary", "auto", None) == "binary"
    base = {"success": True, "result": None, "scores": None, "score": None, "p_yes": None}
    assert score_result("binary", {**base, "result": 1}, (1, 10)).score == 1.0
    scored = score_result("binary", {**base, "result": 1, "p_yes": 0.8}, (1, 10))
    assert (scored.score, scored.source) == (0.8, "logprobs")
    assert score_result("correctness", {**base, "result": 0, "score": 0.3}, (1, 10)).source == "native"
    assert score_result("pointwise", {**base, "scores": 10.0}, (1, 10)).score == 1.0
    native = score_result("pointwise", {**base, "scores": 5.5, "score": 5.5}, (1, 10))  # torch logprob mode
    assert (native.score, native.source) == (0.5, "native")
    head = score_result("pointwise", {**base, "scores": 0.0, "score": 0.0}, (1, 10), reward_head=True)
    assert (head.score, head.source) == (0.5, "sigmoid")
    assert score_result("pointwise", {**base, "scores": 3.0, "expected_score": 4.0}, (1, 10)).source == "logprobs"


def test_p_yes_from_backend_logprobs_is_the_score() -> None:
    top = [{"token": "1", "logprob": math.log(0.8)}, {"token": "0", "logprob": math.log(0.2)}]
    with FakeLLMServer(
        default_reply=Reply("1", logprobs=[{"token": "1", "logprob": math.log(0.8), "top_logprobs": top}])
    ) as llm:
        judge = SimplifiedJudge(
            api_type="openai", base_url=llm.base_url, api_key="sk-x", model_name="m", logprob_score=True
        )
        with serving(judge, kind="binary", max_wait_s=0.002) as srv:
            status, _, body = http(srv.url + "/judge", {"prompt": "2+2?", "completion": "4", "answer": "4"})
    assert status == 200 and body["score"] == pytest.approx(0.8) and body["metadata"]["score_source"] == "logprobs"


def test_torch_judge_behind_the_server() -> None:
    pytest.importorskip("torch")
    tiny = pytest.importorskip("judgekit.testing.tiny_models")
    path = tiny.build_tiny_qwen2(None, reply="1")
    judge = SimplifiedJudge(api_type="torch", model_name=str(path), torch_mode="logprob", torch_batch_size=8)
    with serving(judge, max_batch_size=8, max_wait_s=0.02) as srv:
        requests = [{"prompt": f"What is {i}+{i}?", "completion": str(2 * i), "answer": str(2 * i)} for i in range(12)]
        requests.append({"prompt": "Explain DNS", "completion": "It maps names to addresses."})  # pointwise
        status, _, body = http(srv.url + "/batch_judge", {"requests": requests})
    replies = body["responses"]
    assert status == 200 and all(0.0 <= r["score"] <= 1.0 for r in replies), replies
    assert {r["metadata"]["score_source"] for r in replies} == {"native"}  # P(yes) / expected score, one pass
    assert replies[-1]["metadata"]["kind"] == "pointwise" and 1 <= replies[-1]["metadata"]["raw_score"] <= 10
    assert max(r["metadata"]["batch_size"] for r in replies) > 1


# ------------------------------------------------------------------------------------ limits and auth


def test_auth_required_when_a_key_is_set() -> None:
    with serving(SimplifiedJudge(api_type="rules"), api_key=KEY, max_wait_s=0.002) as srv:
        item = {"prompt": "2+2?", "completion": "4", "answer": "4"}
        status, head, body = http(srv.url + "/judge", item)
        assert status == 401 and body["type"] == "unauthorized" and head["www-authenticate"] == "Bearer"
        assert http(srv.url + "/batch_judge", {"requests": [item]}, headers={"Authorization": "Bearer nope"})[0] == 401
        assert http(srv.url + "/judge", item, headers={"Authorization": f"Bearer {KEY}"})[0] == 200
        assert http(srv.url + "/health")[0] == 200  # health and metrics are open
        wrong = SimplifiedJudge(api_type="judge_server", base_url=srv.url, api_key="sk-not-the-key-000", num_retries=3)
        failed = wrong.evaluate_binary("2+2?", "4", "4")
        assert not failed["success"] and failed["result"] is None and failed["attempts"] == 1  # 401 is not retried
        assert "HTTP 401" in failed["error_message"]
        right = SimplifiedJudge(api_type="judge_server", base_url=srv.url, api_key=KEY)
        assert right.evaluate_binary("2+2?", "4", "4")["result"] == 1
        wrong.close()
        right.close()


def test_body_limit_413_from_header_and_while_reading() -> None:
    with serving(SimplifiedJudge(api_type="rules"), max_body_bytes=200) as srv:
        big = {"prompt": "x" * 500, "completion": "4", "answer": "4"}
        status, _, body = http(srv.url + "/judge", big)
        assert status == 413 and body["type"] == "payload_too_large"

        async def chunked() -> tuple[int, dict[str, Any]]:
            async def parts() -> Any:
                for _ in range(10):
                    yield b" " * 50
                yield json.dumps({"prompt": "2+2?", "completion": "4"}).encode()

            async with aiohttp.ClientSession() as session, session.post(srv.url + "/judge", data=parts()) as resp:
                return resp.status, await resp.json()

        status, body = asyncio.run(chunked())
        assert status == 413 and "200 bytes" in body["error"]
        assert http(srv.url + "/judge", {"prompt": "2+2?", "completion": "4", "answer": "4"})[0] == 200


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/judge", {"completion": "4"}, "prompt"),
        ("/judge", {"prompt": "q", "completion": "4", "answer": ["4"]}, "answer"),
        ("/judge", {"prompt": "q", "completion": "4", "anwser": "4"}, "anwser"),
        ("/judge", {"prompt": "q", "completion": "4", "kind": "binary"}, "answer"),
        ("/batch_judge", {"requests": [{"prompt": "q", "completion": "4"}, {"prompt": "q"}]}, "requests[1].completion"),
        ("/batch_judge", {"items": []}, "items"),
    ],
)
def test_validation_errors_name_the_field(rules_server: ServerThread, path: str, body: Any, field: str) -> None:
    status, _, reply = http(rules_server.url + path, body)
    assert status == 422 and reply["type"] == "validation_error" and reply["field"] == field
    assert reply["error"].startswith(f"{field}:")


def test_invalid_json_is_422(rules_server: ServerThread) -> None:
    status, _, reply = http(rules_server.url + "/judge", raw=b"{not json")
    assert status == 422 and reply["field"] == "body"


async def test_full_queue_answers_503_with_retry_after_and_the_client_retries() -> None:
    backend = ScriptedJudge(delay=0.2)
    with serving(
        backend, max_batch_size=1, max_concurrent_batches=1, max_queue=2, max_wait_s=0, retry_after_s=0.05
    ) as srv:
        metrics = srv.app.state.judge_service.metrics

        async def once_one_is_turned_away(work: Awaitable[T]) -> T:
            """Run ``work`` with the backend holding its replies until the server has refused a request, so the
            queue is full however slowly a busy machine sends."""
            turned_away = metrics.requests["/judge", 503]
            backend.gate = threading.Event()
            running = asyncio.ensure_future(work)
            while metrics.requests["/judge", 503] == turned_away and not running.done():
                await asyncio.sleep(0.01)
            backend.gate.set()
            return await running

        item = {"prompt": "2+2?", "completion": "4", "answer": "4"}
        async with aiohttp.ClientSession() as session:

            async def post() -> tuple[int, str | None, dict[str, Any]]:
                async with session.post(srv.url + "/judge", json=item) as resp:
                    return resp.status, resp.headers.get("Retry-After"), await resp.json()

            replies = await once_one_is_turned_away(asyncio.gather(*(post() for _ in range(8))))
        full = [r for r in replies if r[0] == 503]
        assert full and all(r[1] == "0.05" and r[2]["type"] == "queue_full" for r in full)
        assert {r[0] for r in replies} == {200, 503}
        # the provider retries a 503 after its Retry-After, so every item is judged in the end
        client = SimplifiedJudge(api_type="judge_server", base_url=srv.url, num_retries=40, max_concurrent=8)
        batch = client.aevaluate_batch("binary", [{"question": "2+2?", "answer": "4", "prediction": "4"}] * 5)
        results = await once_one_is_turned_away(batch)
        assert all(r["success"] and r["result"] == 1 for r in results)
        assert max(r["attempts"] for r in results) > 1
        await client.aclose()


async def test_concurrent_requests_are_batched_server_side() -> None:
    backend = ScriptedJudge(delay=0.05)
    with serving(backend, max_batch_size=8, max_wait_s=0.05, max_concurrent_batches=1) as srv:
        client = SimplifiedJudge(api_type="judge_server", base_url=srv.url, max_concurrent=64)
        items = [{"question": f"q{i}", "answer": str(i), "prediction": f"it is {i}"} for i in range(24)]
        results = await client.aevaluate_batch("binary", items)
        await client.aclose()
        assert [r["result"] for r in results] == [1] * 24
        stats = srv.app.state.judge_service.metrics.batch_sizes
        assert stats.count < 24 and stats.total == 24  # fewer backend batches than requests
        _, _, text = http(srv.url + "/metrics")
    sizes = {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line.startswith("judgekit")}
    assert sizes['judgekit_server_batch_size_bucket{le="1"}'] < 24
    assert sizes["judgekit_server_batch_size_count"] < 24


def test_health_and_metrics_text(rules_server: ServerThread) -> None:
    http(rules_server.url + "/judge", {"prompt": "2+2?", "completion": "4", "answer": "4"})
    http(rules_server.url + "/judge", {"prompt": "2+2?", "completion": "4"})  # rules cannot judge pointwise
    status, _, health = http(rules_server.url + "/health")
    assert status == 200 and health["status"] == "ok" and health["model"] == "rules"
    assert health["queue_size"] == 0 and health["auth"] is False
    status, head, text = http(rules_server.url + "/metrics")
    assert status == 200 and head["content-type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE judgekit_server_request_duration_seconds histogram" in text
    assert 'judgekit_server_requests_total{endpoint="/judge",status="200"}' in text
    assert 'judgekit_server_requests_total{endpoint="/judge",status="502"}' in text
    assert 'judgekit_server_judgements_total{kind="pointwise",outcome="failure"}' in text
    assert "judgekit_server_queue_size 0" in text and "judgekit_server_failures_total" in text
    for line in text.splitlines():  # every sample line is "name{labels} number"
        if line and not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])


# ------------------------------------------------------------------------------------------ failures


def test_failing_backend_is_502_and_the_client_reports_failure(server: FakeLLMServer) -> None:
    server.default_reply = lambda request: Fault.status_code(500)
    backend = SimplifiedJudge(
        api_type="openai", base_url=server.base_url, api_key="sk-x", model_name="m", num_retries=0
    )
    with serving(backend, max_wait_s=0.002) as srv:
        status, _, body = http(
            srv.url + "/judge", {"prompt": "2+2?", "completion": "4", "answer": "4", "request_id": "r9"}
        )
        assert status == 502 and body["score"] is None and body["type"] == "judge_failure"
        assert body["request_id"] == "r9" and "HTTP 500" in body["error"]
        server.default_reply = "I cannot tell"  # an unreadable verdict is a failure too, never a score
        status, _, body = http(srv.url + "/judge", {"prompt": "2+2?", "completion": "4", "answer": "4"})
        assert status == 502 and body["error_type"] == "ParseError"
        client = SimplifiedJudge(api_type="judge_server", base_url=srv.url, num_retries=3, retry_delay=0.01)
        result = client.evaluate_binary("2+2?", "4", "4")
        assert not result["success"] and result["result"] is None and result["score"] is None
        assert result["attempts"] == 1 and "HTTP 502" in result["error_message"]  # a judge failure: not retried
        client.close()


def test_server_in_front_of_an_api_is_a_shared_cache(server: FakeLLMServer) -> None:
    backend = SimplifiedJudge(
        api_type="openai", base_url=server.base_url, api_key="sk-x", model_name="m", cache="memory"
    )
    with serving(backend, max_wait_s=0.002) as srv:
        clients = [SimplifiedJudge(api_type="judge_server", base_url=srv.url) for _ in range(2)]
        results = [c.evaluate_correctness("2+2?", "4", "4") for c in clients]
        assert [r["result"] for r in results] == [1, 1]
        assert server.count("/v1/chat/completions") == 1
        for c in clients:
            c.close()


def test_client_pool_fails_over_to_a_live_server(rules_server: ServerThread) -> None:
    dead = "http://127.0.0.1:9"  # nothing listens on the discard port
    judge = SimplifiedJudge(api_type="judge_server", base_url=[dead, rules_server.url], retry_delay=0.01)
    assert all(judge.evaluate_binary("2+2?", "4", "4")["result"] == 1 for _ in range(3))
    judge.close()


def test_graceful_shutdown_finishes_in_flight_requests() -> None:
    backend = ScriptedJudge(delay=0.6)
    srv = ServerThread(create_app(backend, max_wait_s=0), timeout_graceful_shutdown=10).start()
    outcome: dict[str, Any] = {}

    def call() -> None:
        outcome["reply"] = http(srv.url + "/judge", {"prompt": "2+2?", "completion": "4", "answer": "4"})

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 5
    while backend.calls == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert backend.calls == 1  # the request is in the backend now
    srv.stop()
    caller.join(10)
    status, _, body = outcome["reply"]
    assert status == 200 and body["score"] == 1.0
    with pytest.raises(urllib.error.URLError):
        http(srv.url + "/health")


def test_create_app_rejects_bad_settings() -> None:
    with pytest.raises(ConfigError) as info:
        create_app(SimplifiedJudge(api_type="rules"), kind="pairwise")
    assert info.value.field == "kind"


def test_missing_server_extra_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['fastapi'] = None\n"
        "from judgekit.errors import MissingDependencyError\n"
        "import judgekit.scoring  # needs no fastapi\n"
        "try:\n    from judgekit.server import create_app\n"
        "except MissingDependencyError as exc:\n    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert 'pip install "judgekit[server]"' in out.stdout, out.stderr


# ------------------------------------------------------------------------------------ one protocol module


def test_protocol_maps_kinds_to_the_wire_and_back() -> None:
    from judgekit.server import protocol

    task = protocol.task_for("correctness", "2+2?", "it is 4", "4", "number")
    assert task.fields == {"question": "2+2?", "answer": "4", "prediction": "it is 4", "answer_type": "number"}
    assert protocol.item_from_task(task) == {
        "prompt": "2+2?",
        "completion": "it is 4",
        "kind": "correctness",
        "answer": "4",
        "answer_type": "number",
    }
    pointwise = protocol.task_for("pointwise", "Explain DNS", "It maps names.")
    assert protocol.item_from_task(pointwise) == {
        "prompt": "Explain DNS",
        "completion": "It maps names.",
        "kind": "pointwise",
    }
    assert "kind" not in protocol.item_from_task(protocol.task_for("auto", "q", "c"))  # the server decides
    reply = {"score": 0.75, "explanation": "why", "metadata": {"model": "m", "kind": "pointwise"}}
    config = JudgeConfig(score_range=(0, 4))
    assert protocol.response_from_reply(pointwise, reply, config, "judge_server").content == "<score>3</score>"
    auto = protocol.response_from_reply(protocol.task_for("auto", "q", "c"), reply, config, "judge_server")
    assert auto.score == 0.75 and auto.reasoning == "why"
    with pytest.raises(ProviderError, match="no score"):
        protocol.response_from_reply(task, {"score": None, "error": "boom"}, config, "judge_server")
    with pytest.raises(ConfigError, match="pairwise"):
        protocol.item_from_task(protocol.task_for("pairwise", "q", "c"))


def test_judge_server_native_batch_is_one_round_trip(rules_server: ServerThread) -> None:
    from judgekit.server import protocol

    client = JudgeServerJudge(JudgeConfig(base_url=rules_server.url, retry_delay=0.01))
    assert client.native_score_type() == "probability"
    served = rules_server.app.state.judge_service.metrics.requests
    before = dict(served)
    requests = [
        JudgeRequest(
            messages=[{"role": "user", "content": "q"}],
            task=protocol.task_for("binary", f"{i}+0?", str(i if i % 2 else i + 1), str(i)),
        )
        for i in range(6)
    ]
    responses = run_sync(client.aevaluate_many(requests))
    assert [r.content for r in responses] == ["0", "1", "0", "1", "0", "1"]
    assert [r.score for r in responses] == [0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    assert served[("/batch_judge", 200)] - before.get(("/batch_judge", 200), 0) == 1
    assert served[("/judge", 200)] == before.get(("/judge", 200), 0)
    client.close()


def test_protocol_imports_without_fastapi() -> None:
    code = (
        "import sys; sys.modules['fastapi'] = None; sys.modules['uvicorn'] = None\n"
        "from judgekit.server import protocol\n"
        "from judgekit.providers.judge_server import JudgeServerJudge\n"
        "print(protocol.JudgeItem(prompt='p', completion='c').kind)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None"
