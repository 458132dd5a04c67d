"""Load test of the judge server: N concurrent ``POST /judge`` requests against a local ``judgekit serve``.

    python benchmarks/server.py --n 1000 --concurrency 1000
    python benchmarks/server.py --backend torch            # the tiny in-process torch model (needs [torch])

The server runs in its own process (``--role server``, uvicorn on 127.0.0.1), so its CPU is measured apart
from the client's. Backends: ``torch`` (a tiny Qwen2 built by `judgekit.testing.tiny_models`, judged by the
in-process torch judge), ``rules`` (the deterministic verifier), ``auto`` (torch when the torch judge is
registered, else rules, and it says so). Every reply is checked: a non-200 or a missing score is an error.

Reported: throughput and latency of 1000 concurrent ``/judge`` calls, the same items as ``/batch_judge``
calls of 100, the batch sizes the server formed (from ``/metrics``), the server's CPU per item, and as the
baseline measured in the same run, the same judge called in-process (``SimplifiedJudge.aevaluate_batch``,
no HTTP).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any


def make_judge(backend: str, workdir: str, batch_size: int = 16) -> tuple[Any, str]:
    """The judge to serve and a label for it."""
    from judgekit import SimplifiedJudge
    from judgekit.factory import JudgeFactory

    if backend in ("auto", "torch"):
        try:
            JudgeFactory.get_judge_class("torch")
            from judgekit.testing.tiny_models import build_tiny_qwen2
        except Exception as exc:
            if backend == "torch":
                raise
            print(f"# torch judge unavailable ({type(exc).__name__}: {exc}); using the rules backend", flush=True)
        else:
            path = build_tiny_qwen2(os.path.join(workdir, "tiny-judge"), reply="1")
            judge = SimplifiedJudge(
                api_type="torch", model_name=str(path), torch_mode="logprob", timeout=600, torch_batch_size=batch_size
            )
            return judge, f"torch, logprob mode (tiny Qwen2 at {path})"
    return SimplifiedJudge(api_type="rules"), "rules (deterministic verifier)"


def items(n: int) -> list[dict[str, str]]:
    return [
        {
            "prompt": f"What is {i} + {i}?",
            "completion": f"The answer is {2 * i}.",
            "answer": str(2 * i),
            "request_id": f"r{i}",
        }
        for i in range(n)
    ]


# ----------------------------------------------------------------------------------------------- server


def run_server(args: argparse.Namespace) -> None:
    from judgekit.server import create_app, serve

    with tempfile.TemporaryDirectory() as workdir:
        judge, label = make_judge(args.backend, workdir, args.max_batch_size)
        print(f"# backend: {label}", flush=True)
        app = create_app(
            judge,
            kind="binary",
            max_batch_size=args.max_batch_size,
            max_wait_s=args.max_wait_ms / 1000,
            max_queue=max(1024, args.n),
            max_concurrent_batches=args.max_concurrent_batches,
        )
        serve(app, "127.0.0.1", args.port, log_level="warning")


# ----------------------------------------------------------------------------------------------- client


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), else None."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def metrics(url: str) -> dict[str, float]:
    import urllib.request

    with urllib.request.urlopen(url + "/metrics") as resp:
        text = resp.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def batch_sizes(before: dict[str, float], after: dict[str, float]) -> tuple[int, float, dict[str, int]]:
    """Batches formed, mean size and the histogram (upper bound -> batches) between two scrapes."""
    count = int(after["judgekit_server_batch_size_count"] - before.get("judgekit_server_batch_size_count", 0))
    total = after["judgekit_server_batch_size_sum"] - before.get("judgekit_server_batch_size_sum", 0)
    hist, previous = {}, 0
    for name, value in after.items():
        if name.startswith("judgekit_server_batch_size_bucket"):
            le = name.split('le="')[1].rstrip('"}')
            cumulative = int(value - before.get(name, 0))
            if cumulative - previous:
                hist[f"<={le}"] = cumulative - previous
            previous = cumulative
    return count, (total / count if count else 0.0), hist


async def load(url: str, batch: list[dict[str, str]], concurrency: int, path: str = "/judge") -> dict[str, Any]:
    import aiohttp

    errors: list[str] = []
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600)) as session:

        async def one(item: dict[str, str]) -> None:
            async with gate:
                started = time.perf_counter()
                try:
                    async with session.post(url + path, json=item) as resp:
                        body = await resp.json()
                        if resp.status != 200 or body.get("score") is None or body["request_id"] != item["request_id"]:
                            errors.append(f"{resp.status}: {str(body)[:120]}")
                except Exception as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")
                latencies.append(time.perf_counter() - started)

        async def chunk(part: list[dict[str, str]]) -> None:
            async with gate, session.post(url + path, json={"requests": part}) as resp:
                body = await resp.json()
                if resp.status != 200:
                    errors.append(f"{resp.status}: {str(body)[:120]}")
                    return
                for sent, got in zip(part, body["responses"], strict=True):
                    if got.get("score") is None or got["request_id"] != sent["request_id"]:
                        errors.append(str(got)[:120])

        started = time.perf_counter()
        if path == "/judge":
            await asyncio.gather(*(one(item) for item in batch))
        else:
            await asyncio.gather(*(chunk(batch[i : i + 100]) for i in range(0, len(batch), 100)))
        wall = time.perf_counter() - started
    result: dict[str, Any] = {"wall_s": wall, "items_per_s": len(batch) / wall, "errors": errors}
    if latencies:
        latencies.sort()
        result.update(
            p50_ms=1000 * statistics.median(latencies),
            p99_ms=1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        )
    return result


async def direct(backend: str, batch: list[dict[str, str]], batch_size: int) -> tuple[float, str]:
    """Items per second of the same judge in-process, no HTTP: the baseline."""
    with tempfile.TemporaryDirectory() as workdir:
        judge, label = make_judge(backend, workdir, batch_size)
        work = [{"question": it["prompt"], "answer": it["answer"], "prediction": it["completion"]} for it in batch]
        await judge.aevaluate_batch("binary", work[:20])  # warm-up
        started = time.perf_counter()
        results = await judge.aevaluate_batch("binary", work, max_concurrency=len(work))
        wall = time.perf_counter() - started
        failed = sum(not r["success"] for r in results)
        await judge.aclose()
    if failed:
        print(f"# baseline: {failed} failures", flush=True)
    return len(batch) / wall, label


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=("client", "server"), default="client", help=argparse.SUPPRESS)
    parser.add_argument("--backend", choices=("auto", "torch", "rules"), default="auto")
    parser.add_argument("--n", type=int, default=1000, help="requests (default 1000)")
    parser.add_argument("--concurrency", type=int, default=1000, help="requests in flight (default 1000)")
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--max-wait-ms", type=float, default=10.0)
    parser.add_argument("--max-concurrent-batches", type=int, default=4)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.role == "server":
        run_server(args)
        return 0

    port = args.port or free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        __file__,
        "--role",
        "server",
        "--port",
        str(port),
        "--backend",
        args.backend,
        "--n",
        str(args.n),
        "--max-batch-size",
        str(args.max_batch_size),
        "--max-wait-ms",
        str(args.max_wait_ms),
        "--max-concurrent-batches",
        str(args.max_concurrent_batches),
    ]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        import urllib.request

        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as resp:
                    health = json.loads(resp.read())
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    print(server.stdout.read() if server.stdout else "", file=sys.stderr)
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        print(
            f"judge server: model={health['model']} provider={health['provider']} "
            f"max_batch_size={args.max_batch_size} max_wait={args.max_wait_ms:g}ms "
            f"max_concurrent_batches={args.max_concurrent_batches}"
        )
        batch = items(args.n)
        asyncio.run(load(url, items(50), 50))  # warm-up: connections, first batches
        rows = []
        for path, concurrency in (("/judge", args.concurrency), ("/batch_judge", 10)):
            before, cpu0 = metrics(url), cpu_seconds(server.pid)
            result = asyncio.run(load(url, batch, concurrency, path))
            after, cpu1 = metrics(url), cpu_seconds(server.pid)
            count, mean, hist = batch_sizes(before, after)
            cpu = (cpu1 - cpu0) / args.n * 1000 if cpu0 is not None and cpu1 is not None else float("nan")
            rows.append((path, concurrency, result, count, mean, hist, cpu))
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=60)
    for line in output.splitlines():
        if line.startswith("#"):
            print(line)
    baseline, label = asyncio.run(direct(args.backend, batch, args.max_batch_size))
    print(f"\n{args.n} items; baseline = the same judge in-process without HTTP: {baseline:,.0f} items/s ({label})\n")
    print(
        f"{'endpoint':<13}{'in flight':>10}{'items/s':>10}{'vs base':>9}{'p50 ms':>8}{'p99 ms':>8}{'errors':>8}"
        f"{'batches':>9}{'mean bs':>9}{'srv CPU ms/item':>17}"
    )
    for path, concurrency, result, count, mean, _hist, cpu in rows:
        p50 = f"{result['p50_ms']:.0f}" if "p50_ms" in result else "-"
        p99 = f"{result['p99_ms']:.0f}" if "p99_ms" in result else "-"
        print(
            f"{path:<13}{concurrency:>10}{result['items_per_s']:>10,.0f}{result['items_per_s'] / baseline:>9.2f}"
            f"{p50:>8}{p99:>8}{len(result['errors']):>8}{count:>9}{mean:>9.1f}{cpu:>17.2f}"
        )
    for path, _, result, _, _, hist, _ in rows:
        print(f"batch sizes formed for {path}: {hist}")
        for error in result["errors"][:5]:
            print(f"  error: {error}")
    return 1 if any(row[2]["errors"] for row in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
