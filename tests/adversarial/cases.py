"""The shape of one hostile case: how it is sent, what must come back, what the store must hold."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from clerkrelay.v1.event_pb2 import Event, PayloadOmission
from tests.adversarial.relay import Relay


class _Next:
    """Stands for the sequence the next stored event gets (the head before the case, plus 1)."""

    def __repr__(self) -> str:
        return "NEXT"


NEXT: Any = _Next()


class _Head:
    """Stands for the head sequence before the case."""

    def __repr__(self) -> str:
        return "HEAD"


HEAD: Any = _Head()


@dataclass(frozen=True)
class SequenceOf:
    """Stands for the sequence an earlier case stored this webhook id at."""

    webhook_id: str


@dataclass(frozen=True)
class Answer:
    """What came back: an HTTP status and body (JSON, or text), or a gRPC code and details.

    `status` is an int for HTTP (0: the connection closed without an answer)
    and a `grpc.StatusCode` name for gRPC (`"OK"` with the response as a dict).
    """

    status: int | str
    body: Any


Check = Callable[[list[Event]], None]
"""Asserts what a case added to the log (the events stored past the head before it)."""


@dataclass(frozen=True)
class Case:
    """One hostile input.

    Attributes:
        name: Unique and descriptive; the test id, and part of its webhook ids.
        send: Sends the input to the relay; returns what came back.
        answer: The exact expected answer (`NEXT` / `SequenceOf` resolved per case).
        stores: What the store must hold afterwards, in words.
        check: The same, asserted on the events the case added.
    """

    name: str
    send: Callable[[Relay], Awaitable[Answer]]
    answer: Answer
    stores: str
    check: Check


def wid(name: str) -> str:
    """The webhook id of a case."""
    return f"msg_adv_{name}"


def resolve(expected: Any, relay: Relay, head: int) -> Any:
    """The expected value with its `NEXT` / `HEAD` / `SequenceOf` placeholders filled in."""
    if expected is NEXT:
        return head + 1
    if expected is HEAD:
        return head
    if isinstance(expected, SequenceOf):
        return relay.sequence_of(expected.webhook_id)
    if isinstance(expected, dict):
        return {key: resolve(value, relay, head) for key, value in expected.items()}
    return expected


def nothing(events: list[Event]) -> None:
    """The case stored nothing."""
    assert events == []


def stores_nothing(name: str, send: Callable[[Relay], Awaitable[Answer]], answer: Answer) -> Case:
    """A case answered with `answer` that adds nothing to the log."""
    return Case(name, send, answer, "nothing", nothing)


def one(
    webhook_id: str,
    event_type: str,
    *,
    payload: str | None,
    omission: PayloadOmission.ValueType = PayloadOmission.PAYLOAD_OMISSION_UNSPECIFIED,
    raw_body: bytes | None = None,
    also: Callable[[Event], None] | None = None,
) -> Check:
    """The case stored exactly one event: this id and type, this payload case or omission."""

    def check(events: list[Event]) -> None:
        [event] = events
        assert (event.id, event.type) == (webhook_id, event_type)
        assert event.WhichOneof("payload") == payload
        assert event.payload_omission == omission
        if raw_body is not None:
            assert event.raw_body == raw_body
        if also is not None:
            also(event)

    return check
