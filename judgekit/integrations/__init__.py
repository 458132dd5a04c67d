"""judgekit inside other tools: lmms-eval's ``llm_judge`` (`lmms_eval`), Inspect scorers (`inspect`) and
OpenTelemetry (`otel`). Each module imports its tool's package; import the one you use (docs/integrations.md)."""
