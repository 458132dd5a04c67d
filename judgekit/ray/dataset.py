"""`judge_dataset`: judge a `ray.data.Dataset` with a pool of Ray actors, each holding its own judge.

Each actor builds its judge once (a torch judge loads its model once per actor, on the GPU Ray gives it with
``num_gpus=1``) and judges every batch it receives through `SimplifiedJudge.aevaluate_batch`, so the
judge's concurrency cap, retries, cache and dynamic batching apply per actor. Rows keep every input column
and gain the result's fields; a failure is a row with ``success=False`` and the reason, never dropped and
never a 0. Ray Data restarts an actor that dies and runs its unfinished batch again, so the output holds
every row exactly once (the requests of that batch are sent again).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from judgekit._sync import run_sync
from judgekit.batching.engine import item_failure
from judgekit.errors import ConfigError
from judgekit.kinds import get_kind
from judgekit.ray._common import JudgeSpec, judge_builder, require_ray

require_ray()

import numpy as np  # noqa: E402  (ray[data] brings numpy, pandas and pyarrow)
import ray.data  # noqa: E402

__all__ = ["RESULT_FIELDS", "judge_dataset", "stream_judged"]

RESULT_FIELDS: tuple[str, ...] = (
    "success",
    "result",
    "scores",
    "score",
    "error_message",
    "error_type",
    "model",
    "latency_s",
    "usage",
)
"""The result fields `judge_dataset` adds as columns."""


def judge_dataset(
    ds: ray.data.Dataset,
    kind: str,
    judge: JudgeSpec,
    *,
    concurrency: int | tuple[int, int] = 1,
    batch_size: int = 64,
    num_gpus: float = 0,
    num_cpus: float | None = None,
    fields: Sequence[str] | None = None,
    item_column: str | None = None,
    record_column: str | None = None,
    ray_remote_args: Mapping[str, Any] | None = None,
    **options: Any,
) -> ray.data.Dataset:
    """Judge every row of ``ds`` as an item of ``kind``; returns a lazy dataset (nothing runs until it is read).

    - ``judge``: a `JudgeConfig`, a dict of judge settings (``api_type``, ``model_name``, ``base_url``,
      ``max_concurrent``, ...) or a zero-argument factory returning a judge; each actor builds its own.
    - ``concurrency``: the number of actors, or ``(min, max)`` for a pool Ray Data scales between.
    - ``batch_size``: rows per call of an actor; within a call the judge has up to its ``max_concurrent``
      requests in flight (make ``batch_size`` a few times that).
    - ``num_gpus`` / ``num_cpus``: resources reserved per actor (``num_gpus=1``: one GPU per torch judge;
      ``num_cpus`` defaults to 1, or 0 with GPUs).
    - ``fields``: the columns given to the judge (default: every keyword of the kind's ``evaluate_*`` method:
      its fields and options, ``custom_prompt``, ``images``, ``temperature``, ...); other columns (an id,
      metadata) pass through untouched. ``item_column`` instead names
      one column holding each item as a dict or a JSON object string (for ragged items such as rubrics).
    - ``options``: given to every item (``output_format="yes/no"``, ``score_range=(1, 5)``, ``swap=True``);
      a row's own value wins.
    - ``record_column``: also store each whole result (`~judgekit.JudgeResult`, prompt included) as a JSON
      string in this column.

    The output has the input columns plus `RESULT_FIELDS`. Row order follows Ray Data's execution (set
    ``DataContext.get_current().execution_options.preserve_order = True`` to keep input order), so give
    rows an id column to join on.
    """
    spec = get_kind(kind)
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}", "batch_size")
    size = concurrency if isinstance(concurrency, tuple) else (concurrency, concurrency)
    if len(size) != 2 or not 1 <= size[0] <= size[1]:
        raise ConfigError(
            f"concurrency must be >= 1 or (min, max) with 1 <= min <= max, got {concurrency}", "concurrency"
        )
    if item_column is not None and fields is not None:
        raise ConfigError("give fields or item_column, not both", "item_column")
    taken = tuple(fields) if fields is not None else spec.keywords
    schema = ds.schema(fetch_if_missing=False)  # known without running anything for in-memory data
    if schema is not None:
        _check_columns(schema.names, record_column)
    compute = ray.data.ActorPoolStrategy(min_size=size[0], max_size=size[1])
    return ds.map_batches(
        _JudgeWorker,
        fn_constructor_kwargs={
            "make_judge": judge_builder(judge),
            "kind": spec.name,
            "fields": taken,
            "item_column": item_column,
            "options": dict(options),
            "record_column": record_column,
        },
        batch_size=batch_size,
        batch_format="numpy",
        compute=compute,
        num_gpus=num_gpus or None,
        num_cpus=num_cpus if num_cpus is not None else (0 if num_gpus else 1),
        udf_modifying_row_count=False,
        **dict(ray_remote_args or {}),
    )


def stream_judged(
    items: Sequence[tuple[int, Mapping[str, Any]]],
    kind: str,
    judge: JudgeSpec,
    *,
    actors: int = 1,
    gpus_per_actor: float = 0,
    batch_size: int = 64,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Judge ``(index, item)`` pairs with `judge_dataset` and yield ``(index, result)`` as batches finish.

    Each result is the whole `~judgekit.JudgeResult` as a plain dict (prompt included). This is what
    ``judgekit batch --ray`` runs; items travel as JSON, so they may be ragged (rubrics, images).
    """
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the caller shows its own
    context.print_on_execution_start = False
    rows = [{"index": index, "item": json.dumps(_plain(dict(item)), ensure_ascii=False)} for index, item in items]
    judged = judge_dataset(
        ray.data.from_items(rows), kind, judge, concurrency=actors, num_gpus=gpus_per_actor, batch_size=batch_size,
        item_column="item", record_column="judgement",
    )  # fmt: skip
    for row in judged.iter_rows():
        yield int(row["index"]), json.loads(row["judgement"])


