"""The ``judgekit`` command: ``judge``, ``batch``, ``serve``, ``providers`` and ``demo``.

Importing this module is cheap (argparse only): judgekit itself is imported when a command runs, the
server (fastapi, uvicorn) only by ``serve``, the demo only by ``demo``. Exit codes: 0 success, 1 a judge
failure (``batch``: any item failed), 2 a usage or configuration error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from judgekit import kinds
from judgekit.config import env_value

__all__ = ["build_parser", "main"]

KINDS = kinds.kind_names()
# The fields each kind takes from the command line (the first ones are required), from the kind spec.
_KIND_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    name: (spec.fields, spec.optional_fields + spec.options) for name, spec in kinds.KINDS.items()
}
_COMMON_FIELDS = kinds.CALL_OPTIONS
# Every kind's fields are item flags (--question, ...); so are these options. output_format and score_range
# are backend flags (they set the judge's defaults).
_ITEM_FIELDS = tuple(dict.fromkeys(name for spec in kinds.KINDS.values() for name in spec.all_fields))
_FIELD_FLAGS = (*_ITEM_FIELDS, "answer_type", "custom_prompt", "images", "swap")
_FIELD_SHORT = {"question": "-q", "answer": "-a", "prediction": "-p"}
_FIELD_HELP = {
    "answer": "the reference answer",
    "prediction": "the answer being judged",
    "response": "the response being scored (pointwise)",
    "rubric": 'criteria: JSON {"name": "description"} or "name1,name2"',
}


class UsageError(Exception):
    """A mistake on the command line: exit code 2."""


# ----------------------------------------------------------------------------------------------- parser


def _backend_options(parser: argparse.ArgumentParser, *, default_api_type: str | None, key_flag: str) -> None:
    group = parser.add_argument_group("backend")
    group.add_argument(
        "--api-type",
        default=default_api_type,
        help="backend: openai, azure, vllm, anthropic, judge_server, torch, rules, ... "
        f"(default: {default_api_type or '$API_TYPE, else openai'})",
    )
    group.add_argument(
        "--model", help="model name, deployment or local path (default: $MODEL_VERSION, else the backend's)"
    )
    group.add_argument(
        "--base-url",
        action="append",
        help="backend URL (repeat for an endpoint pool); default from the backend's env variable",
    )
    group.add_argument(
        key_flag,
        metavar="ENV_VAR",
        dest="backend_key_env",
        help="name of the environment variable holding the backend's API key "
        "(default: the backend's own, e.g. OPENAI_API_KEY)",
    )
    group.add_argument("--timeout", type=float, help="seconds per attempt")
    group.add_argument("--num-retries", type=int, help="retries after the first attempt")
    group.add_argument("--retry-delay", type=float, help="first backoff in seconds")
    group.add_argument("--max-concurrent", type=int, help="requests in flight at once")
    group.add_argument("--temperature", type=float)
    group.add_argument("--max-tokens", type=int)
    group.add_argument("--output-format", choices=("0/1", "yes/no"), help="binary verdicts as 1/0 or yes/no")
    group.add_argument("--score-range", type=float, nargs=2, metavar=("LOW", "HIGH"), help="score range (1 10)")
    group.add_argument("--cache", help='reuse replies: "memory" or the path of a SQLite file')
    group.add_argument(
        "--logprob-score",
        action="store_true",
        help="also compute p_yes / expected_score from token logprobs (backends that return them)",
    )
    group.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="any other JudgeConfig field; VALUE is JSON if it parses (--set extra_body='{...}')",
    )


def _field_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("item (or one JSON object on stdin)")
    for name in _ITEM_FIELDS:
        flags = [_FIELD_SHORT[name]] if name in _FIELD_SHORT else []
        group.add_argument(*flags, "--" + name.replace("_", "-"), dest=name, help=_FIELD_HELP.get(name))
    group.add_argument("--answer-type", help="hint for rules / judge servers: choice, number, math, text")
    group.add_argument("--custom-prompt", help="a prompt template naming {question}, {answer}, ...")
    group.add_argument("--image", dest="images", action="append", help="an image path or URL (repeatable)")
    group.add_argument("--swap", action="store_true", help="judge both orders (comparative, pairwise)")
    group.add_argument("--input", metavar="FILE", help="read the item as a JSON object from FILE ('-': stdin)")


_MAIN_EPILOG = """\
examples:
  judgekit judge --api-type rules -q "2+2?" -a 4 -p "The answer is 4"
  echo '{"question": "2+2?", "answer": "4", "prediction": "5"}' | judgekit judge --api-type rules --json
  judgekit batch items.jsonl -o judged.jsonl --kind binary --model gpt-4o-2024-08-06
  judgekit serve --api-type torch --model smollm2 --port 8000
  judgekit providers
  judgekit demo

