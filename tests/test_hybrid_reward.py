"""Hybrid rubrics: checker code and the judge in one rubric, checker sources in the sandboxed pool."""

from __future__ import annotations

import math
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from judgekit import ConfigError, SimplifiedJudge
from judgekit.reward import RubricReward, compute_score
from judgekit.reward.sandbox import CheckerPool
from judgekit.testing import FakeLLMServer, RecordedRequest

WORDS_AT_LEAST_5 = "def check(response):\n    return len(response.split()) >= 5\n"
NO_COMMAS = "def check(response):\n    return ',' not in response\n"
# VerIF's name and shape: check_following(instruction, response)
MENTIONS_PROMPT_WORD = "def check_following(instruction, response):\n    return instruction.split()[0] in response\n"


def rubric_judge(rec: RecordedRequest) -> str:
    prompt = rec.json["messages"][-1]["content"]
    criterion = re.search(r"\[Rubric Item\]\n(.*?)\n\[End", prompt, re.S).group(1)
    response = re.search(r"\[Response\]\n(.*?)\n\[End", prompt, re.S).group(1)
    return "Yes" if criterion.split()[-1] in response else "No"


@pytest.fixture
def pool() -> Iterator[CheckerPool]:
    with CheckerPool(2, timeout_s=2) as pool:
        yield pool


@pytest.fixture
def reward(server: FakeLLMServer, pool: CheckerPool) -> RubricReward:
    server.default_reply = rubric_judge
    return RubricReward(SimplifiedJudge(base_url=server.base_url, model_name="g", retry_delay=0.01), checker_pool=pool)


def ends_with_period(response: str) -> bool:
    return response.rstrip().endswith(".")


HYBRID = [
    {"criterion": "mentions fever", "points": 4},
    {"criterion": "mentions antibiotics", "points": -2},
    {"check": WORDS_AT_LEAST_5, "points": 2},
    {"check": NO_COMMAS, "points": 1},
    {"check": MENTIONS_PROMPT_WORD, "points": 1, "name": "echoes the topic"},
    {"check": ends_with_period, "points": 2},
]


def test_judge_items_and_checkers_in_one_rubric(server: FakeLLMServer, reward: RubricReward) -> None:
    before = server.count("/v1/chat/completions")
    score = reward.score("flu: what helps?", "For flu rest and fluids help with fever", HYBRID)
    assert server.count("/v1/chat/completions") - before == 2  # only the criterion items reach the judge
    # met: fever 4, >= 5 words 2, no commas 1, echoes "flu:"? no ("flu:" not in response), period? no
    assert [r["met"] for r in score.items] == [True, False, True, True, False, False]
    assert score.earned == 7 and score.possible == 10 and score.reward == pytest.approx(0.7)
    assert score.info() == {"code_items": 4, "judge_items": 2, "skipped_items": 0, "failures": {}}
    full = reward.score("flu: what helps?", "flu: rest and fluids help with fever.", HYBRID)
    assert full.reward == 1.0 and server.count("/v1/chat/completions") - before == 4


def test_an_item_with_both_is_graded_by_its_code(server: FakeLLMServer, reward: RubricReward) -> None:
    before = server.count("/v1/chat/completions")
    item = {"criterion": "mentions fever", "check": NO_COMMAS, "points": 1}
    assert reward.score("q", "fever, fever", [item]).reward == 0.0  # the code says no; the judge would say yes
    assert server.count("/v1/chat/completions") == before


@pytest.mark.parametrize(
    ("name", "source", "kind"),
    [
        ("raises", "def check(response):\n    raise ValueError('bad checker')\n", "raised"),
        ("loops", "def check(response):\n    while True:\n        pass\n", "timeout"),
        ("returns an int", "def check(response):\n    return 1\n", "non_bool"),
        ("eats memory", "def check(response):\n    return len('x' * (4 << 30)) > 0\n", "memory"),
    ],
)
def test_a_broken_checker_fails_the_sample_with_its_name(
    reward: RubricReward, name: str, source: str, kind: str
) -> None:
    started = time.monotonic()
    score = reward.score(
        "q", "fever", [{"criterion": "mentions fever", "points": 1}, {"check": source, "points": 1, "name": name}]
    )
    assert time.monotonic() - started < 5
    assert score.reward is None and score.earned is None
    assert f"checker {name!r} ({kind})" in score.error
    assert score.info()["failures"] == {kind: 1}


