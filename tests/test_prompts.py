"""Prompt templates are data, and filling them never breaks on the user's text."""

from __future__ import annotations

import pytest

from judgekit import TemplateError
from judgekit.prompts import KINDS, build_prompt, fill_template, load_template, template_fields

NASTY = 'He said "{answer}" and {0} {} {{x}} %s \\n {prediction!r} }{'


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_a_template_file(kind: str) -> None:
    text = load_template(kind)
    assert text.strip() and "{question}" in text


def test_values_are_inserted_verbatim_and_never_reread() -> None:
    filled = fill_template("Q: {question}\nA: {answer}", {"question": NASTY, "answer": "4"})
    assert filled == f"Q: {NASTY}\nA: 4"


def test_literal_braces_in_templates() -> None:
    assert fill_template('Reply {{"score": {n}}}', {"n": 3}) == 'Reply {"score": 3}'


def test_json_in_custom_prompt_is_not_a_placeholder() -> None:
    prompt = build_prompt("binary", {"question": "q"}, custom_prompt='Return {"verdict": 1} for {question}')
    assert prompt == 'Return {"verdict": 1} for q'


def test_unknown_placeholder_in_custom_prompt_is_a_clear_error() -> None:
    with pytest.raises(TemplateError) as info:
        build_prompt("binary", {"question": "q"}, custom_prompt="Judge {questoin} please")
    message = str(info.value)
    assert "{questoin}" in message and "{question}" in message and info.value.field == "custom_prompt"


def test_custom_prompt_may_use_documented_and_extra_fields() -> None:
    values = {"question": "q", "prediction": "p", "pred": "p", "domain": "medicine"}
    prompt = build_prompt("binary", values, custom_prompt="As a {domain} expert: {question} / {pred} / {context}")
    assert prompt == "As a medicine expert: q / p / "


def test_builtin_template_fields_are_all_filled() -> None:
    fields = template_fields(load_template("comparative"))
    assert {"question", "response1", "response2", "min_score", "max_score"} <= fields


def test_custom_prompt_must_be_text() -> None:
    with pytest.raises(TemplateError, match="custom_prompt"):
        build_prompt("binary", {}, custom_prompt=123)  # type: ignore[arg-type]
