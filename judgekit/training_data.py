"""Judgements to judge-training data (``judgekit export``; docs/trained-judges.md).

Reads judged items, whatever made them: a ``judgekit batch`` output (with its items file, ``items=``, or with
the judged fields carried in each line), a validation file (the kind's fields plus a human ``label``), or saved
results of a `~judgekit.Jury` (``agreement`` per item). Keeps the ones that pass the filters, and writes each
trainer's format as parquet, split into train and validation by prompt (no question in both), with a data card.

Formats, by trainer (`FORMATS`):

- ``sft``: verl's ``MultiTurnSFTDataset`` (the seed's SFT recipe): ``messages``, the judge prompt of the kind and
  the judge's reply (its ``<think>`` reasoning kept), or a reply built from the label;
- ``bradley_terry``: the seed's Bradley-Terry files: ``chosen`` and ``rejected``, JSON strings of message lists;
- ``verl_rm``: verl 0.9.1's ``RMDataset``: ``prompt``, ``chosen``, ``rejected`` as plain strings;
- ``grpo_pointwise`` / ``grpo_pairwise``: verl's ``RLHFDataset`` rows for the seed's GRPO judges: ``prompt``
  (the pointwise / pairwise judge prompt, asking for ``<think>..</think><score>N</score>`` / ``<better>A</better>``),
  ``reward_model.ground_truth`` (the score, or "A"/"B"), ``data_source``, ``ability``, ``extra_info``.

Preference pairs come from pairwise judgements, and from pointwise scores or verdicts of several responses to one
question (each higher-rated response against each lower-rated one). The target of an item is its label when it
has one, else the judge's verdict.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judgekit.errors import ConfigError, MissingDependencyError
from judgekit.kinds import get_kind, suggest
from judgekit.prompts import build_prompt

__all__ = ["FORMATS", "ExportOptions", "Judged", "export", "read_judged", "rows_for"]

FORMATS = ("sft", "bradley_terry", "verl_rm", "grpo_pointwise", "grpo_pairwise")


@dataclass
class Judged:
    """One judged (or labelled) item: its kind and fields, the judge's verdict, the human label, the judge's
    reply and reasoning, its confidence (max(P, 1 - P) of P(yes) or P(A)) and a jury's agreement."""

    kind: str
    fields: dict[str, Any]
    verdict: Any = None
    label: Any = None
    reply: str | None = None
    reasoning: str | None = None
    confidence: float | None = None
    agreement: float | None = None
    model: str | None = None
    source: str = ""
    output_format: str = "0/1"

    @property
    def target(self) -> Any:
        """The label when there is one, else the judge's verdict."""
        return self.label if self.label is not None else self.verdict

    @property
    def question(self) -> str:
        return str(self.fields.get("question", ""))


@dataclass(frozen=True)
class ExportOptions:
    """Filters and the split. ``require_label``: only labelled items; ``agree_with_label``: only items whose
    verdict equals their label (unjudged labelled items pass); ``min_agreement``: a jury's agreement at least
    this; ``min_confidence``: max(P, 1 - P) of P(yes) / P(A) at least this. ``val_fraction`` of the questions go
    to validation (by a hash of the question and ``seed``). ``score_range`` is the scale of pointwise scores."""

    require_label: bool = False
    agree_with_label: bool = False
    min_agreement: float | None = None
    min_confidence: float | None = None
    val_fraction: float = 0.1
    seed: int = 0
    score_range: tuple[float, float] = (1, 10)


# -- reading ----------------------------------------------------------------------------------------------


def _read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise ConfigError(f"{path}:{number}: not a JSON line ({exc})", "input") from None
            if not isinstance(row, dict):
                raise ConfigError(f"{path}:{number}: expected a JSON object", "input")
            rows.append(row)
    return rows


