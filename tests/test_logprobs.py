"""Log-probability scores: p_yes and expected_score math on crafted logprobs, and logprob_score end to end."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import pytest

from judgekit import ConfigError, JudgeConfig, JudgeInterface, JudgeResponse, ParseError, SimplifiedJudge
from judgekit.logprobs import expected_score, p_yes, token_distribution
from judgekit.testing import FakeLLMServer, Reply


def tok(token: str, alternatives: dict[str, float] | None = None) -> dict[str, Any]:
    """One OpenAI-format logprobs entry; ``alternatives`` are probabilities (the sampled token included)."""
    alternatives = alternatives or {}
    chosen = alternatives.get(token, 1.0)
    return {
        "token": token,
        "logprob": math.log(chosen),
        "top_logprobs": [{"token": t, "logprob": math.log(p)} for t, p in alternatives.items()],
    }


def toks(*tokens: str) -> list[dict[str, Any]]:
    return [tok(t) for t in tokens]


# -- p_yes ---------------------------------------------------------------------------------------------


def test_p_yes_sums_positive_variants_over_positive_plus_negative() -> None:
    verdict = tok("Yes", {"Yes": 0.5, " yes": 0.1, "YES": 0.05, "No": 0.2, " no": 0.1, "Maybe": 0.05})
    assert p_yes([verdict]) == pytest.approx(0.65 / 0.95)
    digit = tok("0", {"0": 0.6, "1": 0.3, "true": 0.05, "2": 0.05})
    assert p_yes([digit]) == pytest.approx(0.35 / 0.95)


def test_p_yes_reads_the_final_verdict_token_not_the_first_digit() -> None:
    logprobs = [
        tok("The"), tok(" score"), tok(" 1", {" 1": 0.5, " 0": 0.5}), tok("0"), tok(" is"), tok(" fine"),
        tok("."), tok("\n"), tok("1", {"1": 0.9, "0": 0.1}),
    ]  # fmt: skip
    assert p_yes(logprobs, "The score 10 is fine.\n1", expected=True) == pytest.approx(0.9)


def test_p_yes_ignores_verdict_tokens_in_the_reasoning() -> None:
    logprobs = [tok("<think>"), tok("1", {"1": 0.5, "0": 0.5}), tok("</think>"), tok("Correct")]
    with pytest.raises(ParseError, match="no verdict token"):
        p_yes(logprobs, "Correct")  # the answer has no verdict token: never the 1 inside <think>
    logprobs[-1] = tok("No", {"No": 0.8, "Yes": 0.2})
    assert p_yes(logprobs, "No", expected=False) == pytest.approx(0.2)


def test_p_yes_checks_the_parsed_verdict() -> None:
    with pytest.raises(ParseError, match="disagrees"):
        p_yes([tok("1", {"1": 0.9, "0": 0.1})], "1", expected=False)


def test_p_yes_never_makes_up_a_probability() -> None:
    with pytest.raises(ParseError, match="no logprobs"):
        p_yes(None)
    with pytest.raises(ParseError, match="no logprobs"):
        p_yes([])
    with pytest.raises(ParseError, match="top_logprobs"):
        p_yes([{"token": "1", "logprob": -0.1, "top_logprobs": []}])
    with pytest.raises(ParseError, match="no verdict token"):
        p_yes(toks("maybe"))


def test_masked_tokens_count_as_zero() -> None:
    entry = {"token": "1", "logprob": -0.5, "top_logprobs": [
        {"token": "1", "logprob": -0.5}, {"token": "0", "logprob": -0.9}, {"token": "!", "logprob": -9999.0},
    ]}  # fmt: skip
    assert token_distribution(entry)["!"] == 0.0
    assert p_yes([entry]) == pytest.approx(math.exp(-0.5) / (math.exp(-0.5) + math.exp(-0.9)))


# -- expected_score --------------------------------------------------------------------------------------


def test_expected_score_single_token_scores() -> None:
    logprobs = [tok("<score>"), tok("8", {"8": 0.5, "9": 0.25, "7": 0.2, "x": 0.05}), tok("</score>")]
    assert expected_score(logprobs, (1, 10)) == pytest.approx((8 * 0.5 + 9 * 0.25 + 7 * 0.2) / 0.95)


def test_expected_score_follows_split_digits() -> None:
    # Qwen-style tokenizers split "10" into "1" "0": after the sampled "1", a "0" means 10, a "</" means 1
    logprobs = [
        tok("<"), tok("score"), tok(">"), tok("1", {"1": 0.6, "9": 0.3, "8": 0.1}),
        tok("0", {"0": 0.75, "</": 0.25}), tok("</"), tok("score"), tok(">"),
    ]  # fmt: skip
    want = 0.6 * (0.75 * 10 + 0.25 * 1) + 0.3 * 9 + 0.1 * 8
    assert expected_score(logprobs, (1, 10)) == pytest.approx(want)


def test_expected_score_after_a_one_digit_score_sees_a_possible_second_digit() -> None:
    logprobs = [tok("<score>"), tok("1", {"1": 1.0}), tok("</score>", {"</score>": 0.5, "0": 0.5})]
    assert expected_score(logprobs, (1, 10)) == pytest.approx(5.5)
    assert expected_score(logprobs, (1, 5)) == pytest.approx(1.0)  # 10 is out of range: dropped


def test_expected_score_uses_the_last_score_tag_of_the_answer() -> None:
    logprobs = [
        tok("<think>"), tok("<score>"), tok("2", {"2": 0.5, "3": 0.5}), tok("</score>"), tok("</think>"),
        tok("<score>"), tok("7", {"7": 0.5, "6": 0.5}), tok("</score>"),
    ]  # fmt: skip
    assert expected_score(logprobs, (1, 10), "<score>7</score>") == pytest.approx(6.5)


def test_expected_score_with_a_merged_prefix_token() -> None:
    logprobs = [tok("<score"), tok(">8", {">8": 0.5, ">9": 0.5, "9": 0.3}), tok("</score>")]
    assert expected_score(logprobs, (1, 10)) == pytest.approx(8.5)


def test_expected_score_failures() -> None:
    with pytest.raises(ParseError, match="no <score>"):
        expected_score(toks("8"), (1, 10))
    with pytest.raises(ParseError, match="no probability mass"):
        expected_score([tok("<score>"), tok("42", {"42": 1.0}), tok("</score>")], (1, 10))


# -- end to end ------------------------------------------------------------------------------------------


def verdict_logprobs(content: str, yes: float) -> list[dict[str, Any]]:
    """Logprobs for a reply whose last token is the verdict, with P("1") = yes."""
    head, last = content[:-1], content[-1]
    return [*toks(*head), tok(last, {"1": yes, "0": 1 - yes})]


@pytest.mark.parametrize("stream", [False, True])
def test_binary_p_yes_end_to_end(server: FakeLLMServer, stream: bool) -> None:
    judge = SimplifiedJudge(
        api_type="vllm", base_url=server.base_url, model_name="m", stream=stream, logprob_score=True
    )
    server.enqueue(Reply("<think>10 != 1</think>1", logprobs=verdict_logprobs("<think>10 != 1</think>1", 0.8)))
    result = judge.evaluate_binary("q", "1", "1")
    assert result.success, result.error_message
    assert result.result == 1 and result.p_yes == pytest.approx(0.8) and result.expected_score is None
    assert result.reasoning == "10 != 1"
    body = server.requests[-1].json
    assert body["logprobs"] is True and body["top_logprobs"] == 20
    judge.close()


def test_correctness_and_pointwise_end_to_end(server: FakeLLMServer) -> None:
    judge = SimplifiedJudge(api_type="openai", base_url=server.base_url, model_name="m", logprob_score=True)
    server.enqueue(Reply("0", logprobs=[tok("0", {"0": 0.7, "1": 0.3})]))
    result = judge.evaluate_correctness("q", "4", "5")
    assert result.success and result.result == 0 and result.p_yes == pytest.approx(0.3)
    content = "<think>ok</think><score>4</score>"
    server.enqueue(Reply(content, logprobs=[
        tok("<think>ok</think>"), tok("<score>"), tok("4", {"4": 0.5, "5": 0.5}), tok("</score>"),
    ]))  # fmt: skip
    result = judge.evaluate_pointwise("q", "r", score_range=(1, 5))
    assert result.success and result.scores == 4 and result.expected_score == pytest.approx(4.5)
    assert result.p_yes is None
    judge.close()


def test_per_call_option_overrides_the_constructor(server: FakeLLMServer) -> None:
    judge = SimplifiedJudge(api_type="openai", base_url=server.base_url, model_name="m")
    result = judge.evaluate_binary("q", "1", "1")
    assert result.success and result.p_yes is None and "logprobs" not in server.requests[-1].json
    server.enqueue(Reply("1", logprobs=[tok("1", {"1": 0.6, "0": 0.4})]))
    result = judge.evaluate_binary("q", "1", "1", logprob_score=True)
    assert result.p_yes == pytest.approx(0.6)
    with_scores = SimplifiedJudge(api_type="openai", base_url=server.base_url, model_name="m", logprob_score=True)
    assert with_scores.evaluate_binary("q", "1", "1", logprob_score=False).p_yes is None
    assert "logprobs" not in server.requests[-1].json
    # kinds without a logprob score: the constructor option leaves them alone, an explicit ask is an error
    server.enqueue("8 9")
    assert with_scores.evaluate_comparative("q", "a", "b").success
    with pytest.raises(ConfigError, match="logprob_score") as info:
        judge.evaluate_comparative("q", "a", "b", logprob_score=True)
    assert info.value.field == "logprob_score"
    judge.close()
    with_scores.close()


def test_reply_without_logprobs_is_a_failure(server: FakeLLMServer) -> None:
    class NoLogprobs(JudgeInterface):
        provider_name = "nolp"
        seen: ClassVar[list[Any]] = []

        async def _send(self, request, config):  # type: ignore[no-untyped-def]
            self.seen.append((request.task, config.logprobs, config.top_logprobs))
            return JudgeResponse(content="1", model_used="x")

    judge = SimplifiedJudge(judge=NoLogprobs(JudgeConfig()), logprob_score=True)
    result = judge.evaluate_binary("q", "1", "1")
    assert not result.success and result.result is None and result.p_yes is None
    assert "returned no logprobs" in result.error_message
    task, logprobs, top = NoLogprobs.seen[-1]
    assert task.options["logprob_score"] is True and logprobs is True and top == 20


def test_reply_without_top_alternatives_is_a_failure(server: FakeLLMServer) -> None:
    judge = SimplifiedJudge(api_type="openai", base_url=server.base_url, model_name="m", logprob_score=True)
    server.enqueue(Reply("1"))  # the fake server then sends logprobs with empty top_logprobs
    result = judge.evaluate_binary("q", "1", "1")
    assert not result.success and "top_logprobs" in result.error_message
    judge.close()


def test_anthropic_says_it_has_no_logprobs(server: FakeLLMServer) -> None:
    judge = SimplifiedJudge(api_type="anthropic", base_url=server.url, api_key="k", logprob_score=True)
    with pytest.raises(ConfigError, match="anthropic does not return logprobs") as info:
        judge.evaluate_binary("q", "1", "1")
    assert info.value.field == "logprob_score"
    assert server.count() == 0


def test_top_logprobs_setting_is_kept(server: FakeLLMServer) -> None:
    judge = SimplifiedJudge(
        api_type="openai", base_url=server.base_url, model_name="m", logprob_score=True, top_logprobs=5
    )
    server.enqueue(Reply("1", logprobs=[tok("1", {"1": 0.6, "0": 0.4})]))
    assert judge.evaluate_binary("q", "1", "1").success
    assert server.requests[-1].json["top_logprobs"] == 5
    judge.close()
