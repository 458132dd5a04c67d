"""Decision backends against a real vLLM (the CPU build in .venv-vllm): ``/v1/systemone`` on a tiny local Qwen3.

Marked ``vllm`` like tests/test_vllm_server.py (``python -m pytest -q -m vllm``). vLLM 0.32 serves
``/v1/systemone`` for a ``Qwen3ForCausalLM`` started with ``--logprobs-mode raw_logprobs`` whose tokenizer has
``yes``, ``no``, A-Z and 0-9 as single tokens after the chat prompt (`build_tiny_qwen3`). The model is trained
for a few seconds to answer "yes" to any prompt: a yes/no question then reads P(yes) near 1 with nearly all the
probability on the labels, which pins down that the right label is read; on choice and score questions it puts
almost nothing on the labels, and the tests check that what is read there is still a real distribution.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from judgekit import SimplifiedJudge
from judgekit.testing.vllm import VLLMStartError, serve_vllm

pytestmark = pytest.mark.vllm

VLLM_PYTHON = Path(__file__).resolve().parent.parent / ".venv-vllm" / "bin" / "python"


@pytest.fixture(scope="module")
def systemone_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Root URL of a vLLM serving a tiny Qwen3 (trained to answer "yes") with ``/v1/systemone`` enabled."""
    if not VLLM_PYTHON.exists():
        pytest.fail(f".venv-vllm is missing ({VLLM_PYTHON}); run bash scripts/test.sh to create it")
    from judgekit.testing.tiny_models import build_tiny_qwen3

    work = tmp_path_factory.mktemp("vllm-decisions")
    model = build_tiny_qwen3(work / "tiny-qwen3", reply="yes")
    try:
        with serve_vllm(
            model, python=VLLM_PYTHON, log_path=work / "vllm.log", args=["--logprobs-mode", "raw_logprobs"]
        ) as url:
            yield url
    except VLLMStartError as exc:
        pytest.fail(str(exc))


@pytest.fixture
def decider(systemone_url: str) -> Iterator[SimplifiedJudge]:
    with SimplifiedJudge(api_type="systemone", base_url=systemone_url, timeout=120, retry_delay=0.1) as judge:
        yield judge


def probability(value: object) -> bool:
    return isinstance(value, float) and math.isfinite(value) and 0.0 <= value <= 1.0


def distribution_ok(distribution: dict[str, float], labels: list[str]) -> bool:
    return (
        list(distribution) == labels
        and all(map(probability, distribution.values()))
        and math.isclose(sum(distribution.values()), 1.0, rel_tol=1e-6)
    )


def test_every_kind_through_systemone(decider: SimplifiedJudge) -> None:
    levels = [str(n) for n in range(1, 11)]
    binary = decider.evaluate_binary("What is 2+2?", "4", "The answer is 4.")
    assert binary.success, binary.error_message
    assert binary.model == "tiny" and probability(binary.p_yes) and binary.score == binary.p_yes
    assert binary.p_yes > 0.99 and binary.result == 1 and binary.label_mass > 0.9  # it was trained to say "yes"
    assert binary.distribution == {"yes": binary.p_yes, "no": pytest.approx(1 - binary.p_yes)}
    assert binary.usage["prompt_tokens"] > 50 and binary.usage["completion_tokens"] == 1  # one read, no text
    correctness = decider.evaluate_correctness("1/2 + 1/4?", "3/4", "0.75")
    assert correctness.success and probability(correctness.p_yes), correctness.error_message
    pointwise = decider.evaluate_pointwise("Explain DNS.", "It maps names to addresses.")
    assert pointwise.success and 1.0 <= pointwise.scores <= 10.0 and pointwise.expected_score == pointwise.scores
    assert distribution_ok(pointwise.distribution, levels)
    assert pointwise.scores == pytest.approx(sum(int(k) * p for k, p in pointwise.distribution.items()))
    assert pointwise.label_mass < 0.1  # it wants to say "yes", not a digit: the diagnostic says so
    pairwise = decider.evaluate_pairwise("Capital of France?", "Paris", "London", swap=True)
    assert pairwise.success and probability(pairwise.p_a) and pairwise.result in ("A", "B", "tie")
    assert len(pairwise.swap_results) == 2 and pairwise.scores == pairwise.p_a
    comparative = decider.evaluate_comparative("Capital of France?", "Paris", "London", score_range=(1, 5))
    assert comparative.success and all(1.0 <= s <= 5.0 for s in comparative.scores)
    assert set(comparative.distribution) == {"response1", "response2"}
    rubric = decider.evaluate_with_rubric(
        "Explain DNS.", "It maps names to addresses.",
        {"accuracy": "is it right", "clarity": "is it clear", "depth": "", "brevity": "", "tone": ""},
    )  # fmt: skip
    assert rubric.success and set(rubric.scores) == {"accuracy", "clarity", "depth", "brevity", "tone"}
    assert all(1.0 <= s <= 10.0 for s in rubric.scores.values()) and set(rubric.label_mass) == set(rubric.scores)
    assert rubric.usage["completion_tokens"] == 5  # five questions, one request: one read each


def test_a_batch_of_200_binary_items(decider: SimplifiedJudge) -> None:
    items = [
        {"question": f"What is {i} + {i}?", "answer": str(2 * i), "prediction": str(2 * i + (i % 3 == 0))}
        for i in range(200)
    ]
    results = decider.evaluate_batch("binary", items)
    assert len(results) == 200
    for result in results:
        assert (result.success and probability(result.p_yes)) or (not result.success and result.error_message)
    assert sum(r.error_type == "ParseError" for r in results) == 0
    assert sum(r.success for r in results) == 200, [r.error_message for r in results if not r.success][:3]
    assert all(r.result == 1 and r.p_yes > 0.99 for r in results)
    assert decider.last_batch_stats.items == 200


def test_the_openai_shape_on_vllm_0_32_is_a_clear_404(systemone_url: str) -> None:
    with SimplifiedJudge(api_type="decisions", base_url=systemone_url, num_retries=3, timeout=60) as judge:
        result = judge.evaluate_binary("q", "a", "p")
    assert not result.success and result.attempts == 1 and result.score is None
    assert "HTTP 404" in result.error_message and "/v1/decisions" in result.error_message
    assert "tiny" in result.error_message  # the served model was discovered; the endpoint is what is missing