exit codes: 0 success, 1 a judge failure, 2 a usage or configuration error, 130 interrupted.
"""

_JUDGE_EPILOG = """\
examples:
  judgekit judge --api-type rules -q "2+2?" -a 4 -p "The answer is 4"          # prints 1
  judgekit judge --kind pointwise -q "Explain DNS" --response "..." --model gpt-4o-mini
  judgekit judge --kind pairwise -q "..." --response1 "..." --response2 "..." --swap --json
  judgekit judge --api-type judge_server --base-url http://127.0.0.1:8000 -q "2+2?" -a 4 -p 4
  echo '{"kind": "correctness", "question": "1/2+1/4?", "answer": "3/4", "prediction": "0.75"}' \\
      | judgekit judge --api-type rules

Without item flags the item is read as one JSON object from stdin (it may name its "kind").
Prints the verdict (result, or scores); --json prints the whole result. Exit 1 when the judge fails.
"""

_BATCH_EPILOG = """\
examples:
  judgekit batch items.jsonl -o judged.jsonl --kind binary --model gpt-4o-2024-08-06
  judgekit batch items.jsonl -o judged.jsonl --kind correctness --api-type rules
  judgekit batch items.jsonl -o judged.jsonl --kind pointwise --api-type judge_server --base-url http://gpu1:8000
  judgekit batch items.jsonl -o judged.jsonl --kind pointwise --api-type torch --model /models/judge \\
      --ray --address auto --actors 8 --gpus-per-actor 1          # on a Ray cluster (docs/scale-out.md)
  judgekit batch items.jsonl -o judged.jsonl --kind binary --model gpt-4o-mini --batch-api   # half price, < 24 h

Each input line is a JSON object with the kind's fields (binary: question, answer, prediction) and an
optional "id". Each finished item is appended to the output at once, as {"index", "id"?, "success",
"result", "scores", "error_message", ...}, in completion order (sort by "index" for input order).
Re-running the same command resumes: items already in the output (matched by "id", else by "index")
are skipped; --retry-failed judges the failed ones again (the last line for an item wins). Items that
were malformed (ConfigError) are always retried. Exit 1 when any item failed.

--batch-api (openai, azure, anthropic) submits the items to the provider's batch API instead: half the
price, results within 24 hours, all written (in input order) once they are back. The submitted batch ids
are kept in OUTPUT.batch-state.json: re-run the same command after a kill and it resumes polling them
(nothing is submitted twice); a run that writes every result deletes it. See docs/batch-api.md.
"""

_SERVE_EPILOG = """\
examples:
  judgekit serve --api-type torch --model smollm2
  JUDGE_SERVER_API_KEY=s3cret judgekit serve --host 0.0.0.0 --port 8888 --max-batch-size 32
  judgekit serve --api-type openai --model gpt-4o-mini --kind correctness --cache memory   # a shared front
  curl -s localhost:8000/judge -d '{"prompt": "2+2?", "completion": "4", "answer": "4"}'
  judgekit serve --ray --replicas 4 --gpus-per-replica 1 --model /models/judge      # on Ray Serve
  judgekit serve --ray --autoscaling '{"min_replicas": 1, "max_replicas": 8}' --api-type vllm

Endpoints: POST /judge, POST /batch_judge, GET /health, GET /metrics (see docs/server.md).
The server's API key is read from the variable named by --api-key-env (never from the command line).
"""

_PROVIDERS_EPILOG = """\
examples:
  judgekit providers
  judgekit providers --json

