"""The judge server's counters and their Prometheus text exposition (format 0.0.4), written by hand.

Everything is recorded under one lock: HTTP counters from the server's event loop, batch sizes from the
batcher's threads. A scrape renders a consistent snapshot.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterable

__all__ = ["ServerMetrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class _Histogram:
    def __init__(self, buckets: Iterable[float]) -> None:
        self.buckets = tuple(buckets)
        self.counts = [0] * len(self.buckets)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[i] += 1
                break
        self.total += value
        self.count += 1

    def lines(self, name: str, labels: str = "") -> list[str]:
        sep = "," if labels else ""
        out, running = [], 0
        for bound, n in zip(self.buckets, self.counts, strict=True):
            running += n
            out.append(f'{name}_bucket{{{labels}{sep}le="{_num(bound)}"}} {running}')
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.count}')
        braces = f"{{{labels}}}" if labels else ""
        out.append(f"{name}_sum{braces} {_num(self.total)}")
        out.append(f"{name}_count{braces} {self.count}")
        return out


class ServerMetrics:
    """Requests by endpoint and status, judgements by kind and outcome, latency and batch-size histograms."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: collections.Counter[tuple[str, int]] = collections.Counter()
        self.judgements: collections.Counter[tuple[str, str]] = collections.Counter()
        self.latency: dict[str, _Histogram] = {}
        self.batch_sizes = _Histogram(_BATCH_BUCKETS)
        self.batch_seconds = 0.0
        self.in_flight = 0

    def request(self, endpoint: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[endpoint, status] += 1
            hist = self.latency.get(endpoint)
            if hist is None:
                hist = self.latency[endpoint] = _Histogram(_LATENCY_BUCKETS)
            hist.observe(seconds)

    def judgement(self, kind: str, ok: bool) -> None:
        with self._lock:
            self.judgements[kind, "success" if ok else "failure"] += 1

    def batch(self, size: int, seconds: float) -> None:
        with self._lock:
            self.batch_sizes.observe(size)
            self.batch_seconds += seconds

    def render(self, *, queue_size: int, info: dict[str, str]) -> str:
        """The Prometheus text exposition of everything recorded so far."""
        with self._lock:
            lines = ["# HELP judgekit_server_info The served judge.", "# TYPE judgekit_server_info gauge"]
            lines.append(f"judgekit_server_info{{{_labels(info)}}} 1")
            lines += [
                "# HELP judgekit_server_requests_total HTTP requests by endpoint and status code.",
                "# TYPE judgekit_server_requests_total counter",
            ]
            for (endpoint, status), n in sorted(self.requests.items()):
                lines.append(f'judgekit_server_requests_total{{endpoint="{endpoint}",status="{status}"}} {n}')
            lines += [
                "# HELP judgekit_server_judgements_total Items judged, by kind and outcome (a failure has no score).",
                "# TYPE judgekit_server_judgements_total counter",
            ]
            for (kind, outcome), n in sorted(self.judgements.items()):
                lines.append(f'judgekit_server_judgements_total{{kind="{kind}",outcome="{outcome}"}} {n}')
            failures = sum(n for (_, outcome), n in self.judgements.items() if outcome == "failure")
            lines += [
                "# HELP judgekit_server_failures_total Items whose judgement failed.",
                "# TYPE judgekit_server_failures_total counter",
                f"judgekit_server_failures_total {failures}",
                "# HELP judgekit_server_request_duration_seconds Time from a request's arrival to its reply.",
                "# TYPE judgekit_server_request_duration_seconds histogram",
            ]
            for endpoint, hist in sorted(self.latency.items()):
                lines += hist.lines("judgekit_server_request_duration_seconds", f'endpoint="{endpoint}"')
            lines += [
                "# HELP judgekit_server_batch_size Items per backend batch call.",
                "# TYPE judgekit_server_batch_size histogram",
                *self.batch_sizes.lines("judgekit_server_batch_size"),
                "# HELP judgekit_server_batch_seconds_total Time spent in backend batch calls.",
                "# TYPE judgekit_server_batch_seconds_total counter",
                f"judgekit_server_batch_seconds_total {_num(self.batch_seconds)}",
                "# HELP judgekit_server_queue_size Items waiting for a batch.",
                "# TYPE judgekit_server_queue_size gauge",
                f"judgekit_server_queue_size {queue_size}",
                "# HELP judgekit_server_in_flight Requests being handled.",
                "# TYPE judgekit_server_in_flight gauge",
                f"judgekit_server_in_flight {self.in_flight}",
            ]
        return "\n".join(lines) + "\n"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _labels(values: dict[str, str]) -> str:
    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    return ",".join(f'{key}="{escape(str(value))}"' for key, value in values.items())
