"""Juries against real local servers: votes, failed jurors, quorum, ties, every kind; `tally` alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from judgekit import ConfigError, SimplifiedJudge
from judgekit.jury import Jury, combine_results, tally
from judgekit.kinds import KINDS
from judgekit.testing import FakeLLMServer
from judgekit.types import JudgeResult


def _judge(server: FakeLLMServer, **config) -> SimplifiedJudge:
    return SimplifiedJudge(
        api_type="openai",
        base_url=server.base_url,
        api_key="sk-test",
        model_name=server.model_name,
        num_retries=1,
        retry_delay=0.01,
        max_retry_delay=0.02,
        timeout=5,
        **config,
    )


@pytest.fixture
def panel() -> Iterator[list[FakeLLMServer]]:
    """Three local endpoints (default reply "1")."""
    servers = [FakeLLMServer(default_reply="1", model_name=f"judge{i}").start() for i in range(3)]
    yield servers
    for s in servers:
        if s.running:
            s.stop()


def test_jury_has_every_kind_method():
    for spec in KINDS.values():
        assert callable(getattr(Jury, spec.method)) and callable(getattr(Jury, spec.async_method))
        assert spec.method in getattr(Jury, spec.method).__doc__


def test_majority_of_three(panel):
    panel[2].default_reply = "0"
    jury = Jury([_judge(s) for s in panel])
    r = jury.evaluate_binary("2+2?", "4", "4")
    assert r.success and r.result == 1 and r.n_votes == 3
    assert r.agreement == pytest.approx(2 / 3)
    assert [v.result for v in r.votes] == [1, 1, 0]
    assert r.model == "jury(judge0, judge1, judge2)"
    assert all(s.count("/v1/chat") == 1 for s in panel)


def test_one_endpoint_down_gives_the_two_juror_verdict(panel):
    panel[1].stop()  # connection refused from now on
    jury = Jury([_judge(s) for s in panel])
    r = jury.evaluate_binary("2+2?", "4", "4")
    assert r.success and r.result == 1 and r.n_votes == 2 and r.agreement == 1.0
    assert not r.votes[1].success and r.votes[1].error_message
    # the two remaining jurors disagree: a tie, reported as one
    panel[2].default_reply = "0"
    tied = jury.evaluate_binary("2+2?", "4", "4")
    assert tied.success and tied.result == "tie" and tied.tie


def test_two_endpoints_down_with_quorum_two_is_a_failure(panel):
    panel[0].stop()
    panel[1].stop()
    jury = Jury([_judge(s) for s in panel], quorum=2, names=["a", "b", "c"])
    r = jury.evaluate_binary("2+2?", "4", "4")
    assert not r.success and r.result is None and r.scores is None
    assert r.error_type == "QuorumNotMet"
    assert "only 1 of 3 jurors succeeded, quorum is 2" in r.error_message
    assert "a: " in r.error_message and "b: " in r.error_message and "c: " not in r.error_message
    assert r.votes[2].success and r.votes[2].result == 1
    # the default quorum (a majority of three) is 2 as well
    assert not Jury([_judge(s) for s in panel]).evaluate_binary("2+2?", "4", "4").success


def test_jurors_run_concurrently():
    with FakeLLMServer(default_reply="1", latency=0.3) as server:
        server.hold_until_in_flight(3)  # replies wait for that many in flight, however slowly a busy machine sends
        jury = Jury([_judge(server) for _ in range(3)])
        assert jury.evaluate_binary("q", "a", "p").n_votes == 3
        assert server.max_in_flight == 3


def test_batch_keeps_order_and_one_result_per_item(panel):
    panel[0].default_reply = lambda rec: "0" if "PRED_BAD" in str(rec.json) else "1"
    panel[1].default_reply = panel[0].default_reply
    panel[2].default_reply = "1"
    jury = Jury([_judge(s) for s in panel])
    items = [{"question": "q", "answer": "a", "prediction": p} for p in ("PRED_OK", "PRED_BAD", "PRED_OK", "PRED_BAD")]
    results = jury.evaluate_batch("binary", items)
    assert [r.result for r in results] == [1, 0, 1, 0]
    assert [round(r.agreement, 3) for r in results] == [1.0, 0.667, 1.0, 0.667]


async def test_async_pairwise_and_pointwise(panel):
    for s, reply in zip(panel, ("<better>A</better>", "<better>B</better>", "<better>A</better>"), strict=True):
        s.default_reply = reply
    jury = Jury([_judge(s) for s in panel])
    r = await jury.aevaluate_pairwise("q", "one", "two")
    assert r.result == "A" and r.agreement == pytest.approx(2 / 3)
    for s, reply in zip(panel, ("<score>7</score>", "<score>9</score>", "<score>8</score>"), strict=True):
        s.default_reply = reply
    mean = await Jury([_judge(s) for s in panel], vote="mean").aevaluate_pointwise("q", "resp")
    assert mean.scores == pytest.approx(8.0)
    weighted = await Jury([_judge(s) for s in panel], vote="weighted", weights=[2, 1, 1]).aevaluate_pointwise("q", "r")
    assert weighted.scores == pytest.approx((7 * 2 + 9 + 8) / 4)
    await jury.aclose()


def test_rubric_and_comparative_combine_per_score(panel):
    for s, reply in zip(
        panel, ('{"clarity": 6, "depth": 2}', '{"clarity": 8, "depth": 4}', '{"clarity": 7, "depth": 9}'), strict=True
    ):
        s.default_reply = reply
    r = Jury([_judge(s) for s in panel], vote="median").evaluate_with_rubric("q", "p", ["clarity", "depth"])
    assert r.scores == {"clarity": 7, "depth": 4}
    for s, reply in zip(panel, ("3 8", "5 6", "4 7"), strict=True):
        s.default_reply = reply
    c = Jury([_judge(s) for s in panel], vote="mean").evaluate_comparative("q", "r1", "r2")
    assert c.scores == pytest.approx((4.0, 7.0))


def test_jury_config_errors():
    with pytest.raises(ConfigError) as info:
        Jury([])
    assert info.value.field == "judges"
    with pytest.raises(ConfigError, match="weights"):
        Jury([object(), object()], vote="weighted")
    with pytest.raises(ConfigError, match="vote"):
        Jury([object()], vote="plurality")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="quorum"):
        Jury([object(), object()], quorum=3)


# ---------------------------------------------------------------------------------------------- tally


def test_tally_rules():
    assert tally([1, 1, 0]).value == 1
    assert tally([1, 0]).tie
    assert tally([1, 0, 0], "weighted", [3, 1, 1]).value == 1
    assert tally([0.9, 0.4, 0.3], "mean").value == 1  # mean P(yes) 0.533
    assert tally([0.9, 0.4, 0.3], "median").value == 0  # median P(yes) 0.4
    assert tally(["A", "B", "tie"], group="preference").tie
    assert tally(["A", "A", "B"], group="preference").value == "A"
    assert tally(["A", "B"], "mean", group="preference").value == "tie"
    assert tally([3, 5, 10], "majority", group="score").value == 5
    with pytest.raises(ValueError):
        tally([])


def test_combine_results_p_yes_mean():
    votes = [
        JudgeResult(success=True, result=1, p_yes=0.8, model="a"),
        JudgeResult(success=True, result=0, p_yes=0.45, model="b"),
        JudgeResult(success=False, result=None, error_message="boom", model="c"),
    ]
    r = combine_results("binary", votes, vote="mean", quorum=2)
    assert r.success and r.p_yes == pytest.approx(0.625) and r.result == 1 and r.n_votes == 2
