"""JudgeConfig: validation naming the field, environment variables, URL normalisation, secrets."""

from __future__ import annotations

import pickle

import pytest

from judgekit import ConfigError, JudgeConfig
from judgekit.config import normalize_base_url


def test_defaults_match_the_seed() -> None:
    config = JudgeConfig()
    assert (config.temperature, config.max_tokens, config.timeout) == (0.0, 1024, 60.0)
    assert (config.num_retries, config.retry_delay, config.score_range) == (5, 10.0, (1, 10))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"temperature": 3}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"timeout": -1}, "timeout"),
        ({"num_retries": -1}, "num_retries"),
        ({"output_format": "maybe"}, "output_format"),
        ({"judge_type": "vibes"}, "judge_type"),
        ({"base_url": "ftp://x"}, "base_url"),
        ({"nonsense": 1}, "nonsense"),
    ],
)
def test_invalid_values_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError) as info:
        JudgeConfig(**kwargs)
    assert info.value.field == field
    assert field in str(info.value)


def test_score_range_must_be_increasing() -> None:
    with pytest.raises(ConfigError, match="score_range"):
        JudgeConfig(score_range=(10, 1))


def test_assignment_is_validated() -> None:
    config = JudgeConfig()
    with pytest.raises(ConfigError, match="temperature"):
        config.temperature = -1


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://api.openai.com/v1/chat/completions", "https://api.openai.com/v1"),
        ("https://api.openai.com/v1/", "https://api.openai.com/v1"),
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
        (
            "https://r.openai.azure.com/openai/deployments/gpt4/chat/completions?api-version=2024-02-15-preview",
            "https://r.openai.azure.com/openai/deployments/gpt4/chat/completions?api-version=2024-02-15-preview",
        ),
    ],
)
def test_base_url_accepts_full_endpoint_or_base(url: str, expected: str) -> None:
    assert normalize_base_url(url) == expected
    assert JudgeConfig(base_url=url).base_url == expected


def test_from_env_openai() -> None:
    env = {
        "OPENAI_API_KEY": "sk-env",
        "OPENAI_API_URL": "http://127.0.0.1:9/v1/chat/completions",
        "MODEL_VERSION": "gpt-4o-mini",
    }
    config = JudgeConfig.from_env(env)
    assert config.api_type == "openai"
    assert config.secret() == "sk-env"
    assert config.base_url == "http://127.0.0.1:9/v1"
    assert config.model_name == "gpt-4o-mini"


@pytest.mark.parametrize("version_var", ["AZURE_API_VERSION", "API_VERSION"])
def test_from_env_azure(version_var: str) -> None:
    env = {"API_TYPE": "azure", "AZURE_API_KEY": "az", "AZURE_ENDPOINT": "https://r.example.com", version_var: "v1"}
    config = JudgeConfig.from_env(env)
    assert (config.api_type, config.secret(), config.base_url, config.api_version) == (
        "azure",
        "az",
        "https://r.example.com",
        "v1",
    )


def test_explicit_values_win_over_env() -> None:
    env = {"OPENAI_API_KEY": "sk-env", "MODEL_VERSION": "env-model"}
    config = JudgeConfig.from_env(env, model_name="explicit", api_key="sk-explicit")
    assert (config.model_name, config.secret()) == ("explicit", "sk-explicit")


def test_environment_is_read_from_os(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TYPE", "azure")
    monkeypatch.setenv("AZURE_API_KEY", "az-os")
    config = JudgeConfig.from_env()
    assert config.api_type == "azure" and config.secret() == "az-os"


def test_secret_is_masked_everywhere() -> None:
    config = JudgeConfig(api_key="sk-very-secret", extra_headers={"X-Token": "hdr-secret"})
    for text in (repr(config), str(config), config.model_dump_json()):
        assert "sk-very-secret" not in text
        assert "hdr-secret" not in repr(config)
    with pytest.raises(ConfigError) as info:
        JudgeConfig(api_key="sk-very-secret", score_range=(3, 1))
    assert "sk-very-secret" not in str(info.value)


def test_merged_validates_and_keeps_the_key() -> None:
    config = JudgeConfig(api_key="sk-x").merged(model_name="m")
    assert config.secret() == "sk-x" and config.model_name == "m"
    with pytest.raises(ConfigError):
        config.merged(max_tokens=-5)


def test_config_error_pickles() -> None:
    with pytest.raises(ConfigError) as info:
        JudgeConfig(max_tokens=0)
    again = pickle.loads(pickle.dumps(info.value))
    assert again.field == "max_tokens" and str(again) == str(info.value)
