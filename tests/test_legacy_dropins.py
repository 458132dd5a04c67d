"""Legacy drop-ins send exactly what the original helper sent (issue 21, item 8).

Each original (re-implemented in `lmms_eval_originals`) and its `judgekit.legacy` drop-in ask the same local
server; the request bodies it records must be equal (parsed JSON: key order and ``0`` vs ``0.0`` aside),
with ``MODEL_VERSION`` unset and set.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from lmms_eval_originals import llava_get_eval_original, mia_bench_get_eval_original, mmmu_get_chat_response_original

from judgekit import SimplifiedJudge
from judgekit.config import DEFAULT_OPENAI_MODEL
from judgekit.legacy import get_chat_response, get_eval, get_eval_plain
from judgekit.testing import FakeLLMServer

PROMPT = "[Question]\nWhat is in the image?\n\n[Assistant 1]\nA cat.\n[End of Assistant 1]\n..."


@pytest.fixture
def srv(server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLMServer]:
    monkeypatch.setenv("OPENAI_API_URL", server.base_url + "/chat/completions")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-dropin")
    server.default_reply = "8 9\nBoth are fine."
    yield server


def _body(server: FakeLLMServer, call: Callable[[], Any]) -> dict[str, Any]:
    before = len(server.requests)
    call()
    assert len(server.requests) == before + 1
    return server.requests[-1].json


DROPINS = {
    "get_eval (llava-in-the-wild, ferret)": (
        lambda srv: llava_get_eval_original(PROMPT, 1024),
        lambda srv: get_eval(PROMPT, 1024, retry_pause=0),
    ),
    "get_eval_plain (mia_bench, air_bench)": (
        lambda srv: mia_bench_get_eval_original(PROMPT, 1024),
        lambda srv: get_eval_plain(PROMPT, 1024, retry_pause=0),
    ),
    "get_chat_response (old mmmu)": (
        lambda srv: mmmu_get_chat_response_original(PROMPT, 20, srv.base_url),
        lambda srv: get_chat_response(PROMPT, 20),
    ),
}


@pytest.mark.parametrize("model_version", [None, "gpt-4-0613"])
@pytest.mark.parametrize("helper", list(DROPINS))
def test_dropin_sends_what_the_original_sent(
    srv: FakeLLMServer, monkeypatch: pytest.MonkeyPatch, helper: str, model_version: str | None
) -> None:
    if model_version:
        monkeypatch.setenv("MODEL_VERSION", model_version)
    original, dropin = DROPINS[helper]
    sent_by_original = _body(srv, lambda: original(srv))
    sent_by_dropin = _body(srv, lambda: dropin(srv))
    assert sent_by_dropin == sent_by_original


def test_the_originals_differ_so_the_comparison_can_fail(srv: FakeLLMServer) -> None:
    llava = _body(srv, lambda: llava_get_eval_original(PROMPT, 1024))
    mia = _body(srv, lambda: mia_bench_get_eval_original(PROMPT, 1024))
    assert llava != mia and llava["temperature"] == 0.2 and mia["temperature"] == 0
    assert [m["role"] for m in mia["messages"]] == ["user"]


def test_the_default_model_is_lmms_evals(srv: FakeLLMServer) -> None:
    """With MODEL_VERSION unset, SimplifiedJudge() judges with the model lmms-eval's judged tasks default to."""
    assert DEFAULT_OPENAI_MODEL == "gpt-4o-2024-11-20"
    srv.default_reply = "1"
    judge = SimplifiedJudge()
    judge.evaluate_binary("2+2?", "4", "4")
    assert srv.requests[-1].json["model"] == "gpt-4o-2024-11-20"
    judge.close()
