"""`JudgeResult` reads by attribute and by key, and failure kinds are a closed, documented set (docs/results.md)."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

from judgekit import FailureKind, JudgeConfig, JudgeResult, SimplifiedJudge, errors
from judgekit.batching import batch_api, engine
from judgekit.testing import FakeLLMServer, Fault

DOC = Path(__file__).parents[1] / "docs" / "results.md"


def test_a_real_result_reads_by_attribute_and_by_key(fast_config: JudgeConfig, server: FakeLLMServer) -> None:
    server.enqueue("1")
    with SimplifiedJudge(config=fast_config) as judge:
        r = judge.evaluate_binary("2+2?", "4", "4")
    assert r.success is True and r["success"] is True and r.get("success") is True
    assert r.result == r["result"] == 1 and r.scores is None and r.kind == "binary"
    assert r.error_type is None and r.error_message is None and r.usage == r["usage"]
    assert r.p_yes_raw is None and "p_yes_raw" not in r  # an absent documented key reads as its default
    assert list(r) == list(r.keys()) and dict(r) == {**r} and "prompt" in r
    assert json.loads(json.dumps(r))["result"] == 1
    r.result = 0  # attributes write the key
    assert r["result"] == 0


def test_a_failure_carries_its_kind_and_stays_json(fast_config: JudgeConfig, server: FakeLLMServer) -> None:
    server.enqueue("no verdict here", Fault.status_code(401))
    with SimplifiedJudge(config=fast_config) as judge:
        unreadable, refused = judge.evaluate_batch("binary", [{"question": "q", "answer": "a", "prediction": "p"}] * 2)
    kinds = {unreadable.error_type, refused.error_type}
    assert kinds == {FailureKind.PARSE_ERROR, FailureKind.AUTHENTICATION} == {"ParseError", "AuthenticationError"}
    assert all(isinstance(k, FailureKind) for k in kinds)
    dumped = json.loads(json.dumps([unreadable, refused]))
    assert {d["error_type"] for d in dumped} == {"ParseError", "AuthenticationError"}
    assert f"{FailureKind.PARSE_ERROR}" == str(FailureKind.PARSE_ERROR) == "ParseError"
    assert pickle.loads(pickle.dumps(unreadable)) == unreadable
    assert type(unreadable.to_dict()["error_type"]) is str


def test_failure_kinds_map_exceptions_and_names_into_the_closed_set() -> None:
    provider_errors = ("ProviderError", "RateLimitError", "AuthenticationError", "JudgeTimeoutError", "EmptyReplyError")
    for name in (
        *provider_errors,
        "ProviderConnectionError",
        "ProviderResponseError",
        "CircuitOpenError",
        "ParseError",
    ):
        assert FailureKind.of(getattr(errors, name)("x")) == name
    assert FailureKind.of(errors.MissingDependencyError("x")) is FailureKind.CONFIG_ERROR  # the nearest kind

    class VendorQuirk(errors.RateLimitError):
        pass

    assert FailureKind.of(VendorQuirk("x")) is FailureKind.RATE_LIMITED
    assert FailureKind.of(KeyError("x")) is FailureKind.UNEXPECTED
    assert (
        FailureKind.of("BatchPending") is FailureKind.BATCH_PENDING and FailureKind.of("Nope") is FailureKind.UNEXPECTED
    )
    assert JudgeResult(success=False, error_type="QuorumNotMet").error_type is FailureKind.QUORUM_NOT_MET
    failed = JudgeResult.failure("spent", "BudgetExceeded", kind="binary")
    assert failed.success is False and failed.result is None and failed.error_type is FailureKind.BUDGET_EXCEEDED
    # the names the batching layer writes are members
    for name in (engine.BUDGET_EXCEEDED, batch_api.BATCH_PENDING, batch_api.BATCH_FAILED, batch_api.RESULT_MISSING):
        assert FailureKind.of(name).value == name


def test_every_failure_kind_and_key_is_documented() -> None:
    text = DOC.read_text()
    documented = set(re.findall(r"^\| `(\w+)`(?:, `(\w+)`)? \| `[A-Z_]+`", text, re.M))
    values = {v for pair in documented for v in pair if v}
    assert values == {kind.value for kind in FailureKind}
    for key, value in vars(JudgeResult).items():
        if type(value).__name__ == "_Key":
            assert f"`{key}`" in text, key
