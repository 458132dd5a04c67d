"""Judging a GRPO group together (listwise, tournament) against the local server, through the TRL adapter."""

from __future__ import annotations

import asyncio
import random
import re

import pytest

from judgekit import SimplifiedJudge
from judgekit.errors import ConfigError, ParseError
from judgekit.parsing import parse_listwise
from judgekit.reward import GroupReward, consecutive_groups, make_group_reward
from judgekit.testing import FakeLLMServer
from judgekit.testing.groups import prompt_of, rule_judge, shown_responses

GARBLE = "please garble"


def quality(text: str) -> float:
    """The rule the scripted judge scores by: the number after "quality"."""
    return float(re.search(r"quality (\d+)", text)[1])


def judge_for(server: FakeLLMServer) -> SimplifiedJudge:
    return SimplifiedJudge(base_url=server.base_url, model_name="judge", num_retries=0, max_concurrent=64)


def test_listwise_adapter_64_groups_of_8(server: FakeLLMServer) -> None:
    rule = rule_judge(quality)
    server.default_reply = lambda rec: "no scores, sorry" if GARBLE in prompt_of(rec) else rule(rec)
    rng = random.Random(7)
    prompts, completions, qualities = [], [], []
    for g in range(64):
        question = f"{GARBLE} question {g}" if g == 5 else f"question {g}: what is {g} + 1?"
        for k in range(8):
            q = rng.randint(1, 10)
            prompts.append(question)
            completions.append(f"group {g} member {k}: my answer, quality {q}")
            qualities.append(q)
    reward_fn = make_group_reward(judge_for(server), num_generations=8)
    rewards = reward_fn(prompts=prompts, completions=completions)

    assert server.count("/v1/chat/completions") == 64  # one request per group, not 512
    assert len(rewards) == 512
    for g in range(64):
        members = range(8 * g, 8 * g + 8)
        if g == 5:
            assert [rewards[i] for i in members] == [None] * 8  # unreadable: 8 failures, never a default
            continue
        assert [rewards[i] for i in members] == [pytest.approx((qualities[i] - 1) / 9) for i in members]
    moved = 0
    for rec in server.requests:
        shown = shown_responses(prompt_of(rec))
        g = int(re.search(r"group (\d+) member", shown[0])[1])
        assert sorted(shown) == completions[8 * g : 8 * g + 8]
        moved += shown != completions[8 * g : 8 * g + 8]
    assert moved >= 60  # the order shown differs from the input order in (almost) every group


def test_group_results_record_the_shuffle(server: FakeLLMServer) -> None:
    server.default_reply = rule_judge(quality)
    judge = judge_for(server)
    responses = [f"r{i} quality {q}" for i, q in enumerate([3, 9, 1, 7])]
    results = judge.evaluate_group("q?", responses, seed=11)
    order = results[0]["order"]
    assert sorted(order) == [0, 1, 2, 3] and all(r["order"] == order and r["seed"] == 11 for r in results)
    assert shown_responses(prompt_of(server.requests[-1])) == [responses[i] for i in order]
    assert [r["position"] for r in results] == [order.index(i) + 1 for i in range(4)]
    assert [r["scores"] for r in results] == [3.0, 9.0, 1.0, 7.0]
    assert judge.evaluate_group("q?", responses, seed=11)[0]["order"] == order  # seeded: reproducible
    assert judge.evaluate_group("q?", responses)[0]["seed"] == judge.evaluate_group("q?", responses)[0]["seed"]


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ('{"scores": [1, 2, 3]}', "hold 4 scores"),
        ('{"scores": [1, 2, "high", 4]}', "not a number"),
        ('{"scores": [1, 2, 3, 40]}', "out of range"),
        ("I like them all", "found none"),
    ],
)
def test_a_bad_group_reply_fails_every_member(server: FakeLLMServer, reply: str, reason: str) -> None:
    server.default_reply = reply
    results = judge_for(server).evaluate_group("q?", ["a", "b", "c", "d"])
    assert [r["success"] for r in results] == [False] * 4
    assert all(r["reward"] is None and r["scores"] is None and reason in r["error_message"] for r in results)


