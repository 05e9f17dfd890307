"""One chaos run against a real relay, and every check of what it left behind.

A Svix-like sender, bad requests and subscribers work against the relay while
a disruption (SIGKILLs, PostgreSQL outages) does its worst.

`run_scenario` drives it all and returns a `ScenarioSummary` and the list of
problems found (empty when the relay came through intact). The disruption is a
coroutine given a `ChaosRun`: it may kill and restart the relay, stop the
database, and count what it did; it must leave the relay running.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc

from clerkrelay.v1.state_service_pb2 import ListUsersRequest
from clerkrelay.v1.state_service_pb2_grpc import StateServiceStub
from gateway.settings import DEFAULT_MAX_BODY_BYTES
from service.storage import open_store
from tests.chaos import verify
from tests.chaos.bad_requests import bad_requests, send_bad_requests
from tests.chaos.scale import ChaosScale
from tests.chaos.sender import SenderPolicy, SendReport, SvixSender
from tests.chaos.subscribers import Subscriber
from tests.chaos.workload import build_history
from tests.processes import TEST_SECRET, RelayProcess

if TYPE_CHECKING:
    from clerkrelay.v1.state_service_pb2_grpc import StateServiceAsyncStub

__all__ = ["ChaosRun", "Disruption", "ScenarioSummary", "run_scenario"]

_FILTERS: tuple[tuple[str, ...], ...] = (
    ("*",),
    ("user.*", "organizationMembership.created"),
    ("organization.*",),
    ("session.*", "email.created"),
)
_SUBSCRIBER_DRAIN_S = 60.0
_POLL_S = 0.02


@dataclass
class ChaosRun:
    """What a disruption works with, and what it reports.

    Attributes:
        relay: The relay under test (running when the disruption starts).
        scale: The run's scale.
        rng: The disruption's own source of random choices.
        progress: The share of the sender's deliveries started so far.
        kills: SIGKILLs done.
        outages: Database outages done.
        downtimes: Seconds from each SIGKILL until the restarted relay was ready.
        outage_windows: `(down, up)` of each outage in `time.monotonic()` seconds:
            from the moment the database was down to the moment it was started again.
        notes: Observations for the summary (e.g. statuses seen during an outage).
        problems: What the disruption found wrong (e.g. no 503 during an outage).
    """

    relay: RelayProcess
    scale: ChaosScale
    rng: random.Random
    progress: Callable[[], float]
    kills: int = 0
    outages: int = 0
    outage_windows: list[tuple[float, float]] = field(default_factory=list)
    downtimes: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    async def disruptions(self, count: int) -> AsyncIterator[int]:
        """Yields 1..`count`, each once the sender is that far through its deliveries.

        The moments are spread evenly (with jitter) over the sending, so every
        disruption happens under load, however long the previous ones took.
        """
        step = 1.0 / (count + 1)
        for number in range(1, count + 1):
            target = step * number + self.rng.uniform(-step / 4, step / 4)
            for _ in range(int(self.scale.deadline_s / _POLL_S)):
                if self.progress() >= target:
                    break
                await asyncio.sleep(_POLL_S)
            yield number

    async def kill_and_restart(self) -> None:
        """SIGKILL, then start the same relay again (same ports, same database)."""
        killed = time.monotonic()
        self.relay.kill()
        self.kills += 1
        await asyncio.to_thread(self.relay.start)
        self.downtimes.append(time.monotonic() - killed)


Disruption = Callable[[ChaosRun], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ScenarioSummary:
    """What a run did, for the printed and saved summary."""

    scenario: str
    scale: str
    seed: int
    events_sent: int
    deliveries: int
    attempts: int
    retries: int
    kills: int
    outages: int
    duplicates_absorbed: int
    bad_requests: int
    bad_rejected: int
    subscribers: int
    reconnects: int
    fell_behind: int
    events_stored: int
    events_lost: int
    seconds: float
    statuses: dict[str, int]
    notes: tuple[str, ...]


def _outage_findings(report: SendReport, chaos: ChaosRun) -> None:
    """Every webhook attempt made while the database was down must be answered 503.

    Also notes, per outage, how long after the database came back the first
    webhook got a 2xx (the relay recovering without a restart of its own).
    """
    for number, (down, up) in enumerate(chaos.outage_windows, 1):
        inside = Counter(
            outcome for begun, ended, outcome in report.timeline if down <= begun and ended <= up
        )
        recovered = min(
            (
                ended
                for begun, ended, outcome in report.timeline
                if begun >= up and outcome[0] == "2"
            ),
            default=None,
        )
        after = "never" if recovered is None else f"{recovered - up:.2f} s after restart"
        chaos.notes.append(
            f"PostgreSQL outage {number} ({up - down:.1f} s): webhook answers while down "
            f"{dict(inside)}; first 2xx {after}"
        )
        if not inside.get("503"):
            chaos.problems.append(
                f"outage {number}: no webhook was answered 503 while PostgreSQL was down "
                f"({dict(inside)})"
            )
        wrong = {outcome: count for outcome, count in inside.items() if outcome != "503"}
        if wrong:
            chaos.problems.append(
                f"outage {number}: while PostgreSQL was down webhooks got {wrong}, not only 503"
            )
        if recovered is None:
            chaos.problems.append(
                f"outage {number}: no webhook got a 2xx after PostgreSQL was back"
            )


async def _head(target: str) -> int:
    """The log's head, as the running relay reports it."""
    async with grpc.aio.insecure_channel(target) as channel:
        stub: StateServiceAsyncStub = StateServiceStub(channel)
        response = await stub.ListUsers(ListUsersRequest(page_size=1), timeout=10)
        return int(response.snapshot_sequence)


