"""Running the judge server with uvicorn: `serve` (blocking, for the command line) and `ServerThread`
(in a background thread, for tests, notebooks and benchmarks). Both shut down gracefully: the server
stops accepting connections, finishes the requests in flight (up to ``timeout_graceful_shutdown``), then
the app's batcher finishes what is queued.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from typing import Any

from judgekit.server import missing_server_extra

try:
    import uvicorn
except ImportError as _exc:  # pragma: no cover - depends on the environment
    raise missing_server_extra(_exc) from _exc

__all__ = ["ServerThread", "check_port", "serve"]


def check_port(host: str, port: int) -> None:
    """Raise `OSError` when ``host:port`` cannot be listened on (another server has it, or the address is not
    this machine's), before anything slow is loaded. Binds and closes at once, as uvicorn will bind."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is no obstacle
        probe.bind((host, port))


def _config(app: Any, host: str, port: int, log_level: str, timeout_graceful_shutdown: float) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=int(timeout_graceful_shutdown) or 1,
        backlog=4096,
    )


def serve(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    log_level: str = "info",
    timeout_graceful_shutdown: float = 30.0,
) -> None:
    """Serve ``app`` until SIGINT / SIGTERM, then shut down gracefully.

    After a graceful shutdown on SIGTERM this returns normally (uvicorn would re-raise the signal and so end
    the process as killed); after SIGINT it raises KeyboardInterrupt, as usual.
    """
    server = uvicorn.Server(_config(app, host, port, log_level, timeout_graceful_shutdown))
    if threading.current_thread() is not threading.main_thread():
        server.run()
        return

    def stop(signum: int, frame: Any) -> None:  # before uvicorn takes over, and when it re-raises after
        server.should_exit = True

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)


class ServerThread:
    """Serve an app with uvicorn in a daemon thread on ``host:port`` (port 0: any free port).

    >>> with ServerThread(create_app(judge)) as srv:       # doctest: +SKIP
    ...     requests.post(srv.url + "/judge", json={...})
    """

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_level: str = "warning",
        timeout_graceful_shutdown: float = 30.0,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._config = _config(app, host, port, log_level, timeout_graceful_shutdown)
        self.server = uvicorn.Server(self._config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The root URL, e.g. ``http://127.0.0.1:8123``."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerThread:
        """Bind, start serving, and return once the server accepts connections."""
        sock = socket.create_server((self.host, self.port), backlog=4096)
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, name="judgekit-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError(f"the judge server did not start on {self.url}")
            time.sleep(0.005)
        return self

    def stop(self, timeout: float | None = 60.0) -> None:
        """Graceful shutdown: stop accepting, finish in-flight requests, run the app's shutdown."""
        if self._thread is None:
            return
        self.server.should_exit = True
        self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
