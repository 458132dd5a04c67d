"""``judgekit probe``: bias probes over a JSONL file of items (`judgekit.bias`), a JSON report out."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from judgekit.cli._common import UsageError, make_judge, read_jsonl


def cmd_probe(args: argparse.Namespace) -> int:
    from judgekit.bias import probe

    items = [item for _, item in read_jsonl(args.input)]
    if not items:
        raise UsageError(f"no items in {args.input}")
    probes = [p.strip() for p in args.probes.split(",") if p.strip()] if args.probes else None
    judge = make_judge(args)
    try:
        report = probe(judge, args.kind, items, probes, max_concurrency=args.concurrency)
    finally:
        judge.close()
    text = json.dumps(report, indent=2)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    for name, row in report["probes"].items():
        rate = "n/a" if row["flip_rate"] is None else f"{row['flip_rate']:.1%}"
        interval = "" if row["ci95"] is None else f" [{row['ci95'][0]:.1%}, {row['ci95'][1]:.1%}]"
        print(f"{name:16s} flip rate {rate}{interval}  direction {row['direction']}  (judged {row['judged']}, "
              f"failed {row['failed']})", file=sys.stdout if args.output else sys.stderr)  # fmt: skip
    return 0
