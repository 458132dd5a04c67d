"""Tiny transformers models built locally, in seconds, for tests (no model hub, no downloads).

- `build_tiny_tokenizer(dir)`: a byte-level BPE tokenizer with a ChatML chat template.
- `build_tiny_qwen2(dir, reply=...)`: a 2-layer Qwen2 causal LM; with ``reply`` it is trained so that greedy
  generation answers any chat prompt with exactly ``reply`` then EOS.
- `build_tiny_reward_model(dir, prefer=...)`: a Qwen2 sequence-classification head (one label); with
  ``prefer`` it is trained so that responses containing ``prefer`` score higher.

Builds are cached per process, keyed by their arguments: a repeated call copies the cached files into
``dir`` (or, with ``dir=None``, returns the cached directory itself, which callers must not modify).
Requires ``torch``, ``transformers`` and ``tokenizers`` (``pip install "judgekit[torch]"``). While a build
trains, torch runs on one thread (``torch.set_num_threads(1)``, restored afterwards): faster for such tiny
matrices, and kinder to a shared machine.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from judgekit.errors import MissingDependencyError

__all__ = [
    "CHAT_TEMPLATE",
    "EOS_TOKEN",
    "PAD_TOKEN",
    "build_tiny_qwen2",
    "build_tiny_reward_model",
    "build_tiny_tokenizer",
]

PAD_TOKEN = "<|endoftext|>"
BOS_TOKEN = "<|im_start|>"
EOS_TOKEN = "<|im_end|>"
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""ChatML, as Qwen2 and SmolLM2 use it."""

_WORDS = (
    "the",
    "answer",
    "is",
    "correct",
    "wrong",
    "question",
    "model",
    "response",
    "judge",
    "score",
    "reference",
    "prediction",
    "paris",
    "london",
    "capital",
    "france",
    "two",
    "plus",
    "four",
    "five",
    "seven",
    "eight",
    "nine",
    "helpful",
    "accurate",
    "complete",
    "reasoning",
    "step",
    "final",
    "output",
    "value",
    "rubric",
    "criterion",
    "better",
    "worse",
    "equal",
    "number",
    "math",
    "result",
    "think",
    "evaluate",
    "rate",
    "compare",
    "user",
    "assistant",
    "system",
    "please",
    "explain",
    "why",
    "because",
    "clear",
    "concise",
    "detail",
    "example",
    "total",
    "points",
    "range",
)
_CORPUS = (
    "The answer is correct.",
    "The prediction is wrong.",
    "What is the capital of France? Paris.",
    "Two plus two equals four.",
    "Rate the response on a scale from 1 to 10.",
    "Which response is better?",
    "Output only Yes or No.",
    "Output only 1 or 0.",
    "<think>ok</think><score>3</score>",
    "<better>A</better>",
    "<better>B</better>",
    '{"accuracy": 7}',
    '{"helpfulness": 8, "accuracy": 9}',
    "[Question]",
    "[End of Question]",
    "[Reference Answer]",
    "[Model Prediction]",
    "[Response]",
    "Response A",
    "Response B",
    "Score: 8",
    "8 3",
    "0 1 2 3 4 5 6 7 8 9 10",
)
_VERDICTS = ("Yes", "No", " Yes", " No", "yes", "no", "1", "0", "A", "B", "True", "False")

_cache_lock = threading.Lock()
_cache_root: Path | None = None
_built: dict[tuple[Any, ...], Path] = {}
_key_locks: dict[tuple[Any, ...], threading.Lock] = {}


def _deps() -> tuple[Any, Any, Any]:
    try:
        import tokenizers
        import torch
        import transformers
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise MissingDependencyError('pip install "judgekit[torch]"') from exc
    return torch, transformers, tokenizers


def _cached(key: tuple[Any, ...], build: Callable[[Path], None], dest: str | Path | None) -> Path:
    """Build once per process into a temp dir keyed by ``key``; copy into ``dest`` when given."""
    global _cache_root
    with _cache_lock:
        if _cache_root is None:
            _cache_root = Path(tempfile.mkdtemp(prefix="judgekit-tiny-"))
        lock = _key_locks.setdefault(key, threading.Lock())
    with lock:
        path = _built.get(key)
        if path is None or not path.exists():
            path = _cache_root / f"m{len(_built)}-{abs(hash(key)) % 10**8}"
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True)
            build(path)
            _built[key] = path
    if dest is None:
        return path
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(path, dest, dirs_exist_ok=True)
    return dest


