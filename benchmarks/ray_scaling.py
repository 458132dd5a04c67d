"""Does adding Ray workers add throughput? 1 vs 2 `judge_dataset` actors, and 1 vs 2 Serve replicas.

    python benchmarks/ray_scaling.py --n 4000 --latency 0.05 --cap 16

The test server runs in its own process with a fixed latency per reply; every judge (one per actor or
replica) has at most ``--cap`` requests in flight, so one worker tops out near cap / latency items/s and the
work is latency-bound: a second worker should nearly double throughput. Every result is checked.

- Ray Data: ``judge_dataset`` over ``--n`` items with 1 and then 2 actors. Printed: the end-to-end rate
  (including starting the actors) and the steady rate (from the first finished batch to the last).
- Ray Serve: a deployment with 1 and then 2 replicas, fed ``--n`` items by the ``judge_server`` provider as
  ``/batch_judge`` calls of ``--chunk`` items (``--per-item`` sends one ``/judge`` request per item instead,
  which measures the Serve proxy's per-request cost as much as the replicas).

Printed: each rate and the ratio of 2 workers to 1, measured in the same run.
"""

from __future__ import annotations

import argparse
import socket
import time

import ray
from ray import serve

from judgekit import JudgeConfig, SimplifiedJudge
from judgekit.providers.judge_server import JudgeServerJudge
from judgekit.ray import judge_dataset, serve_judge
from judgekit.testing.process import spawn_fake_server


def items(n: int) -> list[dict[str, object]]:
    return [{"id": i, "question": f"What is {i} + {i}?", "answer": str(2 * i), "prediction": str(2 * i)}
            for i in range(n)]  # fmt: skip


def data_rate(config: JudgeConfig, n: int, actors: int, batch_size: int) -> tuple[float, float]:
    """(end-to-end, steady) items/s of ``judge_dataset`` with ``actors`` actors."""
    ds = judge_dataset(ray.data.from_items(items(n)), "binary", config, concurrency=actors, batch_size=batch_size,
                       num_cpus=0.5)  # fmt: skip
    started = time.perf_counter()
    first: tuple[float, int] | None = None
    seen = 0
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        if not all(batch["success"]) or set(batch["result"]) != {1}:
            raise SystemExit("judge_dataset: a wrong or failed result")
        seen += len(batch["id"])
        if first is None:
            first = (time.perf_counter(), seen)
    ended = time.perf_counter()
    if seen != n or first is None:
        raise SystemExit(f"judge_dataset: {seen} rows for {n} items")
    return n / (ended - started), (n - first[1]) / max(ended - first[0], 1e-9)


def serve_rate(config: JudgeConfig, n: int, replicas: int, port: int, chunk: int, per_item: bool) -> float:
    """Items/s through a Serve deployment of ``replicas`` replicas."""
    serve_judge(config, replicas=replicas, port=port, num_cpus=0.5, kind="binary", max_batch_size=config.max_concurrent,
                max_ongoing_requests=1024)  # fmt: skip
    client_config = JudgeConfig(api_type="judge_server", base_url=f"http://127.0.0.1:{port}", timeout=120,
                                num_retries=0, max_concurrent=256 if per_item else 16)  # fmt: skip
    wire = [{"prompt": item["question"], "completion": item["prediction"], "answer": item["answer"]}
            for item in items(n)]  # fmt: skip
    with SimplifiedJudge(judge=JudgeServerJudge(client_config)) as client:
        client.judge.judge_many(wire[: 4 * chunk], chunk_size=chunk)  # warm-up: connections, first batches
        started = time.perf_counter()
        if per_item:
            results = client.evaluate_batch("binary", [{k: v for k, v in i.items() if k != "id"} for i in items(n)])
            ok = all(r["success"] and r["result"] == 1 for r in results)
        else:
            replies = client.judge.judge_many(wire, chunk_size=chunk)
            ok = all(reply.get("score") == 1.0 for reply in replies)
        elapsed = time.perf_counter() - started
    serve.delete("judgekit")
    if not ok:
        raise SystemExit("serve: a wrong or failed result")
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4000, help="items per run")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per reply of the test server")
    parser.add_argument("--cap", type=int, default=16, help="requests in flight per judge (actor or replica)")
    parser.add_argument("--batch-size", type=int, default=128, help="rows per judge_dataset batch")
    parser.add_argument("--chunk", type=int, default=16, help="items per /batch_judge call")
    parser.add_argument("--per-item", action="store_true", help="Serve: one /judge request per item")
    parser.add_argument("--skip", choices=("data", "serve"), help="leave one side out")
    args = parser.parse_args()
    ray.init(num_cpus=4, include_dashboard=False, object_store_memory=300 * 1024**2, log_to_driver=False)
    from ray.data import DataContext

    DataContext.get_current().enable_progress_bars = False
    with spawn_fake_server(args.latency, "1") as (_, base_url):
        config = JudgeConfig(api_type="openai", base_url=base_url, api_key="sk-bench", model_name="m",
                             max_concurrent=args.cap, timeout=60, num_retries=0)  # fmt: skip
        print(f"{args.n} items, test server at {args.latency * 1000:.0f} ms per reply, {args.cap} in flight per "
              f"judge: one worker tops out near {args.cap / args.latency:.0f} items/s")  # fmt: skip
        if args.skip != "data":
            rates = {}
            for actors in (1, 2):
                total, steady = data_rate(config, args.n, actors, args.batch_size)
                rates[actors] = (total, steady)
                print(f"judge_dataset, {actors} actor(s): {total:7.0f} items/s end to end, {steady:7.0f} steady")
            print(f"judge_dataset 2 / 1 actors: {rates[2][0] / rates[1][0]:.2f}x end to end, "
                  f"{rates[2][1] / rates[1][1]:.2f}x steady")  # fmt: skip
        if args.skip != "serve":
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            how = "/judge per item" if args.per_item else f"/batch_judge of {args.chunk}"
            served = {}
            for replicas in (1, 2):
                served[replicas] = serve_rate(config, args.n, replicas, port, args.chunk, args.per_item)
                print(f"Serve, {replicas} replica(s), {how}: {served[replicas]:7.0f} items/s")
            print(f"Serve 2 / 1 replicas: {served[2] / served[1]:.2f}x")
    serve.shutdown()
    ray.shutdown()


if __name__ == "__main__":
    main()
