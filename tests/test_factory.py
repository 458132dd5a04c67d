"""JudgeFactory: registry, decorator, fallbacks and the error for unknown names."""

from __future__ import annotations

import pytest

from judgekit import ConfigError, JudgeConfig, JudgeFactory, JudgeInterface, JudgeRequest, JudgeResponse
from judgekit.providers.azure import AzureJudge
from judgekit.providers.openai import OpenAIJudge


def test_builtins_are_listed() -> None:
    assert {"openai", "azure"} <= set(JudgeFactory.list_judges())


def test_create_defaults_to_openai() -> None:
    assert isinstance(JudgeFactory.create_judge(), OpenAIJudge)


def test_create_falls_back_to_api_type_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TYPE", "azure")
    judge = JudgeFactory.create_judge()
    assert isinstance(judge, AzureJudge)
    assert judge.config.api_type == "azure"


def test_config_api_type_is_used() -> None:
    judge = JudgeFactory.create_judge(config=JudgeConfig(api_type="azure"))
    assert isinstance(judge, AzureJudge)


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(ConfigError) as info:
        JudgeFactory.create_judge("opnai")
    message = str(info.value)
    assert "did you mean 'openai'" in message.lower() and "azure" in message
    assert info.value.field == "api_type"


def test_register_as_call_and_decorator() -> None:
    class Echo(JudgeInterface):
        provider_name = "echo"

        async def _send(self, request: JudgeRequest, config: JudgeConfig) -> JudgeResponse:
            return JudgeResponse(content=request.messages[-1]["content"], model_used="echo")

    JudgeFactory.register_judge("echo-test", Echo)

    @JudgeFactory.register_judge("echo-deco")
    class Echo2(Echo):
        pass

    assert "echo-test" in JudgeFactory.list_judges() and "echo-deco" in JudgeFactory.list_judges()
    judge = JudgeFactory.create_judge("echo-deco")
    assert isinstance(judge, Echo2)
    assert judge.evaluate(JudgeRequest(messages=[{"role": "user", "content": "hi"}])).content == "hi"


def test_register_rejects_non_judges() -> None:
    with pytest.raises(ConfigError):
        JudgeFactory.register_judge("bad", dict)  # type: ignore[arg-type]


def test_env_defaults_fill_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("MODEL_VERSION", "gpt-4o-mini")
    judge = JudgeFactory.create_judge("openai", JudgeConfig())
    assert judge.config.secret() == "sk-from-env" and judge.config.model_name == "gpt-4o-mini"
    assert judge.is_available()