# --------------------------------------------------------------------------------------------- tokenizer


def _make_tokenizer() -> Any:
    _, transformers, tokenizers = _deps()
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        min_frequency=1,
        special_tokens=[PAD_TOKEN, BOS_TOKEN, EOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = [*_CORPUS, " ".join(_WORDS)] * 4 + [" ".join(_VERDICTS)] * 20
    tok.train_from_iterator(corpus, trainer=trainer)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS_TOKEN, eos_token=EOS_TOKEN, pad_token=PAD_TOKEN, padding_side="left"
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_tokenizer(dir: str | Path | None = None) -> Any:
    """A byte-level BPE tokenizer (vocab 512, trained here on a few sentences, verdict words and digits) with
    a ChatML ``chat_template``, pad ``<|endoftext|>`` and eos ``<|im_end|>``; saved to ``dir`` when given.

    Returns the `transformers.PreTrainedTokenizerFast`. Digits, ``Yes``/``No`` and `` Yes``/`` No`` are single
    tokens.
    """
    _, transformers, _ = _deps()
    path = _cached(("tokenizer",), lambda p: _make_tokenizer().save_pretrained(p), dir)
    return transformers.AutoTokenizer.from_pretrained(path)


# ---------------------------------------------------------------------------------------- causal LM


def _qwen2_config(tokenizer: Any, head_dim: int, **extra: Any) -> Any:
    _, transformers, _ = _deps()
    return transformers.Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=head_dim,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.convert_tokens_to_ids(BOS_TOKEN),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **extra,
    )


def _random_text(rng: random.Random, low: int, high: int) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(low, high))]
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words) + 1), rng.choice(_CORPUS))
    return " ".join(words)


def _random_prompt(rng: random.Random) -> list[dict[str, str]]:
    """A chat for training: random words, or one of judgekit's own prompt templates filled with random words."""
    from judgekit.kinds import KINDS
    from judgekit.prompts import fill_template, load_template, template_fields

    if rng.random() < 0.4:
        template = load_template(rng.choice([spec.template for spec in KINDS.values()]))
        content = fill_template(template, {name: _random_text(rng, 1, 8) for name in template_fields(template)})
    else:
        content = _random_text(rng, 1, 40)
    messages = [{"role": "user", "content": content}]
    if rng.random() < 0.15:
        messages.insert(0, {"role": "system", "content": _random_text(rng, 2, 10)})
    return messages


def _chat_ids(tokenizer: Any, messages: list[dict[str, str]], **kwargs: Any) -> list[int]:
    ids = tokenizer.apply_chat_template(messages, **kwargs)
    return list(ids if isinstance(ids, list) else ids["input_ids"])


