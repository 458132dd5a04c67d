"""The "Add a kind" recipe of docs/contributing.md, carried out: a 1-7 Likert kind with a reply tag judgekit has
never seen, registered from outside, judged sync, async and in a batch against the local server; a parser that
raises is a failure with a reason; an installed package adds a kind through the ``judgekit.kinds`` entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from judgekit import ConfigError, JudgeConfig, Jury, SimplifiedJudge, cli, parsing, prompts, scoring
from judgekit.kinds import KINDS, KindSpec, get_kind, kind_names, register_kind, server_kinds, unregister_kind
from judgekit.server.protocol import JudgeItem
from judgekit.testing import FakeLLMServer

LIKERT_PROMPT = """Rate how well the response answers the question,
from {min_score} (not at all) to {max_score} (fully).

[Question]
{question}

[Response]
{response}

End your reply with <likert>N</likert>."""


def parse_likert(text: str) -> float:
    return parsing.parse_tagged_number(text, "likert", (1, 7), kind="likert")


LIKERT = KindSpec(
    "likert",
    "evaluate_likert",
    ("question", "response"),
    slot="scores",
    scorable=True,
    scale=(1, 7),
    parser=parse_likert,
    prompt=LIKERT_PROMPT,
)


@pytest.fixture
def likert() -> Iterator[KindSpec]:
    register_kind(LIKERT)
    yield LIKERT
    unregister_kind("likert")


@pytest.fixture
def judge(fast_config: JudgeConfig) -> Iterator[SimplifiedJudge]:
    with SimplifiedJudge(config=fast_config) as judge:
        yield judge


def test_a_registered_kind_judges_sync_async_and_in_a_batch(
    likert: KindSpec, judge: SimplifiedJudge, server: FakeLLMServer
) -> None:
    server.enqueue("Fully answered. <likert>7</likert>")
    result = judge.evaluate_likert("What is 2+2?", "4")
    assert result.success and result.scores == 7.0 and result.kind == "likert"
    assert "\nfrom 1 (not at all) to 7 (fully)" in result.prompt and "[Response]\n4" in result.prompt
    assert scoring.score_result("likert", result, (1, 10)).score == 1.0  # its own scale, not the judge's 1-10

    server.enqueue("<likert>1</likert>", "no tag at all", "<likert>9</likert>")
    results = judge.evaluate_batch("likert", [{"question": "q", "response": f"r{i}"} for i in range(3)])
    assert [r.scores for r in results] == [1.0, None, None]
    assert [r.error_type for r in results] == [None, "ParseError", "ParseError"]
    assert "no <likert> tag" in results[1].error_message and "range" in results[2].error_message


async def test_a_registered_kind_judges_async(
    likert: KindSpec, fast_config: JudgeConfig, server: FakeLLMServer
) -> None:
    server.enqueue("<likert>4</likert>")
    async with SimplifiedJudge(config=fast_config) as judge:
        result = await judge.aevaluate_likert(question="What is 2+2?", response="four-ish")
        assert result.scores == 4.0 and scoring.score_result("likert", result, (1, 10)).score == 0.5
        server.enqueue("<likert>2</likert>")
        [batched] = await judge.aevaluate_batch("likert", [{"question": "q", "response": "r"}])
        assert batched.scores == 2.0


def test_every_layer_reads_the_registry_at_use_time(likert: KindSpec) -> None:
    assert "likert" in kind_names() and "likert" in prompts.KINDS and parsing.PARSERS["likert"] is parse_likert
    assert "likert" in scoring.KINDS and "likert" in server_kinds()
    assert JudgeConfig(judge_type="likert").judge_type == "likert"
    assert JudgeItem(prompt="q", completion="c", kind="likert").kind == "likert"
    assert callable(Jury(judges=[SimplifiedJudge(api_type="rules")]).evaluate_likert)
    sub = next(a for a in cli.build_parser()._actions if a.dest == "command").choices
    assert "likert" in next(a for a in sub["batch"]._actions if a.dest == "kind").choices
    assert "likert" in next(a for a in sub["serve"]._actions if a.dest == "kind").choices

    unregister_kind("likert")
    try:
        assert "likert" not in KINDS and "likert" not in server_kinds()
        with pytest.raises(ConfigError, match="unknown judge kind 'likert'"):
            JudgeConfig(judge_type="likert")
        with pytest.raises(AttributeError):
            SimplifiedJudge(api_type="rules").evaluate_likert  # noqa: B018
    finally:
        register_kind(LIKERT)


def test_a_parser_that_raises_anything_is_a_failure_with_a_reason(
    judge: SimplifiedJudge, server: FakeLLMServer
) -> None:
    def parse_by_lookup(text: str) -> str:
        return {"good": "G", "bad": "B"}[parsing.read_tag(text, "grade") or ""]  # KeyError for anything else

    spec = register_kind(
        KindSpec(
            "graded",
            "evaluate_graded",
            ("question", "response"),
            parser=parse_by_lookup,
            prompt="{question} {response}",
        )
    )
    try:
        server.enqueue("<grade>excellent</grade>")
        result = judge.evaluate_graded("q", "r")
        assert not result.success and result.error_type == "ParseError" and result.result is None
        assert "KeyError" in result.error_message and "excellent" in result.error_message
        server.enqueue("<grade>good</grade>", "<grade>meh</grade>")
        results = judge.evaluate_batch(
            spec.name, [{"question": "q", "response": "a"}, {"question": "q", "response": "b"}]
        )
        assert [r.result for r in results] == ["G", None] and results[1].error_type == "ParseError"
    finally:
        unregister_kind(spec.name)


def test_a_bad_spec_is_refused_at_registration(likert: KindSpec) -> None:
    def ok(text: str) -> str:
        return text

    cases = [
        (LIKERT, "registered already"),
        (KindSpec("other", "evaluate_likert", ("question",), parser=ok, prompt="{question}"), "belongs to the kind"),
        (KindSpec("other", "evaluate_batch", ("question",), parser=ok, prompt="{question}"), "taken"),
        (KindSpec("other", "judge_other", ("question",), parser=ok, prompt="{question}"), "evaluate_"),
        (KindSpec("other", "evaluate_other", ("question",), prompt="{question}"), "needs a parser"),
        (KindSpec("other", "evaluate_other", ("question",), parser=ok, prompt="{question} {answer}"), r"\{answer\}"),
        (KindSpec("other", "evaluate_other", ("question",), parser=ok), "no built-in prompt 'other'"),
        (KindSpec("other", "evaluate_other", ("q",), parser=ok, prompt="{q}", scale=(7, 1)), "low < high"),
        (KindSpec("custom", "evaluate_mine", ("q",), parser=ok, prompt="{q}"), "other than 'custom'"),
        (KindSpec("with_rubric", "evaluate_mine", ("q",), parser=ok, prompt="{q}"), "belongs to the kind 'rubric'"),
    ]
    for spec, message in cases:
        with pytest.raises(Exception, match=message):
            register_kind(spec)
    assert "other" not in KINDS
    assert register_kind(LIKERT, replace=True) is get_kind("likert")


def test_an_installed_package_adds_a_kind_through_the_entry_point(tmp_path: Path) -> None:
    """A real dist-info directory on sys.path: the kind is loaded on first use, not at ``import judgekit``."""
    (tmp_path / "toy_kinds.py").write_text(
        textwrap.dedent(
            f"""
            from judgekit import parsing
            from judgekit.kinds import KindSpec

            def parse_likert(text):
                return parsing.parse_tagged_number(text, "likert", (1, 7))

            LIKERT = KindSpec("likert", "evaluate_likert", ("question", "response"), slot="scores",
                              scorable=True, scale=(1, 7), parser=parse_likert, prompt={LIKERT_PROMPT!r})
            """
        )
    )
    dist = tmp_path / "toy_kinds-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-kinds\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[judgekit.kinds]\nlikert = toy_kinds:LIKERT\n")
    script = textwrap.dedent(
        """
        import json, sys
        import judgekit
        from judgekit.testing import FakeLLMServer
        loaded_at_import = "toy_kinds" in sys.modules
        with FakeLLMServer(default_reply="<likert>6</likert>") as server:
            judge = judgekit.SimplifiedJudge(api_type="openai", base_url=server.base_url, api_key="k", model_name="m")
            result = judge.evaluate_likert("q", "r")
        print(json.dumps({"loaded_at_import": loaded_at_import, "scores": result.scores,
                          "kinds": judgekit.kinds.kind_names()}))
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(__file__).parents[1])])}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out == {"loaded_at_import": False, "scores": 6.0, "kinds": [*kind_names(), "likert"]}


def _recipe(section: str) -> str:
    """The first Python block of a section of docs/contributing.md."""
    text = (Path(__file__).parents[1] / "docs" / "contributing.md").read_text()
    body = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return body.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_contributing_recipe_runs_verbatim(server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")  # the recipe's judge reads these, as a user's would
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    server.enqueue("Fully answered. <likert>7</likert>")
    namespace: dict[str, object] = {}
    try:
        exec(compile(_recipe("Add a judge kind"), "contributing.md", "exec"), namespace)
        judge = namespace["judge"]
        assert isinstance(judge, SimplifiedJudge) and server.count() == 1
        server.enqueue("<likert>7</likert>")
        result = judge.evaluate_likert("What is 2+2?", "4")
        assert result.scores == 7.0 and scoring.score_result("likert", result, (1, 10)).score == 1.0
        judge.close()
    finally:
        unregister_kind("likert")
