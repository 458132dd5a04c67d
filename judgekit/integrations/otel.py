"""OpenTelemetry for judgekit (the ``[otel]`` extra): a span per judgement and per batch, a
``gen_ai.evaluation.result`` event per judgement, a GenAI client span per request (`TracedPipeline`, a pipeline
wrapper), and metrics. Off by default.

- `instrument()` turns it on in a program, with the global (or given) tracer and meter providers;
  `uninstrument()` turns it off again.
- `configure_from_env()` is what ``judgekit`` commands (``judge``, ``batch``, ``serve``) call: with the
  standard ``OTEL_*`` variables it builds the SDK's providers and exporters and instruments (docs/integrations.md).

Attributes follow the OpenTelemetry GenAI semantic conventions (``gen_ai.provider.name`` and the older
``gen_ai.system``, ``gen_ai.request.model``, ``gen_ai.usage.input_tokens`` / ``output_tokens``, the
``gen_ai.evaluation.*`` event attributes); the evaluator's provenance rides in ``judgekit.evaluator.*``.
No key, URL or prompt text is recorded unless ``capture_content=True`` (or
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``) asks for the prompt and the reply.
"""

from __future__ import annotations

import difflib
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from importlib.metadata import entry_points
from typing import Any

from judgekit import _tracing
from judgekit.config import JudgeConfig, otel_env
from judgekit.errors import ConfigError, MissingDependencyError
from judgekit.integrations import error_name, provenance
from judgekit.pipeline import BatchScope, Pipeline
from judgekit.types import JudgeRequest, JudgeResponse
from judgekit.wrappers import PipelineWrapper

try:
    from opentelemetry import metrics, trace
    from opentelemetry.trace import Status, StatusCode
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingDependencyError('OpenTelemetry is not installed: pip install "judgekit[otel]"') from exc

__all__ = ["EVALUATION_EVENT", "JudgekitTracer", "TracedPipeline", "configure_from_env", "instrument", "uninstrument"]

EVALUATION_EVENT = "gen_ai.evaluation.result"
CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
MAX_EXPLANATION_CHARS = 4096

# judgekit provider names -> the GenAI conventions' well-known `gen_ai.provider.name` values, where one exists
_PROVIDER_NAMES = {"azure": "azure.ai.openai", "openai": "openai", "anthropic": "anthropic"}
_EXPORTER_GROUPS = {"traces": "opentelemetry_traces_exporter", "metrics": "opentelemetry_metrics_exporter"}


