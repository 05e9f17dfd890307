"""A Svix-like webhook sender: signed deliveries, retries with back-off, duplicates, reordering.

It behaves the way Svix delivers Clerk's webhooks, compressed in time:

- every attempt is signed afresh (`svix-id`, `svix-timestamp` = now,
  `svix-signature`) with the real `svix` library;
- any answer other than 2xx, and any transport error (refused connection,
  reset, timeout), is retried with exponential back-off and full jitter, up to
  a bounded number of attempts and an overall deadline;
- some messages are delivered twice on purpose, sometimes at the same moment
  (as Svix does after a timeout), sometimes later;
- messages are shuffled within windows, and concurrency and retries reorder
  them further.

It records every answer, so a test can check what the relay acknowledged
against what it stored: `SendReport.logs` has, per webhook id, each 2xx
answer's sequence and `duplicate` flag, and the failures before them.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx
import orjson

from tests.gateway.signing import signed_headers

__all__ = [
    "Answer",
    "Delivery",
    "Message",
    "MessageLog",
    "SendReport",
    "SenderPolicy",
    "SvixSender",
]


@dataclass(frozen=True, slots=True)
class Message:
    """One webhook as Svix holds it.

    Attributes:
        webhook_id: The `svix-id`, the same on every attempt.
        event_type: Clerk's event type (for reports; the body says it too).
        body: The exact body bytes.
    """

    webhook_id: str
    event_type: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Answer:
    """A 2xx answer of the relay.

    Attributes:
        status: The HTTP status.
        sequence: The sequence the relay says the event has.
        duplicate: The relay says it had already stored this webhook id.
    """

    status: int
    sequence: int
    duplicate: bool


@dataclass(slots=True)
class MessageLog:
    """Everything that happened to one message.

    Attributes:
        message: The message.
        deliveries: How many times it was scheduled (2 when duplicated on purpose).
        attempts: HTTP attempts over all its deliveries.
        answers: Its 2xx answers, in the order they came.
        failures: Non-2xx statuses and transport errors, by name, with counts.
        gave_up: Deliveries that ended without a 2xx (attempts or time ran out).
    """

    message: Message
    deliveries: int = 0
    attempts: int = 0
    answers: list[Answer] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    gave_up: int = 0

    @property
    def acknowledged(self) -> bool:
        """At least one delivery got a 2xx."""
        return bool(self.answers)


@dataclass(frozen=True, slots=True)
class SenderPolicy:
    """How the sender delivers.

    Attributes:
        concurrency: Deliveries in flight at once.
        rate_per_s: First attempts start at this steady rate (None: as fast as possible);
            a stall does not cause a burst afterwards. Deliberate copies are not paced.
        duplicate_rate: Share of messages delivered a second time on purpose.
        reorder_window: Messages are shuffled within consecutive windows of this size.
        max_attempts: Attempts per delivery before giving up.
        backoff_initial_s: The first retry waits up to this long.
        backoff_max_s: No retry waits longer than this.
        request_timeout_s: Timeout of one HTTP attempt.
        deadline_s: No attempt starts after this long; deliveries then give up.
    """

    concurrency: int = 16
    rate_per_s: float | None = None
    duplicate_rate: float = 0.1
    reorder_window: int = 8
    max_attempts: int = 200
    backoff_initial_s: float = 0.05
    backoff_max_s: float = 2.0
    request_timeout_s: float = 15.0
    deadline_s: float = 60.0


@dataclass(slots=True)
class SendReport:
    """What a `SvixSender.send` did.

    Attributes:
        logs: Per webhook id, what happened to it (in the original order).
        statuses: Every attempt's outcome (`200`, `503`, `ConnectError`, …), counted.
        timeline: Every attempt as `(started, ended, outcome)`, in `time.monotonic()` seconds.
        elapsed_s: How long sending took.
    """

    logs: dict[str, MessageLog]
    statuses: Counter[str]
    timeline: list[tuple[float, float, str]]
    elapsed_s: float

    @property
    def messages(self) -> int:
        """Distinct messages sent."""
        return len(self.logs)

    @property
    def attempts(self) -> int:
        """HTTP attempts in total."""
        return sum(log.attempts for log in self.logs.values())

    @property
    def retries(self) -> int:
        """Attempts beyond the first of each delivery."""
        return sum(log.attempts - log.deliveries for log in self.logs.values())

    @property
    def duplicate_deliveries(self) -> int:
        """Deliveries made on purpose a second time."""
        return sum(log.deliveries - 1 for log in self.logs.values())

    @property
    def duplicates_absorbed(self) -> int:
        """2xx answers that said `duplicate` (the relay had already stored the id)."""
        return sum(answer.duplicate for log in self.logs.values() for answer in log.answers)

    @property
    def acknowledged(self) -> list[str]:
        """Webhook ids that got at least one 2xx."""
        return [wid for wid, log in self.logs.items() if log.acknowledged]

    @property
    def unacknowledged(self) -> list[str]:
        """Webhook ids that never got a 2xx."""
        return [wid for wid, log in self.logs.items() if not log.acknowledged]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivery of a message (with its retries).

    Attributes:
        message: What to deliver.
        copy: The deliberate second delivery of the message.
    """

    message: Message
    copy: bool