Lists every registered api_type with what the environment configures for it. Keys are never printed:
only whether one is set and its last four characters.
"""


def build_parser(*, with_demo: bool = False, with_validate: bool = False) -> argparse.ArgumentParser:
    """The argument parser. ``with_demo`` / ``with_validate`` add those commands' own options (importing
    `judgekit.demo` / `judgekit.validation.command`)."""
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="judgekit",
        description="Use a model as a judge: one item, a JSONL batch, or an HTTP judge server.",
        epilog=_MAIN_EPILOG,
        formatter_class=fmt,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    judge = commands.add_parser(
        "judge",
        help="judge one item",
        description="Judge one item and print the verdict.",
        epilog=_JUDGE_EPILOG,
        formatter_class=fmt,
    )
    judge.add_argument("--kind", choices=KINDS, help='judge kind (default: the input\'s "kind", else binary)')
    judge.add_argument("--json", action="store_true", help="print the full result as JSON")
    _field_options(judge)
    _backend_options(judge, default_api_type=None, key_flag="--api-key-env")
    judge.set_defaults(handler=_cmd_judge)

    batch = commands.add_parser(
        "batch",
        help="judge a JSONL file (resumable)",
        epilog=_BATCH_EPILOG,
        description="Judge every line of a JSONL file into an output JSONL file.",
        formatter_class=fmt,
    )
    batch.add_argument("input", help="input JSONL file ('-': stdin)")
    batch.add_argument("-o", "--output", required=True, help="output JSONL file (appended to; resumable)")
    batch.add_argument("--kind", choices=KINDS, default="binary", help="judge kind (default binary)")
    batch.add_argument("--concurrency", type=int, help="items judged at once (default: --max-concurrent, 32)")
    batch.add_argument("--retry-failed", action="store_true", help="judge items that failed before again")
    batch.add_argument("--include-prompt", action="store_true", help="also write each item's prompt")
    batch.add_argument("--no-progress", action="store_true", help="no progress bar")
    provider_batch = batch.add_argument_group("provider batch API (openai, azure, anthropic)")
    provider_batch.add_argument("--batch-api", action="store_true", help="judge through the provider's batch API")
    provider_batch.add_argument("--batch-state", metavar="PATH", help="state file (default: OUTPUT.batch-state.json)")
    provider_batch.add_argument("--poll-interval", type=float, default=30.0, help="first seconds between polls (30)")
    provider_batch.add_argument("--max-wait", type=float, help="stop polling after this many seconds (resume later)")
    provider_batch.add_argument("--batch-max-requests", type=int, help="requests per batch (default: the provider's)")
    _backend_options(batch, default_api_type=None, key_flag="--api-key-env")
    on_ray = _ray_options(batch, "actor")
    on_ray.add_argument("--actors", type=int, default=1, help="Ray actors, each with its own judge (default 1)")
    batch.set_defaults(handler=_cmd_batch)

    serve = commands.add_parser(
        "serve",
        help="run the judge HTTP server",
        epilog=_SERVE_EPILOG,
        description="Serve a judge over HTTP with dynamic batching.",
        formatter_class=fmt,
    )
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    serve.add_argument(
        "--kind",
        default="auto",
        choices=kinds.SERVER_KINDS,
        help="auto: correctness when a request has an answer, else pointwise (default auto)",
    )
    serve.add_argument(
        "--api-key-env",
        default="JUDGE_SERVER_API_KEY",
        metavar="ENV_VAR",
        help="variable holding the key clients must send as Bearer (default JUDGE_SERVER_API_KEY; "
        "unset or empty: no auth)",
    )
    serve.add_argument("--max-batch-size", type=int, default=16, help="items per backend batch (default 16)")
    serve.add_argument("--max-wait-ms", type=float, default=10.0, help="wait for a batch to fill (default 10 ms)")
    serve.add_argument("--max-queue", type=int, default=1024, help="items allowed to wait before 503 (default 1024)")
    serve.add_argument("--max-body-bytes", type=int, default=1_000_000, help="request body limit (default 1 MB)")
    serve.add_argument("--max-concurrent-batches", type=int, default=4, help="backend batches at once (default 4)")
    serve.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    serve.add_argument(
        "--graceful-timeout",
        type=float,
        default=30.0,
        help="seconds to finish in-flight requests on shutdown (default 30)",
    )
    _backend_options(serve, default_api_type="torch", key_flag="--backend-api-key-env")
    on_ray = _ray_options(serve, "replica")
    on_ray.add_argument("--replicas", type=int, default=1, help="Serve replicas, each with its own judge (default 1)")
    on_ray.add_argument(
        "--autoscaling",
        metavar="JSON",
        help='Serve\'s autoscaling_config instead of --replicas, e.g. \'{"min_replicas": 1, "max_replicas": 8}\'',
    )
    serve.set_defaults(handler=_cmd_serve, model_default="smollm2")  # the torch judge's demo model

    providers = commands.add_parser(
        "providers",
        help="list backends and their configuration",
        description="List registered backends and what the environment configures.",
        epilog=_PROVIDERS_EPILOG,
        formatter_class=fmt,
    )
    providers.add_argument("--json", action="store_true", help="print JSON")
    providers.set_defaults(handler=_cmd_providers)

    validate = commands.add_parser(
        "validate",
        help="measure a judge against labels (agreement, bias, calibration)",
        description="How well a judge agrees with labelled items: metrics with 95% intervals, an HTML report, "
        "calibration, PPI estimates.",
        formatter_class=fmt,
    )
    if with_validate:
        from judgekit.validation.command import EPILOG
        from judgekit.validation.command import add_arguments as add_validate_arguments

        validate.epilog = EPILOG
        add_validate_arguments(validate)
        _backend_options(validate, default_api_type=None, key_flag="--api-key-env")
    validate.set_defaults(handler=_cmd_validate)

    demo = commands.add_parser(
        "demo",
        help="judge a small labelled sample with no API key",
        description="judgekit's main job with no API key: the rules judge and a small "
        "in-process model on a labelled sample.",
        formatter_class=fmt,
    )
    if with_demo:
        try:
            from judgekit.demo import add_arguments
        except ModuleNotFoundError as exc:
            if exc.name != "judgekit.demo":
                raise
        else:
            add_arguments(demo)
    demo.set_defaults(handler=_cmd_demo)
    return parser


def _ray_options(parser: argparse.ArgumentParser, worker: str) -> argparse._ArgumentGroup:
    group = parser.add_argument_group('on Ray (pip install "judgekit[ray]"; see docs/scale-out.md)')
    what = "judge_dataset (Ray Data)" if worker == "actor" else "Ray Serve"
    group.add_argument("--ray", action="store_true", help=f"run on {what}")
    group.add_argument("--address", help="join this Ray cluster (auto, HOST:6379, ray://...); default: a local Ray")
    group.add_argument(f"--gpus-per-{worker}", type=float, default=0, help=f"GPUs per {worker} (a torch judge: 1)")
    return group


def _command(argv: Sequence[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command(argv)
    parser = build_parser(with_demo=command == "demo", with_validate=command == "validate")
    args = parser.parse_args(argv)
    if args.version:
        from judgekit import __version__

        print(f"judgekit {__version__}")
        return 0
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    from judgekit.errors import ConfigError

    try:
        return int(args.handler(args))
    except (UsageError, ConfigError) as exc:
        print(f"judgekit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"judgekit {args.command}: interrupted", file=sys.stderr)
        return 130


# ---------------------------------------------------------------------------------------------- backend


def _make_judge(args: argparse.Namespace) -> Any:
    """A `SimplifiedJudge` from the backend flags (unset ones come from the environment)."""
    from judgekit.simplified import SimplifiedJudge

    fields: dict[str, Any] = {}
    for item in args.set:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set expects FIELD=VALUE, got {item!r}")
        try:
            fields[name.strip()] = json.loads(raw)
        except ValueError:
            fields[name.strip()] = raw
    flags = {
        "timeout": args.timeout,
        "num_retries": args.num_retries,
        "retry_delay": args.retry_delay,
        "max_concurrent": args.max_concurrent,
        "temperature": args.temperature,
        "max_tokens": args.max_tokens,
        "output_format": args.output_format,
        "score_range": tuple(args.score_range) if args.score_range else None,
        "cache": args.cache,
    }
    fields.update({k: v for k, v in flags.items() if v is not None})
    if args.base_url:
        fields["base_url"] = args.base_url[0] if len(args.base_url) == 1 else args.base_url
    if args.backend_key_env:
        key = env_value(args.backend_key_env)
        if not key:
            raise UsageError(f"the variable {args.backend_key_env} named by the API key option is not set")
        fields["api_key"] = key
    model = args.model or (getattr(args, "model_default", None) if args.api_type == "torch" else None)
    return SimplifiedJudge(model_name=model, api_type=args.api_type, logprob_score=args.logprob_score, **fields)


# ------------------------------------------------------------------------------------------------ judge


def _cmd_judge(args: argparse.Namespace) -> int:
    given = {name: getattr(args, name) for name in _FIELD_FLAGS if getattr(args, name) not in (None, False)}
    from_flags = bool(given)
    if args.input is not None:
        if given:
            raise UsageError("give the item either as flags or with --input, not both")
        given = _read_object(sys.stdin.read() if args.input == "-" else _read_text(args.input), args.input)
    elif not given:
        if sys.stdin is None or sys.stdin.isatty():
            raise UsageError("no item: give --question/--answer/--prediction... or one JSON object on stdin")
        given = _read_object(sys.stdin.read(), "stdin")
    kind = args.kind or given.pop("kind", None) or "binary"
    given.pop("kind", None)
    if kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    item = _item_for(kind, given, strict=from_flags)
    judge = _make_judge(args)
    try:
        result = judge.evaluate_batch(kind, [item])[0]
    finally:
        judge.close()
    if args.json:
        print(json.dumps(_plain(result), indent=2, ensure_ascii=False, default=str))
    if not result["success"]:
        print(f"judgekit judge: the judge failed: {result['error_message']}", file=sys.stderr)
        return 1
    if not args.json:
        value = result["result"] if result["result"] is not None else result["scores"]
        print(value if isinstance(value, str) else json.dumps(_plain(value), default=str))
    return 0


def _item_for(kind: str, given: dict[str, Any], *, strict: bool) -> dict[str, Any]:
    """The kind's keyword arguments: aliases resolved (prediction <-> response), required ones checked; with
    ``strict`` (flags), a field the kind does not take is a usage error."""
    required, optional = _KIND_FIELDS[kind]
    item = dict(given)
    if "response" in required and "response" not in item and "prediction" in item:
        item["response"] = item.pop("prediction")
    if "prediction" in required and "prediction" not in item and "response" in item:
        item["prediction"] = item.pop("response")
    if isinstance(item.get("rubric"), str):
        item["rubric"] = _rubric(item["rubric"])
    if "score_range" in item and isinstance(item["score_range"], list):
        item["score_range"] = tuple(item["score_range"])
    missing = [name for name in required if item.get(name) is None]
    if missing:
        flags = ", ".join("--" + name.replace("_", "-") for name in missing)
        raise UsageError(f"kind {kind!r} needs {flags} (or those fields in the JSON input)")
    if strict:
        extra = sorted(set(item) - set(required) - set(optional) - set(_COMMON_FIELDS))
        if extra:
            flags = ", ".join("--" + name.replace("_", "-") for name in extra)
            raise UsageError(f"kind {kind!r} does not take {flags}")
    return item


def _rubric(text: str) -> Any:
    text = text.strip()
    if text.startswith(("{", "[")):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise UsageError(f"--rubric is not valid JSON: {exc}") from None
    return [name.strip() for name in text.split(",") if name.strip()]


def _read_object(text: str, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{where}: not a JSON object: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{where}: expected one JSON object, got {type(data).__name__}")
    return data


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def _plain(value: Any) -> Any:
    """A JSON-ready copy: tuples as lists, prompts kept."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# ------------------------------------------------------------------------------------------------ batch