def test_a_checker_cannot_write_outside_its_scratch_dir(reward: RubricReward, tmp_path: Path) -> None:
    target = tmp_path / "pwned.txt"
    sneaky = (
        "def check(response):\n"
        "    try:\n"
        f"        open({str(target)!r}, 'w').write('x')\n"
        "    except Exception:\n"
        "        pass\n"
        "    open('notes.txt', 'w').write('inside the scratch dir is fine')\n"
        "    return True\n"
    )
    score = reward.score("q", "fever", [{"check": sneaky, "points": 1, "name": "writer"}])
    assert score.reward is None and "checker 'writer' (blocked)" in score.error and str(target) in score.error
    assert not target.exists()  # and swallowing the PermissionError did not make it pass


def test_a_checker_cannot_reach_a_local_socket(reward: RubricReward) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.5)
        port = listener.getsockname()[1]
        caller = (
            "import socket\n"
            "def check(response):\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=1).close()\n"
            "    return True\n"
        )
        score = reward.score("q", "fever", [{"check": caller, "points": 1, "name": "caller"}])
        assert score.reward is None and "checker 'caller' (blocked)" in score.error
        with pytest.raises(TimeoutError):
            listener.accept()  # nobody connected


def test_a_dead_or_stuck_worker_is_replaced(pool: CheckerPool) -> None:
    assert pool.check("import os\ndef check(r):\n    os._exit(3)\n", "x").kind in ("crashed", "blocked")
    assert pool.check("def check(r):\n    while True: pass\n", "x").kind == "timeout"
    assert all(pool.check(WORDS_AT_LEAST_5, "one two three four five") for _ in range(5))


def test_a_callable_that_raises_or_returns_a_non_bool_fails(reward: RubricReward) -> None:
    def broken(response: str) -> bool:
        raise KeyError("oops")

    score = reward.score("q", "x", [{"check": broken, "points": 1}, {"check": lambda r: "yes", "points": 1}])
    assert score.reward is None and "checker 'broken' (raised)" in score.error and "(non_bool)" in score.error


def test_judge_only_skips_checker_code(server: FakeLLMServer, pool: CheckerPool) -> None:
    server.default_reply = rubric_judge
    judge = SimplifiedJudge(base_url=server.base_url, model_name="g", retry_delay=0.01)
    judge_only = RubricReward(judge, run_checkers=False, checker_pool=pool)
    rubric = [*HYBRID, {"criterion": "mentions rest", "check": "def check(r):\n    raise RuntimeError\n", "points": 2}]
    before = server.count("/v1/chat/completions")
    score = judge_only.score("q", "fever and rest", rubric)
    assert server.count("/v1/chat/completions") - before == 3  # 2 criteria + the item carrying both
    assert score.skipped == 4 and score.possible == 6 and score.earned == 6 and score.reward == 1.0
    assert score.info()["skipped_items"] == 4 and score.info()["judge_items"] == 3
    nothing = judge_only.score("q", "x", [{"check": NO_COMMAS, "points": 1}])
    assert nothing.reward is None and "1 code-only item(s) left out" in nothing.error


def test_trl_reward_reads_the_checkers_column(reward: RubricReward) -> None:
    logged: dict[str, float] = {}
    fn = reward.as_grpo_reward()
    rewards = fn(
        prompts=["q", "q", "q"],
        completions=["fever, and more words here", "fever and more words here", "fever"],
        rubric=[[{"criterion": "mentions fever", "points": 1}]] * 3,
        checkers=[[NO_COMMAS], [NO_COMMAS, WORDS_AT_LEAST_5], ["def check(r):\n    return None\n"]],
        log_metric=logged.__setitem__,
    )
    assert rewards == [0.5, 1.0, None]
    assert logged["judgekit/code_items"] == 4 and logged["judgekit/judge_items"] == 3
    assert logged["judgekit/failures/non_bool"] == 1 and logged["judgekit/failed_samples"] == 1


