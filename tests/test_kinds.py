"""The kind spec (`judgekit.kinds`) is the one source of truth, and a misspelt option is an error, not a default."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from judgekit import ConfigError, JudgeConfig, Jury, SimplifiedJudge, cli, parsing, prompts, scoring
from judgekit.kinds import CALL_OPTIONS, KINDS, SERVER_KINDS, get_kind, kind_names
from judgekit.testing import FakeLLMServer

# ------------------------------------------------------------------------------------------ the spec


@pytest.mark.parametrize("kind", kind_names())
def test_every_kind_has_template_parser_and_methods(kind: str) -> None:
    spec = KINDS[kind]
    template = prompts.load_template(spec.template)
    assert prompts.template_fields(template) <= spec.placeholders
    assert callable(spec.parser) and parsing.PARSERS[kind] is spec.parser
    for name in (spec.method, spec.async_method):
        method = getattr(SimplifiedJudge, name)
        params = list(inspect.signature(method).parameters.values())[1:]
        positional = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
        assert tuple(positional) == spec.fields, name
        assert params[-1].kind is inspect.Parameter.VAR_KEYWORD
    assert inspect.iscoroutinefunction(getattr(SimplifiedJudge, spec.async_method))
    assert not set(spec.keywords) & {"kind", "item"} and len(set(spec.keywords)) == len(spec.keywords)


@pytest.mark.parametrize("kind", kind_names())
def test_prompt_values_fill_the_template(kind: str) -> None:
    spec = KINDS[kind]
    inputs = {name: f"<{name}>" for name in spec.all_fields}
    if "rubric" in inputs:
        inputs["rubric"] = {"accuracy": "facts"}
    options = spec.resolve_options({}, JudgeConfig())
    values, derived = spec.prompt_values(inputs, options)
    prompt = prompts.build_prompt(spec.template, values)
    for name in spec.fields:
        if name != "rubric":
            assert f"<{name}>" in prompt
    assert ("criteria" in derived) == (spec.prepare is not None)


def test_every_consumer_reads_the_spec() -> None:
    names = kind_names()
    assert set(prompts.KINDS) == set(names) == set(parsing.PARSERS)
    assert tuple(n for n in names if KINDS[n].scorable) == scoring.KINDS
    assert scoring.SERVER_KINDS == SERVER_KINDS == ("auto", *scoring.KINDS)
    for spec in KINDS.values():  # every kind has its method (and async twin) on the judge and the jury
        for method in (spec.method, spec.async_method):
            assert callable(getattr(SimplifiedJudge(api_type="rules"), method)) and hasattr(Jury, method)
    fields = {name for spec in KINDS.values() for name in spec.all_fields}
    assert fields | {"pred", "min_score", "max_score", "positive", "negative"} == prompts.CUSTOM_PROMPT_FIELDS
    for kind in (*names, "custom"):
        assert JudgeConfig(judge_type=kind).judge_type == kind
    with pytest.raises(ConfigError) as info:
        JudgeConfig(judge_type="vibes")
    assert info.value.field == "judge_type"


def test_cli_choices_equal_the_spec() -> None:
    parser = cli.build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    choices = {
        name: next(a for a in sub._actions if a.dest == "kind").choices
        for name, sub in subparsers.items()
        if name in ("judge", "batch", "serve")
    }
    assert tuple(choices["judge"]) == tuple(choices["batch"]) == kind_names()
    assert tuple(choices["serve"]) == SERVER_KINDS
    flags = {a.dest for a in subparsers["judge"]._actions}
    assert {name for spec in KINDS.values() for name in spec.all_fields} <= flags


def test_get_kind_aliases_and_hint() -> None:
    assert get_kind("with_rubric") is KINDS["rubric"]
    with pytest.raises(ConfigError, match="did you mean 'pairwise'") as info:
        get_kind("pairwsie")
    assert info.value.field == "kind"


def test_verdict_words_come_from_the_spec() -> None:
    assert KINDS["binary"].verdict_words("0/1") == ("1", "0")
    assert KINDS["binary"].verdict_words("yes/no") == ("Yes", "No")
    assert KINDS["correctness"].verdict_words("0/1") == ("Yes", "No")  # correctness always asks yes/no
    with pytest.raises(ConfigError) as info:
        KINDS["binary"].verdict_words("true/false")
    assert info.value.field == "output_format"


# ------------------------------------------------------------------- defect 2: misspelt options


@pytest.fixture
def judge(server: FakeLLMServer, fast_config: JudgeConfig) -> SimplifiedJudge:
    return SimplifiedJudge(config=fast_config.merged(num_retries=1))


MISSPELT = [
    ("evaluate_pointwise", ("q", "r"), "score_rnage", (0, 5), "score_range"),
    ("evaluate_binary", ("q", "4", "4"), "temprature", 0.5, "temperature"),
    ("evaluate_binary", ("q", "4", "4"), "outptu_format", "yes/no", "output_format"),
    ("evaluate_comparative", ("q", "a", "b"), "swpa", True, "swap"),
    ("evaluate_with_rubric", ("q", "p", ["accuracy"]), "contxt", "c", "context"),
    ("evaluate_correctness", ("q", "4", "4"), "max_token", 5, "max_tokens"),
    ("evaluate_pairwise", ("q", "a", "b"), "system_promt", "be fair", "system_prompt"),
]


@pytest.mark.parametrize(("method", "args", "wrong", "value", "right"), MISSPELT)
async def test_a_misspelt_option_is_a_config_error(
    judge: SimplifiedJudge, server: FakeLLMServer, method, args, wrong, value, right
) -> None:
    with pytest.raises(ConfigError, match=f"unknown option '{wrong}'; did you mean '{right}'") as info:
        getattr(judge, method)(*args, **{wrong: value})
    assert info.value.field == wrong
    with pytest.raises(ConfigError, match=f"did you mean '{right}'"):
        await getattr(judge, "a" + method)(*args, **{wrong: value})
    assert server.count() == 0


def test_an_extra_field_needs_a_custom_prompt_that_names_it(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    with pytest.raises(ConfigError, match=r"'domain'.*custom_prompt"):
        judge.evaluate_binary("q", "a", "p", domain="law")
    with pytest.raises(ConfigError, match="'domain'"):
        judge.evaluate_binary("q", "a", "p", custom_prompt="Judge {question}", domain="law")
    assert server.count() == 0
    result = judge.evaluate_binary(
        "q", "4", "4", custom_prompt="As a {domain} expert: {pred} vs {answer}?", domain="law"
    )
    assert result["success"] and server.requests[-1].json["messages"][-1]["content"] == "As a law expert: 4 vs 4?"


def test_a_misspelt_key_in_a_batch_item_names_the_item(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    items = [{"question": "q", "response": "r"}, {"question": "q", "response": "r", "score_rnage": [0, 5]}]
    with pytest.raises(ConfigError, match=r"items\[1\]: .*'score_rnage'; did you mean 'score_range'") as info:
        judge.evaluate_batch("pointwise", items)
    assert info.value.field == "items[1]"
    with pytest.raises(ConfigError, match=r"items\[0\]: evaluate_binary needs 'prediction'"):
        judge.evaluate_batch("binary", [{"question": "q", "answer": "a"}])
    assert server.count() == 0


async def test_temperature_max_tokens_system_prompt_per_call(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    judge.evaluate_binary("q", "4", "4", temperature=0.7, max_tokens=33, system_prompt="You are strict.")
    sent = server.requests[-1].json
    assert sent["temperature"] == 0.7 and sent["max_tokens"] == 33
    assert sent["messages"][0] == {"role": "system", "content": "You are strict."}
    await judge.aevaluate_pointwise("q", "r", temperature=0.3, score_range=(0, 5))
    assert server.requests[-1].json["temperature"] == 0.3
    judge.evaluate_binary("q", "4", "4")  # the judge's own config is untouched
    sent = server.requests[-1].json
    assert sent["temperature"] == 0.0 and sent["max_tokens"] == 1024 and sent["messages"][0]["role"] == "user"
    assert judge.config.temperature == 0.0
    items = [{"question": "q", "answer": "4", "prediction": "4", "max_tokens": 7 + i} for i in range(3)]
    server.reset()
    assert all(r["success"] for r in judge.evaluate_batch("binary", items))
    assert sorted(r.json["max_tokens"] for r in server.requests) == [7, 8, 9]


def test_score_range_per_call_is_used(judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    server.enqueue("<score>5</score>")
    result = judge.evaluate_pointwise("q", "r", score_range=(0, 5))
    assert result["success"] and result["scores"] == 5.0
    assert "0" in result["prompt"] and "5" in result["prompt"]
    server.enqueue("<score>9</score>")
    assert not judge.evaluate_pointwise("q", "r", score_range=(0, 5))["success"]  # out of range, not clamped


# -------------------------------------------------------------------------------------- the CLI


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run(
        [sys.executable, "-m", "judgekit.cli", *args], input=stdin, capture_output=True, text=True, timeout=120, env=env
    )


def test_cli_reports_a_misspelt_key(tmp_path: Path) -> None:
    item = {"question": "2+2?", "answer": "4", "prediction": "4", "answer_tpye": "number"}
    one = _cli("judge", "--api-type", "rules", stdin=json.dumps(item))
    assert one.returncode == 2 and "did you mean 'answer_type'" in one.stderr
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    good = {"question": "2+2?", "answer": "4", "prediction": "4", "answer_type": "number"}
    source.write_text(json.dumps(good) + "\n" + json.dumps(item) + "\n")
    batch = _cli("batch", str(source), "-o", str(out), "--api-type", "rules", "--no-progress")
    rows = sorted((json.loads(line) for line in out.read_text().splitlines()), key=lambda r: r["index"])
    assert batch.returncode == 1 and rows[0]["success"] and rows[0]["result"] == 1
    assert not rows[1]["success"] and rows[1]["error_type"] == "ConfigError"
    assert "did you mean 'answer_type'" in rows[1]["error_message"]


def test_call_options_are_documented() -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "judges" / "README.md").read_text()
    for name in CALL_OPTIONS:
        assert f"`{name}`" in text, name
