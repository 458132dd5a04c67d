"""api_type="reward_model" against a real vLLM server (the CPU build in .venv-vllm) serving a tiny local reward
model (`Qwen2ForSequenceClassification`, one label, trained a few Bradley-Terry steps to prefer "banana") with
``--runner pooling --convert classify``.

Marked ``vllm`` (``python -m pytest -q -m vllm``; scripts/test.sh runs it). One server for the module. Every kind
goes through ``/classify`` (messages, server-rendered tokens, client-rendered text) and ``/pooling``, and its
numbers equal the same weights' forward pass in torch (transformers, in this process) within 1e-3; the torch
reward head (``api_type="torch"``, ``torch_mode="reward"``) gives the same results as the served model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from judgekit import SimplifiedJudge
from judgekit.testing.vllm import VLLMStartError, free_port, serve_vllm

pytestmark = pytest.mark.vllm

ROOT = Path(__file__).resolve().parent.parent
VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"
SERVED = "rm"
POOLING_ARGS = ("--runner", "pooling", "--convert", "classify")
Q = "Name a yellow fruit."
ANSWERS = ["An apple.", "A banana.", "banana banana, a banana", "Lemons are yellow too."]
WIRES = [("classify", "messages"), ("classify", "tokens"), ("classify", "text"), ("pooling", "messages"),
         ("pooling", "tokens")]  # fmt: skip
TOL = 1e-3


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from judgekit.testing.tiny_models import build_tiny_reward_model

    return build_tiny_reward_model(tmp_path_factory.mktemp("rm") / "tiny-rm", prefer="banana")


@pytest.fixture(scope="module")
def vllm_url(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not VLLM_PYTHON.exists():
        pytest.fail(f".venv-vllm is missing ({VLLM_PYTHON}); create it with: bash scripts/test.sh")
    log = tmp_path_factory.mktemp("vllm-rm") / "vllm.log"
    started = time.monotonic()
    try:
        with serve_vllm(model_dir, python=VLLM_PYTHON, log_path=log, served_name=SERVED, args=POOLING_ARGS,
                        startup_timeout=900) as url:  # fmt: skip
            print(f"\nvLLM (pooling) ready in {time.monotonic() - started:.1f}s at {url}")
            yield url
    except VLLMStartError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def reference(model_dir: Path) -> Callable[[str, str], float]:
    """The reward of (question, response) from the same weights, run here with transformers."""
    import torch
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32).eval()

    def reward(question: str, response: str) -> float:
        chat = [{"role": "user", "content": question}, {"role": "assistant", "content": response}]
        text = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=False)
        with torch.inference_mode():
            inputs = tokenizer(text, add_special_tokens=False, return_tensors="pt")
            return float(model(**inputs).logits[0, 0])

    return reward


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def judge(url: str, model_dir: Path, endpoint: str, form: str, **config: object) -> SimplifiedJudge:
    config = {"model_name": SERVED, "timeout": 120, "retry_delay": 0.1, **config}
    return SimplifiedJudge(api_type="reward_model", base_url=url, reward_model_endpoint=endpoint,
                           reward_model_input=form, reward_model_tokenizer=str(model_dir), **config)  # fmt: skip


@pytest.mark.parametrize("wire", WIRES, ids=["-".join(w) for w in WIRES])
def test_every_kind_equals_the_forward_pass(
    vllm_url: str, model_dir: Path, reference: Callable[[str, str], float], wire: tuple[str, str]
) -> None:
    rewards = [reference(Q, a) for a in ANSWERS]
    assert rewards[1] > rewards[0]  # the tiny model learned to prefer "banana"
    with judge(vllm_url, model_dir, *wire) as j:
        pointwise = j.evaluate_batch("pointwise", [{"question": Q, "response": a} for a in ANSWERS])
        assert [r.error_message for r in pointwise] == [None] * len(ANSWERS)
        assert [r.scores for r in pointwise] == pytest.approx(rewards, abs=TOL)

        ranged = j.evaluate_pointwise(Q, ANSWERS[1], score_range=(0, 4))
        assert j.config.reward_model.scale == "raw" and ranged.scores == pytest.approx(rewards[1], abs=TOL)

        pairs = j.evaluate_batch(
            "pairwise", [{"question": Q, "response1": ANSWERS[i], "response2": ANSWERS[k]} for i, k in ((0, 1), (2, 3))]
        )
        for result, (i, k) in zip(pairs, ((0, 1), (2, 3)), strict=True):
            assert result.success, result.error_message
            assert result.p_a == pytest.approx(sigmoid(rewards[i] - rewards[k]), abs=TOL)
            assert result.result == ("A" if rewards[i] >= rewards[k] else "B")
        swapped = j.evaluate_pairwise(Q, ANSWERS[0], ANSWERS[1], swap=True)
        assert swapped.swap_agreed and swapped.p_a == pytest.approx(sigmoid(rewards[0] - rewards[1]), abs=TOL)

        for kind in ("binary", "correctness"):
            items = [{"question": Q, "answer": "banana", "prediction": a} for a in ANSWERS]
            verdicts = j.evaluate_batch(kind, items)
            assert [r.p_yes for r in verdicts] == pytest.approx([sigmoid(r) for r in rewards], abs=TOL)
            assert [r.result for r in verdicts] == [int(sigmoid(r) >= 0.5) for r in rewards]

    with judge(vllm_url, model_dir, *wire, reward_model_scale="score_range") as j:
        assert j.evaluate_pointwise(Q, ANSWERS[1], score_range=(0, 4)).scores == pytest.approx(
            4 * sigmoid(rewards[1]), abs=TOL
        )
    with judge(vllm_url, model_dir, *wire, reward_model_activation=True) as j:  # the server's sigmoid
        assert j.evaluate_pointwise(Q, ANSWERS[1]).scores == pytest.approx(sigmoid(rewards[1]), abs=TOL)


def test_the_torch_reward_head_agrees(vllm_url: str, model_dir: Path) -> None:
    served = judge(vllm_url, model_dir, "classify", "tokens", reward_model_scale="score_range")
    local = SimplifiedJudge(api_type="torch", model_name=str(model_dir), torch_mode="reward",
                            reward_model_scale="score_range")  # fmt: skip
    cases = {
        "pointwise": [{"question": Q, "response": a} for a in ANSWERS],
        "pairwise": [{"question": Q, "response1": ANSWERS[0], "response2": ANSWERS[1]}],
        "binary": [{"question": Q, "answer": "banana", "prediction": a} for a in ANSWERS],
    }
    with served, local:
        for kind, items in cases.items():
            over_http, in_process = served.evaluate_batch(kind, items), local.evaluate_batch(kind, items)
            for a, b in zip(over_http, in_process, strict=True):
                assert a.success and b.success, (a.error_message, b.error_message)
                assert a.result == b.result and a.score == pytest.approx(b.score, abs=TOL), kind
                assert a.scores == pytest.approx(b.scores, abs=TOL) if kind == "pointwise" else True
                assert a.get("p_yes", a.get("p_a")) == pytest.approx(b.get("p_yes", b.get("p_a")), abs=TOL)


def test_200_items_batched(vllm_url: str, model_dir: Path, reference: Callable[[str, str], float]) -> None:
    items = [{"question": f"{Q} ({i})", "response": ANSWERS[i % len(ANSWERS)]} for i in range(200)]
    with judge(vllm_url, model_dir, "classify", "tokens", max_concurrent=256) as j:
        results = j.evaluate_batch("pointwise", items)
    assert sum(not r.success for r in results) == 0, next(r.error_message for r in results if not r.success)
    expected = [reference(i["question"], i["response"]) for i in items[:8]]
    assert [r.scores for r in results[:8]] == pytest.approx(expected, abs=TOL)


def test_http_errors_are_failures_with_reasons(vllm_url: str, model_dir: Path) -> None:
    with judge(vllm_url, model_dir, "classify", "messages", num_retries=2) as j:
        too_long = j.evaluate_pointwise(Q, "banana " * 5000)  # over --max-model-len 2048: a 400, not retried
    assert not too_long.success and too_long.scores is None and too_long.attempts == 1
    assert "HTTP 400" in too_long.error_message and "maximum context length is 2048" in too_long.error_message
    with judge(vllm_url, model_dir, "classify", "tokens", model_name="no-such-model") as j:
        unknown = j.evaluate_pointwise(Q, "banana")
    assert not unknown.success and "HTTP 404" in unknown.error_message and "no-such-model" in unknown.error_message
    dead = f"http://127.0.0.1:{free_port()}"
    with judge(dead, model_dir, "classify", "messages", num_retries=1, retry_delay=0.01) as j:
        down = j.evaluate_pointwise(Q, "banana")
    assert not down.success and down.error_type == "ProviderConnectionError" and down.attempts == 2
