"""The reply cache: an in-memory LRU (`MemoryCache`) or a SQLite file (`SQLiteCache`) that survives runs.

`JudgeInterface.aevaluate` looks a request up before it waits for a concurrency slot or a rate limit, and
stores each successful reply. The key (`cache_key`) is a SHA-256 over everything that can change the reply:
the provider, the endpoint, the model, the messages, the images (their bytes, or their URL), the sampling
parameters and every other config field except those listed in ``IGNORED_FIELDS`` (timeouts, retries,
concurrency, keys, headers, streaming, ...). A hit is the stored `JudgeResponse` marked ``cached=True``,
with ``cost_usd=0`` (nothing was spent) and the original ``usage``.

Enable it with ``JudgeConfig(cache=True)`` (memory), ``cache="judge-cache.sqlite"`` (a file), or share one
object between judges: ``judge.cache = MemoryCache(50_000)``. Any object with ``get(key)`` and
``put(key, response)`` will do.
"""

from __future__ import annotations

import collections
import copy
import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from judgekit.config import JudgeConfig
from judgekit.errors import ConfigError
from judgekit.images import ImageData
from judgekit.types import JudgeRequest, JudgeResponse, Usage

__all__ = [
    "IGNORED_FIELDS",
    "JudgeCache",
    "MemoryCache",
    "SQLiteCache",
    "cache_from_config",
    "cache_key",
    "image_digest",
    "request_key_data",
]

KEY_VERSION = 1

IGNORED_FIELDS = frozenset(
    {
        "api_key",
        "calibrator",
        "n_samples",
        "extra_headers",
        "timeout",
        "num_retries",
        "retry_delay",
        "max_retry_delay",
        "max_concurrent",
        "decision_threshold",
        "stream",
        "api_type",
        "judge_type",
        "output_format",
        "score_range",
        "pool_probe_interval",
        "cache",
        "cache_size",
        "price_per_million",
        "requests_per_minute",
        "tokens_per_minute",
        "adaptive_concurrency",
    }
)
"""`JudgeConfig` fields that never change a reply, so never change a cache key. ``api_type`` is covered by the
provider's name; ``judge_type``, ``output_format`` and ``score_range`` shape the prompt, which is in the key."""

_STORED = (
    "content",
    "model_used",
    "reasoning",
    "finish_reason",
    "logprobs",
    "score",
    "decisions",
    "provider",
    "status_code",
)


@runtime_checkable
class JudgeCache(Protocol):
    """What `JudgeInterface` needs of a cache."""

    def get(self, key: str) -> JudgeResponse | None:
        """The stored response for ``key``, marked ``cached=True``, or None."""
        ...

    def put(self, key: str, response: JudgeResponse) -> None:
        """Store a successful response."""
        ...


# ---------------------------------------------------------------------------------------------- keys


def image_digest(image: Any) -> str | None:
    """A short stable digest of an image input (its bytes, or the URL's text); None if it cannot be read."""
    if isinstance(image, ImageData):
        data = image.data_url.encode()
    elif isinstance(image, (bytes, bytearray, memoryview)):
        data = bytes(image)
    elif isinstance(image, str) and image.startswith(("http://", "https://", "data:")):
        data = image.encode()
    elif isinstance(image, (str, Path)):
        try:
            data = Path(image).expanduser().read_bytes()
        except OSError:
            return None  # the provider reports the bad path; nothing to cache
    elif hasattr(image, "tobytes") and hasattr(image, "mode") and hasattr(image, "size"):  # PIL.Image
        data = f"{image.mode}:{image.size}:".encode() + image.tobytes()
    else:
        return None
    return hashlib.sha256(data).hexdigest()


def request_key_data(provider: str, request: JudgeRequest, config: JudgeConfig) -> dict[str, Any] | None:
    """What identifies a reply: provider, messages, images, task and the reply-changing config fields.

    None when something cannot be keyed (an unreadable image): that request is not cached.
    """
    data: dict[str, Any] = {
        "v": KEY_VERSION,
        "provider": provider,
        "config": _config_text(config),
        "messages": request.messages,
    }
    if request.images:
        digests = [image_digest(image) for image in request.images]
        if None in digests:
            return None
        data["images"] = digests
    if request.task is not None:
        data["task"] = [request.task.kind, request.task.fields, request.task.options]
    return data


_config_texts: dict[int, tuple[JudgeConfig, tuple[Any, ...], str]] = {}


def _config_text(config: JudgeConfig) -> str:
    """Canonical JSON of the reply-changing fields of ``config``, memoised per config object.

    The memo is checked against a deep copy of the field values, so a config changed in place (even inside
    ``extra_body``) gets a new text.
    """
    values = tuple(config.__dict__.values())
    memo = _config_texts.get(id(config))
    if memo is not None and memo[0] is config and memo[1] == values:
        return memo[2]
    fields = {k: v for k, v in config.__dict__.items() if k not in IGNORED_FIELDS}
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_jsonable)
    if len(_config_texts) >= 1024:
        _config_texts.clear()
    _config_texts[id(config)] = (config, copy.deepcopy(values), text)
    return text


