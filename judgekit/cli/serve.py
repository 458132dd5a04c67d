"""``judgekit serve``: the judge server, here or on Ray Serve."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from judgekit.cli._common import UsageError, make_judge, read_object
from judgekit.config import env_value

PORT_UNAVAILABLE = 3
"""Exit code of ``judgekit serve`` when it cannot listen on ``--host``/``--port`` (checked before loading)."""


def cmd_serve(args: argparse.Namespace) -> int:
    from judgekit.server import create_app, serve
    from judgekit.server.runner import check_port

    if not args.ray:  # before the model loads: a busy port is a quick, clear error (Ray Serve binds its own)
        try:
            check_port(args.host, args.port)
        except OSError as exc:
            print(
                f"judgekit serve: error: cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); "
                "is another server running there? Choose another --port",
                file=sys.stderr,
            )
            return PORT_UNAVAILABLE
    server_key = env_value(args.api_key_env) if args.api_key_env else None
    judge = make_judge(args)
    given = {item.partition("=")[0].strip() for item in args.set}
    defaults = judge.judge.serving_defaults(max_batch_size=args.max_batch_size)
    if any(name not in given for name in defaults):  # the backend's serving defaults, unless set with --set
        args.set.extend(f"{name}={json.dumps(value)}" for name, value in defaults.items() if name not in given)
        judge.close()
        judge = make_judge(args)
    if args.ray:
        return _serve_on_ray(args, judge, server_key)
    print(
        f"judgekit serve: warming up {judge.config.model_name or judge.judge.provider_name} ...",
        file=sys.stderr,
        flush=True,
    )
    judge.judge.warm_up()  # an in-process model loads now, not on the first request
    app = create_app(
        judge,
        kind=args.kind,
        api_key=server_key or None,
        max_batch_size=args.max_batch_size,
        max_wait_s=args.max_wait_ms / 1000,
        max_queue=args.max_queue,
        max_body_bytes=args.max_body_bytes,
        max_concurrent_batches=args.max_concurrent_batches,
        group_kind=args.group_kind,
    )
    service = app.state.judge_service
    auth = f"on (key from {args.api_key_env})" if server_key else "off"
    print(
        f"judgekit serve: {service.model} ({service.backend.provider_name}), kind={args.kind}, auth {auth}, "
        f"on http://{args.host}:{args.port}",
        file=sys.stderr,
    )
    _warn_if_open(args, server_key)
    try:
        serve(app, args.host, args.port, log_level=args.log_level, timeout_graceful_shutdown=args.graceful_timeout)
    finally:
        judge.close()
    return 0


def _warn_if_open(args: argparse.Namespace, server_key: str | None) -> None:
    if not server_key and args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"judgekit serve: warning: no API key and listening on {args.host}; set {args.api_key_env}", file=sys.stderr
        )


def _serve_on_ray(args: argparse.Namespace, judge: Any, server_key: str | None) -> int:
    """The same app on Ray Serve (`judgekit.ray.serve_judge`) until SIGINT / SIGTERM; then the app is deleted."""
    import functools
    import signal
    import threading

    from judgekit.ray._common import connect
    from judgekit.ray.serving import DEFAULT_APP, serve_judge
    from judgekit.simplified import SimplifiedJudge

    if args.replicas < 1:
        raise UsageError("--replicas must be at least 1")
    autoscaling = read_object(args.autoscaling, "--autoscaling") if args.autoscaling else None
    replica_judge = functools.partial(SimplifiedJudge, config=judge.config, logprob_score=judge.logprob_score)
    model, provider = judge.config.model_name or judge.judge.provider_name, judge.judge.provider_name
    judge.close()  # every replica builds its own
    scale = f"autoscaling {json.dumps(autoscaling)}" if autoscaling else f"{args.replicas} replica(s)"
    print(f"judgekit serve: deploying {model} on Ray Serve, {scale} ...", file=sys.stderr, flush=True)
    connect(args.address)
    from ray import serve

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        serve_judge(
            replica_judge, replicas=args.replicas, autoscaling=autoscaling, host=args.host, port=args.port,
            num_gpus=args.gpus_per_replica, api_key=server_key or None, kind=args.kind,
            max_batch_size=args.max_batch_size, max_wait_s=args.max_wait_ms / 1000, max_queue=args.max_queue,
            max_body_bytes=args.max_body_bytes, max_concurrent_batches=args.max_concurrent_batches,
        )  # fmt: skip
        auth = f"on (key from {args.api_key_env})" if server_key else "off"
        print(
            f"judgekit serve: {model} ({provider}), kind={args.kind}, auth {auth}, on http://{args.host}:{args.port} "
            f"(Ray Serve app {DEFAULT_APP!r}, {scale})",
            file=sys.stderr,
            flush=True,
        )
        _warn_if_open(args, server_key)
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        print("judgekit serve: stopping: deleting the Serve app", file=sys.stderr, flush=True)
        serve.delete(DEFAULT_APP)
    return 0
