"""The judge server on Ray Serve: `serve_judge` deploys `JudgeDeployment`, N replicas of the same HTTP app
``judgekit serve`` runs (`judgekit.server.create_app`), each with its own judge and dynamic batching.

Clients see the same protocol (``POST /judge``, ``POST /batch_judge``, ``GET /health``, ``GET /metrics``,
the same auth and limits) on the Serve proxy's address, so the ``judge_server`` provider, the reward
adapter's ``judge_url`` and ``judgekit batch`` work against it unchanged. Callers inside the cluster (a
reward function running as a Ray task) can skip HTTP with a deployment handle (`judge_handle`)::

    reply = judge_handle().judge.remote({"prompt": q, "completion": c, "answer": a}).result()
    reply["score"]          # the /judge reply body: score in [0, 1] (None on failure, with "error")
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from loguru import logger
from pydantic import SecretStr

from judgekit.errors import ConfigError
from judgekit.ray._common import JudgeSpec, judge_builder, require_ray
from judgekit.server import create_app

require_ray()

import ray  # noqa: E402
from ray import serve  # noqa: E402
from ray.serve.handle import DeploymentHandle  # noqa: E402
from starlette.requests import Request  # noqa: E402

__all__ = ["JudgeDeployment", "judge_handle", "serve_judge"]

T = TypeVar("T")

DEFAULT_APP = "judgekit"
"""The Serve application name `serve_judge` and `judge_handle` use unless told otherwise."""


@serve.ingress()
class JudgeDeployment:
    """One Serve replica: a judge, built once here (a torch model loads here, on this replica's GPU), behind
    the judge server's app. ``server_options`` are `judgekit.server.create_app`'s keyword arguments.

    Besides HTTP, a `~ray.serve.handle.DeploymentHandle` calls ``judge(item)`` and ``batch_judge(items)``,
    which answer exactly what ``POST /judge`` and ``POST /batch_judge`` answer (the reply body as a dict).
    Handles exist only inside the Ray cluster, so these calls do not need the server's API key.
    """

    def __init__(self, make_judge: Any, server_options: Mapping[str, Any]) -> None:
        self._judge = make_judge()
        self._judge.judge.warm_up()  # an in-process model loads now, once per replica
        self._server_app = create_app(self._judge, **server_options)
        self._service = self._server_app.state.judge_service
        key = server_options.get("api_key")
        secret = key.get_secret_value() if isinstance(key, SecretStr) else key
        self._headers = [(b"authorization", f"Bearer {secret}".encode())] if secret else []

    def __serve_build_asgi_app__(self) -> Any:
        return self._server_app

    async def judge(self, item: Mapping[str, Any]) -> dict[str, Any]:
        """Judge one ``/judge`` item (``prompt``, ``completion``, ``answer``, ...); returns the reply body."""
        return await self._local("/judge", item, self._service.judge_one)

    async def batch_judge(self, items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Judge ``/batch_judge`` items; returns the reply body, ``{"responses": [...]}`` (or an error)."""
        return await self._local("/batch_judge", {"requests": list(items)}, self._service.judge_batch)

    async def _local(self, path: str, payload: Any, handler: Any) -> dict[str, Any]:
        """The HTTP request path (validation, limits, metrics) without a socket."""
        body = json.dumps(payload).encode()
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        scope = {
            "type": "http",
            "method": "POST",
            "path": path,
            "query_string": b"",
            "headers": [(b"content-length", str(len(body)).encode()), *self._headers],
        }
        response = await self._service.handle(Request(scope, receive), path, handler)
        return json.loads(response.body)

    def __del__(self) -> None:
        judge = getattr(self, "_judge", None)
        if judge is not None:
            judge.close()


def serve_judge(
    judge: JudgeSpec,
    *,
    replicas: int = 1,
    autoscaling: Mapping[str, Any] | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    name: str = DEFAULT_APP,
    route_prefix: str = "/",
    num_cpus: float | None = None,
    num_gpus: float = 0,
    max_ongoing_requests: int = 256,
    api_key: str | SecretStr | None = None,
    start_timeout_s: float = 300.0,
    **server_options: Any,
) -> DeploymentHandle:
    """Deploy the judge server on Ray Serve and return a handle to it (connects to Ray, or starts it locally).

    - ``judge``: a `JudgeConfig`, a config dict or a zero-argument factory; every replica builds its own.
    - ``replicas``: a fixed number of replicas; or ``autoscaling``, Serve's ``autoscaling_config`` passed
      through (``{"min_replicas": 1, "max_replicas": 8, "target_ongoing_requests": 64}``).
    - ``host`` / ``port``: where Serve's HTTP proxy listens (Serve-wide: fixed by the first deployment).
    - ``num_cpus`` / ``num_gpus``: reserved per replica (``num_gpus=1``: each torch judge on its own GPU).
    - ``max_ongoing_requests``: requests a replica takes at once; keep it at least the server's
      ``max_batch_size * max_concurrent_batches`` so dynamic batching can fill batches.
    - ``start_timeout_s``: how long to wait for Serve's HTTP proxy to start (`patiently`); returns once the
      proxy serves ``route_prefix``.
    - ``api_key`` and ``server_options`` (``kind``, ``max_batch_size``, ``max_wait_s``, ``max_queue``,
      ``max_body_bytes``, ``max_concurrent_batches``, ``retry_after_s``): as for `judgekit.server.create_app`.

    The app keeps running after this returns (until `ray.serve.delete` / `ray.serve.shutdown`, or the end of
    a local Ray started by this process).
    """
    if autoscaling is None and replicas < 1:
        raise ConfigError(f"replicas must be >= 1, got {replicas}", "replicas")
    if max_ongoing_requests < 1:
        raise ConfigError(f"max_ongoing_requests must be >= 1, got {max_ongoing_requests}", "max_ongoing_requests")
    make_judge = judge_builder(judge)
    if api_key:
        server_options["api_key"] = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
    actor_options: dict[str, Any] = {"num_gpus": num_gpus} if num_gpus else {}
    if num_cpus is not None:
        actor_options["num_cpus"] = num_cpus
    scale: dict[str, Any] = (
        {"autoscaling_config": dict(autoscaling)} if autoscaling is not None else {"num_replicas": replicas}
    )
    deployment = serve.deployment(
        JudgeDeployment, max_ongoing_requests=max_ongoing_requests, ray_actor_options=actor_options, **scale
    )
    deadline = time.monotonic() + start_timeout_s  # one budget for the three steps, not one each

    def left() -> float:
        return max(0.0, deadline - time.monotonic())

    patiently(lambda: serve.start(http_options={"host": host, "port": port}), left())
    app = deployment.bind(make_judge, server_options)
    handle = patiently(lambda: serve.run(app, name=name, route_prefix=route_prefix), left())
    wait_for_route(host, port, route_prefix, max(30.0, left()))
    return handle


def patiently(call: Callable[[], T], timeout_s: float, *, clock: Callable[[], float] = time.monotonic) -> T:
    """``call()`` (`ray.serve.start`, `ray.serve.run`), asked again while Serve's HTTP proxy is still starting.

    On a loaded machine the proxy actor can take longer to start than Ray allows: `ray.serve.start` waits a
    fixed 60 s for it (a `TimeoutError`), and the Serve controller kills a proxy that is not ready within its
    ready check (5 s, then 10 s, 15 s, ... for each restart; the caller sees the proxy actor die). Both leave a
    new proxy starting, so the call is made again until ``timeout_s`` is spent; then the last error is raised.
    Any other error is raised at once."""
    deadline = clock() + timeout_s
    while True:
        try:
            return call()
        except (TimeoutError, ray.exceptions.RayActorError) as exc:
            text = str(exc)
            slow_proxy = "proxies not available" in text.lower() or "ProxyActor" in text
            if not slow_proxy or clock() >= deadline:
                raise
            logger.warning(
                "judgekit: Ray Serve's HTTP proxy is still starting ({}); waiting longer",
                text.splitlines()[0] if text else type(exc).__name__,
            )


def wait_for_route(host: str, port: int, route_prefix: str, timeout_s: float) -> None:
    """Wait until Serve's HTTP proxy on ``host:port`` lists ``route_prefix`` (its ``/-/routes``): `serve.run`
    returns once the replicas run, but a proxy the controller restarted may still be starting. Raises
    `TimeoutError` naming the address after ``timeout_s``."""
    address = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{address}:{port}/-/routes"
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                if route_prefix in json.loads(reply.read() or b"{}"):
                    return
                last = f"{route_prefix!r} not among its routes yet"
        except (OSError, ValueError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"Ray Serve's HTTP proxy at {url} did not serve {route_prefix!r} in {timeout_s:g}s: {last}"
            )
        time.sleep(0.5)


def judge_handle(name: str = DEFAULT_APP) -> DeploymentHandle:
    """A handle to a running judge deployment, for callers inside the Ray cluster (tasks, actors, drivers)."""
    return serve.get_app_handle(name)
