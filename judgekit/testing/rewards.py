"""The reward-model endpoints of `~judgekit.testing.FakeLLMServer`: vLLM's ``POST /classify`` and ``POST /pooling``
(also SGLang's ``/v1/classify``), vLLM's ``POST /tokenize``, and an OpenRLHF reward server's ``POST /get_reward``.

The fake model scores a conversation's text: ``reward_of(text)`` is the number of times "good" occurs minus the
number of times "bad" does, plus 0.01 per word. Conversations render as ``"<role>: <content>"`` lines (the fake
chat template; `render`), and ``/tokenize`` turns text into its Unicode code points (so token ids and text give
the same scores). ``use_activation`` (default true on vLLM) returns sigmoid(reward) in ``probs``.

Scoring requests take the next item of the server's shared queue: `Rewards` scripts the scores (a wrong count, a
NaN, ...), a `Fault` fails the request; anything else scores the text. Requests are validated as vLLM does: a
classify request needs exactly one of ``input`` and ``messages`` (``messages`` is one conversation).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from judgekit.testing.wire import Fault, RecordedRequest, ScriptedServer, error_response, scripted_item

__all__ = ["Rewards", "add_routes", "render", "reward_of"]


@dataclass
class Rewards:
    """Scripted scores of one scoring request, in input order (any JSON value: a string or None tests bad shapes)."""

    values: list[Any]


def reward_of(text: str) -> float:
    """The fake reward model's score of ``text``."""
    return text.count("good") - text.count("bad") + 0.01 * len(text.split())


def render(messages: list[dict[str, Any]]) -> str:
    """The fake chat template: one ``"<role>: <content>"`` line per message."""
    return "\n".join(f"{m.get('role')}: {m.get('content')}" for m in messages)


class _Invalid(ValueError):
    pass


def _texts(payload: dict[str, Any]) -> list[str]:
    """The texts a classify / pooling request scores (a ``messages`` request is one conversation)."""
    has_input, has_messages = "input" in payload, "messages" in payload
    if has_input == has_messages:
        raise _Invalid("exactly one of 'input' and 'messages' must be given")
    if has_messages:
        messages = payload["messages"]
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise _Invalid("'messages' must be one conversation (a list of messages)")
        return [render(messages)]
    value = payload["input"]
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        return ["".join(map(chr, value))]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    if isinstance(value, list) and all(isinstance(v, list) and all(isinstance(i, int) for i in v) for v in value):
        return ["".join(map(chr, v)) for v in value]
    raise _Invalid("'input' must be a string, a list of strings, token ids or lists of token ids")


async def _scored(server: ScriptedServer, request: web.Request, rec: RecordedRequest, bad_json: bool, body: Any):
    """Auth, validation, the queue and faults shared by every scoring endpoint; ``body(texts, values)``."""
    if server.api_key is not None and rec.headers.get("authorization") != f"Bearer {server.api_key}":
        return error_response("openai", 401, "Unauthorized.")
    payload = rec.json
    if bad_json or not isinstance(payload, dict):
        return error_response("openai", 400, "Request body must be a JSON object.")
    item = await scripted_item(server, rec)
    if isinstance(item, Fault):
        return server.fault_response(request, item, "openai", payload, False, None)
    try:
        return web.json_response(body(payload, item.values if isinstance(item, Rewards) else None))
    except _Invalid as exc:
        return error_response("openai", 400, str(exc))


def _values(texts: list[str], scripted: list[Any] | None, activation: bool) -> list[Any]:
    if scripted is not None:
        return scripted
    rewards = [reward_of(text) for text in texts]
    return [1.0 / (1.0 + math.exp(-r)) for r in rewards] if activation else rewards


def _usage(texts: list[str]) -> dict[str, Any]:
    tokens = sum(len(text.split()) for text in texts)
    return {"prompt_tokens": tokens, "total_tokens": tokens, "completion_tokens": 0}


def _envelope(server: ScriptedServer, payload: dict[str, Any], prefix: str, data: list[Any], texts: list[str]):
    return {
        "id": f"{prefix}-{time.monotonic_ns()}",
        "object": "list",
        "created": int(time.time()),
        "model": payload.get("model") or server.model_name,
        "data": data,
        "usage": _usage(texts),
    }


def add_routes(server: ScriptedServer, router: web.UrlDispatcher, wrap: Any) -> None:
    """Add the reward-model endpoints to the server's router."""

    def classify_body(payload: dict[str, Any], scripted: list[Any] | None) -> dict[str, Any]:
        texts = _texts(payload)
        values = _values(texts, scripted, payload.get("use_activation") is not False)
        data = [{"index": i, "label": "LABEL_0", "probs": [v], "num_classes": 1} for i, v in enumerate(values)]
        return _envelope(server, payload, "classify", data, texts)

    def pooling_body(payload: dict[str, Any], scripted: list[Any] | None) -> dict[str, Any]:
        texts = _texts(payload)
        values = _values(texts, scripted, payload.get("use_activation") is not False)
        data = [{"index": i, "object": "pooling", "data": [v]} for i, v in enumerate(values)]
        return _envelope(server, payload, "pool", data, texts)

    def openrlhf_body(payload: dict[str, Any], scripted: list[Any] | None) -> dict[str, Any]:
        queries = payload.get("query")
        if not isinstance(queries, list) or not all(isinstance(q, str) for q in queries):
            raise _Invalid("'query' must be a list of strings")
        rewards = _values(queries, scripted, False)
        return {"rewards": rewards, "scores": rewards, "extra_logs": {}}

    async def classify(request: web.Request, rec: RecordedRequest, bad_json: bool) -> web.StreamResponse:
        return await _scored(server, request, rec, bad_json, classify_body)

    async def pooling(request: web.Request, rec: RecordedRequest, bad_json: bool) -> web.StreamResponse:
        return await _scored(server, request, rec, bad_json, pooling_body)

    async def get_reward(request: web.Request, rec: RecordedRequest, bad_json: bool) -> web.StreamResponse:
        return await _scored(server, request, rec, bad_json, openrlhf_body)

    async def tokenize(request: web.Request, rec: RecordedRequest, bad_json: bool) -> web.StreamResponse:
        payload = rec.json if isinstance(rec.json, dict) else {}
        if isinstance(payload.get("messages"), list):
            text = render(payload["messages"])
        elif isinstance(payload.get("prompt"), str):
            text = payload["prompt"]
        else:
            return error_response("openai", 400, "'messages' or 'prompt' is required")
        tokens = [ord(c) for c in text]
        return web.json_response({"count": len(tokens), "max_model_len": 4096, "tokens": tokens, "token_strs": None})

    for path, handler in (
        ("/classify", classify), ("/v1/classify", classify), ("/pooling", pooling), ("/tokenize", tokenize),
        ("/get_reward", get_reward),
    ):  # fmt: skip
        router.add_post(path, wrap(handler))
