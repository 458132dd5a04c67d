"""evaluate_custom: the task's own prompt or messages, its own parser, explicit failures."""

from __future__ import annotations

import asyncio

import pytest
from PIL import Image

from judgekit import ConfigError, SimplifiedJudge
from judgekit.task_formats import NumberInRange, PredScoreDict
from judgekit.testing import FakeLLMServer, Fault, Reply

unit = NumberInRange(0, 1)


@pytest.fixture
def judge(server: FakeLLMServer) -> SimplifiedJudge:
    return SimplifiedJudge(
        base_url=server.base_url, api_key="sk-test", model_name="gpt-4o", retry_delay=0.01, max_retry_delay=0.02
    )


def test_prompt_is_sent_as_is_and_parsed(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    server.enqueue("0.5\nExplanation: half of it.")
    prompt = "Rate {this} | with braces {0} and a % sign |"
    result = judge.evaluate_custom(prompt, parse=unit)
    assert result["success"] and result["result"] == 0.5 and result["scores"] is None
    assert result["kind"] == "custom" and result["prompt"] == prompt
    assert result["raw_response"] == "0.5\nExplanation: half of it." and result["error_message"] is None
    assert server.requests[-1].json["messages"] == [{"role": "user", "content": prompt}]


def test_no_parser_returns_the_final_text(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    server.enqueue("<think>hmm, 0.1?</think>\n0.9", Reply("0.7", reasoning_content="first 0.3"))
    first, second = judge.evaluate_custom("q"), judge.evaluate_custom("q")
    assert (first["result"], first["reasoning"], first["raw_response"]) == ("0.9", "hmm, 0.1?", "0.9")
    assert (second["result"], second["reasoning"]) == ("0.7", "first 0.3")


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("I'm sorry, I can't help with that.", "found no score"),
        ("Score: 1.5", "out of range"),
        ("<think>0.5</think>", "ended inside its reasoning"),
    ],
)
def test_unreadable_replies_are_parse_failures(judge: SimplifiedJudge, server: FakeLLMServer, reply, message) -> None:
    server.enqueue(reply)
    result = judge.evaluate_custom("q", parse=unit)
    assert not result["success"] and result["result"] is None and message in result["error_message"]
    if "reasoning" not in message:
        assert result["error_type"] == "ParseError" and result["raw_response"] == reply


def test_any_exception_or_none_from_the_parser_is_a_parse_failure(judge: SimplifiedJudge, server: FakeLLMServer):
    server.default_reply = "{'pred': 'yes'}"

    def crashes(text: str) -> float:
        return float(text.split(" ")[0])  # the MM-Vet habit: ValueError on most replies

    def finds_nothing(text: str) -> None:
        return None

    def key_error(text: str) -> int:
        return {"a": 1}["b"]

    for parse, words in [(crashes, "ValueError"), (finds_nothing, "returned None"), (key_error, "KeyError")]:
        result = judge.evaluate_custom("q", parse=parse)
        assert not result["success"] and result["error_type"] == "ParseError", parse
        assert words in result["error_message"] and result["raw_response"] == "{'pred': 'yes'}"
        assert result["result"] is None


