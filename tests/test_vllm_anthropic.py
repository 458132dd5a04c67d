"""The vllm and anthropic providers against the project's FakeLLMServer (real HTTP on 127.0.0.1)."""

from __future__ import annotations

import base64
import io
import threading
from typing import Any

import pytest
from aiohttp import web
from PIL import Image

from judgekit import ConfigError, JudgeConfig, JudgeFactory, JudgeRequest, MissingDependencyError, SimplifiedJudge
from judgekit.providers.vllm import with_v1
from judgekit.testing import FakeLLMServer, Fault, RecordedRequest, Reply

REQ = JudgeRequest(messages=[{"role": "user", "content": "judge this"}])
QUICK = {"retry_delay": 0.01, "max_retry_delay": 0.05, "timeout": 5}


def png_bytes(color: str = "red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, format="PNG")
    return buf.getvalue()


class ModelsServer(FakeLLMServer):
    """A FakeLLMServer whose ``GET /v1/models`` answers ``models_reply`` (a JSON body, or an int status)."""

    def __init__(self, models_reply: Any, **kw: Any) -> None:
        super().__init__(**kw)
        self.models_reply = models_reply

    async def _models(self, request: web.Request, rec: RecordedRequest, bad_json: bool) -> web.Response:
        if isinstance(self.models_reply, int):
            return web.json_response({"error": {"message": "Not Found"}}, status=self.models_reply)
        return web.json_response(self.models_reply)


def vllm(server: FakeLLMServer, **config: Any) -> Any:
    return JudgeFactory.create_judge("vllm", JudgeConfig(base_url=server.url, **{**QUICK, **config}))


def anthropic(server: FakeLLMServer, **config: Any) -> Any:
    fields = {"base_url": server.url, "api_key": "sk-ant-test", **QUICK, **config}
    return JudgeFactory.create_judge("anthropic", JudgeConfig(**fields))


# -- vllm: URL, key, model ---------------------------------------------------------------------------------


def test_with_v1() -> None:
    assert with_v1("http://h:8000") == "http://h:8000/v1"
    assert with_v1("http://h:8000/") == "http://h:8000/v1"
    assert with_v1("http://h:8000/v1") == "http://h:8000/v1"
    assert with_v1("https://dashscope.aliyuncs.com/compatible-mode/v1") == (
        "https://dashscope.aliyuncs.com/compatible-mode/v1"
    )


def test_bare_url_no_key_and_discovered_model(server: FakeLLMServer) -> None:
    judge = vllm(server)
    responses = judge.evaluate_batch([REQ] * 6)
    assert all(r.success for r in responses)
    chats = [r for r in server.requests if r.path == "/v1/chat/completions"]
    assert len(chats) == 6 and server.count("/v1/models") == 1  # asked once, even with 6 in flight
    assert all(r.json["model"] == "fake-judge" for r in chats)
    assert "authorization" not in chats[0].headers
    judge.close()


def test_env_url_key_and_model(server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TYPE", "vllm")
    monkeypatch.setenv("LLM_JUDGE_URL", server.url + "/v1/chat/completions")
    monkeypatch.setenv("VLLM_API_KEY", "sk-vllm")
    monkeypatch.setenv("MODEL_VERSION", "Qwen/Qwen3-32B")
    judge = SimplifiedJudge()
    assert judge.evaluate_binary("q", "1", "1").result == 1
    rec = server.requests[-1]
    assert rec.path == "/v1/chat/completions" and rec.headers["authorization"] == "Bearer sk-vllm"
    assert rec.json["model"] == "Qwen/Qwen3-32B" and server.count("/v1/models") == 0
    monkeypatch.delenv("LLM_JUDGE_URL")
    monkeypatch.setenv("VLLM_BASE_URL", server.base_url)
    assert SimplifiedJudge().evaluate_binary("q", "1", "1").success


def test_missing_url_is_a_config_error() -> None:
    judge = JudgeFactory.create_judge("vllm", JudgeConfig())
    assert not judge.is_available()
    with pytest.raises(ConfigError, match="LLM_JUDGE_URL") as info:
        judge.evaluate(REQ)
    assert info.value.field == "base_url"


def test_model_discovery_per_base_url() -> None:
    with FakeLLMServer(model_name="judge-a") as a, FakeLLMServer(model_name="judge-b") as b:
        judge = JudgeFactory.create_judge("vllm", JudgeConfig(base_url=[a.url, b.url], **QUICK))
        assert all(r.success for r in judge.evaluate_batch([REQ] * 8))
        assert a.count("/v1/models") == b.count("/v1/models") == 1
        assert {r.json["model"] for r in a.requests if r.json} == {"judge-a"}
        assert {r.json["model"] for r in b.requests if r.json} == {"judge-b"}
        judge.close()


@pytest.mark.parametrize(
    ("models_reply", "message"),
    [
        (404, "could not read the served model name"),
        ({"object": "list", "data": []}, "lists no models"),
    ],
)
def test_model_discovery_failures(models_reply: Any, message: str) -> None:
    with ModelsServer(models_reply) as srv:
        response = vllm(srv).evaluate(REQ)
        assert not response.success and message in response.error_message
        assert "model_name" in response.error_message
        assert srv.count("/v1/chat") == 0


def test_unreachable_server_fails_discovery_clearly() -> None:
    judge = JudgeFactory.create_judge("vllm", JudgeConfig(base_url="http://127.0.0.1:9", num_retries=1, **QUICK))
    response = judge.evaluate(REQ)
    assert not response.success and response.error_type == "ProviderConnectionError"
    assert "could not read the served model name" in response.error_message


# -- vllm: streaming, reasoning, pass-through ----------------------------------------------------------------


def test_streaming_includes_usage(server: FakeLLMServer) -> None:
    server.enqueue(Reply("1", reasoning_content="thinking hard", chunk_size=2, usage={"completion_tokens": 7}))
    response = vllm(server, stream=True, model_name="m").evaluate(REQ)
    assert response.success and response.content == "1" and response.reasoning == "thinking hard"
    assert response.usage.completion_tokens == 7
    body = server.requests[-1].json
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_stream_only_endpoint_is_detected_and_remembered() -> None:
    with FakeLLMServer(stream_only=True, default_reply="0") as srv:
        judge = vllm(srv, model_name="qwq-plus")
        first, second = judge.evaluate(REQ), judge.evaluate(REQ)
        assert first.success and second.success and first.content == "0" and first.attempts == 1
        sent = [r.json.get("stream") for r in srv.requests if r.path == "/v1/chat/completions"]
        assert sent == [None, True, True]  # rejected once, then streamed
        judge.close()


def test_think_tags_move_to_reasoning(server: FakeLLMServer) -> None:
    server.enqueue("<think>\nThe prediction says 5.\n</think>\n\n0")
    response = vllm(server, model_name="m").evaluate(REQ)
    assert response.content == "0" and response.reasoning == "The prediction says 5."
    server.enqueue("The prediction says 5.</think>1")  # Qwen3: <think> was in the prompt
    response = vllm(server, model_name="m").evaluate(REQ)
    assert response.content == "1" and response.reasoning == "The prediction says 5."


def test_cut_off_while_thinking_is_a_clear_failure(server: FakeLLMServer) -> None:
    server.enqueue(Reply("<think>let me consider every", finish_reason="length"))
    response = vllm(server, model_name="m").evaluate(REQ)
    assert not response.success and response.attempts == 1
    assert "ended inside its reasoning" in response.error_message and "enable_thinking" in response.error_message


def test_structured_output_and_chat_template_kwargs_pass_through(server: FakeLLMServer) -> None:
    schema = {"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]}
    extra = {
        "chat_template_kwargs": {"enable_thinking": False},
        "structured_outputs": {"choice": ["1", "0"]},
        "guided_json": schema,
        "top_k": 20,
    }
    response_format = {"type": "json_schema", "json_schema": {"name": "v", "schema": schema}}
    server.enqueue('{"score": 3}')
    judge = vllm(server, model_name="m", extra_body=extra, response_format=response_format, logprobs=True)
    assert judge.evaluate(REQ).content == '{"score": 3}'
    body = server.requests[-1].json
    assert body["response_format"] == response_format and body["logprobs"] is True and "top_logprobs" not in body
    assert all(body[key] == value for key, value in extra.items())


# -- anthropic ----------------------------------------------------------------------------------------------


def test_anthropic_payload_system_and_usage(server: FakeLLMServer) -> None:
    server.enqueue(Reply("1", usage={"input_tokens": 11, "output_tokens": 2}))
    judge = anthropic(server, system_prompt="Be strict.", max_tokens=64)
    response = judge.evaluate(REQ)
    assert response.success and response.content == "1" and response.provider == "anthropic"
    assert (response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens) == (11, 2, 13)
    rec = server.requests[-1]
    assert rec.path == "/v1/messages" and rec.headers["authorization"] == "Bearer sk-ant-test"
    assert rec.json["system"] == "Be strict." and rec.json["max_tokens"] == 64
    assert rec.json["model"] == "claude-sonnet-5-5"
    assert rec.json["messages"] == [{"role": "user", "content": "judge this"}]
    assert "temperature" not in rec.json and "stream" not in rec.json


def test_anthropic_system_message_goes_to_system(server: FakeLLMServer) -> None:
    request = JudgeRequest(messages=[
        {"role": "system", "content": "You grade math."},
        {"role": "user", "content": "2+2=4?"},
    ])  # fmt: skip
    assert anthropic(server, system_prompt="ignored when a system message is given").evaluate(request).success
    body = server.requests[-1].json
    assert body["system"] == "You grade math." and [m["role"] for m in body["messages"]] == ["user"]


def test_anthropic_base_url_with_v1(server: FakeLLMServer) -> None:
    assert anthropic(server, base_url=server.url + "/v1/messages").evaluate(REQ).success
    assert server.requests[-1].path == "/v1/messages"


def test_anthropic_images_are_base64_blocks(server: FakeLLMServer) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(png_bytes("blue")).decode()
    request = JudgeRequest(messages=[{"role": "user", "content": "What colour?"}], images=[png_bytes(), data_url])
    assert anthropic(server).evaluate(request).success
    content = server.requests[-1].json["messages"][-1]["content"]
    assert [block["type"] for block in content] == ["image", "image", "text"]
    assert content[0]["source"]["type"] == "base64" and content[0]["source"]["media_type"] == "image/png"
    assert content[2] == {"type": "text", "text": "What colour?"}
    decoded = Image.open(io.BytesIO(base64.b64decode(content[1]["source"]["data"])))
    assert decoded.getpixel((0, 0)) == (0, 0, 255)


@pytest.mark.parametrize("fault", [Fault.rate_limit(retry_after=0), Fault.status_code(529), Fault.status_code(500)])
def test_anthropic_retries_transient_errors(server: FakeLLMServer, fault: Fault) -> None:
    server.enqueue(fault, fault, "1")
    response = anthropic(server).evaluate(REQ)
    assert response.success and response.content == "1" and response.attempts == 3


def test_anthropic_rate_limit_honours_retry_after(server: FakeLLMServer) -> None:
    server.enqueue(Fault.rate_limit(retry_after=0.3), "1")
    response = anthropic(server, retry_delay=0).evaluate(REQ)
    assert response.success and response.attempts == 2 and response.latency_s >= 0.3


def test_anthropic_auth_failure_is_fast_and_secret(server: FakeLLMServer) -> None:
    server.api_key = "the-right-key"
    response = anthropic(server, api_key="sk-ant-wrong").evaluate(REQ)
    assert not response.success and response.status_code == 401 and response.attempts == 1
    assert response.error_type == "AuthenticationError" and "sk-ant-wrong" not in response.error_message


def test_anthropic_connection_timeout_and_empty_reply(server: FakeLLMServer) -> None:
    dead = JudgeFactory.create_judge(
        "anthropic", JudgeConfig(base_url="http://127.0.0.1:9", api_key="k", num_retries=1, **QUICK)
    )
    response = dead.evaluate(REQ)
    assert not response.success and response.error_type == "ProviderConnectionError" and response.attempts == 2
    server.enqueue(Fault.slow(2))
    response = anthropic(server, timeout=0.3, num_retries=0).evaluate(REQ)
    assert not response.success and response.error_type == "JudgeTimeoutError"
    server.enqueue(Fault.empty())
    response = anthropic(server).evaluate(REQ)
    assert not response.success and response.error_type == "EmptyReplyError" and "empty" in response.error_message


def test_anthropic_streaming(server: FakeLLMServer) -> None:
    server.enqueue(Reply("The answer matches.\n1", reasoning_content="compare 4 and 4", chunk_size=3))
    response = anthropic(server, stream=True).evaluate(REQ)
    assert response.success and response.content == "The answer matches.\n1"
    assert response.reasoning == "compare 4 and 4"
    assert response.usage.completion_tokens > 0 and response.usage.prompt_tokens > 0
    assert response.finish_reason == "end_turn" and server.requests[-1].json["stream"] is True


def test_anthropic_missing_key_and_unsupported_fields() -> None:
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        JudgeFactory.create_judge("anthropic", JudgeConfig()).evaluate(REQ)
    judge = JudgeFactory.create_judge("anthropic", JudgeConfig(api_key="k", response_format={"type": "json_object"}))
    with pytest.raises(ConfigError, match="response_format"):
        judge.evaluate(REQ)


def test_missing_anthropic_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import sys

    monkeypatch.setitem(sys.modules, "anthropic", None)  # "not installed"
    monkeypatch.delitem(sys.modules, "judgekit.providers.anthropic", raising=False)
    with pytest.raises(MissingDependencyError, match=r'pip install "judgekit\[anthropic\]"'):
        importlib.import_module("judgekit.providers.anthropic")


def test_anthropic_client_per_event_loop(server: FakeLLMServer) -> None:
    """The same judge works from the private loop and from threads running their own loops."""
    import asyncio

    judge = anthropic(server)
    assert judge.evaluate(REQ).success
    results: list[bool] = []

    def in_thread() -> None:
        async def main() -> None:
            results.append((await judge.aevaluate(REQ)).success)
            await judge.aclose()

        asyncio.run(main())

    threads = [threading.Thread(target=in_thread) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True, True]
    judge.close()


# -- every judge kind, end to end -------------------------------------------------------------------------------

KINDS: list[tuple[str, dict[str, Any], str, str, Any]] = [
    # kind, item, reply, slot, expected
    ("binary", {"question": "2+2?", "answer": "4", "prediction": "4"}, "1", "result", 1),
    ("correctness", {"question": "2+2?", "answer": "4", "prediction": "four"}, "Yes", "result", 1),
    ("comparative", {"question": "q", "response1": "a", "response2": "b"}, "7 9", "scores", (7.0, 9.0)),
    ("rubric", {"question": "q", "prediction": "p", "rubric": {"accuracy": "right?", "clarity": "clear?"}},
     '{"accuracy": 8, "clarity": 6}', "scores", {"accuracy": 8.0, "clarity": 6.0}),
    ("pointwise", {"question": "q", "response": "r"}, "<score>6</score>", "scores", 6.0),
    ("pairwise", {"question": "q", "response1": "a", "response2": "b"}, "<better>B</better>", "result", "B"),
]  # fmt: skip


@pytest.mark.parametrize("api_type", ["vllm", "anthropic"])
@pytest.mark.parametrize("stream", [False, True])
def test_every_kind_end_to_end(server: FakeLLMServer, api_type: str, stream: bool) -> None:
    where = {"base_url": server.url} if api_type == "vllm" else {"base_url": server.url, "api_key": "k"}
    judge = SimplifiedJudge(api_type=api_type, stream=stream, **where, **QUICK)
    for kind, item, reply, slot, expected in KINDS:
        if api_type == "vllm":  # reasoning inline, as a model served without a reasoning parser writes it
            server.enqueue(Reply(f"<think>weighing {kind}</think>\n{reply}", chunk_size=5))
        else:  # Anthropic extended thinking: a separate block
            server.enqueue(Reply(reply, reasoning_content=f"weighing {kind}", chunk_size=5))
        [result] = judge.evaluate_batch(kind, [item])
        assert result.success, (kind, result.error_message)
        assert result[slot] == expected, kind
        assert result.reasoning == f"weighing {kind}" and "weighing" not in result.raw_response
        assert result.provider == api_type and result.usage["completion_tokens"] > 0
    judge.close()


@pytest.mark.parametrize(
    "url", ["https://host", "https://host/", "https://host/v1", "https://host/v1/", "https://host/v1/messages"]
)
def test_anthropic_sdk_base_url_strips_what_the_sdk_appends(url: str) -> None:
    from judgekit.providers.anthropic import _sdk_base_url

    assert _sdk_base_url([url]) == "https://host"  # the SDK adds /v1/messages itself
