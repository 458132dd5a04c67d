"""`EndpointPool`: one judge over several replicas of the same model (``base_url=[url1, url2, ...]``).

- Balancing: each call goes to the healthy replica with the fewest requests in flight (ties rotate), so
  a slow replica gets fewer requests than a fast one. ``policy="round_robin"`` is there for comparison.
- Failover: a replica whose *connection* fails (`ProviderConnectionError`: refused, reset, dropped; not
  an HTTP error and not a timeout) is taken out, and the call is sent again at once to another replica,
  without the retry backoff. When every replica has failed the call raises the last error, and the
  judge's normal retries take over.
- Recovery: a replica that is out is probed (the ``probe`` callable, e.g. ``GET {base}/models``) at most
  every ``probe_interval`` seconds, lazily: the probe starts in the background when a call picks a
  replica and a probe is due. A replica that answers is put back. When no replica is in, the due probes
  are awaited before the call gives up.

The pool holds plain counters, shared by every event loop that uses the judge; probes run on the loop
of the call that starts them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from loguru import logger

from judgekit.errors import JudgeTimeoutError, ProviderConnectionError

__all__ = ["EndpointPool", "Replica"]

T = TypeVar("T")
Policy = Literal["least_outstanding", "round_robin"]


@dataclass
class Replica:
    """One endpoint of a pool and its counters."""

    url: str
    outstanding: int = 0
    healthy: bool = True
    served: int = 0
    """Calls that got an answer (success or an HTTP error) from this replica."""
    failures: int = 0
    """Connection failures seen."""
    next_probe: float = 0.0
    probe: asyncio.Task[Any] | None = field(default=None, repr=False)

    def snapshot(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "healthy": self.healthy,
            "outstanding": self.outstanding,
            "served": self.served,
            "failures": self.failures,
        }


class EndpointPool:
    """Least-outstanding-requests balancing with connection failover over ``urls``."""

    def __init__(
        self,
        urls: Sequence[str],
        probe: Callable[[str], Awaitable[bool]],
        *,
        probe_interval: float = 2.0,
        policy: Policy = "least_outstanding",
    ) -> None:
        if not urls:
            raise ValueError("EndpointPool needs at least one URL")
        self.replicas = [Replica(url) for url in urls]
        self.probe = probe
        self.probe_interval = probe_interval
        self.policy = policy
        self._turn = itertools.count()

    def __repr__(self) -> str:
        up = sum(r.healthy for r in self.replicas)
        return f"EndpointPool({up}/{len(self.replicas)} up, policy={self.policy!r})"

    def stats(self) -> list[dict[str, Any]]:
        """One dict per replica: url, healthy, outstanding, served, failures."""
        return [r.snapshot() for r in self.replicas]

    async def call(self, send: Callable[[str], Awaitable[T]]) -> T:
        """``await send(url)`` on a chosen replica; on a connection failure, again on another one."""
        tried: set[int] = set()
        last: ProviderConnectionError | None = None
        while True:
            index = self._pick(tried)
            if index is None:
                await self._probe_now(tried)
                index = self._pick(tried)
            if index is None:
                if last is not None:
                    raise last
                down = ", ".join(r.url for r in self.replicas)
                raise ProviderConnectionError(f"no replica of the endpoint pool is reachable ({down})")
            replica = self.replicas[index]
            tried.add(index)
            replica.outstanding += 1
            try:
                result = await send(replica.url)
            except JudgeTimeoutError:
                replica.served += 1  # slow, not gone: balancing already steers calls away from it
                raise
            except ProviderConnectionError as exc:
                self._mark_down(replica, exc)
                last = exc
                continue
            except Exception:
                replica.served += 1
                raise
            finally:
                replica.outstanding -= 1
            replica.served += 1
            return result

    # -- choosing --------------------------------------------------------------------------------

    def _pick(self, tried: set[int]) -> int | None:
        self._start_due_probes()
        candidates = [i for i, r in enumerate(self.replicas) if r.healthy and i not in tried]
        if not candidates:
            return None
        turn = next(self._turn)
        if self.policy == "round_robin":
            return candidates[turn % len(candidates)]
        # fewest in flight; among equals, rotate so that an idle pool spreads calls evenly
        n = len(self.replicas)
        return min(candidates, key=lambda i: (self.replicas[i].outstanding, (i - turn) % n))

    # -- health ----------------------------------------------------------------------------------

    def _mark_down(self, replica: Replica, exc: BaseException) -> None:
        replica.failures += 1
        if replica.healthy:
            replica.healthy = False
            replica.next_probe = time.monotonic() + self.probe_interval
            logger.warning("judgekit: pool replica {} taken out: {}", replica.url, exc)

    def _start_due_probes(self) -> None:
        now = time.monotonic()
        for replica in self.replicas:
            if not replica.healthy and now >= replica.next_probe:
                self._start_probe(replica)  # no-op while one runs

    def _start_probe(self, replica: Replica) -> asyncio.Task[Any]:
        loop = asyncio.get_running_loop()
        if replica.probe is not None and replica.probe.get_loop().is_closed():
            replica.probe = None  # its loop ended before it finished
        if replica.probe is None:
            replica.probe = loop.create_task(self._run_probe(replica))
        return replica.probe

    async def _run_probe(self, replica: Replica) -> None:
        try:
            alive = await self.probe(replica.url)
        except Exception:
            alive = False
        finally:
            replica.probe = None
        if alive:
            if not replica.healthy:
                logger.info("judgekit: pool replica {} is back", replica.url)
            replica.healthy = True
        else:
            replica.next_probe = time.monotonic() + self.probe_interval

    async def _probe_now(self, tried: set[int]) -> None:
        """No replica left to try: probe the ones that are out (and not yet tried by this call) now."""
        loop = asyncio.get_running_loop()
        probes = [self._start_probe(r) for i, r in enumerate(self.replicas) if not r.healthy and i not in tried]
        waiting = [task for task in probes if task.get_loop() is loop]
        if waiting:
            with contextlib.suppress(Exception):
                await asyncio.gather(*(asyncio.shield(t) for t in waiting), return_exceptions=True)