class JudgekitTracer:
    """The `judgekit._tracing.Tracer` that reports to OpenTelemetry (installed by `instrument`)."""

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        *,
        capture_content: bool = False,
    ) -> None:
        from judgekit import __version__ as version

        self.tracer = trace.get_tracer("judgekit", version, tracer_provider=tracer_provider)
        meter = metrics.get_meter("judgekit", version, meter_provider=meter_provider)
        self.capture_content = capture_content
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="Time a request took, retries included"
        )
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Tokens a request used, by gen_ai.token.type"
        )
        self.judgement_duration = meter.create_histogram(
            "judgekit.judgement.duration", unit="s", description="Time a judgement took (all its requests)"
        )
        self.failures = meter.create_counter(
            "judgekit.judgement.failures", unit="{judgement}", description="Failed judgements, by error.type"
        )
        self.cost = meter.create_counter("judgekit.judgement.cost", unit="USD", description="What judgements cost")

    # -- the two hooks ---------------------------------------------------------------------------

    async def judgement(self, info: _tracing.JudgementInfo, run: Callable[[], Awaitable[Any]]) -> Any:
        if not isinstance(info.judge.pipeline, TracedPipeline):  # its requests get their own spans, from now on
            info.judge.pipeline = TracedPipeline(info.judge.pipeline)
        provenance = _provenance(info)
        common = {**_provider_attributes(info.provider, info.model), "judgekit.kind": info.kind}
        with self.tracer.start_as_current_span(f"judge {info.kind}", attributes={**common, **provenance}) as span:
            started = time.perf_counter()
            result = await run()
            elapsed = time.perf_counter() - started
            self._record(span, info, result, common, provenance, elapsed)
        return result

    async def request(self, pipeline: Pipeline, request: JudgeRequest, scope: BatchScope | None) -> JudgeResponse:
        """One request through ``pipeline`` as a GenAI client span ``chat <model>``, with the request metrics."""
        config = pipeline.config_for(request)
        model = _model_for(pipeline, config)
        common = {"gen_ai.operation.name": "chat", **_provider_attributes(pipeline.provider_name, model)}
        attributes = {
            **common,
            "gen_ai.request.temperature": config.temperature,
            "gen_ai.request.max_tokens": config.max_tokens,
        }
        with self.tracer.start_as_current_span(
            f"chat {model}" if model else "chat", kind=trace.SpanKind.CLIENT, attributes=attributes
        ) as span:
            if self.capture_content:
                span.set_attribute("gen_ai.input.messages", _input_messages(request.messages))
            started = time.perf_counter()
            response = await pipeline.aevaluate(request, scope=scope)
            elapsed = time.perf_counter() - started
            if response.model_used:
                span.set_attribute("gen_ai.response.model", response.model_used)
            if response.finish_reason:
                span.set_attribute("gen_ai.response.finish_reasons", [response.finish_reason])
            span.set_attribute("gen_ai.usage.input_tokens", response.usage.prompt_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", response.usage.completion_tokens)
            span.set_attribute("judgekit.cached", response.cached)
            span.set_attribute("judgekit.attempts", response.attempts)
            if response.cost_usd is not None:
                span.set_attribute("judgekit.cost_usd", response.cost_usd)
            if self.capture_content and response.success:
                span.set_attribute("gen_ai.output.messages", _output_messages(response.content))
            if not response.success:
                error_type = error_name(response.error_type) or "ProviderError"
                common = {**common, "error.type": error_type}
                span.set_attribute("error.type", error_type)
                span.set_status(Status(StatusCode.ERROR, str(response.error_message or error_type)[:500]))
        self.duration.record(elapsed, common)
        if not response.cached:
            usage = response.usage
            for token_type, count in (("input", usage.prompt_tokens), ("output", usage.completion_tokens)):
                if count:
                    self.tokens.record(count, {**common, "gen_ai.token.type": token_type})
        return response

    async def batch(self, info: _tracing.BatchInfo, run: Callable[[], Awaitable[Sequence[Any]]]) -> Sequence[Any]:
        attributes = {
            **_provider_attributes(info.provider, info.model),
            "judgekit.kind": info.kind,
            "judgekit.batch.size": info.size,
        }
        with self.tracer.start_as_current_span(f"judge_batch {info.kind}", attributes=attributes) as span:
            results = await run()
            failed = [r for r in results if not r["success"]]
            costs = [r["cost_usd"] for r in results if r.get("cost_usd") is not None]
            span.set_attribute("judgekit.batch.failures", len(failed))
            span.set_attribute("judgekit.batch.cached", sum(1 for r in results if r.get("cached")))
            if costs:
                span.set_attribute("judgekit.batch.cost_usd", float(sum(costs)))
            if failed:
                span.set_status(Status(StatusCode.ERROR, f"{len(failed)} of {len(results)} judgements failed"))
        return results

    # -- what a finished judgement reports -------------------------------------------------------

    def _record(
        self,
        span: trace.Span,
        info: _tracing.JudgementInfo,
        result: Mapping[str, Any],
        common: dict[str, Any],
        provenance: dict[str, Any],
        elapsed: float,
    ) -> None:
        usage = result.get("usage") or {}
        if result.get("model"):
            span.set_attribute("gen_ai.response.model", result["model"])
        span.set_attribute("gen_ai.usage.input_tokens", int(usage.get("prompt_tokens", 0)))
        span.set_attribute("gen_ai.usage.output_tokens", int(usage.get("completion_tokens", 0)))
        span.set_attribute("judgekit.cached", bool(result.get("cached")))
        span.set_attribute("judgekit.attempts", int(result.get("attempts") or 0))
        cost = result.get("cost_usd")
        if cost is not None:
            span.set_attribute("judgekit.cost_usd", float(cost))

        event = {"gen_ai.evaluation.name": info.kind, **_evaluation(info.kind, result), **provenance}
        metric_attributes = dict(common)
        if not result["success"]:
            error_type = error_name(result.get("error_type")) or "JudgeError"
            event["error.type"] = error_type
            metric_attributes["error.type"] = error_type
            span.set_attribute("error.type", error_type)
            span.set_status(Status(StatusCode.ERROR, str(result.get("error_message") or error_type)[:500]))
            self.failures.add(1, metric_attributes)
        span.add_event(EVALUATION_EVENT, event)
        self.judgement_duration.record(elapsed, metric_attributes)
        if cost and not result.get("cached"):
            self.cost.add(float(cost), common)


class TracedPipeline(PipelineWrapper):
    """The request side of judgekit's OpenTelemetry as a pipeline wrapper (`judgekit.wrappers`): a GenAI client
    span ``chat <model>`` per request, a child of its judgement's span, and the request metrics.

    `instrument` wraps a judge's pipeline when the judge first judges; wrap one yourself to trace requests sent
    without `judgekit.SimplifiedJudge` (``judge.pipeline = TracedPipeline(judge.pipeline)``). It reports to the
    tracer `instrument` installed, and passes requests on untouched when there is none.
    """

    async def aevaluate(self, request: JudgeRequest, *, scope: BatchScope | None = None) -> JudgeResponse:
        tracer = _tracing.active()
        if not isinstance(tracer, JudgekitTracer):
            return await self.inner.aevaluate(request, scope=scope)
        return await tracer.request(self.inner, request, scope)


def _model_for(pipeline: Pipeline, config: JudgeConfig) -> str | None:
    try:
        return pipeline.provider.model_for(config)
    except ConfigError:
        return None


def _provider_attributes(provider: str, model: str | None) -> dict[str, Any]:
    name = _PROVIDER_NAMES.get(provider, provider)
    attributes: dict[str, Any] = {"gen_ai.provider.name": name, "gen_ai.system": name}
    if model:
        attributes["gen_ai.request.model"] = model
    return attributes


def _provenance(info: _tracing.JudgementInfo) -> dict[str, Any]:
    """Who judged (`judgekit.integrations.provenance`), as ``judgekit.evaluator.*`` attributes."""
    found = provenance(
        kind=info.kind, backend=info.provider, model=info.model, template=info.template, calibrator=info.calibrator
    )
    return {f"judgekit.evaluator.{key}": value for key, value in found.items()}


def _evaluation(kind: str, result: Mapping[str, Any]) -> dict[str, Any]:
    """``gen_ai.evaluation.score.value`` / ``.label`` / ``.explanation`` of a judgement.

    A verdict (1/0, yes/no) gives a value of 1.0 or 0.0 and the label ``yes`` / ``no``; a choice (``A``/``B``)
    a label; one number (pointwise) a value; several numbers (comparative, rubric) ``judgekit.scores`` as
    JSON. The explanation is the judge's reasoning, else its reply. A failure gives none of them.
    """
    if not result["success"]:
        return {}
    out: dict[str, Any] = {}
    value, scores = result.get("result"), result.get("scores")
    if value is not None:
        if isinstance(value, bool) or value in (0, 1) or str(value).lower() in ("yes", "no"):
            verdict = bool(value) if not isinstance(value, str) else value.lower() == "yes"
            out["gen_ai.evaluation.score.value"] = 1.0 if verdict else 0.0
            out["gen_ai.evaluation.score.label"] = "yes" if verdict else "no"
        else:
            out["gen_ai.evaluation.score.label"] = str(value)
    if isinstance(scores, (int, float)) and not isinstance(scores, bool):
        out["gen_ai.evaluation.score.value"] = float(scores)
    elif scores is not None:
        out["judgekit.scores"] = json.dumps(scores, default=str)
    for key in ("p_yes", "expected_score"):
        if result.get(key) is not None:
            out[f"judgekit.{key}"] = float(result[key])
    explanation = result.get("reasoning") or result.get("raw_response")
    if explanation:
        out["gen_ai.evaluation.explanation"] = str(explanation)[:MAX_EXPLANATION_CHARS]
    return out


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(p.get("text", "") for p in content if isinstance(p, Mapping) and p.get("type") == "text")


def _input_messages(messages: Sequence[Mapping[str, Any]]) -> str:
    return json.dumps(
        [{"role": m.get("role"), "parts": [{"type": "text", "content": _text(m.get("content"))}]} for m in messages]
    )


def _output_messages(reply: str) -> str:
    return json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": reply}]}])


# -- turning it on ---------------------------------------------------------------------------------


def instrument(
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
    capture_content: bool | None = None,
) -> JudgekitTracer:
    """Report every judgement and batch of this process to OpenTelemetry (the global providers unless given).

    ``capture_content`` records the prompt and the reply as ``gen_ai.input.messages`` /
    ``gen_ai.output.messages``; by default it follows ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``
    (off).
    """
    if capture_content is None:
        capture_content = otel_env().get(CAPTURE_CONTENT_ENV, "").strip().lower() == "true"
    tracer = JudgekitTracer(tracer_provider, meter_provider, capture_content=capture_content)
    _tracing.install(tracer)
    return tracer


def uninstrument() -> None:
    """Stop reporting (judgements then cost nothing extra)."""
    _tracing.install(None)


def enabled_by_env(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the standard variables ask for telemetry: not ``OTEL_SDK_DISABLED=true``, and an exporter named
    (``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER`` other than ``none``) or an OTLP endpoint given."""
    env = otel_env(environ)
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    named = [env.get(f"OTEL_{signal.upper()}_EXPORTER", "").strip().lower() for signal in _EXPORTER_GROUPS]
    return any(n and n != "none" for n in named) or "OTEL_EXPORTER_OTLP_ENDPOINT" in env


def configure_from_env(environ: Mapping[str, str] | None = None) -> JudgekitTracer | None:
    """Turn telemetry on from the standard ``OTEL_*`` variables, as ``judgekit`` commands do; None when they do
    not ask for it (`enabled_by_env`).

    An SDK tracer or meter provider already set globally (say by ``opentelemetry-instrument``) is used as it is.
    Otherwise the SDK's providers are made with the exporters ``OTEL_TRACES_EXPORTER`` and
    ``OTEL_METRICS_EXPORTER`` name (comma-separated: ``console``, ``otlp`` with
    ``opentelemetry-exporter-otlp``, any installed exporter's entry point; ``otlp`` when only
    ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set) and the resource from ``OTEL_SERVICE_NAME`` (default ``judgekit``)
    and ``OTEL_RESOURCE_ATTRIBUTES``. The SDK reads its other variables itself (``OTEL_EXPORTER_OTLP_*``,
    ``OTEL_BSP_*``, ``OTEL_METRIC_EXPORT_INTERVAL``).
    """
    if not enabled_by_env(environ):
        return None
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise MissingDependencyError('the OpenTelemetry SDK is not installed: pip install "judgekit[otel]"') from exc
    env = otel_env(environ)
    resource = Resource.create({} if "OTEL_SERVICE_NAME" in env else {"service.name": "judgekit"})
    default = "otlp" if "OTEL_EXPORTER_OTLP_ENDPOINT" in env else "none"
    if not isinstance(trace.get_tracer_provider(), TracerProvider):  # the API's default: no SDK set up yet
        tracer_provider = TracerProvider(resource=resource)
        for exporter in _exporters("traces", env.get("OTEL_TRACES_EXPORTER", default)):
            tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(tracer_provider)
    if not isinstance(metrics.get_meter_provider(), MeterProvider):
        exporters = _exporters("metrics", env.get("OTEL_METRICS_EXPORTER", default))
        readers = [PeriodicExportingMetricReader(exporter) for exporter in exporters]
        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))
    return instrument(capture_content=env.get(CAPTURE_CONTENT_ENV, "").strip().lower() == "true")


def _exporters(signal: str, names: str) -> list[Any]:
    """The exporters named in ``OTEL_<SIGNAL>_EXPORTER``, found by the SDK's own entry points."""
    variable = f"OTEL_{signal.upper()}_EXPORTER"
    found = {ep.name: ep for ep in entry_points(group=_EXPORTER_GROUPS[signal])}
    exporters = []
    for name in (n.strip().lower() for n in names.split(",")):
        if not name or name == "none":
            continue
        if name not in found:
            hint = difflib.get_close_matches(name, list(found), n=1)
            more = f"; did you mean {hint[0]!r}?" if hint else ""
            install = " (pip install opentelemetry-exporter-otlp)" if name.startswith("otlp") else ""
            raise ConfigError(
                f"{variable}: no {signal} exporter {name!r} is installed{install}; installed: "
                f"{', '.join(sorted(found)) or 'none'}{more}",
                variable,
            )
        exporters.append(found[name].load()())
    return exporters