def _label(value: Any) -> Any:
    """A label as the verdict it stands for: "yes"/"no" and booleans as 1/0, numbers as numbers."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value.strip().lower() in ("yes", "no", "true", "false"):
        return int(value.strip().lower() in ("yes", "true"))
    return value


def read_judged(
    path: str | Path, *, items: str | Path | None = None, kind: str | None = None
) -> tuple[list[Judged], Counter[str]]:
    """The judged items of one file, and what was dropped (``failed``: a failed judgement). A line with
    ``success`` is a judgement (``judgekit batch`` output, a saved result); one without is a labelled item.
    ``items`` is the batch's input file, joined by ``id`` (else by ``index``): it gives the fields and labels."""
    by_key: dict[Any, dict[str, Any]] = {}
    if items is not None:
        for index, item in enumerate(_read_jsonl(items)):
            by_key[("id", json.dumps(item["id"], sort_keys=True)) if "id" in item else ("index", index)] = item
    out: list[Judged] = []
    dropped: Counter[str] = Counter()
    for number, row in enumerate(_read_jsonl(path)):
        key = ("id", json.dumps(row["id"], sort_keys=True)) if "id" in row else ("index", row.get("index", number))
        item = {**by_key.get(key, {}), **(row.get("item") or {})}
        name = row.get("kind") or item.get("kind") or kind
        if name is None:
            raise ConfigError(f"{path}: line {number + 1} names no kind; pass kind= (--kind)", "kind")
        spec = get_kind(name)
        if row.get("success") is False:
            dropped["failed"] += 1
            continue
        fields = {f: row.get(f, item.get(f)) for f in spec.all_fields if row.get(f, item.get(f)) is not None}
        if "response" in spec.fields and "response" not in fields and "prediction" in item:
            fields["response"] = item["prediction"]
        missing = [f for f in spec.fields if f not in fields]
        if missing:
            hint = "" if items is not None else "; pass the batch's items file (items=, --items)"
            raise ConfigError(f"{path}: line {number + 1} has no {', '.join(missing)}{hint}", "items")
        label = row.get("label", item.get("label"))
        judged = Judged(spec.name, fields, label=_label(label), source=str(path))
        if "success" in row:
            judged.verdict = _label(row.get(spec.slot))
            if spec.verdict and str(row.get(spec.slot)).lower() in ("yes", "no"):
                judged.output_format = "yes/no"  # the judge was asked for yes/no: its prompt and reply say so
            judged.reply, judged.reasoning = row.get("raw_response"), row.get("reasoning")
            p = row.get("p_yes") if row.get("p_yes") is not None else row.get("p_a")
            judged.confidence = max(p, 1.0 - p) if isinstance(p, (int, float)) else None
            judged.agreement = row.get("agreement")
            judged.model = row.get("model")
        out.append(judged)
    return out, dropped


def keep(records: Iterable[Judged], options: ExportOptions) -> tuple[list[Judged], Counter[str]]:
    """The records that pass the filters, and how many each filter dropped."""
    kept: list[Judged] = []
    dropped: Counter[str] = Counter()
    for record in records:
        if record.target is None:
            dropped["no_verdict_or_label"] += 1
        elif options.require_label and record.label is None:
            dropped["no_label"] += 1
        elif (
            options.agree_with_label
            and record.verdict is not None
            and record.label is not None
            and (not _same(record.verdict, record.label))
        ):
            dropped["disagrees_with_label"] += 1
        elif options.min_agreement is not None and (
            record.agreement is None or record.agreement < options.min_agreement
        ):
            dropped["low_jury_agreement"] += 1
        elif options.min_confidence is not None and (
            record.confidence is None or record.confidence < options.min_confidence
        ):
            dropped["low_confidence"] += 1
        else:
            kept.append(record)
    return kept, dropped


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b))
    return str(a).strip().lower() == str(b).strip().lower()


# -- rows per format ---------------------------------------------------------------------------------------


def _prompt(kind: str, fields: Mapping[str, Any], score_range: tuple[float, float], output_format: str = "0/1") -> str:
    spec = get_kind(kind)
    options = {"score_range": score_range, "output_format": output_format}
    values, _ = spec.prompt_values({**{f: "" for f in spec.optional_fields}, **fields}, options)
    return build_prompt(spec.name, values)


def _reply(record: Judged) -> str | None:
    """The judge's reply (reasoning kept) when it stands for the target, else one built from the target."""
    if record.reply and (record.label is None or record.verdict is None or _same(record.verdict, record.label)):
        return f"<think>{record.reasoning}</think>\n{record.reply}" if record.reasoning else record.reply
    target = record.target
    if record.kind in ("binary", "correctness"):
        return get_kind(record.kind).verdict_words(record.output_format)[0 if target else 1]
    if record.kind == "pointwise":
        return f"<score>{_number(target)}</score>"
    if record.kind == "pairwise":
        return f"<better>{target}</better>"
    return None


def _number(value: Any) -> str:
    return f"{float(value):g}"


def _pairs(records: Sequence[Judged]) -> list[tuple[str, str, str, Judged]]:
    """(question, chosen, rejected, record) preference pairs."""
    pairs = []
    groups: dict[str, list[tuple[float, str, Judged]]] = {}
    for record in records:
        if record.kind == "pairwise" and str(record.target) in ("A", "B"):
            first, second = str(record.fields["response1"]), str(record.fields["response2"])
            chosen, rejected = (first, second) if record.target == "A" else (second, first)
            pairs.append((record.question, chosen, rejected, record))
        elif record.kind in ("pointwise", "binary", "correctness") and isinstance(record.target, (int, float)):
            response = record.fields.get("response", record.fields.get("prediction"))
            groups.setdefault(record.question, []).append((float(record.target), str(response), record))
    for question, rated in groups.items():
        for value, response, record in rated:
            for other_value, other, _ in rated:
                if value > other_value and response != other:
                    pairs.append((question, response, other, record))
    return pairs


