"""Judging through the provider batch APIs (OpenAI, Azure, Anthropic) against the local test server."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from judgekit import BatchAPIOptions, SimplifiedJudge
from judgekit.cache import MemoryCache
from judgekit.errors import ConfigError
from judgekit.testing import FakeLLMServer, Fault, RecordedRequest

KEY = "sk-batch-test-key-123456"
PROVIDERS = ("openai", "azure", "anthropic")


def _verdict(rec: RecordedRequest) -> str | Fault:
    """Judge a binary prompt the way a perfect judge would: "1" when the prediction is the answer."""
    text = rec.json["messages"][-1]["content"]
    if "FAIL-429" in text:
        return Fault.status_code(429)
    return "0" if "WRONG-" in text else "1"


def _items(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"question": f"What is {i} + 0?", "answer": str(i), "prediction": str(i) if i % 3 else f"WRONG-{i}"}
        for i in range(start, start + n)
    ]


def _expected(items: list[dict[str, Any]]) -> list[int]:
    return [0 if "WRONG-" in item["prediction"] else 1 for item in items]


def _judge(srv: FakeLLMServer, provider: str, **config: Any) -> SimplifiedJudge:
    if provider == "openai":
        return SimplifiedJudge(
            model_name="gpt-4o-mini", api_type="openai", base_url=srv.base_url, api_key=KEY, **config
        )
    if provider == "azure":
        return SimplifiedJudge(model_name="gpt-4o-mini", api_type="azure", base_url=srv.url, api_key=KEY,
                               azure_deployment="gpt-4o-mini-batch", **config)  # fmt: skip
    return SimplifiedJudge(model_name="claude-3-5-haiku", api_type="anthropic", base_url=srv.url, api_key=KEY, **config)


@pytest.fixture
def srv():
    with FakeLLMServer(api_key=KEY, default_reply=_verdict) as server:
        yield server


def _options(tmp_path: Path, **kw: Any) -> BatchAPIOptions:
    return BatchAPIOptions(**{"state_path": tmp_path / "state.json", "poll_interval": 0.02, **kw})


@pytest.mark.parametrize("provider", PROVIDERS)
def test_batch_api_judges_in_input_order(srv: FakeLLMServer, tmp_path: Path, provider: str) -> None:
    items = _items(500)
    with _judge(srv, provider) as judge:
        results = judge.evaluate_batch("binary", items, batch_api=_options(tmp_path, max_requests=200))
    assert [r["result"] for r in results] == _expected(items)
    assert all(r["success"] and r["kind"] == "binary" for r in results)
    assert srv.batches.created[provider] == 3 and srv.batches.submitted[provider] == 500
    assert not [r for r in srv.requests if r.path.endswith(("/chat/completions", "/v1/messages"))]  # none live
    stats = judge.last_batch_stats
    assert stats.batches == 3 and stats.succeeded == 500


@pytest.mark.parametrize("provider", PROVIDERS)
def test_item_errors_and_an_expired_batch_are_explicit_failures(
    srv: FakeLLMServer, tmp_path: Path, provider: str
) -> None:
    items = _items(6)
    items[1]["prediction"] = "FAIL-429"
    srv.batches.expire_after = 4  # the batch expires after judging 4 of its 6 requests
    with _judge(srv, provider) as judge:
        results = judge.evaluate_batch("binary", items, batch_api=_options(tmp_path))
    assert len(results) == 6
    assert [r["success"] for r in results] == [True, False, True, True, False, False]
    assert results[1]["error_type"] == "RateLimitError" and results[1]["result"] is None
    assert {r["error_type"] for r in results[4:]} == {"BatchExpired"}
    assert all(r["result"] is None and r["error_message"] for r in results[4:])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_batch_replies_are_read_like_live_ones(srv: FakeLLMServer, tmp_path: Path, provider: str) -> None:
    items = _items(3)
    replies = {0: "<think>0 + 0 is 0, so yes</think>1", 1: "<think>never finished", 2: "Verdict: maybe"}

    def reply(rec: RecordedRequest) -> str:
        text = rec.json["messages"][-1]["content"]
        return next(r for i, r in replies.items() if f"What is {i} + 0?" in text)

    srv.default_reply = reply
    with _judge(srv, provider) as judge:
        batch = judge.evaluate_batch("binary", items, batch_api=_options(tmp_path))
        live = judge.evaluate_batch("binary", items)
    assert srv.batches.submitted[provider] == 3
    for got, want in zip(batch, live, strict=True):
        for key in ("success", "result", "reasoning", "error_type", "raw_response"):
            assert got[key] == want[key], key
    assert batch[0]["result"] == 1 and batch[0]["reasoning"] == "0 + 0 is 0, so yes"
    assert batch[1]["error_type"] == "ProviderResponseError" and "inside its reasoning" in batch[1]["error_message"]
    assert batch[2]["error_type"] == "ParseError"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_batch_failing_as_a_whole_fails_its_items_not_the_run(
    srv: FakeLLMServer, tmp_path: Path, provider: str
) -> None:
    srv.batches.fail_batches = "quota exceeded for batch jobs"
    with _judge(srv, provider) as judge:
        results = judge.evaluate_batch("binary", _items(5), batch_api=_options(tmp_path))
    assert [r["error_type"] for r in results] == ["BatchFailed"] * 5
    assert all("quota exceeded for batch jobs" in r["error_message"] for r in results)


def test_cache_hits_are_not_submitted(srv: FakeLLMServer, tmp_path: Path) -> None:
    cache = MemoryCache()
    with _judge(srv, "openai", cache=cache) as judge:
        first = judge.evaluate_batch("binary", _items(40), batch_api=_options(tmp_path))
        assert srv.batches.submitted["openai"] == 40
        again = judge.evaluate_batch("binary", _items(60), batch_api=_options(tmp_path, state_path=None))
    assert srv.batches.submitted["openai"] == 60  # only the 20 new items were submitted
    assert [r["cached"] for r in again] == [True] * 40 + [False] * 20
    assert [r["result"] for r in again] == _expected(_items(60))
    assert [r["result"] for r in first] == [r["result"] for r in again[:40]]
    assert judge.last_batch_stats.cached == 40


def test_batches_respect_the_byte_limit(srv: FakeLLMServer, tmp_path: Path) -> None:
    srv.batches.max_bytes["openai"] = 5000  # the server fails a batch over it: splitting must keep under
    with _judge(srv, "openai") as judge:
        results = judge.evaluate_batch("binary", _items(40), batch_api=_options(tmp_path, max_bytes=5000))
    assert all(r["success"] for r in results) and srv.batches.submitted["openai"] == 40
    assert srv.batches.created["openai"] == judge.last_batch_stats.batches > 5
    assert all(len(srv.batches.files[b.input_file_id].data) <= 5000 for b in srv.batches.batches.values())


def test_progress_bar_shows_batch_counts_and_provider_status(srv: FakeLLMServer, tmp_path: Path) -> None:
    srv.batches.completion_delay = 0.2
    out = io.StringIO()
    with _judge(srv, "anthropic") as judge:
        judge.evaluate_batch("binary", _items(20), batch_api=_options(tmp_path), progress={"file": out})
    text = out.getvalue()
    for part in ("submitted=1", "in_progress=20", "completed=20", "failed=0", "status=in_progress", "20/20"):
        assert part in text


def test_identical_requests_are_submitted_once(srv: FakeLLMServer, tmp_path: Path) -> None:
    items = _items(5) * 3
    with _judge(srv, "openai") as judge:
        results = judge.evaluate_batch("binary", items, batch_api=_options(tmp_path))
    assert srv.batches.submitted["openai"] == 5
    assert [r["result"] for r in results] == _expected(items)


def test_summary_shows_batch_and_live_cost(srv: FakeLLMServer, tmp_path: Path) -> None:
    with _judge(srv, "openai") as judge:
        results = judge.evaluate_batch("binary", _items(10), batch_api=_options(tmp_path))
    stats = judge.last_batch_stats
    prompt = sum(r["usage"]["prompt_tokens"] for r in results)
    completion = sum(r["usage"]["completion_tokens"] for r in results)
    live = (prompt * 0.15 + completion * 0.60) / 1e6  # gpt-4o-mini's live price per million tokens
    assert stats.live_cost_usd == pytest.approx(live)
    assert stats.cost_usd == pytest.approx(live / 2)
    assert sum(r["cost_usd"] for r in results) == pytest.approx(live / 2)
    assert f"${live / 2:.4f} at the batch rate (live rate: ${live:.4f})" in str(stats)


def test_budget_is_checked_before_submitting(srv: FakeLLMServer, tmp_path: Path) -> None:
    with _judge(srv, "openai", max_tokens=10) as judge:
        results = judge.evaluate_batch("binary", _items(10), batch_api=_options(tmp_path), max_tokens_total=600)
    sent = [r for r in results if r["error_type"] != "BudgetExceeded"]
    assert 0 < len(sent) < 10 and srv.batches.submitted["openai"] == len(sent)
    assert all(r["success"] for r in sent)
    assert results[-1]["error_message"].startswith("budget exceeded: max_tokens_total=600")


def test_resume_after_max_wait_and_results_kept_on_disk(srv: FakeLLMServer, tmp_path: Path) -> None:
    srv.batches.completion_delay = 0.5
    items = _items(30)
    with _judge(srv, "anthropic") as judge:
        pending = judge.evaluate_batch("binary", items, batch_api=_options(tmp_path, max_wait=0))
        assert {r["error_type"] for r in pending} == {"BatchPending"}
        time.sleep(0.5)
        done = judge.evaluate_batch("binary", items, batch_api=_options(tmp_path))
        assert [r["result"] for r in done] == _expected(items)
        assert srv.batches.created["anthropic"] == 1 and judge.last_batch_stats.resumed == 1
        srv.batches.reset()  # the provider forgets the batch: the saved results answer
        again = judge.evaluate_batch("binary", items, batch_api=_options(tmp_path))
    assert [r["result"] for r in again] == _expected(items)
    assert srv.batches.batches_created == 0 and srv.batches.downloads["anthropic"] == 0


def test_a_batch_unreadable_for_a_bad_key_stays_resumable(srv: FakeLLMServer, tmp_path: Path) -> None:
    srv.batches.completion_delay = 0.3
    items = _items(8)
    with _judge(srv, "openai") as judge:
        pending = judge.evaluate_batch("binary", items, batch_api=_options(tmp_path, max_wait=0))
    assert {r["error_type"] for r in pending} == {"BatchPending"}
    srv.api_key = "a-rotated-key-0000"
    with _judge(srv, "openai") as judge:
        refused = judge.evaluate_batch("binary", items, batch_api=_options(tmp_path))
    assert {r["error_type"] for r in refused} == {"BatchPending"}
    assert "run again to resume" in refused[0]["error_message"] and KEY not in refused[0]["error_message"]
    srv.api_key = KEY
    with _judge(srv, "openai") as judge:
        done = judge.evaluate_batch("binary", items, batch_api=_options(tmp_path))
    assert [r["result"] for r in done] == _expected(items)
    assert srv.batches.created["openai"] == 1


def test_a_backend_without_batch_api_is_a_config_error(tmp_path: Path) -> None:
    judge = SimplifiedJudge(api_type="rules")
    with pytest.raises(ConfigError, match="batch API") as info:
        judge.evaluate_batch("binary", _items(2), batch_api=True)
    assert info.value.field == "batch_api"
    with pytest.raises(ConfigError) as bad:
        BatchAPIOptions(poll_interval=0)
    assert bad.value.field == "poll_interval"


def test_self_consistency_does_not_combine_with_a_batch(srv: FakeLLMServer, tmp_path: Path) -> None:
    judge = _judge(srv, "openai")
    with pytest.raises(ConfigError, match="n_samples") as info:
        judge.evaluate_batch("binary", [{**item, "n_samples": 3} for item in _items(2)], batch_api=_options(tmp_path))
    assert info.value.field == "n_samples" and sum(srv.batches.created.values()) == 0


def test_the_docs_example_runs(srv: FakeLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (Path(__file__).parent.parent / "docs" / "batch-api.md").read_text()
    snippet = text.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_URL", srv.base_url)
    items = _items(20)
    scope: dict[str, Any] = {"items": items}
    exec(snippet, scope)
    assert [r["result"] for r in scope["results"]] == _expected(items)
    assert srv.batches.created["openai"] == 1 and (tmp_path / "judge-cache.sqlite").exists()


# ------------------------------------------------------------------------------------------------ kill -9


def _cli(srv: FakeLLMServer, provider: str, src: Path, out: Path) -> list[str]:
    backend = {
        "openai": ["--api-type", "openai", "--model", "gpt-4o-mini", "--base-url", srv.base_url],
        "azure": ["--api-type", "azure", "--model", "gpt-4o-mini", "--base-url", srv.url,
                  "--set", "azure_deployment=gpt-4o-mini-batch"],
        "anthropic": ["--api-type", "anthropic", "--model", "claude-3-5-haiku", "--base-url", srv.url],
    }[provider]  # fmt: skip
    return [sys.executable, "-m", "judgekit.cli", "batch", str(src), "-o", str(out), "--kind", "binary",
            "--batch-api", "--poll-interval", "0.05", "--batch-max-requests", "3000", "--no-progress",
            "--api-key-env", "BATCH_TEST_KEY", *backend]  # fmt: skip


def test_cli_batch_api_max_wait_then_resume_and_a_malformed_line(srv: FakeLLMServer, tmp_path: Path) -> None:
    items = _items(12)
    src, out = tmp_path / "items.jsonl", tmp_path / "judged.jsonl"
    src.write_text("".join(json.dumps(item) + "\n" for item in items) + json.dumps({"question": "no answer"}) + "\n")
    state = Path(f"{out}.batch-state.json")
    env = {**os.environ, "BATCH_TEST_KEY": KEY}
    srv.batches.completion_delay = 600
    cmd = _cli(srv, "openai", src, out)
    first = subprocess.run([*cmd, "--max-wait", "0"], env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 1 and "12 items are still in provider batches" in first.stderr
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["index"], r["error_type"]) for r in written] == [(12, "ConfigError")]  # pending items not written
    assert len(_batch_ids(state)) == 1

    for batch in srv.batches.batches.values():
        batch.due = time.time()
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 1 and "succeeded=12 failed=1" in second.stderr  # the malformed line, again
    records = [json.loads(line) for line in out.read_text().splitlines()]
    judged = sorted((r for r in records if r["index"] < 12), key=lambda r: r["index"])
    assert [r["result"] for r in judged] == _expected(items)
    assert srv.batches.created["openai"] == 1 and not state.exists()


def _batch_ids(state: Path) -> list[str]:
    try:
        return [entry["id"] for entry in json.loads(state.read_text())["batches"]]
    except (OSError, ValueError):
        return []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_10k_items_survive_sigkill_during_polling(srv: FakeLLMServer, tmp_path: Path, provider: str) -> None:
    items = _items(10_000)
    src, out = tmp_path / "items.jsonl", tmp_path / "judged.jsonl"
    src.write_text("".join(json.dumps(item) + "\n" for item in items))
    state = Path(f"{out}.batch-state.json")
    env = {**os.environ, "BATCH_TEST_KEY": KEY}
    srv.batches.completion_delay = 600  # still running when the kill comes
    cmd = _cli(srv, provider, src, out)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while srv.batches.created[provider] < 4 or len(_batch_ids(state)) < 4:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the batches were not submitted in time"
            time.sleep(0.05)
        polls = srv.count()
        while srv.count() < polls + 4:  # it is polling now
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert srv.batches.created[provider] == 4 and srv.batches.submitted[provider] == 10_000
    assert not out.exists() or out.read_text() == ""

    srv.batches.completion_delay = 0
    for batch in srv.batches.batches.values():
        batch.due = time.time()  # the provider finishes the batches while nobody watches
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 10_000
    assert sorted(r["index"] for r in records) == list(range(10_000))
    by_index = {r["index"]: r for r in records}
    assert [by_index[i]["result"] for i in range(10_000)] == _expected(items)
    assert srv.batches.created[provider] == 4, "a batch was submitted twice"
    assert srv.batches.submitted[provider] == 10_000
    assert "at the batch rate (live rate: $" in done.stderr
    assert not state.exists()  # a finished run cleans its state up
