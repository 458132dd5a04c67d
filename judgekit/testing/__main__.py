"""Serve a `FakeLLMServer` from the command line: `python -m judgekit.testing --port 8000 --reply Yes`."""

from __future__ import annotations

import argparse
import sys
import time

from judgekit.testing.server import FakeLLMServer


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, serve until Ctrl-C, then shut down."""
    parser = argparse.ArgumentParser(
        prog="python -m judgekit.testing",
        description="Fake OpenAI / Azure OpenAI / Anthropic chat server with scripted replies.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port, 0 for any free port (default 8000)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds to wait before every reply")
    parser.add_argument("--reply", default="Yes", help="text of every reply (default 'Yes')")
    parser.add_argument("--model", default="fake-judge", help="model id reported by /v1/models")
    parser.add_argument("--api-key", default=None, help="require this API key")
    parser.add_argument("--stream-only", action="store_true", help="reject non-streaming chat requests")
    args = parser.parse_args(argv)

    srv = FakeLLMServer(
        model_name=args.model,
        latency=args.latency,
        default_reply=args.reply,
        api_key=args.api_key,
        stream_only=args.stream_only,
        host=args.host,
        port=args.port,
    )
    srv.start()
    print(f"FakeLLMServer listening on {srv.url}  (OpenAI base URL: {srv.base_url})", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr, flush=True)
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