def test_backend_failure_is_a_failure(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    server.enqueue(Fault.status_code(400), "")
    bad, empty = judge.evaluate_custom("q", parse=unit), judge.evaluate_custom("q", parse=unit)
    assert not bad["success"] and bad["error_type"] not in (None, "ParseError")
    assert not empty["success"] and "empty reply" in empty["error_message"]
    assert bad["result"] is None and empty["result"] is None


def test_messages_system_prompt_images_and_overrides(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    server.default_reply = "{'pred': 'no', 'score': 1}"
    messages = [{"role": "system", "content": "You judge."}, {"role": "user", "content": "Q: x?"}]
    result = judge.evaluate_custom(messages=messages, parse=PredScoreDict(), temperature=0.7, max_tokens=64)
    assert result["result"] == ("no", 1) and result["prompt"] == "Q: x?"
    sent = server.requests[-1].json
    assert sent["messages"] == messages and sent["temperature"] == 0.7 and sent["max_tokens"] == 64

    image = Image.new("RGB", (8, 8), "blue")
    judge.evaluate_custom("Look.", system_prompt="Be strict.", images=[image])
    sent = server.requests[-1].json
    assert sent["messages"][0] == {"role": "system", "content": "Be strict."}
    text, picture = sent["messages"][1]["content"]
    assert text == {"type": "text", "text": "Look."} and picture["type"] == "image_url"
    assert sent["temperature"] == 0.0 and sent["max_tokens"] == 1024  # the judge's own


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "prompt"),
        ({"prompt": "a", "messages": [{"role": "user", "content": "b"}]}, "messages"),
        ({"prompt": 3}, "prompt"),
        ({"prompt": "a", "parse": "not callable"}, "parse"),
        ({"messages": [{"role": "robot", "content": "b"}]}, "messages"),
        ({"prompt": "a", "temperature": 5}, "temperature"),
        (
            {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}], "system_prompt": "t"},
            "system_prompt",
        ),
        ({"prompt": "a", "images": ["/no/such/image.png"]}, "images[0]"),
    ],
)
def test_bad_calls_are_config_errors(judge: SimplifiedJudge, server: FakeLLMServer, kwargs, field) -> None:
    with pytest.raises(ConfigError) as info:
        judge.evaluate_custom(**kwargs)
    assert field in str(info.value) or info.value.field == field
    assert server.count() == 0


def test_batch_keeps_order_and_failures(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    replies = {"a": "0.1", "b": "no idea", "c": "Score: 0.3", "d": "0.4"}
    server.default_reply = lambda rec: replies[rec.json["messages"][-1]["content"]]
    results = judge.evaluate_batch("custom", [{"prompt": p} for p in "abcd"], parse=unit, max_concurrency=2)
    assert [r["result"] for r in results] == [0.1, None, 0.3, 0.4]
    assert results[1]["error_type"] == "ParseError"
    texts = judge.evaluate_batch("custom", [{"prompt": "a"}, {"messages": [{"role": "user", "content": "d"}]}])
    assert [r["result"] for r in texts] == ["0.1", "0.4"]
    with pytest.raises(ConfigError, match="parse"):
        judge.evaluate_batch("binary", [{"question": "q", "answer": "a", "prediction": "p"}], parse=unit)
    with pytest.raises(ConfigError, match=r"items\[1\]"):
        judge.evaluate_batch("custom", [{"prompt": "a"}, {"promt": "b"}], parse=unit)


async def test_async_twin(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    server.default_reply = "Score: 0.25"
    results = await asyncio.gather(*(judge.aevaluate_custom(f"q{i}", parse=unit) for i in range(5)))
    assert [r["result"] for r in results] == [0.25] * 5
    await judge.aclose()


def test_the_custom_kind_is_in_the_spec_but_not_among_the_built_in_kinds() -> None:
    from judgekit import JudgeConfig
    from judgekit.cli import build_parser
    from judgekit.kinds import CUSTOM, KINDS, SERVER_KINDS, get_kind, kind_names

    assert get_kind("custom") is CUSTOM and CUSTOM.method == "evaluate_custom" and CUSTOM.caller_prompt
    assert "custom" not in KINDS and "custom" not in kind_names() and "custom" not in SERVER_KINDS
    judge_command = next(a for a in build_parser()._actions if a.dest == "command").choices["judge"]
    cli_kinds = next(a for a in judge_command._actions if a.dest == "kind").choices
    assert "custom" not in cli_kinds  # a CLI flag cannot carry a Python parser
    assert JudgeConfig(judge_type="custom").judge_type == "custom"
    with pytest.raises(ConfigError, match=r"did you mean 'custom'.*pairwise, listwise, tournament, custom"):
        get_kind("custon")
