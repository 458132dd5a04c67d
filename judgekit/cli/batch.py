"""``judgekit batch``: a JSONL file judged into an output JSONL file, resumable; locally, on Ray or through a
provider's batch API."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from judgekit._logtally import RETRY_WARNINGS
from judgekit.cli._common import UsageError, item_for, make_judge, plain, read_jsonl
from judgekit.kinds import METADATA_KEYS
from judgekit.provider_registry import provider_env


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


def cmd_batch(args: argparse.Namespace) -> int:
    if args.concurrency is not None and args.concurrency < 1:
        raise UsageError("--concurrency must be at least 1")
    out = Path(args.output)
    if args.input != "-" and out.resolve() == Path(args.input).resolve():
        raise UsageError("the output file must not be the input file")
    items = read_jsonl(args.input)
    args.meta = (*METADATA_KEYS, *(args.meta or ()))
    other = [item["kind"] for _, item in items if item.get("kind", args.kind) != args.kind]
    if other:  # a labelled file of several kinds: as `validate`, each run judges the lines of its kind
        print(
            f"judgekit batch: {len(other)} of {len(items)} lines name another kind "
            f"({', '.join(sorted(map(str, set(other))))}): not judged with --kind {args.kind}",
            file=sys.stderr,
        )
        items = [(i, item) for i, item in items if item.get("kind", args.kind) == args.kind]
    finished = _finished(out, retry_failed=args.retry_failed)
    if args.batch_api and args.ray:
        raise UsageError("--batch-api and --ray are two ways to run a batch: choose one")
    todo = [(i, item) for i, item in items if _item_key(i, item) not in finished]
    tally = _Tally(len(items), len(items) - len(todo))
    if not todo:
        print(f"nothing to judge: all {len(items)} items are already in {out}", file=sys.stderr)
        print(tally.line(), file=sys.stderr)
        return 0
    judge = make_judge(args)
    if not judge.judge.is_available():
        judge.close()
        env = provider_env(judge.config.api_type or judge.judge.provider_name)
        key_vars = " or ".join(env.api_key) or "the backend's key variable"
        raise UsageError(
            f"the {judge.judge.provider_name} backend is not configured: no API key (set {key_vars}, or name "
            "the variable that holds it with --api-key-env VAR) or no base URL (--base-url)"
        )
    concurrency = args.concurrency or judge.config.max_concurrent
    try:
        with RETRY_WARNINGS.batch():  # repeated retry warnings: counted, reported once at the end
            if args.batch_api:
                asyncio.run(_run_batch_api(judge, args, todo, out, tally))
            elif args.ray:
                _run_batch_on_ray(judge, args, todo, out, tally, concurrency)
            else:
                asyncio.run(_run_batch(judge, args, todo, out, tally, concurrency))
    except KeyboardInterrupt:
        print(f"interrupted: {out} holds every finished item; re-run the same command to resume", file=sys.stderr)
        raise
    finally:
        print(tally.line(), file=sys.stderr)
        if tally.batch_api is not None:
            print(f"batch API: {tally.batch_api}", file=sys.stderr)
    return 1 if tally.failed else 0


def _progress(args: argparse.Namespace, tally: _Tally) -> Any:
    from judgekit._progress import progress_bar

    if args.no_progress:
        from tqdm import tqdm

        return tqdm(disable=True)
    return progress_bar(tally.items, initial=tally.skipped, desc=f"judging ({args.kind})", dynamic_ncols=True)


def _write(
    sink: TextIO, args: argparse.Namespace, tally: _Tally, bar: Any, index: int, item: dict[str, Any],
    result: dict[str, Any],
) -> None:  # fmt: skip
    """Append one item's record to the output at once, and count it."""
    sink.write(_line(index, item, result, args))
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
            _write(sink, args, tally, bar, index, item, await _judge_one(judge, args.kind, item, args.meta))

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
            ready.append((index, item_for(args.kind, _fields(item, args.meta), strict=False)))
        except UsageError as exc:
            malformed.append((index, item_failure(str(exc))))
    config = judge.config.merged(max_concurrent=concurrency)
    actor_judge = functools.partial(SimplifiedJudge, config=config, logprob_score=judge.logprob_score)
    judge.close()
    items = dict(todo)
    bar = _progress(args, tally)
    with _append(out) as sink:
        try:
            for index, result in malformed:
                _write(sink, args, tally, bar, index, items[index], result)
            if ready:
                connect(args.address)
                judged = stream_judged(ready, args.kind, actor_judge, actors=args.actors,
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


def _fields(item: dict[str, Any], meta: tuple[str, ...]) -> dict[str, Any]:
    """The judge's inputs of an item: all but its metadata columns."""
    return {k: v for k, v in item.items() if k not in meta}


async def _run_batch_api(
    judge: Any, args: argparse.Namespace, todo: list[tuple[int, dict[str, Any]]], out: Path, tally: _Tally
) -> None:
    """Every item through the provider's batch API (resumable: `judgekit.batching.batch_api`), then all
    results written in input order; the state file goes once the output holds them all."""
    from judgekit.batching.batch_api import BATCH_PENDING, BatchAPIOptions
    from judgekit.batching.engine import item_failure

    state = Path(args.batch_state) if args.batch_state else out.with_name(out.name + ".batch-state.json")
    options = BatchAPIOptions(
        state_path=state, poll_interval=args.poll_interval, max_wait=args.max_wait, max_requests=args.batch_max_requests
    )
    results: dict[int, dict[str, Any]] = {}
    ready: list[tuple[int, dict[str, Any]]] = []  # (index, the kind's fields)
    for index, item in todo:
        try:
            ready.append((index, item_for(args.kind, _fields(item, args.meta), strict=False)))
        except UsageError as exc:
            results[index] = item_failure(str(exc))
    try:
        judged = await judge.aevaluate_batch(
            args.kind,
            [fields for _, fields in ready],
            batch_api=options,
            progress=False if args.no_progress else {"dynamic_ncols": True},
            on_invalid="fail",  # a malformed item fails alone, before anything is submitted
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
            sink.write(_line(index, items[index], results[index], args))
        sink.flush()
        os.fsync(sink.fileno())
    if pending:
        print(f"{pending} items are still in provider batches (state: {state}); run again to resume", file=sys.stderr)
    else:
        for path in [state, *state.parent.glob(state.name + ".*.jsonl")]:  # the output holds every result now
            path.unlink(missing_ok=True)


async def _judge_one(judge: Any, kind: str, item: dict[str, Any], meta: tuple[str, ...]) -> dict[str, Any]:
    """One item's result; a malformed item becomes a failed result, a backend misconfiguration raises."""
    from judgekit.batching.engine import item_failure

    try:
        fields = item_for(kind, _fields(item, meta), strict=False)
    except UsageError as exc:
        return item_failure(str(exc))
    return dict((await judge.aevaluate_batch(kind, [fields], on_invalid="fail"))[0])


def _line(index: int, item: dict[str, Any], result: dict[str, Any], args: argparse.Namespace) -> str:
    """One output line: the item's index and metadata columns (id, label, ...), then its result."""
    record = {
        "index": index,
        **{k: item[k] for k in args.meta if k in item},
        **_record(result, include_prompt=args.include_prompt),
    }
    return json.dumps(record, ensure_ascii=False, default=str) + "\n"


def _record(result: dict[str, Any], *, include_prompt: bool) -> dict[str, Any]:
    """A JSON-ready result (without prompts unless asked)."""
    record = plain(result)
    if not include_prompt:
        record.pop("prompt", None)
        for nested in record.get("swap_results") or []:
            nested.pop("prompt", None)
    return record


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
    """Open ``path`` for appending. A last line a killed run left half-written is cut off first (its item
    is judged again), so the output stays valid JSONL."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() and path.stat().st_size:
            _drop_torn_line(path)
        sink = path.open("a", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    with sink:
        yield sink


def _drop_torn_line(path: Path) -> None:
    """Truncate ``path`` after its last newline when what follows it is not a whole line."""
    with path.open("r+b") as existing:
        size = end = existing.seek(0, os.SEEK_END)
        existing.seek(end - 1)
        if existing.read(1) == b"\n":
            return
        cut = 0
        while end > 0:  # back to the last newline, a chunk at a time
            start = max(0, end - (1 << 16))
            existing.seek(start)
            chunk = existing.read(end - start)
            if b"\n" in chunk:
                cut = start + chunk.rfind(b"\n") + 1
                break
            end = start
        existing.truncate(cut)
    print(f"judgekit batch: dropped a half-written last line of {path} ({size - cut} bytes)", file=sys.stderr)
