"""How a reward model's scalar answers a judge kind: the one mapping shared by the HTTP reward-model provider
(`judgekit.providers.reward_model`) and the in-process torch reward head (``torch.mode="reward"``), so both
give the same result for the same model. Pure: no I/O.

A reward model scores a conversation (the question as the user turn, a response as the assistant turn) with one
number r, a logit (or, with ``activation``, the server's probability). ``p = calibrated(r)`` is sigmoid(r) (the
probability itself with ``activation``) passed through the ``calibrator`` when one is set
(`RewardModelOptions`). Then, per kind:

- **pointwise**: ``scale="raw"`` (default): the score is r itself (the reward-model scalar, unbounded);
  ``scale="score_range"``: ``low + p * (high - low)``;
- **binary**, **correctness**: P(yes) = p; the verdict is P(yes) >= ``decision_threshold`` (answered as a decision,
  so results carry ``p_yes``); the reference answer is not shown to the model: it judges the response's quality;
- **pairwise**: P(A) = sigmoid(r_A - r_B) (Bradley-Terry), answered as a decision (results carry ``p_a``);
  ``swap`` judges again with the responses exchanged, as for any judge.

The reply text (``raw_response``) is what the kind's parser would read (``<score>..</score>``, ``1``/``0``,
``<better>A</better>``), so code that parses text agrees with the numbers.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from judgekit.calibration import load
from judgekit.config import JudgeConfig, RewardModelOptions
from judgekit.errors import ConfigError

__all__ = ["KINDS", "Scalar", "ScalarMap", "conversations"]

KINDS = ("binary", "correctness", "pointwise", "pairwise")
"""The kinds a scalar judge answers."""


def conversations(kind: str | None, fields: Mapping[str, Any]) -> list[list[dict[str, str]]]:
    """The conversations a reward model scores for one task of ``kind``: one (binary, correctness, pointwise) or
    two (pairwise: response1, response2). Raises `ConfigError` for a kind a scalar cannot answer."""
    if kind not in KINDS:
        raise ConfigError(
            f"a reward model (a scalar judge) answers {', '.join(KINDS)}, not {kind}; use a generative judge for it",
            "kind",
        )
    question = str(fields.get("question", ""))
    if kind == "pairwise":
        responses = [fields.get("response1", ""), fields.get("response2", "")]
    elif kind == "pointwise":
        responses = [fields.get("response", "")]
    else:
        responses = [fields.get("prediction", "")]
    return [[{"role": "user", "content": question}, {"role": "assistant", "content": str(r)}] for r in responses]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _logit(p: float) -> float:
    p = min(max(p, 1e-12), 1.0 - 1e-12)
    return math.log(p / (1.0 - p))


@dataclass(frozen=True)
class Scalar:
    """What a scalar judge answered for one task: the reply text, the native ``score`` and, for verdict and
    pairwise kinds, the decision answers (`judgekit.types.JudgeResponse.decisions`)."""

    content: str
    score: float
    decisions: dict[str, dict[str, Any]] | None
    rewards: list[float]


@dataclass(frozen=True)
class ScalarMap:
    """The mapping of `RewardModelOptions` (``activation``, ``scale``, ``calibrator``) with the judge's
    ``decision_threshold``; build it with `from_config`."""

    activation: bool = False
    scale: str = "raw"
    calibrator: Any = None
    threshold: float = 0.5

    @classmethod
    def from_config(cls, config: JudgeConfig) -> ScalarMap:
        options: RewardModelOptions = config.reward_model
        calibrator = _load_calibrator(options.calibrator) if options.calibrator else None
        return cls(options.activation, options.scale, calibrator, config.decision_threshold)

    def logit(self, reward: float) -> float:
        """The reward as a logit (the Bradley-Terry scale)."""
        return _logit(reward) if self.activation else reward

    def probability(self, reward: float) -> float:
        """``p``: the reward as a probability, through the calibrator when one is set."""
        p = reward if self.activation else _sigmoid(reward)
        return float(self.calibrator(p)) if self.calibrator is not None else p

    def answer(self, kind: str | None, options: Mapping[str, Any], rewards: Sequence[float]) -> Scalar:
        """The answer to a task of ``kind`` (None: a raw conversation, scored like pointwise ``raw``) from the
        rewards of its `conversations`; ``options`` are the task's (``score_range``, ``output_format``)."""
        rewards = [float(r) for r in rewards]
        if kind == "pairwise":
            p_a = _sigmoid(self.logit(rewards[0]) - self.logit(rewards[1]))
            content = f"<better>{'A' if p_a >= 0.5 else 'B'}</better>"
            return Scalar(content, p_a, {"better": {"probabilities": {"A": p_a, "B": 1.0 - p_a}}}, rewards)
        reward = rewards[0]
        if kind in ("binary", "correctness"):
            p_yes = self.probability(reward)
            positive = p_yes >= self.threshold
            word = ("yes" if positive else "no") if options.get("output_format") == "yes/no" else str(int(positive))
            decisions = {"verdict": {"probabilities": {"yes": p_yes, "no": 1.0 - p_yes}}}
            return Scalar(word, p_yes, decisions, rewards)
        if kind is not None and self.scale == "score_range":
            low, high = (float(v) for v in options.get("score_range") or (1, 10))
            score = low + self.probability(reward) * (high - low)
        else:
            score = reward
        return Scalar(f"<score>{score:.6g}</score>", score, None, rewards)


@functools.lru_cache(maxsize=8)
def _load_calibrator(path: str) -> Any:
    return load(path)
