"""`Jury`: a panel of judges that votes, and `tally`, the vote itself (shared with self-consistency and the
reward adapter's multi-judge reward).

A jury has the ``evaluate_*`` / ``aevaluate_*`` methods of `~judgekit.SimplifiedJudge` for every judge kind
(generated from the kind spec) and ``evaluate_batch`` / ``aevaluate_batch``. Jurors judge concurrently. A
failed juror is not a vote; with fewer successful jurors than ``quorum`` (default: a majority of the panel)
the jury's result is a failure, never a default verdict. A tie is reported as a tie (``result`` "tie",
``tie`` True).

How a vote reads each kind (see `tally`):

- verdicts (binary, correctness): ``majority`` and ``weighted`` count the jurors' yes/no (``weighted``: each
  juror's weight); ``mean`` and ``median`` take the mean / median of P(yes) when every counted juror has one
  (logprob scoring), else of the 1/0 verdicts, and say yes above 0.5, no below, tie at 0.5;
- preferences (pairwise): ``majority`` / ``weighted`` count A, B and tie; ``mean`` / ``median`` read A as 1,
  tie as 0.5, B as 0 and decide as for verdicts;
- scores (pointwise, comparative, rubric): ``mean``, ``median`` and ``weighted`` (a weighted mean) of each
  score; ``majority`` takes the median (the score at least half the panel gives or exceeds, and at most).
"""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from judgekit._sync import run_sync
from judgekit.errors import ConfigError, JudgeError
from judgekit.kinds import BUILTIN_KINDS, KindSpec, get_kind, kind_of_method
from judgekit.types import FailureKind, JudgeResult

__all__ = ["Jury", "Tally", "Vote", "combine_results", "tally"]

Vote = Literal["majority", "mean", "median", "weighted"]
VOTES: tuple[str, ...] = ("majority", "mean", "median", "weighted")
_PREFERENCE_VALUE = {"A": 1.0, "tie": 0.5, "B": 0.0}


@dataclass(frozen=True)
class Tally:
    """The outcome of a vote: the ``value`` (a verdict 1/0, "A"/"B", "tie", or a number), the share of the
    counted votes that agree with it (weighted under ``weighted``) and whether it was a tie."""

    value: Any
    agreement: float
    tie: bool = False


def tally(
    values: Sequence[Any],
    vote: Vote = "majority",
    weights: Sequence[float] | None = None,
    *,
    group: Literal["verdict", "preference", "score"] = "verdict",
) -> Tally:
    """Combine the counted votes ``values``: 1/0 (or P(yes) in [0, 1] under mean/median) for ``verdict``,
    "A"/"B"/"tie" for ``preference``, numbers for ``score``. ``weights`` (one per value) only for ``weighted``."""
    if not values:
        raise ValueError("a vote needs at least one value")
    w = [1.0] * len(values) if weights is None else [float(x) for x in weights]
    if group == "score":
        numbers = [float(v) for v in values]
        if vote == "mean":
            return Tally(statistics.fmean(numbers), _spread_agreement(numbers))
        if vote == "weighted":
            return Tally(sum(x * y for x, y in zip(numbers, w, strict=True)) / sum(w), _spread_agreement(numbers))
        return Tally(statistics.median(numbers), _spread_agreement(numbers))
    if vote in ("majority", "weighted"):
        counts: Counter[Any] = Counter()
        for value, weight in zip(values, w, strict=True):
            counts[_category(value, group)] += weight
        (top, top_weight), *rest = [*counts.most_common(), (None, 0.0)]
        total = sum(counts.values())
        if rest and rest[0][1] == top_weight:
            return Tally("tie", top_weight / total, tie=True)
        return Tally(top, top_weight / total, tie=top == "tie")
    numbers = [_PREFERENCE_VALUE[v] if group == "preference" else float(v) for v in values]
    centre = statistics.fmean(numbers) if vote == "mean" else statistics.median(numbers)
    if centre == 0.5:
        value: Any = "tie"
    elif group == "preference":
        value = "A" if centre > 0.5 else "B"
    else:
        value = int(centre > 0.5)
    agreeing = sum(_category(v, group) == value for v in values) if value != "tie" else 0
    return Tally(value, agreeing / len(values), tie=value == "tie")