class _Tally:
    """What a batch run did, for the summary line."""

    def __init__(self, items: int, skipped: int) -> None:
        self.items, self.skipped = items, skipped
        self.succeeded = self.failed = self.tokens = 0
        self.started = time.perf_counter()
        self.batch_api: Any = None  # the BatchAPIStats of a --batch-api run

    def add(self, result: dict[str, Any]) -> None:
        if result.get("success"):
            self.succeeded += 1
        else:
            self.failed += 1
        self.tokens += int((result.get("usage") or {}).get("total_tokens") or 0)

    def line(self) -> str:
        wall = time.perf_counter() - self.started
        judged = self.succeeded + self.failed
        rate = f" ({judged / wall:.1f} items/s)" if judged and wall > 0 else ""
        return (
            f"summary: items={self.items} succeeded={self.succeeded} failed={self.failed} "
            f"skipped={self.skipped} wall_s={wall:.2f} tokens={self.tokens}{rate}"
        )


def _cmd_batch(args: argparse.Namespace) -> int:
    if args.concurrency is not None and args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    out = Path(args.output)
    if args.input != "-" and out.resolve() == Path(args.input).resolve():
        raise UsageError("the output file must not be the input file")
    items = _read_jsonl(args.input)
    finished = _finished(out, retry_failed=args.retry_failed)
    if args.batch_api and args.ray:
        raise UsageError("--batch-api and --ray are two ways to run a batch: choose one")
    todo = [(i, item) for i, item in items if _item_key(i, item) not in finished]
    tally = _Tally(len(items), len(items) - len(todo))
    if not todo:
        print(f"nothing to judge: all {len(items)} items are already in {out}", file=sys.stderr)
        print(tally.line(), file=sys.stderr)
        return 0
    judge = _make_judge(args)
    if not judge.judge.is_available():
        judge.close()
        raise UsageError(f"the {judge.judge.provider_name} backend is not configured (no API key or base URL?)")
    concurrency = args.concurrency or judge.config.max_concurrent
    try:
        if args.batch_api:
            asyncio.run(_run_batch_api(judge, args, todo, out, tally))
        elif args.ray:
            _run_batch_on_ray(judge, args, todo, out, tally, concurrency)
        else:
            asyncio.run(_run_batch(judge, args, todo, out, tally, concurrency))
    finally:
        print(tally.line(), file=sys.stderr)
        if tally.batch_api is not None:
            print(f"batch API: {tally.batch_api}", file=sys.stderr)
    return 1 if tally.failed else 0