def _prompt_ids(tokenizer: Any, rng: random.Random, max_len: int) -> list[int]:
    """Chat-formatted prompt ids; long ones mostly keep only their end (what precedes the reply)."""
    ids = _chat_ids(tokenizer, _random_prompt(rng), add_generation_prompt=True)
    if len(ids) > max_len and rng.random() < 0.9:
        ids = ids[-rng.randint(8, max_len) :]
    return ids


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Tiny matrices: one torch thread is faster than several, and shares a busy machine better."""
    torch, _, _ = _deps()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _train(model: Any, batches: Callable[[int], tuple[Any, ...]], loss_fn: Callable[..., Any], steps: int) -> None:
    torch, _, _ = _deps()
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 20) * (1 - s / (steps + 1)))
    for step in range(steps):
        loss = loss_fn(*batches(step))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
    model.eval()


def _pad_right(rows: list[list[int]], pad: int) -> tuple[Any, Any]:
    torch, _, _ = _deps()
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids, mask


def _build_qwen2(path: Path, reply: str | None, steps: int, head_dim: int, seed: int) -> None:
    torch, transformers, _ = _deps()
    tokenizer = build_tiny_tokenizer()
    with torch.random.fork_rng(), _one_thread():
        torch.manual_seed(seed)
        model = transformers.Qwen2ForCausalLM(_qwen2_config(tokenizer, head_dim))
        if reply is not None and steps > 0:
            rng = random.Random(seed)
            target = tokenizer(reply, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]

            def batch(_step: int) -> tuple[Any, ...]:
                rows, starts = [], []
                for _ in range(8):
                    prompt = _prompt_ids(tokenizer, rng, 96)
                    starts.append(len(prompt))
                    rows.append(prompt + target)
                ids, mask = _pad_right(rows, tokenizer.pad_token_id)
                labels = torch.full_like(ids, -100)
                for i, start in enumerate(starts):
                    labels[i, start : start + len(target)] = ids[i, start : start + len(target)]
                return ids, mask, labels

            def loss(ids: Any, mask: Any, labels: Any) -> Any:
                return model(input_ids=ids, attention_mask=mask, labels=labels).loss

            _train(model, batch, loss, steps)
            for _ in range(3):  # a few more rounds if greedy decoding does not reproduce the reply yet
                if _replies_ok(model, tokenizer, reply, random.Random(seed + 1)):
                    break
                _train(model, batch, loss, max(steps // 2, 20))
    model.generation_config.do_sample = False
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)


def _replies_ok(model: Any, tokenizer: Any, reply: str, rng: random.Random) -> bool:
    """Whether greedy decoding answers a few fresh prompts (including a full judge template) with ``reply``."""
    torch, _, _ = _deps()
    from judgekit.prompts import fill_template, load_template, template_fields

    template = load_template("pointwise")
    chats = [_random_prompt(rng) for _ in range(3)]
    chats.append([{"role": "user", "content": fill_template(template, dict.fromkeys(template_fields(template), "x"))}])
    rows = [_chat_ids(tokenizer, chat, add_generation_prompt=True) for chat in chats]
    width = max(map(len, rows))
    ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    max_new = len(tokenizer(reply, add_special_tokens=False)["input_ids"]) + 2
    with torch.inference_mode():
        out = model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=max_new,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    texts = tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
    return all(text == reply for text in texts)


def build_tiny_qwen2(
    dir: str | Path | None = None,
    *,
    reply: str | None = None,
    steps: int = 30,
    head_dim: int = 64,
    seed: int = 0,
) -> Path:
    """A tiny Qwen2 causal LM (hidden 128, 2 layers, 2 heads, 1 KV head) plus tokenizer, saved in ``dir``.

    Random weights; with ``reply``, ``steps`` AdamW steps (batch 8, lr 1e-2) on chat prompts (random text and
    judgekit's own templates) teach it to answer any prompt with ``reply`` then EOS under greedy decoding; a few
    extra rounds run if a check on fresh prompts fails. A few seconds on 2 CPU cores.
    Returns the directory to pass as ``model_name``.
    """
    return _cached(
        ("qwen2", reply, steps, head_dim, seed), lambda p: _build_qwen2(p, reply, steps, head_dim, seed), dir
    )


# --------------------------------------------------------------------------------------- reward model


def _build_reward(path: Path, prefer: str | None, steps: int, seed: int) -> None:
    torch, transformers, _ = _deps()
    tokenizer = build_tiny_tokenizer()
    with torch.random.fork_rng(), _one_thread():
        torch.manual_seed(seed)
        config = _qwen2_config(tokenizer, 64, num_labels=1)
        model = transformers.Qwen2ForSequenceClassification(config)
        if prefer is not None and steps > 0:
            rng = random.Random(seed)

            def encode(question: str, response: str) -> list[int]:
                chat = [{"role": "user", "content": question}, {"role": "assistant", "content": response}]
                return _chat_ids(tokenizer, chat)

            def batch(_step: int) -> tuple[Any, ...]:
                rows = []
                for _ in range(8):
                    question = _random_text(rng, 2, 20)
                    plain = _random_text(rng, 1, 12)
                    words = plain.split()
                    words.insert(rng.randrange(len(words) + 1), prefer)
                    rows += [encode(question, " ".join(words)), encode(question, plain)]
                return _pad_right(rows, tokenizer.pad_token_id)

            def loss(ids: Any, mask: Any) -> Any:
                scores = model(input_ids=ids, attention_mask=mask).logits[:, 0]
                return -torch.nn.functional.logsigmoid(scores[0::2] - scores[1::2]).mean()

            _train(model, batch, loss, steps)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)


def build_tiny_reward_model(
    dir: str | Path | None = None, *, prefer: str | None = None, steps: int = 30, seed: int = 0
) -> Path:
    """A tiny Qwen2 reward model (`Qwen2ForSequenceClassification`, one label, ``pad_token_id`` set).

    With ``prefer``, ``steps`` Bradley-Terry steps on (question, response) chats make responses that
    contain ``prefer`` score higher than ones that do not. Returns the directory to pass as ``model_name``.
    """
    return _cached(("reward", prefer, steps, seed), lambda p: _build_reward(p, prefer, steps, seed), dir)
