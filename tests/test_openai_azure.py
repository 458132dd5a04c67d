"""OpenAI and Azure providers against the real local server: payloads, streaming, images, auth."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from judgekit import ConfigError, JudgeConfig, JudgeFactory, JudgeRequest, JudgeResponse
from judgekit.providers.openai import is_reasoning_model
from judgekit.testing import FakeLLMServer, Reply

REQ = JudgeRequest(messages=[{"role": "user", "content": "judge this"}])


def png_bytes(size: tuple[int, int] = (40, 20), color: str = "red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def test_payload_for_chat_models(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    config = fast_config.merged(
        max_tokens=77,
        temperature=0.3,
        top_p=0.9,
        system_prompt="Be strict.",
        response_format={"type": "json_object"},
        extra_body={"seed": 7},
        extra_headers={"X-Trace": "t1"},
    )
    assert JudgeFactory.create_judge(config=config).evaluate(REQ).success
    rec = server.requests[-1]
    assert rec.path == "/v1/chat/completions"
    assert rec.headers["authorization"] == "Bearer sk-test-key" and rec.headers["x-trace"] == "t1"
    body = rec.json
    assert body["model"] == "gpt-4o" and body["max_tokens"] == 77
    assert body["temperature"] == 0.3 and body["top_p"] == 0.9 and body["seed"] == 7
    assert body["response_format"] == {"type": "json_object"}
    assert body["messages"][0] == {"role": "system", "content": "Be strict."}
    assert "stream" not in body


@pytest.mark.parametrize("model", ["gpt-5", "gpt-5-mini", "o1", "o1-preview", "o3-mini", "o4-mini"])
def test_reasoning_models_get_max_completion_tokens(
    server: FakeLLMServer, fast_config: JudgeConfig, model: str
) -> None:
    assert is_reasoning_model(model)
    assert JudgeFactory.create_judge(config=fast_config.merged(model_name=model, max_tokens=50)).evaluate(REQ).success
    body = server.requests[-1].json
    assert body["max_completion_tokens"] == 50
    assert "max_tokens" not in body and "temperature" not in body and "top_p" not in body


@pytest.mark.parametrize("model", ["gpt-4o", "gpt-4.1", "o1x", "gpt-50", "omni"])
def test_other_models_are_not_reasoning_models(model: str) -> None:
    assert not is_reasoning_model(model)


def test_streaming_reads_chunks_reasoning_and_usage(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    server.enqueue(Reply("The answer is correct.\n1", reasoning_content="let me think", chunk_size=3))
    response = JudgeFactory.create_judge(config=fast_config.merged(stream=True)).evaluate(REQ)
    assert response.success, response.error_message
    assert response.content == "The answer is correct.\n1"
    assert response.reasoning == "let me think"
    assert response.usage.completion_tokens > 0 and response.finish_reason == "stop"
    body = server.requests[-1].json
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_stream_only_endpoint(fast_config: JudgeConfig) -> None:
    with FakeLLMServer(stream_only=True, default_reply="Yes") as srv:
        config = fast_config.merged(base_url=srv.base_url)
        plain = JudgeFactory.create_judge(config=config).evaluate(REQ)
        assert not plain.success and plain.status_code == 400
        streamed = JudgeFactory.create_judge(config=config.merged(stream=True)).evaluate(REQ)
        assert streamed.success and streamed.content == "Yes"


def test_reasoning_content_is_kept_apart(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    server.enqueue(Reply("0", reasoning_content="the prediction says 5, answer 4"))
    response = JudgeFactory.create_judge(config=fast_config).evaluate(REQ)
    assert response.content == "0" and response.reasoning == "the prediction says 5, answer 4"


def test_a_parsed_reply_is_the_response_pydantic_would_make(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    """Replies are built without pydantic's validation (`judgekit.types.reply`): the same object all the same."""
    usage = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    server.enqueue(Reply("1", reasoning_content="it says 4", usage=usage, logprobs=[{"token": "1", "logprob": -0.1}]))
    response = JudgeFactory.create_judge(config=fast_config).evaluate(REQ)
    validated = JudgeResponse(**{name: getattr(response, name) for name in response.model_fields_set})
    assert response.model_dump() == validated.model_dump() and response.model_fields_set == validated.model_fields_set
    assert (response.content, response.reasoning, response.usage.total_tokens) == ("1", "it says 4", 15)
    assert response.usage.model_fields_set == {"prompt_tokens", "completion_tokens", "total_tokens"}


@pytest.mark.parametrize(
    ("reply", "field"),
    [(Reply("1", reasoning_content=5), "reasoning"), (Reply("1", logprobs=["-0.1"]), "logprobs.0")],  # type: ignore[arg-type,list-item]
)
def test_a_reply_field_of_the_wrong_type_fails_and_names_it(
    server: FakeLLMServer, fast_config: JudgeConfig, reply: Reply, field: str
) -> None:
    server.enqueue(reply)
    response = JudgeFactory.create_judge(config=fast_config).evaluate(REQ)
    assert not response.success and "validation error for JudgeResponse" in response.error_message
    assert field in response.error_message


