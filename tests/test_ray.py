"""judgekit on Ray, on one local Ray per module (2 CPUs, no dashboard) against the local test server:
dataset judging with Ray Data (ids kept, failures explicit, an actor killed mid-run) and the judge server on
Ray Serve (two replicas, the judge_server provider, the reward adapter, a deployment handle from a Ray task)."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from judgekit import ConfigError, JudgeConfig, SimplifiedJudge
from judgekit.testing import FakeLLMServer, Fault, RecordedRequest

ray = pytest.importorskip("ray", reason='needs the ray extra: pip install "judgekit[ray]"')

from ray import cloudpickle  # noqa: E402

pytestmark = pytest.mark.ray
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the helpers below travel to Ray's workers

N = 2000


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    # Two logical GPUs: Ray schedules GPU actors and sets CUDA_VISIBLE_DEVICES; torch finds no CUDA and runs on CPU.
    sigterm = signal.getsignal(signal.SIGTERM)  # ray.init sets its own and ray.shutdown leaves it
    # Serve's controller kills a proxy whose health check takes over 10 s (3 times running): on a 2-core machine
    # under load, with 1000 requests in flight, that dropped every request then in flight. Ray reads these from
    # the environment of the processes it starts (docs/scale-out.md: start-up on a busy machine).
    with pytest.MonkeyPatch.context() as env:
        env.setenv("RAY_SERVE_PROXY_HEALTH_CHECK_TIMEOUT_S", "60")
        env.setenv("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", "30")
        ray.init(
            num_cpus=2, num_gpus=2, include_dashboard=False, object_store_memory=256 * 1024**2, log_to_driver=False
        )
        yield
        from ray import serve

        serve.shutdown()
        ray.shutdown()
    signal.signal(signal.SIGTERM, sigterm)


def verdict(rec: RecordedRequest) -> Any:
    """The test server's judge: "1" when the prediction is right, an HTTP 400 for a poisoned item."""
    text = rec.json["messages"][-1]["content"]
    if "POISON" in text:
        return Fault.status_code(400, "this item is rejected")
    return "1" if "good-prediction" in text else "0"


def make_items(n: int = N) -> list[dict[str, Any]]:
    items = []
    for i in range(n):
        prediction = "good-prediction" if i % 3 else "bad-prediction"
        if i % 97 == 5:
            prediction = "POISON"
        items.append({"id": i, "question": f"question {i}", "answer": "reference", "prediction": prediction})
    items[11]["prediction"] = None  # malformed: the kind needs a prediction
    return items


def expected(item: dict[str, Any]) -> tuple[bool, int | None]:
    if item["prediction"] is None or item["prediction"] == "POISON":
        return False, None
    return True, int(item["prediction"] == "good-prediction")


def config(server: FakeLLMServer, **fields: Any) -> JudgeConfig:
    settings = {"num_retries": 0, "timeout": 30, "max_concurrent": 16, **fields}
    return JudgeConfig(
        api_type="openai", base_url=server.base_url, api_key="sk-test-key", model_name="gpt-4o", **settings
    )


def check_rows(rows: list[dict[str, Any]], items: list[dict[str, Any]]) -> None:
    ids = [row["id"] for row in rows]
    assert len(rows) == len(items) and len(set(ids)) == len(items)  # nothing lost, nothing twice
    by_id = {row["id"]: row for row in rows}
    for item in items:
        row = by_id[item["id"]]
        success, result = expected(item)
        assert row["question"] == item["question"] and row["prediction"] == item["prediction"]
        assert row["success"] is success, row
        assert row["result"] == result
        if not success:  # explicit: a reason and a type, never a score
            assert row["error_message"] and row["error_type"] and row["scores"] is None


# ------------------------------------------------------------------------------------------------ datasets


