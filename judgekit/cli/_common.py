"""What the commands share: the usage error, the judge built from the backend flags, items read from flags or JSON."""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path
from typing import Any

from judgekit import kinds
from judgekit.config import env_value

COMMON_FIELDS = kinds.CALL_OPTIONS


# The kinds and their fields are read from the kind registry when the parser is built (a registered kind shows up).
def item_fields() -> tuple[str, ...]:
    """Every registered kind's fields: the item flags (--question, ...)."""
    return tuple(dict.fromkeys(name for spec in kinds.KINDS.values() for name in spec.all_fields))


def field_flags() -> tuple[str, ...]:
    """The item flags plus these options. output_format and score_range are backend flags (judge defaults)."""
    return (*item_fields(), "answer_type", "custom_prompt", "images", "swap")


def __getattr__(name: str) -> Any:
    if name == "KINDS":  # the old constants, now read from the kind registry at each use
        return kinds.kind_names()
    if name == "ITEM_FIELDS":
        return item_fields()
    if name == "FIELD_FLAGS":
        return field_flags()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


FIELD_SHORT = {"question": "-q", "answer": "-a", "prediction": "-p"}
FIELD_HELP = {
    "answer": "the reference answer",
    "prediction": "the answer being judged",
    "response": "the response being scored (pointwise)",
    "rubric": 'criteria: JSON {"name": "description"} or "name1,name2"',
}


class UsageError(Exception):
    """A mistake on the command line: exit code 2."""


def logs_above_progress() -> None:
    """Send loguru's default output (stderr) through ``tqdm.write``, so that a log line is printed above a
    progress bar instead of through it. A sink the user added is left alone."""
    from loguru import logger

    try:
        logger.remove(0)  # loguru's default stderr handler
    except ValueError:
        return  # already replaced (by us, or by the user)

    def write(message: str) -> None:
        from tqdm import tqdm

        tqdm.write(message, file=sys.stderr, end="")

    logger.add(write, colorize=sys.stderr.isatty())


def make_judge(args: argparse.Namespace) -> Any:
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
    if args.keep_retrying:
        fields["fail_fast"] = False
    if args.base_url:
        fields["base_url"] = args.base_url[0] if len(args.base_url) == 1 else args.base_url
    if args.backend_key_env:
        key = env_value(args.backend_key_env)
        if not key:
            raise UsageError(f"the variable {args.backend_key_env} named by the API key option is not set")
        fields["api_key"] = key
    model = args.model or (getattr(args, "model_default", None) if args.api_type == "torch" else None)
    return SimplifiedJudge(model_name=model, api_type=args.api_type, logprob_score=args.logprob_score, **fields)


def item_for(kind: str, given: dict[str, Any], *, strict: bool) -> dict[str, Any]:
    """The kind's keyword arguments: aliases resolved (prediction <-> response), required ones checked; with
    ``strict`` (flags), a field the kind does not take is a usage error."""
    spec = kinds.get_kind(kind)
    required, optional = spec.fields, spec.optional_fields + spec.options
    item = dict(given)
    if "response" in required and "response" not in item and "prediction" in item:
        item["response"] = item.pop("prediction")
    if "prediction" in required and "prediction" not in item and "response" in item:
        item["prediction"] = item.pop("response")
    if isinstance(item.get("rubric"), str):
        item["rubric"] = rubric(item["rubric"])
    if "score_range" in item and isinstance(item["score_range"], list):
        item["score_range"] = tuple(item["score_range"])
    missing = [name for name in required if item.get(name) is None]
    if missing:
        flags = ", ".join("--" + name.replace("_", "-") for name in missing)
        unknown = set(item) - set(required) - set(optional) - set(COMMON_FIELDS)
        hints = "".join(
            f"; the input has {close[0]!r}: did you mean {name!r}?"
            for name in missing
            if (close := difflib.get_close_matches(name, sorted(unknown), n=1))
        )
        raise UsageError(f"kind {kind!r} needs {flags} (or those fields in the JSON input){hints}")
    if strict:
        extra = sorted(set(item) - set(required) - set(optional) - set(COMMON_FIELDS))
        if extra:
            flags = ", ".join("--" + name.replace("_", "-") for name in extra)
            raise UsageError(f"kind {kind!r} does not take {flags}")
    return item


def rubric(text: str) -> Any:
    text = text.strip()
    if text.startswith(("{", "[")):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise UsageError(f"--rubric is not valid JSON: {exc}") from None
    return [name.strip() for name in text.split(",") if name.strip()]


def read_object(text: str, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{where}: not a JSON object: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{where}: expected one JSON object, got {type(data).__name__}")
    return data


def read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def plain(value: Any) -> Any:
    """A JSON-ready copy: tuples as lists, prompts kept."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def read_jsonl(path: str) -> list[tuple[int, dict[str, Any]]]:
    """``(index, item)`` for every non-empty line; a bad line is a usage error naming it."""
    text = (sys.stdin.read() if path == "-" else read_text(path)).removeprefix("\ufeff")  # a UTF-8 BOM
    items: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        items.append((len(items), read_object(line, f"{path}:{number}")))
    return items
