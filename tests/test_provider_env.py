"""Providers declare their environment (the "Add a provider" recipe of docs/contributing.md, carried out), and the
generic ``openai_compatible`` backend needs no code for a new vendor. Everything runs against the local server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import ClassVar

import pytest

from judgekit import ConfigError, JudgeConfig, JudgeFactory, JudgeRequest, SimplifiedJudge
from judgekit.config import env_variables, known_env_variables
from judgekit.provider_registry import ProviderEnv, provider_env
from judgekit.providers.openai import OpenAIJudge
from judgekit.testing import FakeLLMServer

ASK = JudgeRequest(messages=[{"role": "user", "content": "Is 2+2 4? Answer 1 or 0."}])


class AcmeJudge(OpenAIJudge):
    """A toy vendor defined outside judgekit: the OpenAI wire format behind its own variables."""

    provider_name: ClassVar[str] = "acme"
    env: ClassVar[ProviderEnv] = ProviderEnv(
        api_key=("ACME_API_KEY",),
        base_url=("ACME_URL",),
        model=("ACME_MODEL",),
        defaults={"base_url": "https://api.acme.invalid/v1"},
    )


def test_a_provider_registered_from_outside_declares_its_variables(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    JudgeFactory.register_judge("acme", AcmeJudge)
    assert {"ACME_API_KEY", "ACME_URL", "ACME_MODEL"} <= set(known_env_variables())  # so conftest clears them
    assert env_variables("acme") == ["ACME_API_KEY", "ACME_MODEL", "ACME_URL"]

    # its declared default, when the environment has nothing
    assert JudgeConfig.from_env(api_type="acme").base_url == "https://api.acme.invalid/v1"

    monkeypatch.setenv("ACME_API_KEY", "acme-secret")
    monkeypatch.setenv("ACME_URL", server.base_url)
    monkeypatch.setenv("ACME_MODEL", "acme-judge-1")
    monkeypatch.setenv("OPENAI_API_KEY", "not-this-one")
    config = JudgeConfig.from_env(api_type="acme")
    assert config.secret() == "acme-secret" and config.base_url == server.base_url
    assert config.model_name == "acme-judge-1"

    server.api_key = "acme-secret"  # the server refuses any other key: the declared variable was read and sent
    judge = JudgeFactory.create_judge("acme", retry_delay=0.01)
    response = judge.evaluate(ASK)
    assert response.success and response.content == "1" and response.model_used == "acme-judge-1"
    assert server.requests[-1].headers["Authorization"] == "Bearer acme-secret"
    assert "acme-secret" not in repr(judge)
    judge.close()


def test_the_decorator_and_lazy_registration_take_env(monkeypatch: pytest.MonkeyPatch) -> None:
    declared = ProviderEnv(api_key=("ZETA_TOKEN",))
    JudgeFactory.register_judge("zeta", "judgekit.providers.openai:OpenAIJudge", env=declared)
    assert provider_env("zeta") is declared and JudgeFactory.describe("zeta") == "judgekit.providers.openai:OpenAIJudge"
    monkeypatch.setenv("ZETA_TOKEN", "z")
    assert JudgeConfig.from_env(api_type="zeta").secret() == "z"
    with pytest.raises(ConfigError, match="JudgeInterface"):
        JudgeFactory.register_judge("bad", dict)  # type: ignore[arg-type]


def test_built_in_providers_declare_in_the_registry_without_importing_them() -> None:
    script = (
        "import sys, judgekit; from judgekit.config import JudgeConfig\n"
        "import os; os.environ['ANTHROPIC_API_KEY'] = 'a'\n"
        "assert JudgeConfig.from_env(api_type='anthropic').secret() == 'a'\n"
        "print(sorted(m for m in sys.modules if m.startswith('judgekit.providers.')))"
    )
    env = {k: v for k, v in os.environ.items() if k not in known_env_variables()}
    env["PYTHONPATH"] = str(Path(__file__).parents[1])
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"  # the registry (judgekit.provider_registry) names them, imports none


# -------------------------------------------------------------------------------- openai_compatible


def test_openai_compatible_reads_service_variables_over_real_http(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_API_KEY", "sk-acme")
    monkeypatch.setenv("ACME_BASE_URL", server.base_url)
    server.api_key = "sk-acme"
    server.enqueue("<score>8</score>")
    with SimplifiedJudge(api_type="openai_compatible", service="acme", model_name="acme-large") as judge:
        assert judge.config.secret() == "sk-acme" and judge.config.base_url == server.base_url
        result = judge.evaluate_pointwise("What is 2+2?", "4")
    assert result.success and result.scores == 8.0 and result.provider == "openai_compatible"
    sent = server.requests[-1]
    assert sent.headers["Authorization"] == "Bearer sk-acme" and sent.json["model"] == "acme-large"

    # no model named: ACME_MODEL, else the served model read from GET /models
    monkeypatch.setenv("TOGETHER_AI_BASE_URL", server.base_url)
    monkeypatch.setenv("TOGETHER_AI_MODEL", "together-judge")
    server.api_key = None
    judge = JudgeFactory.create_judge("openai_compatible", service="together-ai")
    assert judge.config.model_name == "together-judge" and judge.evaluate(ASK).success
    assert env_variables("openai_compatible") == [
        "MODEL_VERSION",
        "{SERVICE}_API_KEY",
        "{SERVICE}_BASE_URL",
        "{SERVICE}_MODEL",
    ]
    judge.close()


def test_openai_compatible_names_what_is_missing() -> None:
    with pytest.raises(ConfigError, match="needs service=") as info:
        JudgeFactory.create_judge("openai_compatible")
    assert info.value.field == "service"
    judge = JudgeFactory.create_judge("openai_compatible", service="acme", num_retries=0)
    with pytest.raises(ConfigError, match="no base URL; set ACME_BASE_URL or pass base_url"):
        judge.evaluate(ASK)
    with pytest.raises(ConfigError, match="service must be a name"):
        JudgeConfig(api_type="openai_compatible", service="a b").with_env_defaults({})


def test_an_installed_package_adds_a_provider_through_the_entry_point(tmp_path: Path) -> None:
    """A real dist-info directory on sys.path: the provider is listed without being imported; its declared
    variable is read when it is used."""
    (tmp_path / "toy_acme.py").write_text(
        textwrap.dedent(
            """
            from judgekit.providers.openai import OpenAIJudge
            from judgekit.providers.registry import ProviderEnv

            class AcmeJudge(OpenAIJudge):
                provider_name = "acme"
                env = ProviderEnv(api_key=("ACME_API_KEY",), base_url=("ACME_URL",))
            """
        )
    )
    dist = tmp_path / "toy_acme-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-acme\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[judgekit.providers]\nacme = toy_acme:AcmeJudge\n")
    script = textwrap.dedent(
        """
        import json, os, sys
        from judgekit import JudgeFactory, JudgeRequest
        from judgekit.testing import FakeLLMServer
        listed = "acme" in JudgeFactory.list_judges()
        imported_when_listed = "toy_acme" in sys.modules
        with FakeLLMServer(default_reply="1", api_key="acme-key") as server:
            os.environ.update(ACME_API_KEY="acme-key", ACME_URL=server.base_url)
            judge = JudgeFactory.create_judge("acme", model_name="m")
            ok = judge.evaluate(JudgeRequest(messages=[{"role": "user", "content": "hi"}])).success
        print(json.dumps([listed, imported_when_listed, ok]))
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in known_env_variables()}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(Path(__file__).parents[1])])
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [True, False, True]


def test_the_contributing_recipe_runs_verbatim(server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (Path(__file__).parents[1] / "docs" / "contributing.md").read_text()
    body = text.split("## Add a provider\n", 1)[1]
    recipe = body.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("ACME_API_KEY", "acme-recipe-key")
    monkeypatch.setenv("ACME_URL", server.base_url)
    monkeypatch.setenv("ACME_MODEL", "acme-recipe-model")
    server.api_key = "acme-recipe-key"
    namespace: dict[str, object] = {}
    exec(compile(recipe, "contributing.md", "exec"), namespace)
    judge = namespace["judge"]
    response = judge.evaluate(ASK)  # type: ignore[attr-defined]
    assert response.success and response.model_used == "acme-recipe-model"
    assert server.requests[-1].headers["Authorization"] == "Bearer acme-recipe-key"
    judge.close()  # type: ignore[attr-defined]
