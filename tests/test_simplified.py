"""SimplifiedJudge end to end against the real local server: every kind, sync, async and batch."""

from __future__ import annotations

import json
import re

import pytest

from judgekit import ConfigError, JudgeConfig, ParseError, ProviderError, SimplifiedJudge, get_binary_judge_response
from judgekit.parsing import split_reasoning
from judgekit.testing import FakeLLMServer, Fault, RecordedRequest, Reply


@pytest.fixture
def judge(server: FakeLLMServer, fast_config: JudgeConfig) -> SimplifiedJudge:
    return SimplifiedJudge(config=fast_config.merged(num_retries=1))


def last_prompt(server: FakeLLMServer) -> str:
    return server.requests[-1].json["messages"][-1]["content"]


KIND_CASES = [
    ("binary", {"question": "2+2?", "answer": "4", "prediction": "It is 4."}, "1", "result", 1),
    (
        "binary",
        {"question": "2+2?", "answer": "4", "prediction": "5", "output_format": "yes/no"},
        "No.",
        "result",
        "no",
    ),
    ("correctness", {"question": "x?", "answer": "1/2", "prediction": "\\boxed{0.5}"}, "Yes", "result", 1),
    ("comparative", {"question": "q", "response1": "a", "response2": "b"}, "8 3\nA is better.", "scores", (8.0, 3.0)),
    (
        "rubric",
        {"question": "q", "prediction": "p", "rubric": {"accuracy": "facts", "clarity": "plain"}},
        '{"accuracy": 7, "clarity": 9}',
        "scores",
        {"accuracy": 7.0, "clarity": 9.0},
    ),
    (
        "pointwise",
        {"question": "q", "response": "r", "score_range": (0, 4)},
        "<think>Solid, but 1 error.</think>\n<score>3</score>",
        "scores",
        3.0,
    ),
    (
        "pairwise",
        {"question": "q", "response1": "a", "response2": "b"},
        "<think>A has 2 bugs</think><better>B</better>",
        "result",
        "B",
    ),
]


@pytest.mark.parametrize(("kind", "item", "reply", "slot", "expected"), KIND_CASES)
def test_every_kind_sync(judge: SimplifiedJudge, server: FakeLLMServer, kind, item, reply, slot, expected) -> None:
    server.enqueue(reply)
    method = getattr(judge, {"rubric": "evaluate_with_rubric"}.get(kind, f"evaluate_{kind}"))
    result = method(**item)
    assert result["success"], result["error_message"]
    assert result[slot] == expected
    other = "scores" if slot == "result" else "result"
    assert result[other] is None
    assert result["raw_response"] == split_reasoning(reply)[0]  # the final answer; reasoning is apart
    assert result["reasoning"] == split_reasoning(reply)[1]
    assert result["prompt"] == last_prompt(server)
    assert result["model"] == "gpt-4o" and result["usage"]["total_tokens"] > 0
    assert result["kind"] == kind and result["error_message"] is None


@pytest.mark.parametrize(("kind", "item", "reply", "slot", "expected"), KIND_CASES)
async def test_every_kind_async(
    judge: SimplifiedJudge, server: FakeLLMServer, kind, item, reply, slot, expected
) -> None:
    server.enqueue(reply)
    method = getattr(judge, {"rubric": "aevaluate_with_rubric"}.get(kind, f"aevaluate_{kind}"))
    result = await method(**item)
    assert result["success"] and result[slot] == expected
    await judge.aclose()


@pytest.mark.parametrize(("kind", "item", "reply", "slot", "expected"), KIND_CASES)
def test_every_kind_batch(judge: SimplifiedJudge, server: FakeLLMServer, kind, item, reply, slot, expected) -> None:
    server.default_reply = reply
    results = judge.evaluate_batch(kind, [item] * 5, max_concurrency=3)
    assert len(results) == 5 and all(r["success"] and r[slot] == expected for r in results)