async def run_scenario(
    name: str,
    relay: RelayProcess,
    database_url: str,
    scale: ChaosScale,
    seed: int,
    tmp_path: Path,
    disruption: Disruption,
) -> tuple[ScenarioSummary, list[str]]:
    """Runs one chaos scenario to the end and checks everything.

    Args:
        name: The scenario's name in the summary.
        relay: The relay to run (not started yet).
        database_url: Its store, opened afterwards to check what it holds.
        scale: How hard to push.
        seed: Seeds every random choice.
        tmp_path: For the in-order reference store.
        disruption: What to do to the relay while it works.

    Returns:
        The summary, and every problem found (empty: the relay came through intact).
    """
    started = time.monotonic()
    master = random.Random(seed)
    run = f"{seed:08x}"
    history = build_history(scale.events, random.Random(master.random()), run)
    bad = bad_requests(
        random.Random(master.random()),
        scale.bad_per_kind,
        scale.oversized,
        DEFAULT_MAX_BODY_BYTES,
        run,
    )
    window_s = scale.events / scale.rate_per_s
    policy = SenderPolicy(
        concurrency=scale.concurrency,
        rate_per_s=scale.rate_per_s,
        duplicate_rate=scale.duplicate_rate,
        reorder_window=scale.reorder_window,
        deadline_s=scale.deadline_s,
    )
    sender = SvixSender(relay.webhook_url, TEST_SECRET, policy, random.Random(master.random()))
    chaos = ChaosRun(relay, scale, random.Random(master.random()), lambda: sender.progress)
    problems: list[str] = []

    await asyncio.to_thread(relay.start)
    subscribers = [
        Subscriber(f"resuming[{' '.join(f)}]", relay.grpc_target, f, random.Random(master.random()))
        for f in (_FILTERS * scale.subscribers)[: scale.subscribers]
    ]
    subscribers.append(
        Subscriber("slow[*]", relay.grpc_target, ("*",), random.Random(master.random()), slow=True)
    )
    bound_s = scale.deadline_s + _SUBSCRIBER_DRAIN_S
    reading = [asyncio.create_task(s.run(bound_s)) for s in subscribers]
    sending = asyncio.create_task(sender.send(history))
    rejecting = asyncio.create_task(
        send_bad_requests(
            relay.webhook_url,
            TEST_SECRET,
            bad,
            random.Random(master.random()),
            window_s,
            scale.deadline_s,
        )
    )
    tasks: list[asyncio.Task[Any]] = [*reading, sending, rejecting]
    try:
        await disruption(chaos)
        report = await sending
        refused = await rejecting
        _outage_findings(report, chaos)
        if chaos.downtimes:
            chaos.notes.append(
                f"relay down {min(chaos.downtimes):.2f}–{max(chaos.downtimes):.2f} s per SIGKILL "
                "(until ready again)"
            )
        head = await _head(relay.grpc_target)
        for subscriber in subscribers:
            subscriber.finish(head)
        await asyncio.wait(reading, timeout=_SUBSCRIBER_DRAIN_S)
        exit_code = await asyncio.to_thread(relay.stop)
        if exit_code != 0:
            problems.append(f"the relay exited with {exit_code} on SIGTERM; log: {relay.log}")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        relay.kill()

    store = await open_store(database_url)
    try:
        log = await verify.read_log(store)
        relay_projection = await verify.projection(store)
    finally:
        await store.close()
    stored_ids = {event.event().id for event in log}
    in_order = [message for message in history if message.webhook_id in stored_ids]
    reference = await verify.reference_projection(in_order, tmp_path)

    problems += chaos.problems
    if report.unacknowledged:
        failures = Counter[str]()
        for webhook_id in report.unacknowledged:
            failures.update(report.logs[webhook_id].failures)
        problems.append(
            f"{len(report.unacknowledged)} webhooks never got a 2xx within the bounds "
            f"(failures: {dict(failures)}): {report.unacknowledged[:10]}"
        )
    problems += verify.acknowledged_problems(report, log)
    if refused.unexpected or refused.unanswered:
        problems.append(
            f"bad requests answered wrongly: {refused.unexpected[:10]}; "
            f"unanswered: {refused.unanswered}"
        )
    problems += verify.bad_request_problems(log)
    for subscriber in subscribers:
        problems += verify.subscriber_problems(subscriber, log)
    problems += verify.projection_problems(relay_projection, reference)
    if not any(relay_projection.values()):
        problems.append("the projection is empty: the run proved nothing about it")

    lost = sum(1 for webhook_id in report.acknowledged if webhook_id not in stored_ids)
    summary = ScenarioSummary(
        scenario=name,
        scale=scale.name,
        seed=seed,
        events_sent=report.messages,
        deliveries=report.messages + report.duplicate_deliveries,
        attempts=report.attempts,
        retries=report.retries,
        kills=chaos.kills,
        outages=chaos.outages,
        duplicates_absorbed=report.duplicates_absorbed,
        bad_requests=len(bad),
        bad_rejected=refused.rejected,
        subscribers=len(subscribers),
        reconnects=sum(s.reconnects for s in subscribers),
        fell_behind=sum(s.fell_behind for s in subscribers),
        events_stored=len(log),
        events_lost=lost,
        seconds=round(time.monotonic() - started, 1),
        statuses=dict(sorted(report.statuses.items())),
        notes=tuple(chaos.notes),
    )
    return summary, problems