class SvixSender:
    """Delivers messages to one webhook URL the way Svix would.

    Args:
        url: The webhook endpoint.
        secret: The endpoint's signing secret (`whsec_…`).
        policy: Concurrency, pacing, duplication, reordering, retries and bounds.
        rng: The source of every random choice (seed it to replay a run).
    """

    def __init__(self, url: str, secret: str, policy: SenderPolicy, rng: random.Random) -> None:
        self._url = url
        self._secret = secret
        self._policy = policy
        self._rng = rng
        self._scheduled = 0
        self._started = 0

    @property
    def progress(self) -> float:
        """The share of deliveries started so far (0 before sending, 1 once all have)."""
        return self._started / self._scheduled if self._scheduled else 0.0

    def schedule(self, messages: Sequence[Message]) -> list[Delivery]:
        """The deliveries, in the order they start: shuffled, some duplicated."""
        policy, rng = self._policy, self._rng
        order = list(messages)
        window = max(1, policy.reorder_window)
        for start in range(0, len(order), window):
            chunk = order[start : start + window]
            rng.shuffle(chunk)
            order[start : start + window] = chunk
        jobs = [Delivery(message, copy=False) for message in order]
        copies: list[tuple[int, Delivery]] = []
        for i, job in enumerate(jobs):
            if rng.random() < policy.duplicate_rate:
                # Half at the same moment (a retry racing a slow first attempt), half later.
                later = 0 if rng.random() < 0.5 else rng.randint(1, 4 * window)
                position = min(i + later, len(jobs) - 1)
                copies.append((position, Delivery(job.message, copy=True)))
        for position, job in sorted(copies, key=lambda pair: pair[0], reverse=True):
            jobs.insert(position + 1, job)
        return jobs

    async def send(self, messages: Sequence[Message]) -> SendReport:
        """Delivers every message (and the deliberate duplicates); returns what happened."""
        policy = self._policy
        logs = {message.webhook_id: MessageLog(message) for message in messages}
        statuses: Counter[str] = Counter()
        timeline: list[tuple[float, float, str]] = []
        jobs = self.schedule(messages)
        self._scheduled, self._started = len(jobs), 0
        started = time.monotonic()
        deadline = started + policy.deadline_s
        interval = 1.0 / policy.rate_per_s if policy.rate_per_s else 0.0
        next_slot = started
        next_job = iter(jobs)
        limits = httpx.Limits(max_connections=policy.concurrency)
        async with httpx.AsyncClient(
            timeout=policy.request_timeout_s, limits=limits, trust_env=False
        ) as client:

            async def worker() -> None:
                nonlocal next_slot
                for job in next_job:
                    log = logs[job.message.webhook_id]
                    log.deliveries += 1
                    if not job.copy:
                        # A steady rate, without catching up after a stall: the
                        # load continues at the same pace after every outage.
                        now = time.monotonic()
                        start_at = max(now, next_slot)
                        next_slot = start_at + interval
                        await asyncio.sleep(start_at - now)
                    self._started += 1
                    await self._deliver(client, job, log, timeline, deadline)

            async with asyncio.TaskGroup() as group:
                for _ in range(policy.concurrency):
                    group.create_task(worker())
        statuses.update(outcome for _, _, outcome in timeline)
        return SendReport(logs, statuses, timeline, time.monotonic() - started)

    async def _deliver(
        self,
        client: httpx.AsyncClient,
        job: Delivery,
        log: MessageLog,
        timeline: list[tuple[float, float, str]],
        deadline: float,
    ) -> None:
        """Attempts one delivery until a 2xx, or until attempts or time run out."""
        policy = self._policy
        message = job.message
        backoff = policy.backoff_initial_s
        for _ in range(policy.max_attempts):
            if time.monotonic() >= deadline:
                break
            log.attempts += 1
            headers = signed_headers(
                message.body, webhook_id=message.webhook_id, secrets=(self._secret,)
            )
            attempt_started = time.monotonic()
            try:
                response = await client.post(self._url, content=message.body, headers=headers)
            except httpx.TransportError as error:
                outcome = type(error).__name__
            else:
                outcome = str(response.status_code)
                if response.is_success:
                    timeline.append((attempt_started, time.monotonic(), outcome))
                    payload = orjson.loads(response.content)
                    sequence, duplicate = int(payload["sequence"]), bool(payload.get("duplicate"))
                    log.answers.append(Answer(response.status_code, sequence, duplicate))
                    return
            timeline.append((attempt_started, time.monotonic(), outcome))
            log.failures[outcome] += 1
            await asyncio.sleep(self._rng.uniform(0, backoff))
            backoff = min(backoff * 2, policy.backoff_max_s)
        log.gave_up += 1
