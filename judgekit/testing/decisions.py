"""The decision endpoints of `~judgekit.testing.FakeLLMServer`: ``POST /v1/decisions`` (the OpenAI Decisions
shape) and ``POST /v1/systemone`` (vLLM's structured decisions).

Both take the next item of the server's shared queue: a `Decision` scripts the answers, a `Fault` fails the
request (``Fault.status_code(501, UNSUPPORTED)`` is what vLLM answers for a model it cannot read decisions
from); anything else (a chat reply) answers with the defaults. Requests are validated as the real servers do,
so a bad question gets their 400. Default answers: a yes/no question 0.75 yes; a choice 0.75 on its first
option and the rest shared evenly; a score question 0.75 on its highest level and the rest shared evenly.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from judgekit.testing.wire import Fault, RecordedRequest, ScriptedServer, error_response, scripted_item

__all__ = ["UNSUPPORTED", "Decision", "openai_decisions", "systemone"]

UNSUPPORTED = {
    "error": {
        "message": "The model does not support the structured decision API",
        "type": "NotImplementedError",
        "param": None,
        "code": 501,
    }
}
"""vLLM's 501 body when ``/v1/systemone`` is disabled for the served model."""

_REFUSE = "refuse"
_ids = itertools.count(1)


@dataclass
class Decision:
    """Scripted answers, by question name: a float is P(yes) of a yes/no question; a dict maps a choice's options
    (or a score question's level labels) to probabilities; ``"refuse"`` refuses the question (OpenAI shape; in
    the systemone shape it is a 400, which vLLM has no refusal for). Unnamed questions get the defaults."""

    answers: dict[str, float | dict[str, float] | str] = field(default_factory=dict)
    label_mass: float = 0.9
    model: str | None = None
    delay: float = 0.0


class _Invalid(ValueError):
    """A request the real server would reject with a 400."""


def _split(names: list[str], scripted: Any, fallback: int) -> dict[str, float]:
    """Probabilities over ``names``: the scripted dict, or 0.75 on ``names[fallback]`` and the rest shared."""
    if isinstance(scripted, dict):
        return {name: float(scripted.get(name, 0.0)) for name in names}
    rest = 0.25 / (len(names) - 1)
    return {name: 0.75 if i == fallback else rest for i, name in enumerate(names)}


def _words(value: Any) -> int:
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, list):
        return sum(_words(v.get("content") or v.get("text")) for v in value if isinstance(v, dict))
    return 0


async def _item(server: ScriptedServer, rec: RecordedRequest) -> Any:
    item = await scripted_item(server, rec)
    if isinstance(item, Decision) and item.delay > 0:
        await asyncio.sleep(item.delay)
    return item


async def _serve(server: ScriptedServer, request: web.Request, rec: RecordedRequest, bad_json: bool, answer: Any):
    """Auth, the queue, faults and validation shared by both shapes; ``answer(payload, decision)`` builds the body."""
    if server.api_key is not None and rec.headers.get("authorization") != f"Bearer {server.api_key}":
        return error_response("openai", 401, "Incorrect API key provided.")
    payload = rec.json
    if bad_json or not isinstance(payload, dict):
        return error_response("openai", 400, "Request body must be a JSON object.")
    item = await _item(server, rec)
    if isinstance(item, Fault):
        if item.kind == "empty":
            return web.json_response({"model": server.model_name, "answers": [], "usage": {}})
        return server.fault_response(request, item, "openai", payload, False, None)
    decision = item if isinstance(item, Decision) else Decision()
    try:
        return web.json_response(answer(server, payload, decision))
    except _Invalid as exc:
        return error_response("openai", 400, str(exc))


# -- the OpenAI Decisions shape -------------------------------------------------------------------------------


async def openai_decisions(
    server: ScriptedServer, request: web.Request, rec: RecordedRequest, bad_json: bool
) -> web.StreamResponse:
    """``POST /v1/decisions``."""
    return await _serve(server, request, rec, bad_json, _openai_body)


def _openai_body(server: ScriptedServer, payload: dict[str, Any], decision: Decision) -> dict[str, Any]:
    questions = payload.get("questions")
    if not isinstance(payload.get("model"), str) or "input" not in payload:
        raise _Invalid("'model' and 'input' are required")
    if not isinstance(questions, list) or not 1 <= len(questions) <= 400:
        raise _Invalid("'questions' must hold 1 to 400 questions")
    answers = [_openai_answer(q, i, decision) for i, q in enumerate(questions)]
    tokens = _words(payload["input"]) + sum(_words(q.get("instructions")) for q in questions)
    return {
        "model": decision.model or payload["model"],
        "answers": answers,
        "usage": {
            "input_tokens": tokens,
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": 0,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": tokens,
        },
    }