def _progress(args: argparse.Namespace, tally: _Tally) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=tally.items,
        initial=tally.skipped,
        desc=f"judging ({args.kind})",
        unit="item",
        file=sys.stderr,
        disable=args.no_progress,
        dynamic_ncols=True,
    )


def _write(
    sink: TextIO, args: argparse.Namespace, tally: _Tally, bar: Any, index: int, item: dict[str, Any],
    result: dict[str, Any],
) -> None:  # fmt: skip
    """Append one item's record to the output at once, and count it."""
    sink.write(_line(index, item, result, include_prompt=args.include_prompt))
    sink.flush()
    tally.add(result)
    bar.set_postfix(failed=tally.failed, refresh=False)
    bar.update(1)


async def _run_batch(
    judge: Any,
    args: argparse.Namespace,
    todo: list[tuple[int, dict[str, Any]]],
    out: Path,
    tally: _Tally,
    concurrency: int,
) -> None:
    from judgekit.batching.engine import gather_ordered

    bar = _progress(args, tally)
    with _append(out) as sink:

        async def one(entry: tuple[int, dict[str, Any]]) -> None:
            index, item = entry
            _write(sink, args, tally, bar, index, item, await _judge_one(judge, args.kind, item))

        try:
            await gather_ordered(todo, one, concurrency=concurrency)
        finally:
            bar.close()
            await judge.aclose()