class _JudgeWorker:
    """A Ray Data actor: one judge, many batches."""

    def __init__(
        self,
        make_judge: Any,
        kind: str,
        fields: tuple[str, ...],
        item_column: str | None,
        options: dict[str, Any],
        record_column: str | None,
    ) -> None:
        self.judge = make_judge()
        self.judge.judge.warm_up()  # an in-process model loads now, once per actor
        self.kind, self.fields, self.item_column = kind, fields, item_column
        self.options, self.record_column = options, record_column

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        _check_columns(batch, self.record_column)
        columns = {name: values.tolist() for name, values in batch.items()}
        rows = len(next(iter(columns.values()), []))
        items: list[dict[str, Any] | None] = []
        failures: dict[int, dict[str, Any]] = {}
        for i in range(rows):
            try:
                items.append(self._item(columns, i))
            except ConfigError as exc:
                failures[i] = item_failure(str(exc))
                items.append(None)
        todo = [item for item in items if item is not None]
        judged = iter(
            [dict(r) for r in run_sync(self.judge.aevaluate_batch(self.kind, todo, on_invalid="fail"))] if todo else []
        )
        results = [failures[i] if item is None else next(judged) for i, item in enumerate(items)]
        out = dict(batch)
        for name in RESULT_FIELDS:
            out[name] = _objects([_plain(result.get(name)) for result in results])
        if self.record_column:
            out[self.record_column] = np.array(
                [json.dumps(_plain(r), ensure_ascii=False, default=str) for r in results], dtype=object
            )
        return out

    def _item(self, columns: dict[str, list[Any]], i: int) -> dict[str, Any]:
        if self.item_column is not None:
            value = columns[self.item_column][i] if self.item_column in columns else None
            if isinstance(value, (str, bytes)):
                try:
                    value = json.loads(value)
                except ValueError as exc:
                    raise ConfigError(f"{self.item_column}: not a JSON object: {exc}", self.item_column) from None
            if not isinstance(value, Mapping):
                raise ConfigError(
                    f"{self.item_column}: expected a JSON object, got {type(value).__name__}", self.item_column
                )
            given = dict(value)
        else:
            given = {name: columns[name][i] for name in self.fields if name in columns}
        return {**self.options, **{name: _python(value) for name, value in given.items() if value is not None}}


def _check_columns(columns: Any, record_column: str | None) -> None:
    added = (*RESULT_FIELDS, *((record_column,) if record_column else ()))
    clash = sorted(set(columns) & set(added))
    if clash:
        raise ConfigError(
            f"the dataset already has column(s) {', '.join(clash)}; judge_dataset adds {', '.join(added)}", clash[0]
        )


def _python(value: Any) -> Any:
    """A cell as plain Python: a list column's cells arrive as numpy arrays (of numpy arrays, if nested)."""
    if isinstance(value, np.ndarray):
        return [_python(v) for v in value.tolist()]
    if isinstance(value, dict):
        return {k: _python(v) for k, v in value.items()}
    return value


def _plain(value: Any) -> Any:
    """A JSON- and Arrow-ready copy: tuples as lists, str subclasses (verdicts) as str, dict keys as str."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def _objects(values: list[Any]) -> np.ndarray:
    """A 1-d object array (``np.array`` would turn equal-length lists into a 2-d array)."""
    array = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        array[i] = value
    return array
