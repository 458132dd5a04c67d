"""Rough edges of issue 21: "did you mean" for misspelt settings, the key hint that names what a command-line
user can set, redaction that blanks real secrets only, and ``judgekit serve`` on a busy port."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from judgekit import ConfigError, JudgeConfig, SimplifiedJudge
from judgekit.config import MIN_SECRET_LENGTH, redact
from judgekit.reward.config import RewardConfig
from judgekit.testing import FakeLLMServer, Fault

KEY = "sk-rough-edges-0123456789abcdef"


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "judgekit.cli", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env={**{k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}, **(env or {})},
    )


# ------------------------------------------------------------------------------------------- did you mean


@pytest.mark.parametrize(
    ("given", "meant"),
    [("modle_name", "model_name"), ("temprature", "temperature"), ("torch_mod", "torch_mode")],
)
def test_judge_config_suggests_the_field(given: str, meant: str) -> None:
    with pytest.raises(ConfigError, match=rf"JudgeConfig\.{given}: unknown field; did you mean '{meant}'\?") as err:
        JudgeConfig(**{given: "x"})
    assert err.value.field == given


def test_a_misspelt_key_field_never_shows_its_value() -> None:
    with pytest.raises(ConfigError, match="did you mean 'api_key'") as err:
        JudgeConfig(api_kye=KEY)
    assert KEY not in str(err.value)


def test_reward_config_suggests_the_key() -> None:
    with pytest.raises(ConfigError, match=r"reward config: max_batch_sise: unknown key; did you mean 'max_batch_size'"):
        RewardConfig.build({"max_batch_sise": 8})
    with pytest.raises(ConfigError, match="did you mean 'judge_url'"):
        RewardConfig.build({"judge_ulr": "http://127.0.0.1:1"})


def test_cli_set_suggests_the_field() -> None:
    out = run_cli("judge", "--api-type", "rules", "--set", "torch_mod=logprob", "-q", "2+2?", "-a", "4", "-p", "4")
    assert out.returncode == 2
    assert "torch_mod: unknown field; did you mean 'torch_mode'?" in out.stderr


# ---------------------------------------------------------------------------------------------- key hint


def test_cli_key_hint_names_the_flag() -> None:
    judge = run_cli("judge", "--api-type", "openai", "-q", "2+2?", "-a", "4", "-p", "4")
    assert judge.returncode == 2
    assert "set OPENAI_API_KEY or name the variable that holds it with --api-key-env VAR" in judge.stderr
    assert "pass api_key" not in judge.stderr
    validate = run_cli("validate", "--api-type", "openai", "-n", "2", "--resamples", "10")
    assert validate.returncode == 2 and "--api-key-env VAR" in validate.stderr


def test_python_key_hint_names_the_argument() -> None:
    judge = SimplifiedJudge(api_type="openai", api_key=None)
    with pytest.raises(ConfigError, match="pass api_key"):
        judge.evaluate_binary("2+2?", "4", "4")


# --------------------------------------------------------------------------------------------- redaction


@pytest.mark.parametrize(
    ("secret", "text", "expected"),
    [
        ("API", "missing or invalid API key", "missing or invalid API key"),  # too short to be a secret
        ("invalid", "missing or invalid API key", "missing or invalid API key"),
        ("EMPTY", "key EMPTY rejected", "key EMPTY rejected"),
        (KEY, f"Incorrect API key provided: {KEY}.", "Incorrect API key provided: ***."),
        (KEY, f"Bearer {KEY}, again {KEY}", "Bearer ***, again ***"),
        ("password", "the password field is wrong", "the *** field is wrong"),  # long enough: blanked, to be safe
        ("abcdefgh", "abcdefghij is another token", "abcdefghij is another token"),  # not a whole token
    ],
)
def test_redact_blanks_real_secrets_only(secret: str, text: str, expected: str) -> None:
    assert redact(text, secret) == expected
    assert JudgeConfig(api_key=secret).redact(text) == expected


def test_a_short_key_leaves_the_servers_message_readable() -> None:
    assert MIN_SECRET_LENGTH == 8
    with FakeLLMServer() as server:
        server.enqueue(Fault.status_code(401, body="missing or invalid API key"))
        judge = SimplifiedJudge(api_type="openai", base_url=server.base_url, api_key="API", model_name="m")
        result = judge.evaluate_binary("2+2?", "4", "4")
        assert not result.success and "missing or invalid API key" in result.error_message, result
        server.enqueue(Fault.status_code(401, body=f"Incorrect API key provided: {KEY}"))
        judge = SimplifiedJudge(api_type="openai", base_url=server.base_url, api_key=KEY, model_name="m")
        result = judge.evaluate_binary("2+2?", "4", "4")
        assert not result.success and KEY not in result.error_message and "provided: ***" in result.error_message


# ------------------------------------------------------------------------------------------ serve, busy port


def test_serve_on_a_busy_port_exits_3_before_loading() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        start = time.monotonic()
        # the default backend is the torch demo model: nothing may load before the port is checked
        out = run_cli("serve", "--port", str(port))
        elapsed = time.monotonic() - start
    assert out.returncode == 3, out.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr and "Choose another --port" in out.stderr
    assert "warming up" not in out.stderr and "Traceback" not in out.stderr
    assert elapsed < 30, elapsed  # loose: the model (tens of seconds on a CPU) was never loaded


# ------------------------------------------------------------------------------------------------ extras


def test_extras_set_lower_bounds_and_the_scripts_install_the_cpu_torch_first() -> None:
    """No extra pins an exact torch or Ray (it would replace the user's own); the scripts still install the
    tested CPU wheel before any extra, so a fresh machine never resolves torch>=... to a CUDA build."""
    root = Path(__file__).resolve().parents[1]
    lines = (root / "pyproject.toml").read_text().splitlines()  # (no tomllib on Python 3.10)
    extras = {name: json.loads(line.split("=", 1)[1]) for name in ("torch", "ray") for line in lines
              if line.startswith(f"{name} = [")}  # fmt: skip
    for name in ("torch", "ray"):
        pins = [req for req in extras[name] if "==" in req]
        assert not pins, f"[{name}] pins {pins}"
    assert any(req.startswith("torch>=") for req in extras["torch"])
    assert any(req.startswith("ray[data,serve]>=") for req in extras["ray"])
    for script, extra in (("test.sh", '-e ".[dev]"'), ("demo.sh", '-e ".[rules,torch]"')):
        lines = (root / "scripts" / script).read_text().splitlines()
        torch_line = next(i for i, line in enumerate(lines) if "pip install" in line and "torch==2.13.0" in line)
        extra_line = next(i for i, line in enumerate(lines) if extra in line)
        assert torch_line < extra_line, script


def test_cli_batch_names_the_key_variable_and_the_flag(tmp_path: Path) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text('{"question": "2+2?", "answer": "4", "prediction": "4"}\n')
    out = run_cli("batch", str(items), "-o", str(tmp_path / "out.jsonl"), "--api-type", "openai")
    assert out.returncode == 2
    assert "no API key (set OPENAI_API_KEY, or name the variable that holds it with --api-key-env VAR)" in out.stderr
