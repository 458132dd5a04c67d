"""The judge-model HTTP server: ``POST /judge``, ``POST /batch_judge``, ``GET /health``, ``GET /metrics``.

>>> from judgekit import SimplifiedJudge                                   # doctest: +SKIP
>>> from judgekit.server import ServerThread, create_app
>>> with ServerThread(create_app(SimplifiedJudge(api_type="rules"))) as srv:
...     print(srv.url)

The app and the runner need the ``server`` extra (fastapi, uvicorn), imported when first used;
`judgekit.server_protocol` (the request and answer bodies, shared with the ``judge_server`` client) and
`judgekit.scoring` (how a result becomes a score in [0, 1]) need neither. See docs/server.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from judgekit._lazy import lazy_getattr
from judgekit.errors import MissingDependencyError

if TYPE_CHECKING:
    from judgekit.server.app import JudgeService, create_app
    from judgekit.server.runner import ServerThread, serve
    from judgekit.server_protocol import BatchJudgeBody, JudgeItem

__all__ = ["BatchJudgeBody", "JudgeItem", "JudgeService", "ServerThread", "create_app", "serve"]

__getattr__ = lazy_getattr(
    __name__,
    {
        "BatchJudgeBody": "judgekit.server_protocol",
        "JudgeItem": "judgekit.server_protocol",
        "JudgeService": "judgekit.server.app",
        "create_app": "judgekit.server.app",
        "ServerThread": "judgekit.server.runner",
        "serve": "judgekit.server.runner",
    },
)


def missing_server_extra(exc: ImportError) -> MissingDependencyError:
    """The error raised when fastapi or uvicorn is not installed."""
    return MissingDependencyError(
        f'the judge server needs fastapi and uvicorn ({exc.name} is missing): pip install "judgekit[server]"'
    )