def _run_batch_on_ray(
    judge: Any,
    args: argparse.Namespace,
    todo: list[tuple[int, dict[str, Any]]],
    out: Path,
    tally: _Tally,
    concurrency: int,
) -> None:
    """The same records as `_run_batch`, judged by ``--actors`` Ray actors (`judgekit.ray.judge_dataset`), each
    with its own judge of ``concurrency`` requests in flight."""
    import functools

    from judgekit.batching.engine import item_failure
    from judgekit.errors import ConfigError
    from judgekit.ray._common import connect
    from judgekit.ray.dataset import stream_judged
    from judgekit.simplified import SimplifiedJudge

    if args.actors < 1:
        raise UsageError("--actors must be at least 1")
    ready: list[tuple[int, dict[str, Any]]] = []
    malformed: list[tuple[int, dict[str, Any]]] = []
    for index, item in todo:
        try:
            ready.append((index, _item_for(args.kind, _fields(item), strict=False)))
        except UsageError as exc:
            malformed.append((index, item_failure(str(exc))))
    config = judge.config.merged(max_concurrent=concurrency)
    make_judge = functools.partial(SimplifiedJudge, config=config, logprob_score=judge.logprob_score)
    judge.close()
    items = dict(todo)
    bar = _progress(args, tally)
    with _append(out) as sink:
        try:
            for index, result in malformed:
                _write(sink, args, tally, bar, index, items[index], result)
            if ready:
                connect(args.address)
                judged = stream_judged(ready, args.kind, make_judge, actors=args.actors,
                                       gpus_per_actor=args.gpus_per_actor, batch_size=4 * concurrency)  # fmt: skip
                for index, result in judged:
                    _write(sink, args, tally, bar, index, items[index], result)
        except Exception as exc:  # Ray wraps what an actor raised: a backend ConfigError is still exit code 2
            cause = _config_error_in(exc, ConfigError)
            if cause is None:
                raise
            raise cause from exc
        finally:
            bar.close()


def _config_error_in(exc: BaseException | None, kind: type[Exception]) -> Exception | None:
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, kind):
            return exc
        exc, seen = getattr(exc, "cause", None) or exc.__cause__, seen + 1
    return None


def _fields(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != "id"}