def test_model_reported_by_server_is_returned(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    server.enqueue(Reply("1", model="gpt-4o-2024-08-06"))
    assert JudgeFactory.create_judge(config=fast_config).evaluate(REQ).model_used == "gpt-4o-2024-08-06"


def test_images_reach_the_server(server: FakeLLMServer, fast_config: JudgeConfig, tmp_path) -> None:
    path = tmp_path / "cat.png"
    path.write_bytes(png_bytes(color="blue"))
    data_url = "data:image/png;base64," + base64.b64encode(png_bytes(color="green")).decode()
    images = [str(path), Image.new("RGB", (10, 10), "white"), png_bytes(), data_url, "https://example.com/x.jpg"]
    request = JudgeRequest(messages=[{"role": "user", "content": "Is this a cat?"}], images=images)
    assert JudgeFactory.create_judge(config=fast_config).evaluate(request).success
    content = server.requests[-1].json["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "Is this a cat?"}
    urls = [part["image_url"]["url"] for part in content[1:]]
    assert len(urls) == 5
    assert all(u.startswith("data:image/png;base64,") for u in urls[:4])
    assert urls[4] == "https://example.com/x.jpg"
    decoded = Image.open(io.BytesIO(base64.b64decode(urls[0].split(",", 1)[1])))
    assert decoded.getpixel((0, 0)) == (0, 0, 255)


def test_images_are_downscaled(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    request = JudgeRequest(messages=[{"role": "user", "content": "look"}], images=[png_bytes((400, 100))])
    assert JudgeFactory.create_judge(config=fast_config.merged(image_max_side=100)).evaluate(request).success
    url = server.requests[-1].json["messages"][-1]["content"][1]["image_url"]["url"]
    assert Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size == (100, 25)


def test_unreadable_image_is_a_clear_error(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    request = JudgeRequest(messages=[{"role": "user", "content": "x"}], images=[png_bytes(), b"not an image"])
    with pytest.raises(ConfigError, match=r"images\[1\]"):
        JudgeFactory.create_judge(config=fast_config).evaluate(request)
    assert server.count() == 0


def test_missing_openai_key_is_a_config_error() -> None:
    judge = JudgeFactory.create_judge("openai", JudgeConfig())
    assert not judge.is_available()
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        judge.evaluate(REQ)


def test_local_server_needs_no_key(server: FakeLLMServer) -> None:
    judge = JudgeFactory.create_judge("openai", JudgeConfig(base_url=server.base_url))
    assert judge.is_available() and judge.evaluate(REQ).success
    assert "authorization" not in server.requests[-1].headers


def test_azure_deployment_path_header_and_version(server: FakeLLMServer) -> None:
    config = JudgeConfig(
        api_type="azure", base_url=server.url, api_key="az-key", model_name="gpt-4o", api_version="2024-06-01"
    )
    judge = JudgeFactory.create_judge(config=config)
    response = judge.evaluate(REQ)
    assert response.success and response.provider == "azure"
    rec = server.requests[-1]
    assert rec.path == "/openai/deployments/gpt-4o/chat/completions"
    assert rec.query == {"api-version": "2024-06-01"}
    assert rec.headers["api-key"] == "az-key" and "authorization" not in rec.headers


def test_azure_full_deployment_url_from_env(server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TYPE", "azure")
    monkeypatch.setenv("AZURE_API_KEY", "az-env")
    monkeypatch.setenv(
        "AZURE_ENDPOINT", f"{server.url}/openai/deployments/judge-dep/chat/completions?api-version=2023-07-01-preview"
    )
    response = JudgeFactory.create_judge().evaluate(REQ)
    assert response.success
    rec = server.requests[-1]
    assert rec.path == "/openai/deployments/judge-dep/chat/completions"
    assert rec.query["api-version"] == "2023-07-01-preview"


def test_azure_needs_endpoint_and_key() -> None:
    with pytest.raises(ConfigError, match="AZURE_ENDPOINT"):
        JudgeFactory.create_judge("azure", JudgeConfig(api_key="k", model_name="m")).evaluate(REQ)
    with pytest.raises(ConfigError, match="AZURE_API_KEY"):
        JudgeFactory.create_judge("azure", JudgeConfig(base_url="http://127.0.0.1:9", model_name="m")).evaluate(REQ)


def test_wrong_key_is_reported_not_retried(server: FakeLLMServer, fast_config: JudgeConfig) -> None:
    server.api_key = "right-key"
    response = JudgeFactory.create_judge(config=fast_config.merged(api_key="wrong-key")).evaluate(REQ)
    assert not response.success and response.status_code == 401 and response.attempts == 1
    assert "wrong-key" not in (response.error_message or "")


@pytest.mark.parametrize(
    "encode",
    [lambda text: b"\xef\xbb\xbf" + text.encode(), lambda text: text.encode("utf-16")],
    ids=["utf-8 with a byte-order mark", "utf-16"],
)
async def test_a_reply_body_the_standard_library_reads_is_read(encode) -> None:
    """Bodies are decoded with pydantic-core's JSON; one it refuses (a byte-order mark, UTF-16) is read the way
    the standard library reads it, not reported unreadable."""
    from aiohttp import web

    from judgekit._transport import HTTPTransport

    body = '{"choices": [{"message": {"content": "1"}}]}'

    async def chat(request: web.Request) -> web.Response:
        return web.Response(body=encode(body), content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    transport = HTTPTransport("openai")
    try:
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        data = await transport.request_json("POST", url, payload={}, timeout=5)
    finally:
        await transport.aclose()
        await runner.cleanup()
    assert data == {"choices": [{"message": {"content": "1"}}]}