def test_parse_listwise_undoes_the_shuffle() -> None:
    assert parse_listwise('<think>x</think>```json\n{"scores": [5, 1, 9]}\n```', [2, 0, 1]) == (1.0, 9.0, 5.0)
    with pytest.raises(ParseError):
        parse_listwise('{"scores": [true, 1, 2]}', [0, 1, 2])


def test_tournament_bradley_terry(server: FakeLLMServer) -> None:
    pytest.importorskip("choix")
    server.default_reply = rule_judge(quality)
    responses = [f"r{i} quality {q}" for i, q in enumerate([2, 8, 5, 1])]
    results = judge_for(server).evaluate_group("q?", responses, "the answer", kind="tournament")
    assert server.count("/v1/chat/completions") == 12  # 6 pairs, both orders
    rewards = [r["reward"] for r in results]
    assert sorted(range(4), key=rewards.__getitem__) == [3, 0, 2, 1]  # follows the judge's preferences
    assert sum(rewards) / 4 == pytest.approx(0.5)
    assert [r["wins"] for r in results] == [2, 6, 4, 0]
    assert "Reference answer: the answer" in prompt_of(server.requests[0])


def test_tournament_member_without_comparisons_fails(server: FakeLLMServer) -> None:
    pytest.importorskip("choix")
    server.default_reply = lambda rec: "<better>?</better>" if "BROKEN" in prompt_of(rec) else rule_judge(quality)(rec)
    responses = ["a quality 1", "b quality 2", "BROKEN quality 3"]
    results = judge_for(server).evaluate_group("q?", responses, kind="tournament")
    assert [r["success"] for r in results] == [True, True, False]
    assert results[1]["reward"] > results[0]["reward"]
    assert results[0]["comparisons_failed"] == 4


def test_consecutive_groups_checks_the_count() -> None:
    assert consecutive_groups(["a", "a", "b", "b", "a", "a"], 2) == [[0, 1], [2, 3], [4, 5]]
    assert consecutive_groups(["a"] * 4, 2) == [[0, 1], [2, 3]]
    with pytest.raises(ConfigError, match="num_generations"):
        consecutive_groups(["a", "a", "a", "b"], 2)


def test_group_kind_errors(server: FakeLLMServer) -> None:
    judge = judge_for(server)
    with pytest.raises(ConfigError, match="group kind"):
        judge.evaluate_group("q", ["a"], kind="pointwise")
    with pytest.raises(ConfigError, match="did you mean 'listwise'"):
        judge.evaluate_group("q", ["a"], kind="listwse")
    with pytest.raises(ConfigError, match="responses"):
        judge.evaluate_group("q", "a single string")
    with pytest.raises(ConfigError, match="seed"):
        judge.evaluate_group("q", ["a", "b"], kind="tournament", seed=1)
    assert server.count() == 0


def test_group_reward_rule_fallback_and_async(server: FakeLLMServer) -> None:
    server.default_reply = "unreadable"
    reward = GroupReward(judge_for(server), fallback_to_rule=True)
    out = asyncio.run(reward.areward_group("2+2?", ["it is 4", "it is 5"], answer="4"))
    assert [o["reward"] for o in out] == [1.0, 0.0] and {o["source"] for o in out} == {"rule_fallback"}


def test_group_kinds_are_not_registrable() -> None:
    from dataclasses import replace

    from judgekit.kinds import GROUP_KINDS, KINDS, get_kind, register_kind

    assert get_kind("listwise") is GROUP_KINDS["listwise"] and "listwise" not in KINDS
    with pytest.raises(ConfigError, match="group kinds"):
        register_kind(replace(get_kind("pointwise"), name="tournament", method="evaluate_tourney"))
    with pytest.raises(ConfigError, match="evaluate_group"):
        register_kind(replace(get_kind("pointwise"), name="groupish", method="evaluate_group"))
