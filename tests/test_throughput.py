"""Throughput: the batch engine, the reply cache, usage and cost, budgets, rate limits and progress."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from judgekit import (
    BatchStats,
    ConfigError,
    JudgeConfig,
    JudgeFactory,
    JudgeInterface,
    JudgeRequest,
    JudgeResponse,
    MemoryCache,
    SimplifiedJudge,
    _sync,
    summarize,
)
from judgekit._ratelimit import AdaptiveLimit, ConcurrencyGate, RateLimiter
from judgekit.cache import SQLiteCache
from judgekit.pricing import price_for
from judgekit.testing import FakeLLMServer, Fault, RecordedRequest, Reply

_ITEM = re.compile(r"item (\d+)")


def req(i: int) -> JudgeRequest:
    return JudgeRequest(messages=[{"role": "user", "content": f"item {i}"}])


def index_of(rec: RecordedRequest) -> int:
    match = _ITEM.search(rec.json["messages"][-1]["content"])
    assert match is not None
    return int(match[1])


def make(config: JudgeConfig, **update: object) -> JudgeInterface:
    return JudgeFactory.create_judge(config=config.merged(**update))


def simple(config: JudgeConfig, **update: object) -> SimplifiedJudge:
    return SimplifiedJudge(judge=make(config, **update))


def binary_items(n: int) -> list[dict[str, str]]:
    return [{"question": f"item {i}", "answer": str(i), "prediction": str(i)} for i in range(n)]


# ---------------------------------------------------------------------------------------------- the engine


def test_batch_keeps_input_order_when_replies_arrive_out_of_order(
    server: FakeLLMServer, fast_config: JudgeConfig
) -> None:
    def reply(rec: RecordedRequest) -> Reply:
        i = index_of(rec)
        return Reply(str(i % 2), delay=0.002 * (30 - i))  # later items answer first

    server.default_reply = reply
    results = simple(fast_config).evaluate_batch("binary", binary_items(30), max_concurrency=30)
    assert [r["result"] for r in results] == [i % 2 for i in range(30)]
    assert all(f"item {i}" in r["prompt"] for i, r in enumerate(results))
    responses = make(fast_config).evaluate_batch([req(i) for i in range(30)], max_concurrency=30)
    assert [r.content for r in responses] == [str(i % 2) for i in range(30)]


def test_failures_inside_a_batch_keep_one_result_per_item(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    def reply(rec: RecordedRequest) -> str | Fault:
        i = index_of(rec)
        return {3: Fault.status_code(400), 5: Fault.garbage(), 7: "maybe"}.get(i, "1")

    server.default_reply = reply
    results = simple(fast_config, num_retries=1).evaluate_batch("binary", binary_items(10), max_concurrency=4)
    assert len(results) == 10
    failed = {i: r["error_type"] for i, r in enumerate(results) if not r["success"]}
    assert failed == {3: "ProviderError", 5: "ProviderResponseError", 7: "ParseError"}
    assert all(results[i]["result"] is None and results[i]["error_message"] for i in failed)
    assert all(r["result"] == 1 for i, r in enumerate(results) if i not in failed)


async def test_the_sync_batch_works_inside_a_running_loop(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    judge = simple(fast_config)  # a notebook cell: a loop is running, the sync twin still works
    results = judge.evaluate_batch("binary", binary_items(5))
    assert [r["result"] for r in results] == [1] * 5
    assert [r["result"] for r in await judge.aevaluate_batch("binary", binary_items(5))] == [1] * 5


async def test_cancelling_an_async_batch_leaves_no_tasks(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    server.latency = 0.5
    judge = make(fast_config)
    before = asyncio.all_tasks()
    task = asyncio.ensure_future(judge.aevaluate_batch([req(i) for i in range(40)], max_concurrency=10))
    await _until(lambda: server.in_flight > 0, timeout=10.0)  # on an event, not a fixed 0.2 s (a loaded machine)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert asyncio.all_tasks() - before - {asyncio.current_task()} == set()
    await judge.aclose()
    await _until(lambda: server.in_flight == 0)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="needs the main thread")
def test_ctrl_c_in_a_sync_batch_cancels_the_work_on_the_private_loop(
    server: FakeLLMServer, fast_config: JudgeConfig
) -> None:
    server.latency = 5.0  # far longer than it takes the Ctrl-C to arrive, however loaded the machine
    judge = make(fast_config)
    loop = _sync._private_loop()
    before = _private_tasks(loop)
    main = threading.main_thread().ident
    assert main is not None
    stop = threading.Event()

    def ctrl_c_once_requests_are_in_flight() -> None:  # as a notebook sends it; on an event, not a timer
        while not stop.is_set():
            if server.in_flight > 0:
                signal.pthread_kill(main, signal.SIGINT)
                return
            time.sleep(0.01)

    sender = threading.Thread(target=ctrl_c_once_requests_are_in_flight, daemon=True)
    sender.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            judge.evaluate_batch([req(i) for i in range(40)], max_concurrency=10)
    finally:
        stop.set()
        sender.join()
    assert _private_tasks(loop) - before == set()  # run_sync waited for the clean-up before re-raising
    assert server.count() < 40
    asyncio.run(_until(lambda: server.in_flight == 0))


def _private_tasks(loop: asyncio.AbstractEventLoop) -> set[asyncio.Task[object]]:
    async def others() -> set[asyncio.Task[object]]:
        return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}

    return asyncio.run_coroutine_threadsafe(others(), loop).result(timeout=5)


async def _until(condition: object, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


# ---------------------------------------------------------------------------------------------- the cache


_EXIT_AFTER_JUDGING = """
import atexit, sys, threading


