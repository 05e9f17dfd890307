"""PostgreSQL stopped and started again under a Svix-like load; the relay itself keeps running.

While the database is down, every webhook must be answered 503 (so Svix
retries) and `/readyz` must say not ready; once it is back, the relay must
recover by itself: webhooks get 2xx again and subscribers get every event.
The usual end-of-run checks then hold (see `tests.chaos.scenario`). The
server stopped is the suite's own throwaway cluster (`tests.pg_cluster`), never
the machine's; it is always started again, even when the test fails.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path

import httpx
import pytest

from tests.chaos.scale import chaos_scale
from tests.chaos.scenario import ChaosRun, ScenarioSummary, run_scenario
from tests.pg_cluster import Cluster
from tests.processes import RelayProcess, serve

SCALE = chaos_scale()

pytestmark = [
    pytest.mark.chaos,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.timeout(SCALE.timeout_s),
]

_READY_AFTER_S = 30.0
_PROBE_TIMEOUT_S = 3.0  # a load balancer's readiness probe does not wait longer


async def _readiness_while(relay: RelayProcess, seconds: float) -> Counter[str]:
    """`/readyz` answers, polled for `seconds` (no answer within `_PROBE_TIMEOUT_S` fails)."""
    answers: Counter[str] = Counter()
    until = time.monotonic() + seconds
    async with httpx.AsyncClient(timeout=_PROBE_TIMEOUT_S, trust_env=False) as client:
        while time.monotonic() < until:
            try:
                response = await client.get(f"{relay.ops_url}/readyz")
                answers[str(response.status_code)] += 1
            except httpx.TransportError as error:
                answers[type(error).__name__] += 1
            await asyncio.sleep(0.2)
    return answers


async def _seconds_until_ready(relay: RelayProcess) -> float | None:
    """How long until `/readyz` answers 200 again (None: not within the bound)."""
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
        while time.monotonic() - started < _READY_AFTER_S:
            try:
                if (await client.get(f"{relay.ops_url}/readyz")).status_code == 200:
                    return time.monotonic() - started
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    return None


async def postgres_outages(cluster: Cluster, chaos: ChaosRun) -> None:
    """Stops `cluster` `scale.outages` times while the sender works, each for `outage_s`."""
    process = chaos.relay.process
    async for number in chaos.disruptions(chaos.scale.outages):
        async with cluster.outage():
            down = time.monotonic()
            last = number == chaos.scale.outages
            seconds = (
                chaos.scale.long_outage_s
                if last and chaos.scale.long_outage_s
                else chaos.scale.outage_s
            )
            readiness = await _readiness_while(chaos.relay, seconds)
            up = time.monotonic()
            if await asyncio.to_thread(cluster.is_running):
                chaos.problems.append(
                    f"outage {number}: PostgreSQL was running again before this test started "
                    "it (another process started it: the outage did not happen as planned)"
                )
        chaos.outages += 1
        chaos.outage_windows.append((down, up))
        ready_after = await _seconds_until_ready(chaos.relay)
        chaos.notes.append(
            f"PostgreSQL outage {number}: /readyz while down {dict(readiness)}; ready again "
            + ("never" if ready_after is None else f"{ready_after:.2f} s after restart")
        )
        if "503" not in readiness or set(readiness) != {"503"}:
            chaos.problems.append(f"outage {number}: /readyz while down: {dict(readiness)}")
        if ready_after is None:
            chaos.problems.append(
                f"outage {number}: /readyz not 200 within {_READY_AFTER_S:g} s of PostgreSQL "
                f"being back; relay log: {chaos.relay.log}"
            )
        if process is None or process.poll() is not None or chaos.relay.process is not process:
            chaos.problems.append(
                f"outage {number}: the relay process exited; log: {chaos.relay.log}"
            )
            return


async def test_relay_recovers_from_postgres_restarts_by_itself(
    tmp_path: Path,
    seed: int,
    record_summary: Callable[[ScenarioSummary], None],
    throwaway_postgres: Cluster,
    outage_postgres_url: str,
) -> None:
    relay = serve(tmp_path, outage_postgres_url)
    summary, problems = await run_scenario(
        "PostgreSQL stop/start, relay keeps running",
        relay,
        outage_postgres_url,
        SCALE,
        seed,
        tmp_path,
        partial(postgres_outages, throwaway_postgres),
    )
    record_summary(summary)
    assert problems == [], f"seed {summary.seed}:\n" + "\n".join(problems)
    assert summary.outages == SCALE.outages
    assert summary.kills == 0
    assert summary.events_lost == 0
    assert summary.events_stored == summary.events_sent
