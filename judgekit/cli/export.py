"""``judgekit export``: judgements to judge-training data in each trainer's format (`judgekit.training_data`)."""

from __future__ import annotations

import argparse
import json
import sys

FORMAT_NAMES = ("sft", "bradley_terry", "verl_rm", "grpo_pointwise", "grpo_pairwise")
"""`judgekit.training_data.FORMATS`, named here so that building the parser imports nothing."""

EPILOG = f"""\
examples:
  judgekit export judged.jsonl --items items.jsonl -o data/ --format sft bradley_terry
  judgekit export validation.jsonl --kind pairwise -o data/ --format verl_rm grpo_pairwise
  judgekit export jury.jsonl -o data/ --min-agreement 0.8 --val-fraction 0.05

Writes OUT/<format>/train.parquet and OUT/<format>/validation.parquet (split by question: no question in
both) and OUT/data_card.json (counts, label balance, what each filter dropped, sources). Formats:
{", ".join(FORMAT_NAMES)}. See docs/trained-judges.md.
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", help="judgekit batch outputs, labelled JSONL, or saved jury results")
    parser.add_argument("-o", "--output", required=True, help="output directory")
    parser.add_argument("--format", nargs="+", choices=FORMAT_NAMES, default=list(FORMAT_NAMES), help="(default all)")
    parser.add_argument("--items", help="the items file a judgekit batch output was judged from (fields, labels)")
    parser.add_argument("--kind", help="the judge kind, when the lines do not name it")
    parser.add_argument("--require-label", action="store_true", help="only items with a label")
    parser.add_argument("--agree-with-label", action="store_true", help="only items whose verdict equals the label")
    parser.add_argument("--min-agreement", type=float, help="only items a jury agreed on at least this much")
    parser.add_argument("--min-confidence", type=float, help="only items with max(P, 1-P) of P(yes)/P(A) >= this")
    parser.add_argument("--val-fraction", type=float, default=0.1, help="share of questions for validation (0.1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split (0)")
    parser.add_argument("--score-range", nargs=2, type=float, default=(1, 10), metavar=("LOW", "HIGH"),
                        help="the scale of pointwise scores (1 10)")  # fmt: skip


def cmd_export(args: argparse.Namespace) -> int:
    from judgekit.training_data import ExportOptions, export

    options = ExportOptions(
        require_label=args.require_label, agree_with_label=args.agree_with_label, min_agreement=args.min_agreement,
        min_confidence=args.min_confidence, val_fraction=args.val_fraction, seed=args.seed,
        score_range=tuple(args.score_range),
    )  # fmt: skip
    card = export(args.inputs, args.output, formats=args.format, items=args.items, kind=args.kind, options=options)
    for fmt, entry in card.formats.items():
        print(f"{fmt}: train={entry['train']['rows']} validation={entry['validation']['rows']} "
              f"duplicates={entry['duplicates']}", file=sys.stderr)  # fmt: skip
    print(json.dumps(card.records), file=sys.stderr)
    return 0
