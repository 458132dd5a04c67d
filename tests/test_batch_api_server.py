"""The test server's batch endpoints, checked with the official openai and anthropic SDKs."""

from __future__ import annotations

import io
import json
import time

import anthropic
import openai
import pytest

from judgekit.testing import FakeLLMServer, Fault, RecordedRequest, Reply

KEY = "sk-test-batch"


@pytest.fixture
def server():
    with FakeLLMServer(api_key=KEY, default_reply="1") as srv:
        yield srv


def _openai_lines(n: int, url: str = "/v1/chat/completions", model: str = "gpt-4o-mini") -> bytes:
    rows = [
        {"custom_id": f"item-{i}", "method": "POST", "url": url,
         "body": {"model": model, "messages": [{"role": "user", "content": f"question {i}"}], "max_tokens": 5}}
        for i in range(n)
    ]  # fmt: skip
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _wait_openai(client: openai.OpenAI, batch_id: str) -> openai.types.Batch:
    for _ in range(200):
        batch = client.batches.retrieve(batch_id)
        if batch.status in ("completed", "failed", "expired", "cancelled"):
            return batch
        time.sleep(0.02)
    raise AssertionError("the batch never ended")


def test_openai_files_and_batches_with_the_official_sdk(server: FakeLLMServer) -> None:
    def reply(rec: RecordedRequest) -> str | Fault:
        content = rec.json["messages"][0]["content"]
        return Fault.status_code(400, "bad item") if content == "question 3" else f"answer to {content}"

    server.default_reply = reply
    server.batches.completion_delay = 0.2
    client = openai.OpenAI(api_key=KEY, base_url=server.base_url, max_retries=0)
    uploaded = client.files.create(file=("in.jsonl", io.BytesIO(_openai_lines(5))), purpose="batch")
    assert uploaded.purpose == "batch" and uploaded.bytes > 0
    assert client.files.content(uploaded.id).content == _openai_lines(5)
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert batch.status == "in_progress" and batch.request_counts.total == 5
    assert server.batches.created["openai"] == 1 and server.batches.submitted["openai"] == 5
    done = _wait_openai(client, batch.id)
    assert done.status == "completed"
    assert (done.request_counts.completed, done.request_counts.failed) == (4, 1)
    out = [json.loads(line) for line in client.files.content(done.output_file_id).text.splitlines()]
    err = [json.loads(line) for line in client.files.content(done.error_file_id).text.splitlines()]
    assert {o["custom_id"] for o in out} == {"item-0", "item-1", "item-2", "item-4"}
    line = next(o for o in out if o["custom_id"] == "item-2")
    body = line["response"]["body"]
    assert line["response"]["status_code"] == 200 and line["error"] is None
    assert body["object"] == "chat.completion" and body["choices"][0]["message"]["content"] == "answer to question 2"
    assert body["model"] == "gpt-4o-mini" and body["usage"]["prompt_tokens"] == 2
    assert err[0]["custom_id"] == "item-3" and err[0]["response"]["status_code"] == 400
    assert err[0]["response"]["body"]["error"]["message"] == "bad item"
    assert server.count("/v1/chat/completions") == 0  # batch lines are not live requests


def test_openai_batch_expiry_cancel_and_validation(server: FakeLLMServer) -> None:
    client = openai.OpenAI(api_key=KEY, base_url=server.base_url, max_retries=0)
    server.batches.expire_after = 2
    file_id = client.files.create(file=("in.jsonl", _openai_lines(4)), purpose="batch").id
    expired = _wait_openai(client, client.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h").id)  # fmt: skip
    assert expired.status == "expired" and expired.request_counts.failed == 2
    errors = [json.loads(line) for line in client.files.content(expired.error_file_id).text.splitlines()]
    assert [e["error"]["code"] for e in errors] == ["batch_expired", "batch_expired"]

    server.batches.expire_after = None
    server.batches.completion_delay = 60
    batch = client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
    cancelled = client.batches.cancel(batch.id)
    assert cancelled.status == "cancelled" and cancelled.output_file_id is None

    server.batches.max_requests["openai"] = 3
    failed = client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
    assert failed.status == "failed" and "at most 3" in failed.errors.data[0].message
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(api_key="wrong", base_url=server.base_url, max_retries=0).batches.retrieve(batch.id)


def test_azure_batch_paths_with_the_official_sdk(server: FakeLLMServer) -> None:
    client = openai.AzureOpenAI(api_key=KEY, azure_endpoint=server.url, api_version="2024-10-21", max_retries=0)
    file_id = client.files.create(file=("in.jsonl", _openai_lines(3, "/chat/completions", "my-batch")),
                                  purpose="batch").id  # fmt: skip
    batch = client.batches.create(input_file_id=file_id, endpoint="/chat/completions", completion_window="24h")
    done = _wait_openai(client, batch.id)  # type: ignore[arg-type]
    out = [json.loads(line) for line in client.files.content(done.output_file_id).text.splitlines()]
    assert done.status == "completed" and len(out) == 3
    assert out[0]["response"]["body"]["model"] == "my-batch"
    assert server.batches.created["azure"] == 1


def test_anthropic_message_batches_with_the_official_sdk(server: FakeLLMServer) -> None:
    def reply(rec: RecordedRequest) -> Reply | Fault:
        text = rec.json["messages"][0]["content"]
        return Fault.status_code(429) if text == "q1" else Reply(content=f"re {text}")

    server.default_reply = reply
    client = anthropic.Anthropic(api_key=KEY, base_url=server.url, max_retries=0)
    requests = [
        {"custom_id": f"c{i}", "params": {"model": "claude-3-5-haiku", "max_tokens": 5,
                                          "messages": [{"role": "user", "content": f"q{i}"}]}}
        for i in range(3)
    ]  # fmt: skip
    server.batches.completion_delay = 0.1
    batch = client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
    assert batch.processing_status == "in_progress" and batch.request_counts.processing == 3
    with pytest.raises(anthropic.AnthropicError):
        client.messages.batches.results(batch.id)  # no results_url before the batch ends
    for _ in range(100):
        batch = client.messages.batches.retrieve(batch.id)
        if batch.processing_status == "ended":
            break
        time.sleep(0.02)
    assert batch.request_counts.succeeded == 2 and batch.request_counts.errored == 1
    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert results["c0"].type == "succeeded" and results["c0"].message.content[0].text == "re q0"
    assert results["c1"].type == "errored" and results["c1"].error.error.type == "rate_limit_error"
    assert server.batches.created["anthropic"] == 1 and server.batches.downloads["anthropic"] == 1

    server.batches.expire_after = 1
    server.batches.completion_delay = 0
    client.messages.batches.retrieve(client.messages.batches.create(requests=requests).id)  # type: ignore[arg-type]
    expired = list(client.messages.batches.results(list(server.batches.batches)[-1]))
    assert [r.result.type for r in expired] == ["succeeded", "expired", "expired"]

    server.batches.fail_batches = "no batches for you"
    with pytest.raises(anthropic.BadRequestError, match="no batches for you"):
        client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