def test_verl_compute_score_reads_rubric_and_checkers_from_extra_info(server: FakeLLMServer) -> None:
    def judge(rec: RecordedRequest) -> str:
        prompt = rec.json["messages"][-1]["content"]
        return rubric_judge(rec) if "[Rubric Item]" in prompt else "Yes"

    server.default_reply = judge
    kwargs = {"api_type": "openai", "base_url": server.base_url, "model_name": "judge", "batch_timeout": 0.01}
    rubric = np_like([{"criterion": "mentions fever", "points": 1}])
    infos = [
        {"question": "flu?", "rubric": rubric, "checkers": np_like([NO_COMMAS])},
        {"question": "flu?", "checkers": [NO_COMMAS, "def check(r):\n    return 'x'\n"]},
        {"question": "6*7?"},  # a plain sample, judged against its ground truth
    ]
    batch = compute_score(
        data_sources=["if"] * 3,
        solution_strs=["fever, rest", "fever", "42"],
        ground_truths=[None, None, "42"],
        extra_infos=infos,
        **kwargs,
    )
    assert [b["score"] for b in batch[:1]] == [0.5] and batch[0]["source"] == "rubric"
    assert batch[0]["code_items"] == 1 and batch[0]["judge_items"] == 1 and batch[0]["checker_failures"] == 0
    assert math.isnan(batch[1]["score"]) and not batch[1]["judge_ok"] and batch[1]["checker_failures"] == 1
    assert "(non_bool)" in batch[1]["error"]
    assert batch[2]["score"] == 1.0 and batch[2]["source"] == "judge" and batch[2]["code_items"] == 0
    assert {frozenset(b) for b in batch} == {frozenset(batch[0])}  # the same keys for every sample
    judge_only = compute_score("if", "fever, rest", None, infos[0], run_checkers=False, **kwargs)
    assert judge_only["score"] == 1.0 and judge_only["skipped_items"] == 1


class np_like(list):
    def tolist(self) -> list:
        return list(self)


def test_the_documented_hybrid_example_runs(server: FakeLLMServer) -> None:
    doc = (Path(__file__).resolve().parent.parent / "docs" / "reward.md").read_text()
    block = re.search(r"<!-- hybrid-example -->\n```python\n(.*?)```", doc, re.S).group(1)
    server.default_reply = "Yes"
    namespace: dict = {}
    exec(compile(block.replace("http://judge:8000/v1", server.base_url), "docs/reward.md", "exec"), namespace)
    score = namespace["score"]
    assert score.reward == 1.0 and score.info() == {
        "code_items": 4,
        "judge_items": 1,
        "skipped_items": 0,
        "failures": {},
    }
    assert server.count("/v1/chat/completions") == 1


def test_checkers_see_no_secrets_and_temp_files_land_in_scratch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-for-the-test")
    fresh = CheckerPool(1)  # started after the key is in this process's environment
    try:
        leak = "import os\ndef check(r):\n    raise ValueError(repr(sorted(os.environ.items())))\n"
        failure = fresh.check(leak, "x")
        assert failure.kind == "raised" and "sk-secret" not in failure.error and "OPENAI" not in failure.error
        temp = (
            "import tempfile\n"
            "def check(r):\n"
            "    with tempfile.NamedTemporaryFile('w') as f:\n"
            "        f.write(r)\n"
            "    return True\n"
        )
        assert fresh.check(temp, "x") is True
    finally:
        fresh.close()


def test_a_bad_checker_timeout_is_a_config_error(server: FakeLLMServer) -> None:
    with pytest.raises(ConfigError, match="checker_timeout_s"):
        RubricReward(SimplifiedJudge(base_url=server.base_url, model_name="g"), checker_timeout_s=0)