@atexit.register  # registered first, so it runs last: after judgekit's own exit hooks
def threads_left():
    print("left:", sorted({t.name for t in threading.enumerate() if t.name.startswith("judgekit")}), flush=True)


from judgekit import JudgeFactory, JudgeRequest
from judgekit.reward import JudgeRewardSystem

judge = JudgeFactory.create_judge(
    api_type="openai", base_url=sys.argv[1], api_key="sk-test-key", model_name="gpt-4o", timeout=60, num_retries=0
)
print("judged:", judge.evaluate(JudgeRequest(messages=[{"role": "user", "content": "2+2=4?"}])).content, flush=True)
print("reward:", JudgeRewardSystem(judge=judge).reward("2+2?", "4", "4")["reward"], flush=True)
abandoned = threading.Thread(target=judge.evaluate, args=(JudgeRequest(messages=[{"role": "user", "content": "?"}]),))
abandoned.daemon = True
abandoned.start()
sys.stdin.read()  # the test closes it once the abandoned request is in flight
"""


def test_the_program_ending_stops_the_private_loop_before_python_finalizes() -> None:
    """A script that judged synchronously and through a reward system (whose batcher has a worker thread), and
    ends with a request in flight in a daemon thread, ends without waiting for it; no judgekit thread is left when
    the interpreter finalizes (a daemon thread woken then, by the loop's timers say, can crash it at exit)."""
    with FakeLLMServer(default_reply="1") as server:  # its own: it is left with a request in flight
        server.enqueue(Reply("1"), Reply("1"), Reply("1", delay=600))
        script = subprocess.Popen(
            [sys.executable, "-c", _EXIT_AFTER_JUDGING, server.base_url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            asyncio.run(_until(lambda: server.in_flight > 0 or script.poll() is not None, timeout=120.0))
            out, err = script.communicate("", timeout=120)
        finally:
            script.kill()
        assert script.returncode == 0, err[-2000:]
        assert out.splitlines() == ["judged: 1", "reward: 1.0", "left: []"]
        assert server.count() == 3  # it ended with the last request in flight, far from its reply (600 s)


REPLY_CHANGING = [
    ("model_name", "gpt-4o-mini"),
    ("temperature", 0.7),
    ("top_p", 0.9),
    ("max_tokens", 7),
    ("response_format", {"type": "json_object"}),
    ("extra_body", {"seed": 1}),
    ("logprobs", True),
    ("top_logprobs", 5),
    ("system_prompt", "Be strict."),
    ("base_url", "http://127.0.0.1:9/v1"),
    ("image_max_side", 256),
]
IRRELEVANT = [
    ("timeout", 3.0),
    ("num_retries", 0),
    ("retry_delay", 1.0),
    ("max_concurrent", 3),
    ("api_key", "sk-another-key"),
    ("extra_headers", {"X-Trace": "1"}),
    ("stream", True),
    ("cache", True),
    ("requests_per_minute", 100.0),
    ("price_per_million", (1.0, 2.0)),
    ("output_format", "yes/no"),
]


@pytest.mark.parametrize(("field", "value"), REPLY_CHANGING, ids=[f for f, _ in REPLY_CHANGING])
def test_every_reply_changing_setting_changes_the_cache_key(
    fast_config: JudgeConfig, field: str, value: object
) -> None:
    judge = make(fast_config)
    assert judge.cache_key(req(1)) != judge.cache_key(req(1), fast_config.merged(**{field: value}))


@pytest.mark.parametrize(("field", "value"), IRRELEVANT, ids=[f for f, _ in IRRELEVANT])
def test_settings_that_do_not_change_the_reply_keep_the_cache_key(
    fast_config: JudgeConfig, field: str, value: object
) -> None:
    judge = make(fast_config)
    assert judge.cache_key(req(1)) == judge.cache_key(req(1), fast_config.merged(**{field: value}))


def test_cache_key_covers_messages_images_and_provider(fast_config: JudgeConfig) -> None:
    judge = make(fast_config)
    key = judge.cache_key(req(1))
    assert key == judge.cache_key(JudgeRequest(messages=[{"role": "user", "content": "item 1"}]))
    assert key != judge.cache_key(req(2))
    assert key != judge.cache_key(JudgeRequest(messages=[{"role": "system", "content": "item 1"}]))
    two = JudgeRequest(messages=[{"role": "user", "content": "item"}, {"role": "user", "content": " 1"}])
    assert key != judge.cache_key(two)
    with_a, with_b = (JudgeRequest(messages=req(1).messages, images=[data]) for data in (b"a", b"b"))
    assert len({key, judge.cache_key(with_a), judge.cache_key(with_b)}) == 3
    assert judge.cache_key(with_a) == judge.cache_key(JudgeRequest(messages=req(1).messages, images=[b"a"]))
    azure = JudgeFactory.create_judge("azure", fast_config)
    assert azure.cache_key(req(1)) != key
    # a chat backend reads the messages, not the structured task
    from judgekit.types import JudgeTask

    tasked = JudgeRequest(messages=req(1).messages, task=JudgeTask(kind="binary", fields={"question": "q"}))
    assert judge.cache_key(tasked) == key


def test_cache_key_follows_a_config_changed_in_place(fast_config: JudgeConfig) -> None:
    config = fast_config.merged(extra_body={"seed": 1})
    judge = make(config)
    first = judge.cache_key(req(1))
    judge.config.extra_body["seed"] = 2
    assert judge.cache_key(req(1)) != first
    judge.config.temperature = 0.5
    assert len({first, judge.cache_key(req(1))}) == 2


def test_memory_cache_evicts_the_least_recently_used() -> None:
    cache = MemoryCache(max_size=2)
    cache.put("a", JudgeResponse(content="A"))
    cache.put("b", JudgeResponse(content="B"))
    assert cache.get("a") is not None  # "a" is now the most recent
    cache.put("c", JudgeResponse(content="C"))
    assert "b" not in cache and len(cache) == 2
    hit = cache.get("a")
    assert hit is not None and hit.cached and hit.content == "A" and hit.cost_usd == 0.0
    cache.put("d", JudgeResponse(success=False, error_message="boom"))
    assert "d" not in cache


def test_a_hit_is_marked_cached_and_sends_nothing(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    judge = make(fast_config, cache=True, price_per_million=(1.0, 2.0))
    first = judge.evaluate(req(1))
    assert not first.cached and first.cost_usd and first.cost_usd > 0
    second = judge.evaluate(req(1))
    assert second.cached and second.content == first.content and second.usage == first.usage
    assert second.cost_usd == 0.0 and server.count() == 1
    judge.evaluate(JudgeRequest(messages=req(1).messages, config=judge.config.merged(temperature=0.3)))
    assert server.count() == 2


def test_only_successes_are_cached(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    judge = make(fast_config, cache=True)
    server.enqueue(Fault.status_code(400))
    assert not judge.evaluate(req(1)).success
    assert judge.evaluate(req(1)).success
    assert judge.evaluate(req(1)).cached and server.count() == 2


def test_a_cache_object_can_be_shared_and_a_broken_one_costs_nothing(
    server: FakeLLMServer, fast_config: JudgeConfig
) -> None:
    shared = MemoryCache(100)
    one = JudgeFactory.create_judge(config=fast_config, cache=shared)
    other = SimplifiedJudge(base_url=fast_config.base_url, api_key="sk-test", model_name="gpt-4o", cache=shared)
    one.evaluate(JudgeRequest(messages=[{"role": "user", "content": "shared"}]))
    assert other.judge.cache is shared and len(shared) == 1

    class Broken:
        def get(self, key: str) -> JudgeResponse | None:
            raise OSError("disk is full")

        def put(self, key: str, response: JudgeResponse) -> None:
            raise OSError("disk is full")

    one.cache = Broken()  # type: ignore[assignment]
    assert one.evaluate(req(1)).success
    with pytest.raises(ConfigError):
        one.cache = object()  # type: ignore[assignment]


def test_sqlite_cache_replays_a_run_offline(tmp_path: Path) -> None:
    path = tmp_path / "judge-cache.sqlite"
    items = binary_items(20)

    def reply(rec: RecordedRequest) -> Reply:
        return Reply(str(index_of(rec) % 2), reasoning_content="because")

    srv = FakeLLMServer(default_reply=reply).start()
    try:
        judge = SimplifiedJudge(
            base_url=srv.base_url, api_key="sk-test", model_name="gpt-4o", cache=str(path), num_retries=0, timeout=2
        )
        first = judge.evaluate_batch("binary", items, max_concurrency=8)
        assert srv.count() == 20 and not any(r["cached"] for r in first)
        judge.close()
    finally:
        srv.stop()
    cache = judge.judge.cache
    assert isinstance(cache, SQLiteCache) and len(cache) == 20
    cache.close()  # as a new process would: open the file afresh

    again = SimplifiedJudge(
        base_url=srv.base_url, api_key="sk-test", model_name="gpt-4o", cache=str(path), num_retries=0, timeout=2
    )
    second = again.evaluate_batch("binary", items, max_concurrency=8)
    assert again.judge.cache is not cache
    assert all(r["success"] and r["cached"] for r in second)
    keys = ("result", "scores", "raw_response", "reasoning", "usage", "model", "prompt", "provider")
    assert [{k: r[k] for k in keys} for r in second] == [{k: r[k] for k in keys} for r in first]
    assert srv.count() == 20  # nothing was sent (the server is down anyway)
    assert again.last_batch_stats is not None and again.last_batch_stats.cached == 20
    again.judge.cache.close()  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------- usage, cost, budgets


def _fixed_usage(server: FakeLLMServer, prompt: int = 100, completion: int = 0) -> None:
    server.default_reply = Reply("1", usage={"prompt_tokens": prompt, "completion_tokens": completion})


def test_batch_stats_total_usage_and_cost(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    _fixed_usage(server, 90, 10)
    judge = simple(fast_config, price_per_million=(1000.0, 2000.0), cache=True)
    results = judge.evaluate_batch("binary", binary_items(10), max_concurrency=4)
    assert all(r["cost_usd"] == pytest.approx((90 * 1000 + 10 * 2000) / 1e6) for r in results)
    stats = judge.last_batch_stats
    assert isinstance(stats, BatchStats)
    assert (stats.items, stats.succeeded, stats.failed, stats.cached) == (10, 10, 0, 0)
    assert (stats.prompt_tokens, stats.completion_tokens, stats.total_tokens) == (900, 100, 1000)
    assert stats.cost_usd == pytest.approx(sum(r["cost_usd"] for r in results))
    assert stats.wall_s > 0 and stats.items_per_s > 0 and "10 items" in str(stats)
    tally = summarize(results)
    assert (tally.total_tokens, tally.cost_usd) == (stats.total_tokens, pytest.approx(stats.cost_usd))
    judge.evaluate_batch("binary", binary_items(10))  # all cached: nothing spent
    again = judge.last_batch_stats
    assert again is not None and (again.cached, again.total_tokens, again.cost_usd) == (10, 0, 0.0)


def test_cost_comes_from_the_price_table(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    _fixed_usage(server, 1000, 100)
    response = make(fast_config, model_name="gpt-4o-mini").evaluate(req(1))
    assert price_for("gpt-4o-mini-2024-07-18") == price_for("gpt-4o-mini") == (0.15, 0.60)
    assert response.cost_usd == pytest.approx((1000 * 0.15 + 100 * 0.60) / 1e6)
    assert make(fast_config, model_name="my-local-judge").evaluate(req(1)).cost_usd is None


def test_max_cost_stops_the_batch_and_keeps_what_finished(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    _fixed_usage(server, 100)
    judge = make(fast_config, price_per_million=(1000.0, 1000.0))  # $0.10 a call
    results = judge.evaluate_batch([req(i) for i in range(6)], max_concurrency=1, max_cost=0.25)
    assert [r.success for r in results] == [True] * 3 + [False] * 3
    assert all(r.error_type == "BudgetExceeded" and "max_cost" in (r.error_message or "") for r in results[3:])
    assert server.count() == 3
    stats = judge.last_batch_stats
    assert stats is not None and stats.skipped == 3 and stats.cost_usd == pytest.approx(0.3)
    assert stats.stopped is not None and "max_cost" in stats.stopped


def test_max_tokens_total_stops_a_concurrent_simplified_batch(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    _fixed_usage(server, 100)
    server.latency = 0.02
    judge = simple(fast_config)
    results = judge.evaluate_batch("binary", binary_items(50), max_concurrency=5, max_tokens_total=1000)
    assert len(results) == 50
    sent = [r for r in results if r["error_type"] != "BudgetExceeded"]
    assert 10 <= len(sent) <= 14  # the budget, plus at most what was in flight when it was reached
    assert all(r["success"] and r["result"] == 1 for r in sent)
    skipped = [r for r in results if r["error_type"] == "BudgetExceeded"]
    assert all(not r["success"] and r["result"] is None and "max_tokens_total" in r["error_message"] for r in skipped)
    assert server.count() == len(sent)


def test_budget_arguments_are_checked(fast_config: JudgeConfig) -> None:
    judge = simple(fast_config, model_name="my-local-judge")
    with pytest.raises(ConfigError, match="price_per_million") as info:
        judge.evaluate_batch("binary", binary_items(2), max_cost=1.0)
    assert info.value.field == "max_cost"
    with pytest.raises(ConfigError, match="max_tokens_total"):
        judge.evaluate_batch("binary", binary_items(2), max_tokens_total=0)
    with pytest.raises(ConfigError, match="max_cost"):
        simple(fast_config).evaluate_batch("binary", binary_items(2), max_cost=-1)


def test_progress_bar_shows_cost_and_cache_hits(
    server: FakeLLMServer, fast_config: JudgeConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    judge = simple(fast_config, price_per_million=(1.0, 1.0), cache=True)
    judge.evaluate_batch("binary", binary_items(3), progress=True)
    judge.evaluate_batch("binary", binary_items(4), progress=True)
    err = capsys.readouterr().err
    assert "4/4" in err and "cached=3" in err and "cost=$" in err and "failed=0" in err


# ---------------------------------------------------------------------------------------------- rate limits


def test_requests_per_minute_paces_a_batch(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    judge = make(fast_config, requests_per_minute=600)  # 10/s, with a burst of one second's worth
    started = time.perf_counter()
    results = judge.evaluate_batch([req(i) for i in range(25)], max_concurrency=25)
    wall = time.perf_counter() - started
    assert all(r.success for r in results)
    assert 1.35 <= wall <= 4.0  # 10 at once, then 15 more 0.1 s apart: 1.5 s
    times = sorted(r.time for r in server.requests)
    assert times[-1] - times[10] >= 1.25


def test_tokens_per_minute_paces_by_reported_usage(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    _fixed_usage(server, 90, 10)  # 100 tokens a call, whatever the estimate said
    judge = make(fast_config, tokens_per_minute=60_000)  # 1000 tokens/s, a burst of 1000
    started = time.perf_counter()
    results = judge.evaluate_batch([req(i) for i in range(25)], max_concurrency=8)
    wall = time.perf_counter() - started
    assert all(r.success for r in results)
    assert 1.2 <= wall <= 4.0  # 2500 tokens: 1000 at once, 1500 more at 1000/s


def test_rate_limiter_books_then_settles() -> None:
    limiter = RateLimiter(requests_per_minute=60, tokens_per_minute=None)
    assert limiter.reserve(10)[0] == 0.0
    assert limiter.reserve(10)[0] == pytest.approx(1.0, abs=0.05)  # one a second, no burst below 60/min
    tokens = RateLimiter(requests_per_minute=None, tokens_per_minute=6000)  # 100/s, burst 100
    wait, booked = tokens.reserve(50)
    assert wait == 0.0 and booked == 50
    tokens.settle(booked, JudgeResponse(content="x").usage.model_copy(update={"total_tokens": 250}))
    assert tokens.reserve(50)[0] == pytest.approx(1.5, abs=0.05)  # 250 spent - 100 burst = 1.5 s at 100/s


def test_adaptive_limit_halves_once_per_window_and_grows_back() -> None:
    limit = AdaptiveLimit(16)
    sent = time.monotonic()
    assert limit.on_rate_limit(sent) and limit.allowed == 8
    assert not limit.on_rate_limit(sent)  # same window: ignored
    assert limit.on_rate_limit(time.monotonic()) and limit.allowed == 4
    for _ in range(200):
        limit.on_success()
    assert limit.allowed == 16 and limit.cuts == 2
    fixed = AdaptiveLimit(16, adaptive=False)
    assert not fixed.on_rate_limit(time.monotonic()) and fixed.allowed == 16


async def test_concurrency_gate_follows_the_limit() -> None:
    limit = AdaptiveLimit(4)
    gate = ConcurrencyGate(limit)
    peak = 0

    async def work() -> None:
        nonlocal peak
        async with gate:
            peak = max(peak, gate.in_flight)
            await asyncio.sleep(0.01)

    await asyncio.gather(*(work() for _ in range(20)))
    assert peak == 4
    limit.on_rate_limit(time.monotonic())
    peak = 0
    await asyncio.gather(*(work() for _ in range(20)))
    assert peak == 2  # halved (successes would grow it back: the request path reports them)
    waiter = asyncio.gather(*(work() for _ in range(10)))
    await asyncio.sleep(0.001)
    waiter.cancel()  # cancelled waiters give their slots back
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert gate.in_flight == 0


def test_a_burst_of_429s_cuts_concurrency_which_then_recovers(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    server.latency = 0.02
    seen: list[int] = []

    def reply(rec: RecordedRequest) -> str | Fault:
        seen.append(server.in_flight)
        return Fault.rate_limit(0.0) if len(seen) <= 16 else "1"

    server.default_reply = reply
    server.hold_until_in_flight(16)  # replies wait for that many in flight, however slowly a busy machine sends
    judge = make(fast_config, max_concurrent=16)
    results = judge.evaluate_batch([req(i) for i in range(300)], max_concurrency=16)
    assert all(r.success for r in results)
    limit = judge.concurrency_limit
    assert limit.cuts == 1  # sixteen 429s of one window: one cut, to 8
    assert max(seen[16:40]) <= 10  # right after the cut at most 8, growing by one per window
    assert max(seen[:16]) == 16 and limit.allowed == 16  # recovered


def test_simplified_batch_max_concurrency_wins_over_the_default_max_concurrent(server: FakeLLMServer) -> None:
    """Defect 3: ``SimplifiedJudge()`` (max_concurrent=32) then ``evaluate_batch(max_concurrency=128)`` runs 128
    in flight; without the argument the judge's 32 holds; a 429 still halves the batch's own limit."""
    server.latency = 0.3
    judge = SimplifiedJudge(base_url=server.base_url, api_key="sk-test", model_name="gpt-4o", retry_delay=0.01)
    assert judge.config.max_concurrent == 32
    server.hold_until_in_flight(128)  # replies wait for that many in flight, however slowly a busy machine sends
    results = judge.evaluate_batch("binary", binary_items(128), max_concurrency=128)
    assert all(r["success"] for r in results) and server.max_in_flight == 128
    server.reset()
    server.hold_until_in_flight(32)
    results = judge.evaluate_batch("binary", binary_items(64))
    assert all(r["success"] for r in results) and server.max_in_flight == 32
    server.reset()
    server.latency = 0.05
    seen: list[int] = []

    def reply(rec: RecordedRequest) -> str | Fault:
        seen.append(server.in_flight)
        return Fault.rate_limit(0.0) if len(seen) <= 64 else "1"

    server.default_reply = reply
    server.hold_until_in_flight(64)
    results = judge.evaluate_batch("binary", binary_items(300), max_concurrency=64)
    assert all(r["success"] for r in results)
    assert max(seen[:64]) == 64 and max(seen[64:80]) <= 40  # cut to 32 by the first window of 429s
    judge.close()