async def _run_batch_api(
    judge: Any, args: argparse.Namespace, todo: list[tuple[int, dict[str, Any]]], out: Path, tally: _Tally
) -> None:
    """Every item through the provider's batch API (resumable: `judgekit.batching.batch_api`), then all
    results written in input order; the state file goes once the output holds them all."""
    from judgekit.batching.batch_api import BATCH_PENDING, BatchAPIOptions
    from judgekit.errors import ConfigError

    state = Path(args.batch_state) if args.batch_state else out.with_name(out.name + ".batch-state.json")
    options = BatchAPIOptions(
        state_path=state, poll_interval=args.poll_interval, max_wait=args.max_wait, max_requests=args.batch_max_requests
    )
    results: dict[int, dict[str, Any]] = {}
    ready: list[tuple[int, dict[str, Any]]] = []  # (index, the kind's fields)
    for index, item in todo:
        try:
            fields = _item_for(args.kind, _fields(item), strict=False)
            judge._prepare(args.kind, fields, 0)  # a malformed item fails alone, before anything is submitted
            ready.append((index, fields))
        except (UsageError, ConfigError) as exc:
            results[index] = _malformed(exc)
    try:
        judged = await judge.aevaluate_batch(
            args.kind,
            [fields for _, fields in ready],
            batch_api=options,
            progress=False if args.no_progress else {"file": sys.stderr, "dynamic_ncols": True},
        )
        tally.batch_api = judge.last_batch_stats
    finally:
        await judge.aclose()
    results.update((index, dict(result)) for (index, _), result in zip(ready, judged, strict=True))
    items = dict(todo)
    pending = 0
    with _append(out) as sink:
        for index in sorted(results):
            tally.add(results[index])
            if results[index].get("error_type") == BATCH_PENDING:  # not written: a re-run resumes its batch
                pending += 1
                continue
            sink.write(_line(index, items[index], results[index], include_prompt=args.include_prompt))
        sink.flush()
        os.fsync(sink.fileno())
    if pending:
        print(f"{pending} items are still in provider batches (state: {state}); run again to resume", file=sys.stderr)
    else:
        for path in [state, *state.parent.glob(state.name + ".*.jsonl")]:  # the output holds every result now
            path.unlink(missing_ok=True)


async def _judge_one(judge: Any, kind: str, item: dict[str, Any]) -> dict[str, Any]:
    """One item's result; a malformed item becomes a failed result, a backend misconfiguration raises."""
    from judgekit.batching.engine import ajudge_items, item_failure

    try:
        fields = _item_for(kind, _fields(item), strict=False)
    except UsageError as exc:
        return item_failure(str(exc))
    return (await ajudge_items(judge, kind, [fields]))[0]


def _malformed(exc: Exception) -> dict[str, Any]:
    """The result of an item that could not be judged as given; a backend misconfiguration raises."""
    from judgekit.batching.engine import BACKEND_FIELDS, item_failure

    if isinstance(exc, UsageError):
        return item_failure(str(exc))
    if getattr(exc, "field", None) in BACKEND_FIELDS:
        raise exc
    return item_failure(str(exc).removeprefix("items[0]: "), type(exc).__name__)


def _line(index: int, item: dict[str, Any], result: dict[str, Any], *, include_prompt: bool) -> str:
    """One output line: the item's index (and id), then its result."""
    record = {
        "index": index,
        **({"id": item["id"]} if "id" in item else {}),
        **_record(result, include_prompt=include_prompt),
    }
    return json.dumps(record, ensure_ascii=False, default=str) + "\n"


def _record(result: dict[str, Any], *, include_prompt: bool) -> dict[str, Any]:
    """A JSON-ready result (without prompts unless asked)."""
    record = _plain(result)
    if not include_prompt:
        record.pop("prompt", None)
        for nested in record.get("swap_results") or []:
            nested.pop("prompt", None)
    return record


def _read_jsonl(path: str) -> list[tuple[int, dict[str, Any]]]:
    """``(index, item)`` for every non-empty line; a bad line is a usage error naming it."""
    text = sys.stdin.read() if path == "-" else _read_text(path)
    items: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        items.append((len(items), _read_object(line, f"{path}:{number}")))
    return items


def _item_key(index: int, item: dict[str, Any]) -> tuple[str, str]:
    if "id" in item:
        return "id", json.dumps(item["id"], sort_keys=True)
    return "index", str(index)


