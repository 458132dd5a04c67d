"""Endpoint pools: balancing, failover on connection errors, health probes, and real servers going away."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from judgekit import ConfigError, JudgeConfig, JudgeFactory, JudgeRequest, SimplifiedJudge
from judgekit.errors import JudgeTimeoutError, ProviderConnectionError, ProviderError
from judgekit.pool import EndpointPool
from judgekit.testing import FakeLLMServer

REQ = JudgeRequest(messages=[{"role": "user", "content": "judge this"}])


async def _always(url: str) -> bool:
    return True


async def _never(url: str) -> bool:
    return False


# -- config ------------------------------------------------------------------------------------------


def test_base_url_accepts_a_list() -> None:
    config = JudgeConfig(base_url=["http://a:8000/v1/chat/completions", "http://b:8000/v1/", "http://a:8000/v1"])
    assert config.base_url == ["http://a:8000/v1", "http://b:8000/v1"]  # normalised, duplicates dropped
    assert config.base_urls == ["http://a:8000/v1", "http://b:8000/v1"]
    assert JudgeConfig(base_url=["http://a:8000/v1"]).base_url == "http://a:8000/v1"  # one URL stays a str
    assert JudgeConfig(base_url="http://a:8000/v1").base_urls == ["http://a:8000/v1"]
    assert JudgeConfig().base_urls == []
    env = {"API_TYPE": "vllm", "LLM_JUDGE_URL": "http://h1:8000/v1, http://h2:8000/v1"}
    assert JudgeConfig.from_env(env).base_urls == ["http://h1:8000/v1", "http://h2:8000/v1"]


@pytest.mark.parametrize("bad", [[], ["http://a:1", "ftp://b"], [3]])
def test_bad_url_lists_name_the_field(bad: list[object]) -> None:
    with pytest.raises(ConfigError) as info:
        JudgeConfig(base_url=bad)
    assert info.value.field == "base_url"


def test_azure_and_anthropic_refuse_pools() -> None:
    urls = ["http://127.0.0.1:9/", "http://127.0.0.1:10/"]
    with pytest.raises(ConfigError, match="single URL"):
        JudgeFactory.create_judge("azure", JudgeConfig(base_url=urls, api_key="k", model_name="m")).evaluate(REQ)
    with pytest.raises(ConfigError, match="single URL"):
        JudgeFactory.create_judge("anthropic", JudgeConfig(base_url=urls, api_key="k")).evaluate(REQ)


# -- the pool on its own -------------------------------------------------------------------------------


async def test_least_outstanding_prefers_the_idle_replica() -> None:
    pool = EndpointPool(["a", "b"], _always)
    release = asyncio.Event()
    picked: list[str] = []

    async def send(url: str) -> str:
        picked.append(url)
        if url == "a":
            await release.wait()  # "a" stays busy
        return url

    slow = asyncio.create_task(pool.call(send))
    await asyncio.sleep(0)
    assert picked == ["a"]
    results = [await pool.call(send) for _ in range(5)]  # "a" has one in flight: "b" is always idler
    release.set()
    await slow
    assert results == ["b"] * 5
    assert pool.stats()[0]["outstanding"] == pool.stats()[1]["outstanding"] == 0


async def test_idle_pool_spreads_calls_evenly() -> None:
    for policy in ("least_outstanding", "round_robin"):
        pool = EndpointPool(["a", "b", "c"], _always, policy=policy)  # type: ignore[arg-type]

        async def send(url: str) -> str:
            return url

        picked = [await pool.call(send) for _ in range(9)]
        assert sorted(picked.count(u) for u in "abc") == [3, 3, 3], policy


async def test_connection_failure_fails_over_at_once_and_probes_bring_it_back() -> None:
    alive = {"a": False, "b": True}

    async def probe(url: str) -> bool:
        return alive[url]

    async def send(url: str) -> str:
        if not alive[url]:
            raise ProviderConnectionError("refused")
        return url

    pool = EndpointPool(["a", "b"], probe, probe_interval=0.05)
    results = [await pool.call(send) for _ in range(4)]
    assert results == ["b"] * 4  # the call that hit "a" went on to "b"; later calls skip "a"
    stats = {row["url"]: row for row in pool.stats()}
    assert stats["a"]["healthy"] is False and stats["a"]["failures"] == 1
    alive["a"] = True
    await asyncio.sleep(0.06)
    await pool.call(send)  # a due probe starts when a call picks
    await asyncio.sleep(0.01)
    assert pool.stats()[0]["healthy"] is True
    assert "a" in {await pool.call(send) for _ in range(4)}


async def test_all_replicas_down_raises_the_connection_error() -> None:
    async def send(url: str) -> str:
        raise ProviderConnectionError(f"{url} refused")

    pool = EndpointPool(["a", "b"], _never, probe_interval=0.01)
    with pytest.raises(ProviderConnectionError, match="refused"):
        await pool.call(send)
    with pytest.raises(ProviderConnectionError):  # everything out, probes fail: a clear error, no hang
        await pool.call(send)
    assert all(row["outstanding"] == 0 for row in pool.stats())


async def test_all_down_waits_for_due_probes() -> None:
    state = {"up": False}

    async def probe(url: str) -> bool:
        return state["up"]

    async def send(url: str) -> str:
        if not state["up"]:
            raise ProviderConnectionError("refused")
        return url

    pool = EndpointPool(["a"], probe, probe_interval=10)
    with pytest.raises(ProviderConnectionError):
        await pool.call(send)
    state["up"] = True
    assert await pool.call(send) == "a"  # nothing healthy: the probe ran right away, not after 10 s


async def test_timeouts_and_http_errors_do_not_take_a_replica_out() -> None:
    async def send(url: str) -> str:
        raise JudgeTimeoutError("slow") if url == "a" else ProviderError("HTTP 500", status_code=500)

    pool = EndpointPool(["a", "b"], _always)
    for _ in range(4):
        with pytest.raises(ProviderError):
            await pool.call(send)
    assert all(row["healthy"] for row in pool.stats())


# -- real servers ----------------------------------------------------------------------------------------


def test_pool_spreads_requests_over_real_servers() -> None:
    with FakeLLMServer(default_reply="1", latency=0.01) as s1, FakeLLMServer(default_reply="1", latency=0.01) as s2:
        judge = SimplifiedJudge(api_type="openai", base_url=[s1.base_url, s2.base_url], model_name="m")
        items = [{"question": "q", "answer": "1", "prediction": "1"} for _ in range(40)]
        results = judge.evaluate_batch("binary", items)
        assert all(r.success and r.result == 1 for r in results)
        assert s1.count("/v1/chat") >= 10 and s2.count("/v1/chat") >= 10
        assert s1.count("/v1/chat") + s2.count("/v1/chat") == 40
        judge.close()


def test_a_stopped_replica_loses_nothing_and_comes_back() -> None:
    s1 = FakeLLMServer(default_reply="1", latency=0.02).start()
    s2 = FakeLLMServer(default_reply="1", latency=0.02).start()
    try:
        judge = SimplifiedJudge(
            api_type="vllm", base_url=[s1.url, s2.url], model_name="m", pool_probe_interval=0.2,
            retry_delay=0.01, max_concurrent=16,
        )  # fmt: skip
        items = [{"question": f"q{i}", "answer": "1", "prediction": "1"} for i in range(400)]

        def stop_mid_batch() -> None:
            deadline = time.monotonic() + 10
            while s2.count("/v1/chat") < 20 and time.monotonic() < deadline:
                time.sleep(0.002)
            s2.stop()  # cuts the requests in flight, refuses new ones

        stopper = threading.Thread(target=stop_mid_batch)
        stopper.start()
        results = judge.evaluate_batch("binary", items)
        stopper.join()
        assert len(results) == 400
        assert all(r.success and r.result == 1 for r in results), {r.error_message for r in results}
        assert not s2.running and s2.count("/v1/chat") > 0
        status = {row["url"]: row for row in judge.judge.pool_status()}
        assert status[f"{s2.url}/v1"]["healthy"] is False

        s2.start()  # same port
        s2.reset()
        time.sleep(0.3)
        deadline = time.monotonic() + 10
        while s2.count("/v1/chat") == 0 and time.monotonic() < deadline:
            assert all(r.success for r in judge.evaluate_batch("binary", items[:20]))
            time.sleep(0.05)
        assert s2.count("/v1/chat") > 0, "the replica that came back is used again"
        assert judge.judge.pool_status()[1]["healthy"] is True
        judge.close()
    finally:
        s1.stop()
        s2.stop()


def test_pool_status_has_one_row_per_replica(server: FakeLLMServer) -> None:
    dead = "http://127.0.0.1:9/v1"
    judge = JudgeFactory.create_judge(
        "openai", JudgeConfig(base_url=[server.base_url, dead], model_name="m", retry_delay=0.01)
    )
    assert all(judge.evaluate(REQ).success for _ in range(4))
    rows = judge.pool_status()  # type: ignore[attr-defined]
    assert [row["url"] for row in rows] == [server.base_url, dead]
    assert rows[0]["served"] == 4 and rows[1]["healthy"] is False
    judge.close()