def test_import_judgekit_loads_no_ray_and_a_missing_ray_names_the_extra() -> None:
    code = "import sys, judgekit, judgekit.ray; print('ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
    code = (
        "import sys; sys.modules['ray'] = None\n"  # as if ray were not installed
        "from judgekit import MissingDependencyError\n"
        "try:\n    from judgekit.ray import judge_dataset\n"
        "except MissingDependencyError as exc:\n    print(exc)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert 'pip install "judgekit[ray]"' in out


def test_bad_arguments_fail_in_the_driver(local_ray: None, server: FakeLLMServer) -> None:
    from judgekit.ray import judge_dataset

    ds = ray.data.from_items([{"question": "q", "answer": "a", "prediction": "a"}])
    with pytest.raises(ConfigError) as err:
        judge_dataset(ds, "binary", {"api_type": "openai", "temprature": 0.5})
    assert err.value.field == "temprature"
    with pytest.raises(ConfigError, match="did you mean 'binary'"):
        judge_dataset(ds, "binnary", config(server))
    with pytest.raises(ConfigError, match="not a judge object"):
        judge_dataset(ds, "binary", SimplifiedJudge(config=config(server)))
    with pytest.raises(ConfigError) as err:
        judge_dataset(ds, "binary", config(server), concurrency=(3, 2))
    assert err.value.field == "concurrency"


def test_judge_dataset_2000_items_keeps_ids_and_explicit_failures(local_ray: None, server: FakeLLMServer) -> None:
    from judgekit.ray import RESULT_FIELDS, judge_dataset

    server.default_reply = verdict
    items = make_items()
    ds = judge_dataset(
        ray.data.from_items(items), "binary", config(server), concurrency=2, batch_size=100, num_cpus=0.5
    )
    rows = ds.take_all()
    check_rows(rows, items)
    assert set(RESULT_FIELDS) <= set(rows[0])
    failed = [row for row in rows if not row["success"]]
    assert len(failed) == 1 + sum(1 for item in items if item["prediction"] == "POISON")
    malformed = next(row for row in rows if row["id"] == 11)
    assert malformed["error_type"] == "ConfigError" and "prediction" in malformed["error_message"]
    poisoned = next(row for row in rows if row["prediction"] == "POISON")
    assert "this item is rejected" in poisoned["error_message"] and poisoned["model"] == "gpt-4o"
    assert server.count("/v1/chat") == N - 1  # the malformed item is never sent


def test_an_actor_killed_mid_run_loses_and_duplicates_nothing(local_ray: None, server: FakeLLMServer) -> None:
    from judgekit.ray import judge_dataset

    @ray.remote(num_cpus=0)
    class Tracker:
        """Where each judge actor reports its handle when it (re)starts."""

        def __init__(self) -> None:
            self.actors: list[Any] = []

        def add(self, actor: Any) -> None:
            self.actors.append(actor)

        def get(self) -> list[Any]:
            return self.actors

    tracker = Tracker.options(name="judgekit-test-tracker").remote()
    judge_config = config(server, max_concurrent=8)

    def factory() -> SimplifiedJudge:
        me = ray.get_runtime_context().current_actor
        ray.get(ray.get_actor("judgekit-test-tracker").add.remote(me))
        return SimplifiedJudge(config=judge_config)

    server.default_reply = verdict
    server.latency = 0.005
    items = make_items()
    ds = judge_dataset(ray.data.from_items(items), "binary", factory, concurrency=2, batch_size=50, num_cpus=0.5)
    rows: list[dict[str, Any]] = []
    for row in ds.iter_rows():
        rows.append(row)
        if len(rows) == N // 5:
            ray.kill(ray.get(tracker.get.remote())[0], no_restart=False)  # a crash: Ray restarts the actor
    check_rows(rows, items)
    assert len(ray.get(tracker.get.remote())) == 3  # two actors, one of them started again
    assert server.count("/v1/chat") >= N - 1  # a batch cut short is judged again: sent twice, written once


def test_gpu_actors_each_build_their_torch_judge_once_on_their_own_gpu(local_ray: None) -> None:
    from judgekit.ray import judge_dataset
    from judgekit.testing.tiny_models import build_tiny_qwen2

    model = str(build_tiny_qwen2(reply=None))

    @ray.remote(num_cpus=0)
    class Starts:
        def __init__(self) -> None:
            self.seen: list[tuple[int, str]] = []

        def add(self, pid: int, devices: str) -> None:
            self.seen.append((pid, devices))

        def get(self) -> list[tuple[int, str]]:
            return self.seen

    starts = Starts.options(name="judgekit-test-starts").remote()

    def factory() -> SimplifiedJudge:
        import os

        ray.get(ray.get_actor("judgekit-test-starts").add.remote(os.getpid(), os.environ["CUDA_VISIBLE_DEVICES"]))
        return SimplifiedJudge(api_type="torch", model_name=model, torch_mode="logprob", torch_batch_size=8)

    items = [{"id": i, "question": f"Is {i} even?", "answer": "yes", "prediction": str(i % 2 == 0)} for i in range(64)]
    rows = judge_dataset(ray.data.from_items(items), "binary", factory, concurrency=2, num_gpus=1, batch_size=8)
    rows = rows.take_all()
    assert sorted(row["id"] for row in rows) == list(range(64))
    assert all(row["success"] and row["result"] in (0, 1) and row["model"] == model for row in rows)
    seen = ray.get(starts.get.remote())
    assert len(seen) == 2 and len({pid for pid, _ in seen}) == 2  # one judge per actor, built once
    assert sorted(devices for _, devices in seen) == ["0", "1"]  # each actor on its own GPU


def test_options_item_column_and_record_column(local_ray: None, server: FakeLLMServer) -> None:
    from judgekit.ray import judge_dataset

    server.default_reply = "<score>4</score>"
    rows_in = [
        {"key": "a", "item": json.dumps({"question": "q1", "response": "r1"})},
        {"key": "b", "item": json.dumps({"question": "q2", "response": "r2", "score_range": [0, 4]})},
        {"key": "c", "item": "not json"},
    ]
    ds = judge_dataset(
        ray.data.from_items(rows_in),
        "pointwise",
        config(server),
        item_column="item",
        record_column="judgement",
        score_range=(1, 5),
        num_cpus=0.5,
    )
    rows = {row["key"]: row for row in ds.take_all()}
    assert rows["a"]["success"] and rows["a"]["scores"] == 4.0 and rows["a"]["item"] == rows_in[0]["item"]
    assert rows["b"]["success"] and rows["b"]["scores"] == 4.0
    record = json.loads(rows["b"]["judgement"])
    assert record["kind"] == "pointwise" and "from 0 (worst) to 4 (best)" in record["prompt"]
    assert "from 1 (worst) to 5 (best)" in json.loads(rows["a"]["judgement"])["prompt"]  # the option applies by default
    assert not rows["c"]["success"] and "not a JSON object" in rows["c"]["error_message"]

    columns = [{"question": "q", "response": "r", "score_range": [0, 4], "system_prompt": "Be strict."}]
    row = judge_dataset(ray.data.from_items(columns), "pointwise", config(server), record_column="judgement",
                        num_cpus=0.5).take_all()[0]  # fmt: skip
    assert row["success"] and "from 0 (worst) to 4 (best)" in json.loads(row["judgement"])["prompt"]
    assert server.requests[-1].json["messages"][0] == {"role": "system", "content": "Be strict."}


def test_a_column_named_like_a_result_field_is_refused(local_ray: None, server: FakeLLMServer) -> None:
    from judgekit.ray import judge_dataset

    ds = ray.data.from_items([{"question": "q", "answer": "a", "prediction": "a", "score": 3}])
    with pytest.raises(ConfigError, match="already has column"):  # the schema is known: refused at once
        judge_dataset(ds, "binary", config(server))
    lazy = ray.data.from_items([{"question": "q", "answer": "a", "prediction": "a"}]).map(
        lambda row: {**row, "score": 3}
    )
    with pytest.raises(Exception, match="already has column"):  # known only when it runs: the run fails
        judge_dataset(lazy, "binary", config(server), num_cpus=0.5).take_all()


# ------------------------------------------------------------------------------------------------ serve


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def judge_app(local_ray: None, _session_server: FakeLLMServer) -> Iterator[str]:
    """A 2-replica judge server on Ray Serve (binary kind, API key on) in front of the test server."""
    from ray import serve

    from judgekit.ray import serve_judge

    port = free_port()
    judge_config = JudgeConfig(
        api_type="openai",
        base_url=_session_server.base_url,
        api_key="sk-test-key",
        model_name="gpt-4o",
        num_retries=0,
        timeout=30,
    )
    serve_judge(judge_config, replicas=2, port=port, num_cpus=0.5, api_key="serve-key", kind="binary", max_wait_s=0.005)
    yield f"http://127.0.0.1:{port}"
    serve.delete("judgekit")


def test_serve_start_is_asked_again_while_the_proxy_starts_and_gives_up_when_its_time_is_spent() -> None:
    """Ray waits a fixed 60 s for Serve's HTTP proxy per call; on a loaded machine the proxy takes longer, so
    `serve_judge` asks again (the clock is injected: no test waits a minute)."""
    from judgekit.ray.serving import patiently

    now = [0.0]
    calls: list[str] = []

    def slow_proxy(ready_after: int) -> Any:
        def call() -> str:
            calls.append("start")
            now[0] += 60
            if len(calls) < ready_after:
                raise TimeoutError("HTTP proxies not available after 60s.")
            return "started"

        return call

    assert patiently(slow_proxy(3), 300, clock=lambda: now[0]) == "started"
    assert len(calls) == 3
    calls.clear()
    now[0] = 0.0
    with pytest.raises(TimeoutError, match="HTTP proxies not available"):  # 100 s spent after the second call
        patiently(slow_proxy(10), 100, clock=lambda: now[0])
    assert len(calls) == 2

    def killed_then_ready() -> str:  # the controller killed a proxy that missed its ready check, then started one
        calls.append("start")
        if len(calls) == 1:
            raise ray.exceptions.RayActorError(error_msg="The actor died unexpectedly.\n\tclass_name: ProxyActor")
        return "started"

    calls.clear()
    assert patiently(killed_then_ready, 300, clock=lambda: now[0]) == "started"
    assert len(calls) == 2

    def broken() -> None:
        calls.append("broken")
        raise TimeoutError("Serve application isn't running after 10s.")  # not the proxy: raised at once

    calls.clear()
    with pytest.raises(TimeoutError, match="application"):
        patiently(broken, 300, clock=lambda: now[0])
    assert calls == ["broken"]


def test_two_replicas_answer_1000_concurrent_requests(judge_app: str, server: FakeLLMServer) -> None:
    from ray import serve

    status = serve.status().applications["judgekit"].deployments["JudgeDeployment"]
    assert status.replica_states.get("RUNNING") == 2
    server.default_reply = verdict
    client = SimplifiedJudge(
        api_type="judge_server",
        base_url=judge_app,
        api_key="serve-key",
        timeout=120,
        num_retries=0,
        max_concurrent=1000,
    )
    items = [
        {"question": f"q{i}", "answer": "reference", "prediction": "good-prediction" if i % 2 else "nope"}
        for i in range(1000)
    ]
    with client:
        results = client.evaluate_batch("binary", items, max_concurrency=1000)
    errors = [r["error_message"] for r in results if not r["success"]]
    assert errors == []
    assert [r["result"] for r in results] == [i % 2 for i in range(1000)]
    assert server.count("/v1/chat") == 1000


def test_auth_health_metrics_and_reward_adapter(judge_app: str, server: FakeLLMServer) -> None:
    from judgekit.reward import JudgeRewardSystem

    server.default_reply = verdict
    wrong = SimplifiedJudge(api_type="judge_server", base_url=judge_app, api_key="nope", num_retries=0)
    with wrong:
        failed = wrong.evaluate_binary(question="q", answer="a", prediction="a")
    assert not failed["success"] and "401" in failed["error_message"]
    import urllib.request

    health = json.loads(urllib.request.urlopen(judge_app + "/health", timeout=30).read())
    assert health["status"] == "ok" and health["auth"] is True and health["kind"] == "binary"
    metrics = urllib.request.urlopen(judge_app + "/metrics", timeout=30).read().decode()
    assert "judgekit" in metrics
    rewards = JudgeRewardSystem(
        {"judge_url": judge_app, "api_key": "serve-key", "use_cache": False, "fallback_to_rule": False}
    )
    try:
        good = rewards.reward("2+2?", "good-prediction", "reference")
        bad = rewards.reward("2+2?", "nope", "reference")
    finally:
        rewards.close()
    assert (good["reward"], good["source"]) == (1.0, "judge")
    assert (bad["reward"], bad["source"]) == (0.0, "judge")


def doc_snippet(marker: str) -> str:
    """The ```python block of docs/scale-out.md that contains ``marker``."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "scale-out.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    return next(block for block in blocks if marker in block)


def test_deployment_handle_from_a_ray_task(judge_app: str, server: FakeLLMServer) -> None:
    server.default_reply = verdict
    namespace: dict[str, Any] = {"__name__": "scale_out_doc"}
    exec(doc_snippet("def compute_rewards"), namespace)  # the docs' example, as written
    scores = ray.get(namespace["compute_rewards"].remote(["2+2?"] * 3, ["good-prediction", "nope", "good-prediction"],
                                                         ["reference"] * 3))  # fmt: skip
    assert scores == [1.0, 0.0, 1.0]
    exec(doc_snippet("class RewardWorker"), namespace)  # the async variant, in an async actor
    worker = namespace["RewardWorker"].options(num_cpus=0).remote()
    assert ray.get(worker.score.remote("2+2?", "good-prediction", "reference")) == 1.0

    @ray.remote(num_cpus=0)
    def one_item(item: dict[str, Any]) -> Any:
        from judgekit.ray import judge_handle

        return judge_handle().judge.remote(item).result()

    good = ray.get(one_item.remote({"prompt": "2+2?", "completion": "good-prediction", "answer": "reference"}))
    assert good["score"] == 1.0 and good["metadata"]["kind"] == "binary"
    server.default_reply = Fault.status_code(400, "rejected")
    failed = ray.get(one_item.remote({"prompt": "2+2?", "completion": "x", "answer": "y"}))
    assert failed["score"] is None and "rejected" in failed["error"]  # a failure, not a 0
    bad = ray.get(one_item.remote({"prompt": "2+2?"}))
    assert bad["type"] == "validation_error" and bad["field"] == "completion"


def test_no_key_in_any_ray_log(judge_app: str) -> None:
    """The backend key and the server key travelled to actors and replicas; no log file of the session holds
    them (last in this module: every test above has run)."""
    from ray._private.worker import global_worker

    logs = Path(global_worker.node.get_session_dir_path()) / "logs"
    files = [path for path in logs.rglob("*") if path.is_file()]
    assert files
    leaked = [path.name for path in files if b"sk-test-key" in path.read_bytes() or b"serve-key" in path.read_bytes()]
    assert leaked == []
