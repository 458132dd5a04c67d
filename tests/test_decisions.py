"""Decision backends (api_type ``decisions`` and ``systemone``) against the local test server's decision endpoints:
every kind, the wire shapes (checked with the official openai SDK), failures, cache, cost and native scores."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from judgekit import JudgeConfig, JudgeFactory, JudgeRequest, SimplifiedJudge
from judgekit.errors import ConfigError
from judgekit.reward import JudgeRewardSystem
from judgekit.scoring import score_result
from judgekit.server import ServerThread, create_app
from judgekit.testing import FakeLLMServer, Fault
from judgekit.testing.decisions import UNSUPPORTED, Decision

SHAPES = ("decisions", "systemone")
PATHS = {"decisions": "/v1/decisions", "systemone": "/v1/systemone"}
TOP, REST = 0.75, 0.25  # the fake's default: 0.75 on yes / the first option / the highest level


def judge(server: FakeLLMServer, api_type: str, **config: object) -> SimplifiedJudge:
    return SimplifiedJudge(
        api_type=api_type, base_url=server.base_url, api_key="sk-test", retry_delay=0.01, max_retry_delay=0.02,
        timeout=5, **config,
    )  # fmt: skip


def default_expected(low: int, high: int) -> float:
    levels = list(range(low, high + 1))
    rest = REST / (len(levels) - 1)
    return high * TOP + sum(levels[:-1]) * rest


@pytest.fixture(params=SHAPES)
def shape(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def decider(server: FakeLLMServer, shape: str) -> Iterator[SimplifiedJudge]:
    with judge(server, shape) as j:
        yield j


# ------------------------------------------------------------------------------------------- the wire


def test_the_fake_speaks_the_sdks_decision_types(server: FakeLLMServer) -> None:
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-test")
    server.enqueue(Decision({"refused": "refuse", "pick": {"A": 0.2, "B": 0.8}}))
    decision = client.decisions.create(
        model="gpt-6-luna",
        input=[{"type": "message", "role": "user", "content": "Is 2+2=4?"}],
        questions=[
            {"type": "predicate", "name": "true", "instructions": "Is the statement true?"},
            {"type": "choice", "name": "pick", "instructions": "Which?", "choices": [{"value": "A"}, {"value": "B"}]},
            {"type": "score", "name": "q", "instructions": "Rate", "levels": [{"label": "1"}, {"label": "2"}]},
            {"type": "predicate", "name": "refused", "instructions": "?"},
        ],
    )
    predicate, choice, score, refusal = decision.answers
    assert predicate.type == "predicate" and predicate.probability == TOP
    assert choice.choice == "B" and [p.probability for p in choice.probabilities] == [0.2, 0.8]
    assert score.type == "score" and score.score == pytest.approx(TOP) and score.probabilities[1].value == 1
    assert refusal.type == "refusal" and refusal.name == "refused"
    assert decision.usage.input_tokens > 0 and decision.usage.output_tokens == 0
    with pytest.raises(openai.BadRequestError, match="predicate"):  # validated like the real endpoint
        client.decisions.create(model="m", input="x", questions=[{"type": "rating", "instructions": "?"}])


def test_requests_carry_the_kind_as_typed_questions(server: FakeLLMServer) -> None:
    rubric = {"accuracy": "is it right", "clarity": ""}
    with judge(server, "decisions", model_name="gpt-6-luna", system_prompt="Be strict.") as j:
        assert j.evaluate_with_rubric("Q?", "P", rubric, score_range=(1, 5)).success
    body = server.requests[-1].json
    assert body["model"] == "gpt-6-luna" and [q["name"] for q in body["questions"]] == ["accuracy", "clarity"]
    assert body["questions"][0]["type"] == "score" and [lv["label"] for lv in body["questions"][0]["levels"]] == [
        "1", "2", "3", "4", "5",
    ]  # fmt: skip
    assert body["input"][0] == {"type": "message", "role": "developer", "content": "Be strict."}
    assert "[Response]\nP\n" in body["input"][1]["content"] and "Output" not in body["input"][1]["content"]
    with judge(server, "systemone") as j:
        assert j.evaluate_binary("2+2?", "4", "four").success
        assert j.evaluate_pairwise("Q?", "a", "b").success
    binary, pairwise = (r.json for r in server.requests[-2:])
    assert "model" not in binary and binary["questions"]["verdict"]["type"] == "noul"
    assert "[Model Prediction]\nfour\n" in binary["state"]
    assert pairwise["questions"]["better"] == {
        "type": "choice", "instructions": "Which response is better?",
        "criteria": {"A": "Response A", "B": "Response B"},
    }  # fmt: skip


def test_score_levels_cover_the_range() -> None:
    from judgekit.questions import score_levels

    assert [o.value for o in score_levels((1, 10))] == list(range(1, 11))
    wide = score_levels((0, 100))
    assert len(wide) == 10 and wide[0].value == 0 and wide[-1].value == 100 and wide[1].name == "11.11"
    assert [o.name for o in score_levels((0, 1))] == ["0", "1"]


# ------------------------------------------------------------------------------------------- every kind


def test_every_kind_on_both_shapes(server: FakeLLMServer, decider: SimplifiedJudge, shape: str) -> None:
    binary = decider.evaluate_binary("2+2?", "4", "4")
    assert binary.success and binary.result == 1 and binary.p_yes == TOP and binary.score == TOP
    assert binary.usage["prompt_tokens"] > 0 and json.loads(binary.raw_response) == {
        "verdict": {"yes": TOP, "no": REST}
    }
    verdict = decider.evaluate_binary("2+2?", "4", "4", output_format="yes/no").result
    assert verdict == "yes" and bool(verdict)
    assert decider.evaluate_correctness("1/2?", "0.5", "1/2").result == 1
    pointwise = decider.evaluate_pointwise("Q?", "R", score_range=(1, 5))
    assert pointwise.scores == pytest.approx(default_expected(1, 5)) == pointwise.expected_score == pointwise.score
    assert pointwise.distribution["5"] == TOP and sum(pointwise.distribution.values()) == pytest.approx(1)
    pairwise = decider.evaluate_pairwise("Q?", "a", "b")
    assert pairwise.result == "A" and pairwise.p_a == TOP
    comparative = decider.evaluate_comparative("Q?", "a", "b")
    assert comparative.scores == pytest.approx((default_expected(1, 10),) * 2)
    server.reset()
    rubric = decider.evaluate_with_rubric("Q?", "P", ["accuracy", "clarity", "depth", "style", "safety"])
    assert rubric.success and set(rubric.scores) == {"accuracy", "clarity", "depth", "style", "safety"}
    assert server.count(PATHS[shape]) == 1  # five criteria, one request
    if shape == "systemone":  # vLLM's diagnostics, per question
        assert binary.label_mass == 0.9 and binary.confidence == pytest.approx(TOP * 0.9)
        assert rubric.label_mass == dict.fromkeys(rubric.scores, 0.9)


def test_scripted_probabilities_threshold_and_swap(server: FakeLLMServer, shape: str) -> None:
    with judge(server, shape) as j:
        server.enqueue(Decision({"verdict": 0.6}), Decision({"verdict": 0.6}))
        assert j.evaluate_binary("q", "a", "p").result == 1
    with judge(server, shape, decision_threshold=0.7) as j:
        strict = j.evaluate_binary("q", "a", "p")
        assert strict.success and strict.result == 0 and strict.p_yes == pytest.approx(0.6)
        server.enqueue(Decision({"score": {"1": 0.5, "5": 0.5}}))
        pointwise = j.evaluate_pointwise("q", "r", score_range=(1, 5))
        assert pointwise.scores == pytest.approx(3.0) and pointwise.distribution["3"] == 0
        server.enqueue(Decision({"better": {"A": 0.9, "B": 0.1}}), Decision({"better": {"A": 0.3, "B": 0.7}}))
        swapped = j.evaluate_pairwise("q", "a", "b", swap=True)  # both orders prefer the original A
        assert swapped.result == "A" and swapped.swap_agreed and swapped.p_a == pytest.approx(0.8)
        assert swapped.scores == pytest.approx(0.8) and swapped.usage["prompt_tokens"] > 0


def test_a_batch_keeps_one_result_per_item_in_order(server: FakeLLMServer, decider: SimplifiedJudge) -> None:
    def reply(request: object) -> Decision:
        body = request.json  # type: ignore[attr-defined]
        text = json.dumps(body)
        return Decision({"verdict": 0.1 if "NOPE" in text else 0.95})

    server.default_reply = reply
    server.enqueue(Fault.status_code(500), Fault.drop())  # retried: the batch still completes
    items = [{"question": f"{i}?", "answer": str(i), "prediction": "NOPE" if i % 3 else str(i)} for i in range(30)]
    results = decider.evaluate_batch("binary", items)
    assert len(results) == 30 and all(r.success for r in results)
    assert [r.result for r in results] == [0 if i % 3 else 1 for i in range(30)]


# ------------------------------------------------------------------------------------------- failures


def test_refusal_is_a_failure_with_its_reason(server: FakeLLMServer, shape: str) -> None:
    server.enqueue(Decision({"verdict": "refuse"}))
    with judge(server, shape, num_retries=3) as j:
        result = j.evaluate_binary("q", "a", "p")
    assert not result.success and result.result is None and result.score is None and result.p_yes is None
    assert result.attempts == 1 and server.count(PATHS[shape]) == 1
    reason = "refused to answer question(s) 'verdict'" if shape == "decisions" else "cannot answer it (HTTP 400)"
    assert reason in result.error_message


def test_a_question_the_server_rejects_is_a_400_failure(server: FakeLLMServer, shape: str) -> None:
    too_many = {"decisions": 401, "systemone": 65}[shape]  # the servers' limits: 400 and 64 questions
    with judge(server, shape, num_retries=3) as j:
        result = j.evaluate_with_rubric("q", "p", [f"c{i}" for i in range(too_many)])
    assert not result.success and result.scores is None and result.attempts == 1
    assert "HTTP 400" in result.error_message
    assert ("1 to 400 questions" if shape == "decisions" else "at most 64") in result.error_message


@pytest.mark.parametrize("shape", SHAPES)
def test_501_and_404_say_so_and_are_not_retried(server: FakeLLMServer, shape: str) -> None:
    server.enqueue(Fault.status_code(501, UNSUPPORTED))
    with judge(server, shape, num_retries=3) as j:
        unsupported = j.evaluate_binary("q", "a", "p")
    assert not unsupported.success and unsupported.attempts == 1 and "HTTP 501" in unsupported.error_message
    assert "does not support the structured decision API" in unsupported.error_message
    assert "--logprobs-mode raw_logprobs" in unsupported.error_message
    wrong = SimplifiedJudge(api_type=shape, base_url=server.url + "/elsewhere/v1", model_name="m", num_retries=3)
    missing = wrong.evaluate_pointwise("q", "r")
    assert not missing.success and missing.attempts == 1 and "HTTP 404" in missing.error_message
    assert "404" in missing.error_message and "/elsewhere/v1/" in missing.error_message
    wrong.close()


def test_dropped_connection_and_garbage_are_retried(server: FakeLLMServer, decider: SimplifiedJudge) -> None:
    server.enqueue(Fault.drop(), Fault.garbage())
    result = decider.evaluate_binary("q", "a", "p")
    assert result.success and result.attempts == 3 and result.p_yes == TOP
    server.enqueue(Fault.empty())  # a reply without the answers asked for: a failure, never a guess
    empty = decider.evaluate_pointwise("q", "r")
    assert not empty.success and empty.scores is None and "answer" in empty.error_message


def test_bad_use_is_a_config_error(server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    provider = JudgeFactory.create_judge("systemone", JudgeConfig(base_url=server.base_url))
    with pytest.raises(ConfigError) as info:  # no task: nothing to ask
        provider.evaluate(JudgeRequest(messages=[{"role": "user", "content": "hi"}]))
    assert info.value.field == "task"
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        SimplifiedJudge(api_type="decisions").evaluate_binary("q", "a", "p")
    with pytest.raises(ConfigError, match="LLM_JUDGE_URL"):
        SimplifiedJudge(api_type="systemone").evaluate_binary("q", "a", "p")
    with pytest.raises(ConfigError) as info:
        SimplifiedJudge(api_type="systemone", base_url=server.base_url).evaluate_binary(
            "q", "a", "p", custom_prompt="Is {prediction} right? Output 1 or 0."
        )
    assert info.value.field == "custom_prompt" and server.count("/v1/systemone") == 0
    with pytest.raises(ConfigError, match="decision_threshold"):
        SimplifiedJudge(api_type="systemone", base_url=server.base_url, decision_threshold=1.5)
    monkeypatch.setenv("API_TYPE", "systemone")
    monkeypatch.setenv("LLM_JUDGE_URL", server.url)  # bare URL: /v1 appended
    from_env = SimplifiedJudge()
    assert type(from_env.judge).__name__ == "SystemOneJudge" and from_env.evaluate_binary("q", "a", "p").success
    from_env.close()


# ------------------------------------------------------------------------------------ cache, cost, scores


def test_cache_keeps_the_decisions_and_cost_counts_input_tokens(server: FakeLLMServer, tmp_path: Path) -> None:
    for attempt in range(2):  # the second judge reads the SQLite file the first wrote
        with judge(server, "systemone", cache=str(tmp_path / "cache.db"), price_per_million=(2.0, 10.0)) as j:
            result = j.evaluate_pointwise("q", "r", score_range=(1, 5))
        assert result.success and result.cached == (attempt == 1)
        assert result.scores == pytest.approx(default_expected(1, 5)) and result.label_mass == 0.9
    assert server.count("/v1/systemone") == 1
    with judge(server, "systemone", price_per_million=(2.0, 10.0)) as j:
        priced = j.evaluate_binary("q", "a", "p")
    tokens = priced.usage
    assert priced.cost_usd == pytest.approx((2.0 * tokens["prompt_tokens"] + 10.0 * tokens["completion_tokens"]) / 1e6)


def test_native_probability_feeds_scoring_the_reward_and_the_judge_server(server: FakeLLMServer) -> None:
    server.default_reply = lambda request: Decision({"verdict": 0.8, "score": {"1": 0.5, "10": 0.5}})
    with judge(server, "systemone") as j:
        binary = j.evaluate_binary("2+2?", "4", "4")
        scored = score_result("binary", binary, (1, 10))
        assert scored.score == pytest.approx(0.8) and scored.source == "native"
        pointwise = j.evaluate_pointwise("q", "r")
        assert score_result("pointwise", pointwise, (1, 10)).score == pytest.approx(0.5)
    reward = JudgeRewardSystem({"api_type": "systemone", "base_url": server.base_url, "fallback_to_rule": False})
    out = reward.reward("What is 2+2?", "4", "4")
    assert out["source"] == "judge" and out["reward"] == pytest.approx(0.8)
    reward.close()
    backend = SimplifiedJudge(api_type="systemone", base_url=server.base_url)
    srv = ServerThread(create_app(backend, kind="binary", max_wait_s=0.002), timeout_graceful_shutdown=10)
    srv.start()
    try:
        client = SimplifiedJudge(api_type="judge_server", base_url=srv.url)
        via_server = client.evaluate_binary("2+2?", "4", "4")
        assert via_server.success and via_server.score == pytest.approx(0.8)
        client.close()
    finally:
        srv.stop()


def test_images_go_with_the_input(server: FakeLLMServer, shape: str) -> None:
    from PIL import Image

    with judge(server, shape) as j:
        assert j.evaluate_binary("What colour?", "red", "red", images=[Image.new("RGB", (4, 4), "red")]).success
    body = server.requests[-1].json
    if shape == "decisions":
        text, image = body["input"][-1]["content"]
        assert text["type"] == "input_text" and "[Model Prediction]\nred" in text["text"]
        assert image["type"] == "input_image" and image["image_url"].startswith("data:image/png;base64,")
    else:
        assert body["images"][0].startswith("data:image/png;base64,")


def test_every_kind_has_a_decision_mapping_with_a_fillable_input() -> None:
    from judgekit.kinds import KINDS
    from judgekit.prompts import load_template, template_fields

    for name, spec in KINDS.items():
        assert spec.decision is not None, name
        allowed = {*spec.all_fields, "context_section", "reference_section"}
        assert template_fields(load_template(spec.decision.template)) <= allowed, name


def test_a_calibrator_applies_to_decision_probabilities(server: FakeLLMServer, shape: str, tmp_path: Path) -> None:
    from judgekit.validation import calibration

    # raw P(yes) 0.9 is right half the time, 0.2 never: the calibrator maps 0.9 -> 0.5
    path = calibration.fit([0.9, 0.9, 0.2, 0.2], [1, 0, 0, 0], method="isotonic").save(tmp_path / "cal.json")
    with judge(server, shape, calibrator=str(path)) as j:
        server.enqueue(Decision({"verdict": 0.9}))
        r = j.evaluate_binary("q", "a", "p")
    assert r.success and r.result == 1  # the verdict stays the judge's (threshold on the raw P(yes))
    assert r.p_yes_raw == pytest.approx(0.9) and r.p_yes == pytest.approx(0.5)