def _finished(out: Path, *, retry_failed: bool) -> set[tuple[str, str]]:
    """Keys of the items the output already holds (the last line for an item wins). Failed items count as
    finished unless ``retry_failed``; items that failed as malformed (ConfigError) never do."""
    if not out.exists():
        return set()
    state: dict[tuple[str, str], bool] = {}
    with out.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by an interruption: that item is judged again
            if not isinstance(record, dict) or not isinstance(record.get("index"), int):
                continue
            key = _item_key(record["index"], record)
            ok = record.get("success") is True
            state[key] = ok or not (retry_failed or record.get("error_type") == "ConfigError")
    return {key for key, done in state.items() if done}


@contextlib.contextmanager
def _append(path: Path) -> Iterator[TextIO]:
    """Open ``path`` for appending, starting on a new line if an interrupted run left half a line."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        needs_newline = False
        if path.exists() and path.stat().st_size:
            with path.open("rb") as existing:
                existing.seek(-1, os.SEEK_END)
                needs_newline = existing.read(1) != b"\n"
        sink = path.open("a", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    with sink:
        if needs_newline:
            sink.write("\n")
        yield sink


# ------------------------------------------------------------------------------------------------ serve


def _cmd_serve(args: argparse.Namespace) -> int:
    from judgekit.server import create_app, serve

    server_key = env_value(args.api_key_env) if args.api_key_env else None
    judge = _make_judge(args)
    given = {item.partition("=")[0].strip() for item in args.set}
    defaults = judge.judge.serving_defaults(max_batch_size=args.max_batch_size)
    if any(name not in given for name in defaults):  # the backend's serving defaults, unless set with --set
        args.set.extend(f"{name}={json.dumps(value)}" for name, value in defaults.items() if name not in given)
        judge.close()
        judge = _make_judge(args)
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
    autoscaling = _read_object(args.autoscaling, "--autoscaling") if args.autoscaling else None
    make_judge = functools.partial(SimplifiedJudge, config=judge.config, logprob_score=judge.logprob_score)
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
            make_judge, replicas=args.replicas, autoscaling=autoscaling, host=args.host, port=args.port,
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


# -------------------------------------------------------------------------------------------- providers


def mask_secret(secret: str | None) -> str:
    """``"not set"``, ``"set"``, or for a long key ``"set (sk-…3f9a)"``: its prefix and last four characters."""
    if not secret:
        return "not set"
    if len(secret) < 20:
        return "set"
    dash = secret.find("-")
    prefix = secret[: dash + 1] if 0 < dash <= 4 else ""
    return f"set ({prefix}…{secret[-4:]})"


def _cmd_providers(args: argparse.Namespace) -> int:
    from judgekit.config import JudgeConfig, default_api_type, env_variables
    from judgekit.factory import JudgeFactory

    default = default_api_type()
    rows = []
    for name in JudgeFactory.list_judges():
        config = JudgeConfig.from_env(api_type=name)
        rows.append(
            {
                "api_type": name,
                "default": name == default,
                "class": JudgeFactory.describe(name),
                "base_url": config.base_url,
                "api_key": mask_secret(config.secret()),
                "model": config.model_name,
                "env": env_variables(name),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'api_type':<15}{'api key':<22}{'base_url':<40}model")
    for row in rows:
        mark = "*" if row["default"] else " "
        url = row["base_url"] if isinstance(row["base_url"], str) else ", ".join(row["base_url"] or []) or "-"
        key = row["api_key"] if row["env"] else "(none needed)"
        print(f"{mark}{row['api_type']:<14}{key:<22}{url:<40}{row['model'] or '-'}")
    print(
        f"\n* the default ($API_TYPE, else openai). Variables read: API_TYPE, MODEL_VERSION and per backend "
        f"{', '.join(sorted({v for r in rows for v in r['env']}))}."
    )
    return 0


# -------------------------------------------------------------------------------------------- validate


def _cmd_validate(args: argparse.Namespace) -> int:
    from judgekit.validation.command import run

    return run(args, _make_judge, _read_jsonl, UsageError)


# ------------------------------------------------------------------------------------------------ demo


def _cmd_demo(args: argparse.Namespace) -> int:
    try:
        from judgekit.demo import main as demo_main
    except ModuleNotFoundError as exc:
        if exc.name != "judgekit.demo":
            raise
        raise UsageError("the demo is not available in this version of judgekit") from None
    return int(demo_main(args))


if __name__ == "__main__":
    sys.exit(main())
