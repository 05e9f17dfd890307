"""Requests the relay must refuse, mixed into a chaos run: malformed, oversized, unsigned, replayed.

Oversized ones come both with a `Content-Length` over the limit and chunked
(no length: the relay must stop reading at the limit).

Each bad request has a webhook id and entity ids that carry `chaos_bad`, so a
test can check afterwards that none of them reached the store. Each kind has
the one status the relay must answer (see `gateway.webhook`); it is never
retried, except after a transport error (the relay may be down at that moment).
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from clerkrelay.cli.samples import sample
from tests.gateway.signing import OTHER_SECRET, signed_headers

__all__ = ["BAD_MARKER", "BadKind", "BadOutcome", "BadRequest", "bad_requests", "send_bad_requests"]

BAD_MARKER = "chaos_bad"
"""In every bad request's webhook id and body: none of them may be stored."""

_REPLAY_AGE_S = 600  # twice the relay's ±5 min tolerance
_CHUNK_BYTES = 64 * 1024
_ANSWER_WITHIN_S = 20.0  # longer than any restart of the relay


class BadKind(enum.StrEnum):
    """A way a request can be wrong, and the status the relay must answer it with."""

    MALFORMED_JSON = "malformed_json"
    NOT_AN_OBJECT = "not_an_object"
    NO_TYPE = "no_type"
    OVERSIZED = "oversized"
    MISSING_HEADERS = "missing_headers"
    WRONG_SIGNATURE = "wrong_signature"
    REPLAYED = "replayed"

    @property
    def expected_status(self) -> int:
        """The status the relay must answer."""
        return _EXPECTED_STATUS[self]


_EXPECTED_STATUS = {
    BadKind.MALFORMED_JSON: 400,
    BadKind.NOT_AN_OBJECT: 400,
    BadKind.NO_TYPE: 400,
    BadKind.OVERSIZED: 413,
    BadKind.MISSING_HEADERS: 400,
    BadKind.WRONG_SIGNATURE: 401,
    BadKind.REPLAYED: 401,
}


@dataclass(frozen=True, slots=True)
class BadRequest:
    """One request to refuse.

    Attributes:
        kind: What is wrong with it.
        webhook_id: Its `svix-id` (carries `BAD_MARKER`).
        body: The body bytes.
        chunked: Sent without `Content-Length`, in chunks: the relay can only
            tell it is too large by counting what it reads.
    """

    kind: BadKind
    webhook_id: str
    body: bytes
    chunked: bool = False

    def content(self) -> bytes | AsyncIterator[bytes]:
        """The body as httpx should send it."""
        if not self.chunked:
            return self.body

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(self.body), _CHUNK_BYTES):
                yield self.body[start : start + _CHUNK_BYTES]

        return chunks()

    def headers(self, secret: str) -> dict[str, str]:
        """The headers, made at sending time (a signature's timestamp is relative to now)."""
        kind = self.kind
        if kind is BadKind.MISSING_HEADERS:
            return {"content-type": "application/json"}
        if kind is BadKind.WRONG_SIGNATURE:
            return signed_headers(self.body, webhook_id=self.webhook_id, secrets=(OTHER_SECRET,))
        timestamp = int(time.time()) - _REPLAY_AGE_S if kind is BadKind.REPLAYED else None
        return signed_headers(
            self.body, webhook_id=self.webhook_id, secrets=(secret,), timestamp=timestamp
        )


@dataclass(slots=True)
class BadOutcome:
    """What the relay answered to the bad requests.

    Attributes:
        statuses: Per kind, the statuses answered, counted.
        unexpected: Requests answered with a status other than their kind's, as
            `(kind, webhook_id, status, body)`.
        transport_errors: Attempts that got no answer (the relay was down), counted.
        unanswered: Requests that never got an answer.
    """

    statuses: dict[BadKind, Counter[int]] = field(default_factory=dict)
    unexpected: list[tuple[BadKind, str, int, bytes]] = field(default_factory=list)
    transport_errors: int = 0
    unanswered: int = 0

    @property
    def rejected(self) -> int:
        """Requests answered with their expected status."""
        return sum(
            count
            for kind, counts in self.statuses.items()
            for status, count in counts.items()
            if status == kind.expected_status
        )


def _valid_envelope(webhook_id: str) -> dict[str, Any]:
    """A genuine-looking user.created about an entity that must never be stored."""
    envelope = sample("user.created")
    envelope["data"]["id"] = f"user_{webhook_id}"
    return envelope


def bad_requests(
    rng: random.Random, per_kind: int, oversized: int, max_body_bytes: int, run: str
) -> list[BadRequest]:
    """Bad requests of every kind, shuffled.

    Args:
        rng: The source of the shuffle.
        per_kind: How many of each kind (oversized excepted).
        oversized: How many oversized ones.
        max_body_bytes: The relay's body limit; oversized bodies exceed it.
        run: A short tag that makes this run's ids unique.
    """
    requests: list[BadRequest] = []
    for kind in BadKind:
        for n in range(oversized if kind is BadKind.OVERSIZED else per_kind):
            webhook_id = f"msg_{BAD_MARKER}_{run}_{kind.value}_{n}"
            envelope = _valid_envelope(webhook_id)
            if kind is BadKind.MALFORMED_JSON:
                body = orjson.dumps(envelope)[:-7] + b"\x00{oops"
            elif kind is BadKind.NOT_AN_OBJECT:
                body = orjson.dumps([envelope])
            elif kind is BadKind.NO_TYPE:
                del envelope["type"]
                body = orjson.dumps(envelope)
            elif kind is BadKind.OVERSIZED:
                envelope["data"]["padding"] = "x" * (max_body_bytes + 1)
                body = orjson.dumps(envelope)
            else:
                body = orjson.dumps(envelope)
            chunked = kind is BadKind.OVERSIZED and n % 2 == 1
            requests.append(BadRequest(kind, webhook_id, body, chunked))
    rng.shuffle(requests)
    return requests


async def send_bad_requests(
    url: str,
    secret: str,
    requests: list[BadRequest],
    rng: random.Random,
    spread_s: float,
    deadline_s: float,
) -> BadOutcome:
    """Sends the requests one at a time, spread over about `spread_s` seconds.

    A transport error is retried (bounded in count and by `deadline_s`): the
    point is to see the relay's answer, which may come only once it is back.
    """
    outcome = BadOutcome()
    deadline = time.monotonic() + deadline_s
    gap = spread_s / max(1, len(requests))
    async with httpx.AsyncClient(timeout=15.0, trust_env=False) as client:
        for request in requests:
            await asyncio.sleep(rng.uniform(0, 2 * gap))
            response = await _answer(client, url, secret, request, deadline, outcome)
            if response is None:
                outcome.unanswered += 1
                continue
            status = response.status_code
            outcome.statuses.setdefault(request.kind, Counter())[status] += 1
            if status != request.kind.expected_status:
                outcome.unexpected.append(
                    (request.kind, request.webhook_id, status, response.content[:200])
                )
    return outcome


async def _answer(
    client: httpx.AsyncClient,
    url: str,
    secret: str,
    request: BadRequest,
    deadline: float,
    outcome: BadOutcome,
) -> httpx.Response | None:
    """The relay's answer to one request, or None if none came in time."""
    give_up = min(deadline, time.monotonic() + _ANSWER_WITHIN_S)
    while time.monotonic() < give_up:
        try:
            return await client.post(
                url, content=request.content(), headers=request.headers(secret)
            )
        except httpx.TransportError:
            outcome.transport_errors += 1
            await asyncio.sleep(0.2)
    return None