def _openai_answer(question: Any, index: int, decision: Decision) -> dict[str, Any]:
    if not isinstance(question, dict) or not isinstance(question.get("instructions"), str):
        raise _Invalid(f"questions[{index}]: 'type' and 'instructions' are required")
    name, kind = question.get("name"), question.get("type")
    scripted = decision.answers.get(name) if name else None
    if scripted == _REFUSE:
        return {"type": "refusal", "name": name}
    if kind == "predicate":
        p = float(scripted) if isinstance(scripted, (int, float)) else 0.75
        return {"type": "predicate", "name": name, "probability": p}
    if kind == "choice":
        values = [c.get("value") for c in question.get("choices") or [] if isinstance(c, dict)]
        if not 2 <= len(values) <= 255 or len(set(map(repr, values))) != len(values):
            raise _Invalid(f"questions[{index}].choices: provide between 2 and 255 unique choices")
        probs = _split([str(v) for v in values], scripted, 0)
        top = max(probs, key=probs.__getitem__)
        rows = [{"value": v, "probability": probs[str(v)]} for v in values]
        return {"type": "choice", "name": name, "choice": top, "confidence": probs[top], "probabilities": rows}
    if kind == "score":
        labels = [lv.get("label") for lv in question.get("levels") or [] if isinstance(lv, dict)]
        if len(labels) < 2 or not all(isinstance(label, str) for label in labels):
            raise _Invalid(f"questions[{index}].levels: provide at least 2 levels, each with a label")
        probs = _split(labels, scripted, len(labels) - 1)
        rows = [{"label": label, "value": i, "probability": probs[label]} for i, label in enumerate(labels)]
        expected = sum(i * probs[label] for i, label in enumerate(labels))
        top = max(probs.values())
        return {"type": "score", "name": name, "score": expected, "confidence": top, "probabilities": rows}
    raise _Invalid(f"questions[{index}].type: must be one of 'predicate', 'choice', 'score', got {kind!r}")


# -- vLLM's /v1/systemone ----------------------------------------------------------------------------------


async def systemone(
    server: ScriptedServer, request: web.Request, rec: RecordedRequest, bad_json: bool
) -> web.StreamResponse:
    """``POST /v1/systemone``."""
    return await _serve(server, request, rec, bad_json, _systemone_body)


def _systemone_body(server: ScriptedServer, payload: dict[str, Any], decision: Decision) -> dict[str, Any]:
    questions = payload.get("questions")
    if "state" not in payload:
        raise _Invalid("body.state: Field required")
    if not isinstance(questions, dict) or not questions:
        raise _Invalid("questions: needs at least one question")
    if len(questions) > 64:
        raise _Invalid("questions: at most 64 for this model")
    answers, diagnostics = {}, {}
    for qid, question in questions.items():
        answers[qid] = _systemone_answer(qid, question, decision)
        diagnostics[qid] = {"label_mass": decision.label_mass, "argmax_is_label": True}
        answers[qid]["confidence"] = max(answers[qid]["probabilities"].values()) * decision.label_mass
    tokens = (_words(payload["state"]) + _words(payload.get("instructions"))) * len(questions)
    return {
        "id": f"decision-{next(_ids):016x}",
        "object": "structured_decision",
        "created": int(time.time()),
        "model": decision.model or payload.get("model") or server.model_name,
        "answers": answers,
        "usage": {"input_tokens": tokens, "output_tokens": len(questions)},
        "diagnostics": diagnostics,
    }


def _systemone_answer(qid: str, question: Any, decision: Decision) -> dict[str, Any]:
    if not isinstance(question, dict) or set(question) - {"type", "instructions", "criteria"}:
        extra = sorted(set(question) - {"type", "instructions", "criteria"}) if isinstance(question, dict) else []
        raise _Invalid(f"question {qid!r}: unknown field(s) {extra}")
    kind, criteria, scripted = question.get("type"), question.get("criteria"), decision.answers.get(qid)
    if scripted == _REFUSE:
        raise _Invalid(f"question {qid!r}: the model cannot answer it")
    if kind == "noul":
        if criteria is not None and (not isinstance(criteria, dict) or not criteria.keys() <= {"true", "false"}):
            raise _Invalid(f"question {qid!r}: noul criteria must be an object with true and false")
        p = float(scripted) if isinstance(scripted, (int, float)) else 0.75
        return {"type": "noul", "noul": p, "probabilities": {"yes": p, "no": 1.0 - p}}
    if kind == "choice":
        if not isinstance(criteria, dict) or not criteria:
            raise _Invalid(f"question {qid!r}: choice criteria must map option names to a description or null")
        if len(criteria) > 26:
            raise _Invalid(f"question {qid!r}: at most 26 options for this model")
        probs = _split(list(criteria), scripted, 0)
        return {"type": "choice", "choice": max(probs, key=probs.__getitem__), "probabilities": probs}
    if kind == "score":
        if not isinstance(criteria, list) or len(criteria) < 2:
            raise _Invalid(f"question {qid!r}: score criteria must be an ordered list of levels")
        if len(criteria) > 10:
            raise _Invalid(f"question {qid!r}: at most 10 options for this model")
        levels = [str(level) for level in criteria]
        by_label = _split(levels, scripted, len(levels) - 1)
        probs = {str(i): by_label[label] for i, label in enumerate(levels)}
        return {
            "type": "score",
            "score": sum(i * p for i, p in enumerate(by_label.values())),
            "legend": {str(i): label for i, label in enumerate(levels)},
            "probabilities": probs,
        }
    raise _Invalid(f"unknown question type {kind!r}; supported: ['choice', 'noul', 'score']")