def test_verdict_is_read_from_the_final_answer(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    server.enqueue("<think>The answer 1 is 10, maybe 1?</think>\nThe prediction gives 12, not 10.\n0")
    result = judge.evaluate_binary("q", "10", "12")
    assert result["result"] == 0 and "maybe 1" in result["reasoning"]


def test_old_digit_anywhere_bug_is_gone(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    server.enqueue("score: 0 out of 1")
    assert judge.evaluate_binary("q", "a", "p")["result"] == 0


@pytest.mark.parametrize("reply", ["10", "0.1", "-1", "The answer looks fine."])
def test_unreadable_verdicts_are_failures_not_zero(judge: SimplifiedJudge, server: FakeLLMServer, reply: str) -> None:
    server.enqueue(reply)
    result = judge.evaluate_binary("q", "a", "p")
    assert not result["success"]
    assert result["result"] is None and result["scores"] is None
    assert result["error_type"] == "ParseError" and "unreadable judge reply" in result["error_message"]
    assert result["raw_response"] == reply


def test_reasoning_content_field_is_kept(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    server.enqueue(Reply("1", reasoning_content="checked: 4 == 4"))
    result = judge.evaluate_binary("2+2?", "4", "4")
    assert result["result"] == 1 and result["reasoning"] == "checked: 4 == 4"


def test_yes_no_verdict_truthiness(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    server.enqueue("No", "Yes")
    no = judge.evaluate_binary("q", "a", "p", output_format="yes/no")["result"]
    yes = judge.evaluate_binary("q", "a", "p", output_format="yes/no")["result"]
    assert (no, yes) == ("no", "yes")
    assert (1 if no else 0, 1 if yes else 0) == (0, 1)  # old `1 if result["result"] else 0` code stays right
    assert "Output only Yes if" in last_prompt(server)


def test_provider_failure_is_honest(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    server.enqueue(Fault.status_code(500), Fault.status_code(500))
    result = judge.evaluate_comparative("q", "a", "b")
    assert not result["success"] and result["scores"] is None and result["result"] is None
    assert "HTTP 500" in result["error_message"] and result["attempts"] == 2


def test_comparative_out_of_range_is_a_failure(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    server.enqueue("11 3")
    result = judge.evaluate_comparative("q", "a", "b", score_range=(1, 10))
    assert not result["success"] and result["scores"] is None


def test_rubric_missing_criterion_is_a_failure(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    server.enqueue('{"accuracy": 7}')
    result = judge.evaluate_with_rubric("q", "p", ["accuracy", "clarity"])
    assert not result["success"] and "clarity" in result["error_message"]


def test_user_text_with_braces_reaches_the_judge_verbatim(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    nasty = 'f(x) = {x: 1} and "{answer}" {{ }} {0}'
    assert judge.evaluate_binary(nasty, "{prediction}", nasty)["success"]
    prompt = last_prompt(server)
    assert prompt.count(nasty) == 2 and "[Reference Answer]\n{prediction}\n" in prompt


def test_custom_prompt_like_the_seed(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    custom = "Compare {prediction} with {answer}. Return 1 if correct, 0 if wrong."
    result = judge.evaluate_binary("What is 2+2?", "4", "4", custom_prompt=custom)
    assert result["result"] == 1 and last_prompt(server) == "Compare 4 with 4. Return 1 if correct, 0 if wrong."


def test_custom_prompt_unknown_field_raises(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    with pytest.raises(ConfigError, match="domian"):
        judge.evaluate_binary("q", "a", "p", custom_prompt="As a {domian} expert", domain="law")
    assert server.count() == 0


def order_aware_judge(kind: str):
    """Prefers whichever response contains 'good', wherever it is placed."""

    def reply(rec: RecordedRequest) -> str:
        prompt = rec.json["messages"][-1]["content"]
        first = re.search(r"\[(?:Assistant 1|Response A)\]\n(.*?)\n", prompt).group(1)
        if kind == "comparative":
            return "9 2" if "good" in first else "3 8"
        return "<better>A</better>" if "good" in first else "<better>B</better>"

    return reply


def test_comparative_swap_agrees_and_averages(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    server.default_reply = order_aware_judge("comparative")
    result = judge.evaluate_comparative("q", "good answer", "bad answer", swap=True)
    assert result["success"] and result["swap_agreed"] is True
    assert result["scores"] == (8.5, 2.5)  # (9 + 8) / 2, (2 + 3) / 2
    assert server.count() == 2 and len(result["swap_results"]) == 2


def test_comparative_swap_detects_position_bias(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    server.default_reply = "9 2"  # always prefers whatever comes first
    result = judge.evaluate_comparative("q", "x", "y", swap=True)
    assert result["success"] and result["swap_agreed"] is False and result["scores"] == (5.5, 5.5)


def test_pairwise_swap(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    server.default_reply = order_aware_judge("pairwise")
    agreed = judge.evaluate_pairwise("q", "bad", "good", swap=True)
    assert agreed["result"] == "B" and agreed["swap_agreed"] and agreed["scores"] == 0.0
    server.default_reply = "<better>A</better>"
    biased = judge.evaluate_pairwise("q", "x", "y", swap=True)
    assert biased["result"] == "tie" and biased["swap_agreed"] is False and biased["scores"] == 0.5


def test_swap_with_one_order_failing_is_a_failure(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    server.default_reply = lambda rec: (
        "nonsense" if "[Response A]\ny" in rec.json["messages"][-1]["content"] else "<better>A</better>"
    )
    result = judge.evaluate_pairwise("q", "x", "y", swap=True)
    assert not result["success"] and result["result"] is None and "swapped order" in result["error_message"]


def test_batch_order_and_failures(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    def reply(rec: RecordedRequest) -> str | Fault:
        prediction = re.search(r"\[Model Prediction\]\n(.*)\n", rec.json["messages"][-1]["content"]).group(1)
        n = int(prediction)
        if n % 7 == 3:
            return Fault.status_code(400)
        if n % 5 == 4:
            return "I am not sure."
        return "1" if n % 2 == 0 else "0"

    server.default_reply = reply
    items = [{"question": "q", "answer": "a", "prediction": str(i)} for i in range(60)]
    results = judge.evaluate_batch("binary", items, max_concurrency=16, progress={"disable": True})
    assert len(results) == 60
    for i, r in enumerate(results):
        if i % 7 == 3:
            assert not r["success"] and "HTTP 400" in r["error_message"]
        elif i % 5 == 4:
            assert not r["success"] and r["error_type"] == "ParseError"
        else:
            assert r["success"] and r["result"] == (1 if i % 2 == 0 else 0)


def test_batch_bad_item_names_it_and_sends_nothing(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    items = [{"question": "q", "answer": "a", "prediction": "p"}, {"question": "q", "answer": "a"}]
    with pytest.raises(ConfigError, match=r"items\[1\].*prediction"):
        judge.evaluate_batch("binary", items)
    with pytest.raises(ConfigError, match="unknown judge kind"):
        judge.evaluate_batch("vibes", items)
    assert server.count() == 0


def test_batch_progress_bar(judge: SimplifiedJudge, server: FakeLLMServer, capsys: pytest.CaptureFixture) -> None:
    judge.evaluate_batch("binary", [{"question": "q", "answer": "a", "prediction": "p"}] * 3, progress=True)
    err = capsys.readouterr().err
    assert "3/3" in err and "failed=0" in err


def test_result_reads_as_dict_and_attributes(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    result = judge.evaluate_binary("q", "a", "p")
    for key in (
        "success",
        "result",
        "scores",
        "raw_response",
        "prompt",
        "model",
        "error_message",
        "usage",
        "latency_s",
        "cached",
        "reasoning",
    ):
        assert key in result
    assert result.success is True and result.result == 1
    assert isinstance(result, dict) and json.loads(json.dumps(result))["result"] == 1
    assert repr(result).startswith("JudgeResult(kind='binary', success=True, result=1")


def test_images_reach_the_server(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    from PIL import Image

    judge.evaluate_binary("What animal?", "cat", "cat", images=[Image.new("RGB", (4, 4))])
    content = server.requests[-1].json["messages"][-1]["content"]
    assert content[1]["type"] == "image_url"


def test_get_binary_judge_response(server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_URL", server.base_url + "/chat/completions")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    server.enqueue("1", "Yes", "unclear", Fault.status_code(401))
    assert get_binary_judge_response("What is 2+2?", "4", "The answer is 4", output_format="0/1") == 1
    assert get_binary_judge_response("q", "a", "p", output_format="yes/no") == "yes"
    with pytest.raises(ParseError):
        get_binary_judge_response("q", "a", "p")
    with pytest.raises(ProviderError, match="401"):
        get_binary_judge_response("q", "a", "p")


def test_constructor_arguments(server: FakeLLMServer) -> None:
    judge = SimplifiedJudge(model_name="m1", api_type="openai", api_key="k", base_url=server.base_url, max_tokens=9)
    assert judge.config.model_name == "m1" and judge.config.max_tokens == 9
    assert judge.evaluate_binary("q", "a", "p")["success"]
    assert server.requests[-1].json["max_tokens"] == 9
    azure = SimplifiedJudge(
        model_name="dep", api_type="azure", api_key="k", azure_endpoint=server.url, api_version="2024-06-01"
    )
    assert azure.evaluate_binary("q", "a", "p")["success"]
    assert server.requests[-1].path == "/openai/deployments/dep/chat/completions"


def test_unreadable_image_in_a_batch_names_the_item_and_sends_nothing(
    judge: SimplifiedJudge, server: FakeLLMServer
) -> None:
    good = {"question": "q", "answer": "a", "prediction": "p"}
    with pytest.raises(ConfigError, match=r"items\[1\].*images\[0\]"):
        judge.evaluate_batch("binary", [good, {**good, "images": [b"not an image"]}])
    assert server.count() == 0