def _category(value: Any, group: str) -> Any:
    if group == "preference":
        return value
    return int(float(value) > 0.5) if not isinstance(value, bool) else int(value)


def _spread_agreement(numbers: list[float]) -> float:
    """For scores: the share of the panel giving the most common score (a rough agreement figure)."""
    return Counter(numbers).most_common(1)[0][1] / len(numbers)


# ------------------------------------------------------------------------------------------- results


def _group(spec: KindSpec) -> Literal["verdict", "preference", "score"]:
    if spec.verdict:
        return "verdict"
    return "preference" if spec.slot == "result" else "score"


def combine_results(
    kind: str,
    results: Sequence[JudgeResult],
    *,
    vote: Vote = "majority",
    weights: Sequence[float] | None = None,
    quorum: int | None = None,
    names: Sequence[str] | None = None,
) -> JudgeResult:
    """One result from the results of a panel (or of one judge sampled several times), by `tally`.

    Failed results are not votes. With fewer successful results than ``quorum`` (default: a majority of
    the panel) the result is a failure (``error_type`` "QuorumNotMet") naming why each failed. The combined
    result keeps every result in ``votes`` and the ``agreement`` of the counted ones with the verdict; its
    ``model`` is ``jury(m1, m2, ...)`` (or the one model, for samples of one judge)."""
    spec = get_kind(kind)
    names = list(names) if names is not None else [f"juror{i}" for i in range(len(results))]
    needed = quorum if quorum is not None else len(results) // 2 + 1
    ok = [(i, r) for i, r in enumerate(results) if r.get("success")]
    models = [str(r.get("model") or names[i]) for i, r in enumerate(results)]  # one model sampled k times: its name
    providers = {r.get("provider") for r in results}
    base = {
        "kind": spec.name,
        "votes": list(results),
        "n_votes": len(ok),
        "provider": providers.pop() if len(providers) == 1 else "jury",
        "model": models[0] if len(set(models)) == 1 else "jury(" + ", ".join(models) + ")",
        "prompt": next((r.get("prompt") for r in results if r.get("prompt")), None),
        "usage": _summed_usage(results),
        "latency_s": max((r.get("latency_s") or 0.0 for r in results), default=0.0),
        "cached": bool(results) and all(r.get("cached") for r in results),
        "cost_usd": None if any(r.get("cost_usd") is None for r in results) else sum(r["cost_usd"] for r in results),
        "raw_response": None,
        "reasoning": None,
        "attempts": sum(r.get("attempts") or 0 for r in results),
        "result": None,
        "scores": None,
        "score": None,
        "p_yes": None,
        "expected_score": None,
        "agreement": None,
        "tie": False,
        "error_message": None,
        "error_type": None,
    }
    if len(ok) < needed:
        why = "; ".join(
            f"{names[i]}: {r.get('error_message') or 'failed'}" for i, r in enumerate(results) if not r.get("success")
        )
        return JudgeResult(
            {
                **base,
                "success": False,
                "error_type": FailureKind.QUORUM_NOT_MET,
                "error_message": f"only {len(ok)} of {len(results)} jurors succeeded, quorum is "
                f"{needed}" + (f" ({why})" if why else ""),
            }
        )
    counted = [r for _, r in ok]
    juror_weights = [weights[i] for i, _ in ok] if weights is not None else None
    group = _group(spec)
    out = {**base, "success": True}
    if group == "score":
        out["scores"] = _combine_scores([r["scores"] for r in counted], vote, juror_weights, out)
        expected = [r.get("expected_score") for r in counted]
        if all(e is not None for e in expected):
            out["expected_score"] = statistics.fmean(expected)
        return JudgeResult(out)
    p_yes = [r.get("p_yes") for r in counted]
    has_p = group == "verdict" and all(p is not None for p in p_yes)
    if group == "verdict":
        values: list[Any] = p_yes if has_p and vote in ("mean", "median") else [int(bool(r["result"])) for r in counted]
    else:
        values = [r["result"] for r in counted]
    outcome = tally(values, vote, juror_weights, group=group)
    out.update(agreement=outcome.agreement, tie=outcome.tie)
    if has_p:
        out["p_yes"] = statistics.fmean(p_yes)
    if outcome.tie or group == "preference":
        out["result"] = outcome.value
    else:  # the juror's own verdict object (1/0, or a yes/no Verdict) for the winning side
        out["result"] = next(r["result"] for r in counted if int(bool(r["result"])) == outcome.value)
    return JudgeResult(out)