def cache_key(data: dict[str, Any]) -> str:
    """SHA-256 over ``data`` in a canonical, unambiguous form (length-prefixed text, sorted-key JSON).

    Plain ``{"role", "content": str}`` messages and string values are hashed as text, not through JSON:
    a memory hit then costs a few microseconds, most of them hashing the prompt.
    """
    digest = hashlib.sha256()
    update = digest.update
    for name in sorted(data):
        value = data[name]
        update(f"\x1e{name}\x1f".encode())
        if name == "messages" and isinstance(value, list):
            for message in value:
                content = message.get("content") if isinstance(message, dict) else None
                if isinstance(content, str) and len(message) == 2 and isinstance(message.get("role"), str):
                    update(f"m{message['role']}\x1f{len(content)}:".encode())
                    update(content.encode("utf-8", "surrogatepass"))
                else:
                    update(b"j" + _canonical(message))
        elif isinstance(value, str):
            update(f"s{len(value)}:".encode())
            update(value.encode("utf-8", "surrogatepass"))
        else:
            update(b"j" + _canonical(value))
    return digest.hexdigest()


def _canonical(value: Any) -> bytes:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_jsonable)
    return f"{len(text)}:{text}".encode("utf-8", "surrogatepass")


def _jsonable(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return repr(value)


# ---------------------------------------------------------------------------------------------- caches


def _hit(response: JudgeResponse) -> JudgeResponse:
    return response.model_copy(update={"cached": True, "cost_usd": 0.0, "latency_s": 0.0, "attempts": 0})


class MemoryCache:
    """A thread-safe in-memory LRU of at most ``max_size`` responses."""

    def __init__(self, max_size: int = 10_000) -> None:
        if max_size < 1:
            raise ConfigError(f"MemoryCache.max_size must be at least 1, got {max_size}", "cache_size")
        self.max_size = max_size
        self.hits = self.misses = 0
        self._data: collections.OrderedDict[str, JudgeResponse] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> JudgeResponse | None:
        with self._lock:
            response = self._data.get(key)
            if response is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
        return _hit(response)

    def put(self, key: str, response: JudgeResponse) -> None:
        if not response.success or response.cached:
            return
        response = response.model_copy()  # the caller keeps its own object
        with self._lock:
            self._data[key] = response
            self._data.move_to_end(key)
            while len(self._data) > self.max_size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __repr__(self) -> str:
        return f"MemoryCache(size={len(self)}/{self.max_size}, hits={self.hits}, misses={self.misses})"


class SQLiteCache:
    """Responses in a SQLite file (WAL mode): kept across runs, shared by threads and processes.

    A run repeated with the same file is replayed without a request. Entries are never evicted; delete the
    file (or call `clear`) to start again. Stored: the reply text, reasoning, usage, logprobs and the raw
    reply when it is JSON.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.hits = self.misses = 0
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, value TEXT NOT NULL, created REAL)"
            )
        except sqlite3.Error as exc:
            raise ConfigError(f"cache: cannot open SQLite file {str(self.path)!r}: {exc}", "cache") from None

    def get(self, key: str) -> JudgeResponse | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM replies WHERE key = ?", (key,)).fetchone()
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
        data = json.loads(row[0])
        usage = Usage(**data.pop("usage"))
        return JudgeResponse(**data, usage=usage, success=True, cached=True, cost_usd=0.0, latency_s=0.0, attempts=0)

    def put(self, key: str, response: JudgeResponse) -> None:
        if not response.success or response.cached:
            return
        data = {name: getattr(response, name) for name in _STORED}
        data["usage"] = {
            "prompt_tokens": response.usage.prompt_tokens,
            "completion_tokens": response.usage.completion_tokens,
            "total_tokens": response.usage.total_tokens,
        }
        try:
            value = json.dumps({**data, "raw_response": response.raw_response}, ensure_ascii=False)
        except (TypeError, ValueError):
            value = json.dumps(data, ensure_ascii=False, default=repr)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO replies (key, value, created) VALUES (?, ?, ?)", (key, value, time.time())
            )

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM replies")

    def close(self) -> None:
        """Close the file; judges configured with this path open it again on their next call."""
        with _files_lock:
            if _files.get(self.path.resolve()) is self:
                del _files[self.path.resolve()]
        with self._lock:
            self._db.close()

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM replies").fetchone()[0])

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM replies WHERE key = ?", (key,)).fetchone() is not None

    def __repr__(self) -> str:
        return f"SQLiteCache({str(self.path)!r}, hits={self.hits}, misses={self.misses})"


_files: dict[Path, SQLiteCache] = {}
_files_lock = threading.Lock()


def cache_from_config(config: JudgeConfig) -> JudgeCache | None:
    """The cache ``config.cache`` asks for: None, a new `MemoryCache`, or the process's `SQLiteCache` for that
    file (judges naming the same file share one connection)."""
    setting = config.cache
    if setting is None or setting is False:
        return None
    if setting is True or setting == "memory":
        return MemoryCache(config.cache_size)
    path = Path(setting).expanduser().resolve()
    with _files_lock:
        cache = _files.get(path)
        if cache is None:
            cache = _files[path] = SQLiteCache(path)
        return cache
