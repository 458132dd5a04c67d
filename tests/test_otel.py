"""OpenTelemetry: a span and a ``gen_ai.evaluation.result`` event per judgement, a span per batch, metrics;
no key or prompt text unless asked; off by default. Judgements go to the local server; telemetry to the SDK's
in-memory exporter and metric reader."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from judgekit import JudgeConfig, SimplifiedJudge, __version__, _tracing
from judgekit.config import otel_env
from judgekit.errors import ConfigError
from judgekit.integrations import otel, template_hash
from judgekit.prompts import load_template
from judgekit.testing import FakeLLMServer, Fault, Reply

KEY = "sk-otel-secret-key-123"
QUESTION = "What is the capital of Burkina Faso?"


class Telemetry:
    def __init__(self, capture_content: bool = False) -> None:
        self.spans_out = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans_out))
        self.reader = InMemoryMetricReader()
        meter_provider = MeterProvider(metric_readers=[self.reader])
        otel.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider, capture_content=capture_content)

    def spans(self, prefix: str = "judge ") -> list[ReadableSpan]:
        return [s for s in self.spans_out.get_finished_spans() if s.name.startswith(prefix)]

    def metrics(self) -> dict[str, list[Any]]:
        data = self.reader.get_metrics_data()
        points: dict[str, list[Any]] = {}
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    points.setdefault(metric.name, []).extend(metric.data.data_points)
        return points


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    yield Telemetry()
    otel.uninstrument()


@pytest.fixture
def judge(server: FakeLLMServer, fast_config: JudgeConfig) -> SimplifiedJudge:
    return SimplifiedJudge(config=fast_config.merged(api_key=KEY, num_retries=1, price_per_million=(2.5, 10.0)))


def all_text(span: ReadableSpan) -> str:
    """Every attribute value of the span and its events, as one string."""
    values = [*(span.attributes or {}).values()]
    for event in span.events:
        values.extend((event.attributes or {}).values())
    return json.dumps([str(v) for v in values])


def test_one_span_and_one_evaluation_event_per_judgement(
    telemetry: Telemetry, judge: SimplifiedJudge, server: FakeLLMServer
) -> None:
    usage = {"prompt_tokens": 40, "completion_tokens": 7}
    server.enqueue(Reply("<think>Ouagadougou is the capital.</think>1", usage=usage))
    result = judge.evaluate_binary(QUESTION, "Ouagadougou", "Ouagadougou")
    assert result.success and result.result == 1

    (span,) = telemetry.spans()
    attrs = dict(span.attributes or {})
    assert span.name == "judge binary"
    assert attrs["gen_ai.provider.name"] == attrs["gen_ai.system"] == "openai"
    assert attrs["gen_ai.request.model"] == "gpt-4o"
    assert attrs["gen_ai.usage.input_tokens"] == 40
    assert attrs["gen_ai.usage.output_tokens"] == 7
    assert attrs["judgekit.cost_usd"] == pytest.approx((40 * 2.5 + 7 * 10.0) / 1e6)
    assert span.status.is_ok

    (event,) = span.events
    assert event.name == "gen_ai.evaluation.result"
    ev = dict(event.attributes or {})
    assert ev["gen_ai.evaluation.name"] == "binary"
    assert ev["gen_ai.evaluation.score.value"] == 1.0
    assert ev["gen_ai.evaluation.score.label"] == "yes"
    assert ev["gen_ai.evaluation.explanation"] == "Ouagadougou is the capital."
    assert ev["judgekit.evaluator.version"] == __version__
    assert ev["judgekit.evaluator.backend"] == "openai"
    assert ev["judgekit.evaluator.model"] == "gpt-4o"
    assert ev["judgekit.evaluator.kind"] == "binary"
    assert ev["judgekit.evaluator.prompt_template_hash"] == template_hash(load_template("binary"))
    assert "judgekit.evaluator.calibrator" not in ev

    # its request: a GenAI client span from the pipeline wrapper, a child of the judgement's span
    (chat,) = telemetry.spans("chat ")
    request = dict(chat.attributes or {})
    assert chat.name == "chat gpt-4o" and chat.parent.span_id == span.context.span_id
    assert request["gen_ai.operation.name"] == "chat" and request["gen_ai.provider.name"] == "openai"
    assert (request["gen_ai.request.temperature"], request["gen_ai.request.max_tokens"]) == (0.0, 1024)
    assert (request["gen_ai.usage.input_tokens"], request["gen_ai.usage.output_tokens"]) == (40, 7)
    assert request["gen_ai.response.finish_reasons"] == ("stop",)
    assert not chat.events

    # no key, no prompt text, no question anywhere
    for recorded in (span, chat):
        text = all_text(recorded)
        assert KEY not in text and QUESTION not in text and "capital of" not in text


def test_a_custom_prompt_gets_its_own_template_hash(telemetry: Telemetry, judge: SimplifiedJudge) -> None:
    custom = "Q: {question}\nRef: {answer}\nPred: {prediction}\nReply 1 or 0."
    judge.evaluate_binary("2+2?", "4", "4", custom_prompt=custom)
    (span,) = telemetry.spans()
    assert span.events[0].attributes["judgekit.evaluator.prompt_template_hash"] == template_hash(custom)
    assert template_hash(custom) != template_hash(load_template("binary"))


def test_scores_choices_and_numbers(telemetry: Telemetry, judge: SimplifiedJudge, server: FakeLLMServer) -> None:
    server.enqueue("<score>7</score>", "<better>B</better>", "Score 1: 8\nScore 2: 3")
    judge.evaluate_pointwise("q", "r")
    judge.evaluate_pairwise("q", "a", "b")
    judge.evaluate_comparative("q", "a", "b")
    pointwise, pairwise, comparative = (dict(s.events[0].attributes or {}) for s in telemetry.spans())
    assert pointwise["gen_ai.evaluation.score.value"] == 7.0 and "gen_ai.evaluation.score.label" not in pointwise
    assert pairwise["gen_ai.evaluation.score.label"] == "B" and "gen_ai.evaluation.score.value" not in pairwise
    assert json.loads(comparative["judgekit.scores"]) == [8.0, 3.0]


def test_a_failed_judgement_is_an_error_span_with_its_type(
    telemetry: Telemetry, judge: SimplifiedJudge, server: FakeLLMServer
) -> None:
    server.enqueue(Fault.status_code(500), Fault.status_code(500), "I cannot tell.")
    failed = judge.evaluate_binary(QUESTION, "a", "b")
    unreadable = judge.evaluate_binary(QUESTION, "a", "b")
    assert not failed.success and not unreadable.success
    spans = telemetry.spans()
    assert len(spans) == 2
    for span, error_type in zip(spans, ("ProviderError", "ParseError"), strict=True):
        assert not span.status.is_ok
        assert span.attributes["error.type"] == error_type
        (event,) = span.events
        assert event.attributes["error.type"] == error_type
        assert "gen_ai.evaluation.score.value" not in event.attributes  # never a made-up 0
        assert KEY not in all_text(span) and KEY not in (span.status.description or "")
    failures = telemetry.metrics()["judgekit.judgement.failures"]
    assert sorted((p.attributes["error.type"], p.value) for p in failures) == [("ParseError", 1), ("ProviderError", 1)]


def test_a_batch_span_holds_one_child_per_item(
    telemetry: Telemetry, judge: SimplifiedJudge, server: FakeLLMServer
) -> None:
    server.default_reply = lambda rec: "0" if "wrong" in json.dumps(rec.json) else "1"
    items = [{"question": f"q{i}", "answer": "x", "prediction": "wrong" if i == 2 else "x"} for i in range(4)]
    server.enqueue("1", "1", Fault.status_code(400), "1")  # the third request sent fails (not retried)
    results = judge.evaluate_batch("binary", items)
    assert [r.success for r in results].count(False) == 1

    (batch,) = telemetry.spans("judge_batch")
    children = telemetry.spans("judge binary")
    assert len(children) == 4
    assert all(c.parent is not None and c.parent.span_id == batch.context.span_id for c in children)
    assert sum(len(c.events) for c in children) == 4
    assert batch.attributes["judgekit.batch.size"] == 4
    assert batch.attributes["judgekit.batch.failures"] == 1
    assert not batch.status.is_ok

    metrics = telemetry.metrics()
    (duration,) = metrics["gen_ai.client.operation.duration"][:1]
    assert sum(p.count for p in metrics["gen_ai.client.operation.duration"]) == 4
    assert duration.attributes["gen_ai.request.model"] == "gpt-4o"
    assert sum(p.value for p in metrics["judgekit.judgement.cost"]) == pytest.approx(
        sum(r.cost_usd for r in results if r.success)
    )
    tokens = {p.attributes["gen_ai.token.type"] for p in metrics["gen_ai.client.token.usage"]}
    assert tokens == {"input", "output"}


def test_capture_content_records_prompt_and_reply_only_when_asked(
    judge: SimplifiedJudge, server: FakeLLMServer
) -> None:
    telemetry = Telemetry(capture_content=True)
    try:
        judge.evaluate_binary(QUESTION, "Ouagadougou", "Ouagadougou")
    finally:
        otel.uninstrument()
    (span,) = telemetry.spans("chat ")
    (message,) = json.loads(span.attributes["gen_ai.input.messages"])
    assert message["role"] == "user" and QUESTION in message["parts"][0]["content"]
    assert json.loads(span.attributes["gen_ai.output.messages"])[0]["parts"][0]["content"] == "1"
    assert KEY not in all_text(span)


def test_a_swapped_judgement_is_one_span_over_two_requests(telemetry: Telemetry, judge: SimplifiedJudge) -> None:
    judge.evaluate_pairwise("q", "a", "b", swap=True)
    (span,) = telemetry.spans()
    requests = telemetry.spans("chat ")
    assert len(requests) == 2 and all(r.parent.span_id == span.context.span_id for r in requests)
    assert len(span.events) == 1


def test_requests_sent_without_a_simplified_judge_through_the_wrapper(
    telemetry: Telemetry, judge: SimplifiedJudge, server: FakeLLMServer
) -> None:
    from judgekit import JudgeRequest

    provider = judge.judge
    provider.pipeline = otel.TracedPipeline(provider.pipeline)
    server.enqueue(Fault.status_code(500), Fault.status_code(500))
    response = provider.evaluate(JudgeRequest(messages=[{"role": "user", "content": QUESTION}]))
    assert not response.success
    (chat,) = telemetry.spans("chat ")
    assert chat.attributes["error.type"] == "ProviderError" and not chat.status.is_ok
    assert chat.attributes["judgekit.attempts"] == 2
    assert not telemetry.spans("judge")  # no judgement, so no evaluation event
    (point,) = telemetry.metrics()["gen_ai.client.operation.duration"]
    assert point.attributes["error.type"] == "ProviderError"
    otel.uninstrument()
    assert provider.evaluate(JudgeRequest(messages=[{"role": "user", "content": "q"}])).success  # off: untouched
    assert len(telemetry.spans("chat ")) == 1


def test_off_by_default(judge: SimplifiedJudge) -> None:
    assert _tracing.active() is None
    assert judge.evaluate_binary("q", "a", "a").success


def test_the_standard_variables_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not otel.enabled_by_env({})
    assert not otel.enabled_by_env({"OTEL_TRACES_EXPORTER": "none"})
    assert otel.enabled_by_env({"OTEL_TRACES_EXPORTER": "console"})
    assert otel.enabled_by_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert not otel.enabled_by_env({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"})
    assert otel.configure_from_env({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}) is None
    assert otel_env({"OTEL_SERVICE_NAME": "x", "PATH": "/bin", "OTEL_EMPTY": ""}) == {"OTEL_SERVICE_NAME": "x"}
    with pytest.raises(ConfigError, match=r"OTEL_TRACES_EXPORTER: no traces exporter 'consol'.*did you mean 'console'"):
        otel.configure_from_env({"OTEL_TRACES_EXPORTER": "consol"})


def json_objects(text: str) -> list[Any]:
    decoder, found, at = json.JSONDecoder(), [], 0
    while text[at:].strip():
        at += len(text[at:]) - len(text[at:].lstrip())
        obj, at = decoder.raw_decode(text, at)
        found.append(obj)
    return found


def test_the_cli_reports_with_the_standard_variables(server: FakeLLMServer) -> None:
    import os
    import subprocess
    import sys

    server.enqueue(Reply("<think>4 is 4</think>1"))
    env = {
        **os.environ,
        "OPENAI_API_KEY": KEY,
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_SERVICE_NAME": "judge-ci",
    }
    args = ["judge", "-q", QUESTION, "-a", "4", "-p", "4", "--model", "gpt-4o", "--base-url", server.base_url]
    proc = subprocess.run(
        [sys.executable, "-m", "judgekit.cli", *args], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stderr
    verdict, _, exported = proc.stdout.partition("\n")
    assert verdict == "1"
    chat, span, batch = json_objects(exported)  # the console exporter's spans, as the CLI judges a batch of one
    assert (chat["name"], span["name"], batch["name"]) == ("chat gpt-4o", "judge binary", "judge_batch binary")
    assert chat["parent_id"] == span["context"]["span_id"] and span["parent_id"] == batch["context"]["span_id"]
    assert span["resource"]["attributes"]["service.name"] == "judge-ci"
    (event,) = span["events"]
    assert event["name"] == "gen_ai.evaluation.result"
    assert event["attributes"]["gen_ai.evaluation.score.label"] == "yes"
    assert event["attributes"]["gen_ai.evaluation.explanation"] == "4 is 4"
    assert KEY not in proc.stdout + proc.stderr and QUESTION not in exported
