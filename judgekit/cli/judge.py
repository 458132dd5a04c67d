"""``judgekit judge``: one item, its verdict printed."""

from __future__ import annotations

import argparse
import json
import sys

from judgekit import kinds
from judgekit.cli._common import UsageError, field_flags, item_for, make_judge, plain, read_object, read_text


def cmd_judge(args: argparse.Namespace) -> int:
    given = {name: getattr(args, name) for name in field_flags() if getattr(args, name) not in (None, False)}
    from_flags = bool(given)
    if args.input is not None:
        if given:
            raise UsageError("give the item either as flags or with --input, not both")
        given = read_object(sys.stdin.read() if args.input == "-" else read_text(args.input), args.input)
    elif not given:
        if sys.stdin is None or sys.stdin.isatty():
            raise UsageError("no item: give --question/--answer/--prediction... or one JSON object on stdin")
        given = read_object(sys.stdin.read(), "stdin")
    kind = args.kind or given.pop("kind", None) or "binary"
    given.pop("kind", None)
    if kind not in kinds.KINDS:
        raise UsageError(f"unknown kind {kind!r}; use one of {', '.join(kinds.KINDS)}")
    item = item_for(kind, given, strict=from_flags)
    judge = make_judge(args)
    try:
        result = judge.evaluate_batch(kind, [item])[0]
    finally:
        judge.close()
    if args.json:
        print(json.dumps(plain(result), indent=2, ensure_ascii=False, default=str))
    if not result["success"]:
        print(f"judgekit judge: the judge failed: {result['error_message']}", file=sys.stderr)
        return 1
    if not args.json:
        value = result["result"] if result["result"] is not None else result["scores"]
        print(value if isinstance(value, str) else json.dumps(plain(value), default=str))
    return 0
