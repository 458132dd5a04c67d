"""Keys never leak (reprs, errors, logs); ``import judgekit`` stays light."""

from __future__ import annotations

import subprocess
import sys

from loguru import logger

from judgekit import JudgeConfig, JudgeFactory, JudgeRequest
from judgekit.testing import FakeLLMServer, Fault

SECRET = "sk-THIS-MUST-NOT-LEAK-123"


def test_key_never_in_logs_reprs_or_errors(server: FakeLLMServer) -> None:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="DEBUG")
    try:
        config = JudgeConfig(base_url=server.base_url, api_key=SECRET, retry_delay=0.01, num_retries=2)
        judge = JudgeFactory.create_judge(config=config)
        server.enqueue(Fault.status_code(500), Fault.drop(), Fault.status_code(401))
        response = judge.evaluate(JudgeRequest(messages=[{"role": "user", "content": "x"}]))
    finally:
        logger.remove(sink)
    assert not response.success and response.status_code == 401
    assert server.requests[-1].headers["authorization"] == f"Bearer {SECRET}"  # it was really sent
    assert lines, "retries should have been logged"
    texts = [
        *lines,
        repr(judge),
        repr(config),
        str(config),
        repr(response),
        response.model_dump_json(),
        response.error_message or "",
    ]
    assert not [t for t in texts if SECRET in t]


def test_import_is_light() -> None:
    code = (
        "import sys, judgekit; "
        "heavy = [m for m in ('torch', 'transformers', 'anthropic', 'openai', 'fastapi', 'uvicorn', "
        "'judgekit.providers.openai', 'judgekit.server') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