def _chat(question: str, response: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": response}]


def rows_for(fmt: str, records: Sequence[Judged], options: ExportOptions) -> list[tuple[str, dict[str, Any]]]:
    """``(question, row)`` of format ``fmt`` for the records (the question decides the split)."""
    if fmt == "sft":
        rows = []
        for r in records:
            reply = _reply(r)
            if reply is not None:
                prompt = _prompt(r.kind, r.fields, options.score_range, r.output_format)
                messages = [{"role": "user", "content": prompt},
                            {"role": "assistant", "content": reply}]  # fmt: skip
                rows.append((r.question, {"messages": messages, "kind": r.kind, "target": str(r.target)}))
        return rows
    if fmt == "bradley_terry":
        return [(q, {"chosen": json.dumps(_chat(q, c)), "rejected": json.dumps(_chat(q, x))})
                for q, c, x, _ in _pairs(records)]  # fmt: skip
    if fmt == "verl_rm":
        return [(q, {"prompt": q, "chosen": c, "rejected": x}) for q, c, x, _ in _pairs(records)]
    if fmt in ("grpo_pointwise", "grpo_pairwise"):
        kind = fmt.removeprefix("grpo_")
        low, high = options.score_range
        rows = []
        for r in records:
            if r.kind != kind:
                continue
            if kind == "pointwise":
                if not isinstance(r.target, (int, float)) or not low <= float(r.target) <= high:
                    continue
                truth = _number(r.target)
            elif str(r.target) in ("A", "B"):
                truth = str(r.target)
            else:
                continue
            rows.append((r.question, {
                "data_source": f"judgekit/{fmt}",
                "prompt": [{"role": "user", "content": _prompt(kind, r.fields, options.score_range)}],
                "ability": "judge",
                "reward_model": {"style": "rule", "ground_truth": truth},
                "extra_info": {"kind": kind, "score_range": [float(low), float(high)], "model": r.model or ""},
            }))  # fmt: skip
        return rows
    raise ConfigError(f"unknown export format {fmt!r}{suggest(fmt, FORMATS)} (formats: {', '.join(FORMATS)})", "format")


def _in_validation(question: str, options: ExportOptions) -> bool:
    digest = hashlib.sha256(f"{options.seed}\x00{question}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < options.val_fraction


# -- writing -----------------------------------------------------------------------------------------------


@dataclass
class DataCard:
    """What an export wrote: per format the rows of each split and the balance of their targets; the records
    read, kept and dropped (by reason); the sources (files, models, kinds); the settings."""

    formats: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: dict[str, Any] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"created_by": "judgekit export", "formats": self.formats, "records": self.records,
                "sources": self.sources, "settings": self.settings}  # fmt: skip


def _balance(fmt: str, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    if fmt == "sft":
        return dict(Counter(f"{row['kind']}={row['target']}" for row in rows))
    if fmt.startswith("grpo_"):
        return dict(Counter(row["reward_model"]["ground_truth"] for row in rows))
    return {"pairs": len(rows)}


def export(
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    formats: Sequence[str] = FORMATS,
    items: str | Path | None = None,
    kind: str | None = None,
    options: ExportOptions | None = None,
) -> DataCard:
    """Write ``out_dir/<format>/{train,validation}.parquet`` for each format and ``out_dir/data_card.json``;
    returns the `DataCard`. A format with no rows is reported in the card and not written."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        hint = 'judgekit export writes parquet with pyarrow: pip install "judgekit[export]"'
        raise MissingDependencyError(hint) from exc
    options = options or ExportOptions()
    for fmt in formats:
        if fmt not in FORMATS:
            raise ConfigError(f"unknown export format {fmt!r}{suggest(fmt, FORMATS)} (formats: {', '.join(FORMATS)})",
                              "format")  # fmt: skip
    card = DataCard(settings={**options.__dict__, "score_range": list(options.score_range), "formats": list(formats)})
    records: list[Judged] = []
    dropped: Counter[str] = Counter()
    for path in inputs:
        judged, failed = read_judged(path, items=items, kind=kind)
        dropped.update(failed)
        records += judged
        card.sources.append({
            "path": str(path), "records": len(judged) + sum(failed.values()),
            "models": dict(Counter(r.model for r in judged if r.model)), "kinds": dict(Counter(r.kind for r in judged)),
            "labelled": sum(r.label is not None for r in judged),
        })  # fmt: skip
    kept, filtered = keep(records, options)
    dropped.update(filtered)
    card.records = {"read": len(records) + dropped["failed"], "kept": len(kept), "dropped": dict(dropped)}
    out = Path(out_dir)
    for fmt in formats:
        seen: set[str] = set()
        splits: dict[str, list[dict[str, Any]]] = {"train": [], "validation": []}
        prompts: dict[str, set[str]] = {"train": set(), "validation": set()}
        duplicates = 0
        for question, row in rows_for(fmt, kept, options):
            digest = hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()
            if digest in seen:
                duplicates += 1
                continue
            seen.add(digest)
            split = "validation" if _in_validation(question, options) else "train"
            splits[split].append(row)
            prompts[split].add(question)
        entry: dict[str, Any] = {"duplicates": duplicates}
        for split, rows in splits.items():
            entry[split] = {"rows": len(rows), "prompts": len(prompts[split]), "balance": _balance(fmt, rows)}
            if rows:
                (out / fmt).mkdir(parents=True, exist_ok=True)
                pq.write_table(pa.Table.from_pylist(rows), out / fmt / f"{split}.parquet")
        card.formats[fmt] = entry
    out.mkdir(parents=True, exist_ok=True)
    (out / "data_card.json").write_text(json.dumps(card.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
    return card