def _combine_scores(scores: list[Any], vote: Vote, weights: Sequence[float] | None, out: dict[str, Any]) -> Any:
    """Scores combined per position: a number, a (score1, score2) pair, or {criterion: score}."""
    first = scores[0]
    if isinstance(first, Mapping):
        parts = {key: tally([s[key] for s in scores], vote, weights, group="score") for key in first}
        out["agreement"] = statistics.fmean(t.agreement for t in parts.values())
        return {key: t.value for key, t in parts.items()}
    if isinstance(first, (tuple, list)):
        pair = [tally([s[i] for s in scores], vote, weights, group="score") for i in range(len(first))]
        out["agreement"] = statistics.fmean(t.agreement for t in pair)
        return tuple(t.value for t in pair)
    single = tally(scores, vote, weights, group="score")
    out["agreement"] = single.agreement
    return single.value


def _summed_usage(results: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for r in results:
        total.update({k: int(v or 0) for k, v in (r.get("usage") or {}).items()})
    return dict(total)


# ---------------------------------------------------------------------------------------------- the jury


class Jury:
    """A panel of judges that votes.

    >>> jury = Jury([SimplifiedJudge(model_name="gpt-4o"), SimplifiedJudge(api_type="anthropic"),
    ...              SimplifiedJudge(api_type="vllm")])                                  # doctest: +SKIP
    >>> r = jury.evaluate_binary("2+2?", "4", "It is 4.")                                # doctest: +SKIP
    >>> r.result, r.agreement, len(r.votes)                                              # doctest: +SKIP
    (1, 1.0, 3)

    ``judges``: `~judgekit.SimplifiedJudge` objects (or anything with their async methods, another `Jury`
    included). ``vote``: majority, mean, median or weighted (with ``weights``, one per judge). ``quorum``: how
    many jurors must succeed (default: a majority of the panel). ``names`` label the jurors in errors.
    """

    def __init__(
        self,
        judges: Sequence[Any],
        vote: Vote = "majority",
        weights: Sequence[float] | None = None,
        quorum: int | None = None,
        *,
        names: Sequence[str] | None = None,
    ) -> None:
        self.judges = list(judges)
        if not self.judges:
            raise ConfigError("a jury needs at least one judge", "judges")
        if vote not in VOTES:
            raise ConfigError(f"vote must be one of {', '.join(VOTES)}, got {vote!r}", "vote")
        if weights is not None:
            weights = [float(w) for w in weights]
            if len(weights) != len(self.judges) or any(w < 0 for w in weights) or not sum(weights):
                raise ConfigError("weights must be one non-negative number per judge, not all zero", "weights")
        elif vote == "weighted":
            raise ConfigError('vote="weighted" needs weights (one per judge)', "weights")
        if quorum is not None and not 1 <= quorum <= len(self.judges):
            raise ConfigError(f"quorum must be between 1 and the number of judges ({len(self.judges)})", "quorum")
        if names is not None and len(names) != len(self.judges):
            raise ConfigError("names must hold one name per judge", "names")
        self.vote, self.weights, self.quorum = vote, weights, quorum
        self.names = list(names) if names is not None else [f"juror{i}" for i in range(len(self.judges))]
        first = self.judges[0]
        self.config = getattr(first, "config", None)

    def __repr__(self) -> str:
        return f"Jury({len(self.judges)} judges, vote={self.vote!r}, quorum={self._quorum})"

    @property
    def _quorum(self) -> int:
        return self.quorum if self.quorum is not None else len(self.judges) // 2 + 1

    async def _aevaluate(self, spec: KindSpec, args: tuple[Any, ...], options: dict[str, Any]) -> JudgeResult:
        calls = [getattr(judge, spec.async_method)(*args, **options) for judge in self.judges]
        return self._combine(spec.name, await self._gather(calls))

    async def aevaluate_batch(
        self,
        kind: str,
        items: Sequence[Mapping[str, Any]],
        *,
        max_concurrency: int | None = None,
        progress: bool | dict[str, Any] = False,
        **budget: Any,
    ) -> list[JudgeResult]:
        """Every juror judges the batch (concurrently, each with its own batching); one combined result per
        item, in input order. ``progress`` shows the first juror's bar."""
        spec = get_kind(kind)
        calls = [
            judge.aevaluate_batch(
                spec.name, items, max_concurrency=max_concurrency, progress=progress if i == 0 else False, **budget
            )
            for i, judge in enumerate(self.judges)
        ]
        per_juror = await asyncio.gather(*calls)
        return [self._combine(spec.name, [results[i] for results in per_juror]) for i in range(len(items))]

    def evaluate_batch(
        self,
        kind: str,
        items: Sequence[Mapping[str, Any]],
        *,
        max_concurrency: int | None = None,
        progress: bool | dict[str, Any] = False,
        **budget: Any,
    ) -> list[JudgeResult]:
        """Judge many items of one ``kind`` with the whole panel; one result per item, in input order."""
        return run_sync(self.aevaluate_batch(kind, items, max_concurrency=max_concurrency, progress=progress, **budget))

    async def _gather(self, calls: list[Any]) -> list[JudgeResult]:
        """Jurors' results in panel order; a juror that raised (other than a `ConfigError`) is a failed vote."""
        outcomes = await asyncio.gather(*calls, return_exceptions=True)
        results = []
        for outcome in outcomes:
            if isinstance(outcome, JudgeError) and not isinstance(outcome, ConfigError):
                outcome = JudgeResult(
                    success=False,
                    result=None,
                    scores=None,
                    error_message=str(outcome),
                    error_type=FailureKind.of(outcome),
                )
            elif isinstance(outcome, BaseException):
                raise outcome
            results.append(outcome)
        return results

    def _combine(self, kind: str, results: Sequence[JudgeResult]) -> JudgeResult:
        return combine_results(
            kind, results, vote=self.vote, weights=self.weights, quorum=self.quorum, names=self.names
        )

    async def aclose(self) -> None:
        """Close every juror."""
        await asyncio.gather(*(j.aclose() for j in self.judges if hasattr(j, "aclose")))

    def close(self) -> None:
        """Synchronous twin of `aclose`."""
        run_sync(self.aclose())

    def __getattr__(self, name: str) -> Any:
        """The ``evaluate_<kind>`` method (and async twin) of a kind added with `judgekit.kinds.register_kind`."""
        spec = kind_of_method(name)
        if spec is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        synchronous, asynchronous = _kind_methods(spec)
        return (asynchronous if name == spec.async_method else synchronous).__get__(self)

    def __enter__(self) -> Jury:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _kind_methods(spec: KindSpec) -> tuple[Any, Any]:
    """The ``evaluate_<kind>`` method and its async twin for one kind."""

    async def asynchronous(self: Jury, *args: Any, **options: Any) -> JudgeResult:
        return await self._aevaluate(spec, args, options)

    def synchronous(self: Jury, *args: Any, **options: Any) -> JudgeResult:
        return run_sync(self._aevaluate(spec, args, options))

    fields = ", ".join(spec.fields)
    synchronous.__name__, asynchronous.__name__ = spec.method, spec.async_method
    synchronous.__qualname__, asynchronous.__qualname__ = f"Jury.{spec.method}", f"Jury.{spec.async_method}"
    synchronous.__doc__ = (
        f"Every juror's ``{spec.method}({fields}, **options)``, combined by the jury's vote; "
        "the result keeps each juror's result in ``votes``."
    )
    asynchronous.__doc__ = f"Async twin of `{spec.method}`."
    return synchronous, asynchronous


for _spec in BUILTIN_KINDS:  # a registered kind's methods come from Jury.__getattr__
    for _method in _kind_methods(_spec):
        setattr(Jury, _method.__name__, _method)
del _spec, _method
