"""What a chaos run must leave behind, checked against the store itself.

Each check returns a list of problems (empty when it holds), each a sentence
precise enough to start debugging from, so a failing run reports everything
that went wrong at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import orjson

from clerkrelay.kinds import KIND_BY_NAME
from gateway.convert import convert
from service.storage import EntityQuery, Store, StoredEvent, open_store
from tests.chaos.bad_requests import BAD_MARKER
from tests.chaos.sender import Message, SendReport
from tests.chaos.subscribers import Subscriber, type_matches

__all__ = [
    "EntityState",
    "acknowledged_problems",
    "bad_request_problems",
    "projection",
    "projection_problems",
    "read_log",
    "reference_projection",
    "subscriber_problems",
]

EntityState = tuple[str, bytes, bool, int]
"""An entity as the comparison sees it: id, state, deleted, updated_at (not which sequence)."""

_PAGE = 1000
_MAX_SHOWN = 10


def _shown(items: Sequence[object]) -> str:
    more = f" … and {len(items) - _MAX_SHOWN} more" if len(items) > _MAX_SHOWN else ""
    return ", ".join(map(str, items[:_MAX_SHOWN])) + more


async def read_log(store: Store) -> list[StoredEvent]:
    """Every event in the log, in sequence order."""
    events: list[StoredEvent] = []
    after = 0
    while True:
        page = await store.read(after, _PAGE)
        if page.last_examined == after:
            return events
        events.extend(page.events)
        after = page.last_examined


async def projection(store: Store) -> dict[str, list[EntityState]]:
    """Every entity of every kind, tombstones included, in id order."""
    result: dict[str, list[EntityState]] = {}
    for kind in sorted(KIND_BY_NAME):
        records: list[EntityState] = []
        after_id = ""
        while True:
            page = await store.list_entities(
                EntityQuery(kind, show_deleted=True, after_id=after_id, limit=_PAGE)
            )
            records += [(r.id, r.state, r.deleted, r.updated_at) for r in page.records]
            if len(page.records) < _PAGE:
                break
            after_id = page.records[-1].id
        result[kind] = records
    return result


async def reference_projection(
    history: Sequence[Message], tmp_path: Path
) -> dict[str, list[EntityState]]:
    """The projection of `history` appended in its original order to a fresh SQLite store.

    The appends are queued all at once (the store takes them in call order and
    group-commits them); the sequences they get prove the order was kept.
    """
    store = await open_store(f"sqlite:///{tmp_path / 'in-order-reference.db'}")
    try:
        events = [
            convert(orjson.loads(m.body), m.body, m.webhook_id, time.time_ns()).event
            for m in history
        ]
        results = await asyncio.gather(*(store.append(event) for event in events))
        assert [r.sequence for r in results] == list(range(1, len(events) + 1))
        assert not any(r.duplicate or r.stale for r in results)
        return await projection(store)
    finally:
        await store.close()


def acknowledged_problems(report: SendReport, log: Sequence[StoredEvent]) -> list[str]:
    """Every acknowledged webhook is stored exactly once, at the sequence it was told.

    Also: sequences run 1..head without a gap, each id is stored at most once,
    at most one answer per id said "accepted", and every 2xx answer (accepted
    or duplicate) named the sequence the event is stored at.
    """
    problems: list[str] = []
    sequences = [event.sequence for event in log]
    if sequences != list(range(1, len(log) + 1)):
        problems.append(f"the log's sequences are not 1..{len(log)} without gaps")
    ids = Counter(event.event().id for event in log)
    stored_at = {event.event().id: event.sequence for event in log}
    repeated = [wid for wid, count in ids.items() if count > 1]
    if repeated:
        problems.append(f"webhook ids stored more than once: {_shown(repeated)}")
    lost = [wid for wid in report.acknowledged if wid not in stored_at]
    if lost:
        problems.append(f"{len(lost)} acknowledged webhooks are not stored: {_shown(lost)}")
    unknown = [wid for wid in ids if wid not in report.logs]
    if unknown:
        problems.append(f"stored events nobody sent: {_shown(unknown)}")
    wrong: list[str] = []
    twice_accepted: list[str] = []
    for wid, message_log in report.logs.items():
        if sum(not answer.duplicate for answer in message_log.answers) > 1:
            twice_accepted.append(wid)
        for answer in message_log.answers:
            if wid in stored_at and answer.sequence != stored_at[wid]:
                wrong.append(f"{wid} answered {answer.sequence}, stored at {stored_at[wid]}")
    if twice_accepted:
        problems.append(f"accepted (not duplicate) more than once: {_shown(twice_accepted)}")
    if wrong:
        problems.append(f"2xx answers naming the wrong sequence: {_shown(wrong)}")
    return problems


def bad_request_problems(log: Sequence[StoredEvent]) -> list[str]:
    """No bad request left anything in the log."""
    marker = BAD_MARKER.encode()
    stored = [event.sequence for event in log if marker in event.data]
    if stored:
        return [f"bad requests were stored at sequences {_shown(stored)}"]
    return []


def subscriber_problems(subscriber: Subscriber, log: Sequence[StoredEvent]) -> list[str]:
    """Each connection got exactly the matching events after its start, in order; all of them.

    For every segment (one connection, subscribed after S, last event L), the
    events received must be exactly the matching stored events in (S, L], in
    sequence order, each once, with the right webhook ids. Consecutive
    connections must resume after the last event seen, and together they must
    end at the last matching event of the log.
    """
    name = subscriber.name
    matching = [
        (event.sequence, event.event().id)
        for event in log
        if type_matches(subscriber.patterns, event.type)
    ]
    problems: list[str] = []
    resume = 0
    for number, segment in enumerate(subscriber.segments):
        if segment.after != resume:
            problems.append(
                f"{name}: connection {number} subscribed after {segment.after}, not {resume}"
            )
        if not segment.events:
            continue
        last = segment.events[-1][0]
        expected = [pair for pair in matching if segment.after < pair[0] <= last]
        if segment.events != expected:
            got = [sequence for sequence, _ in segment.events]
            want = [sequence for sequence, _ in expected]
            missing = sorted(set(want) - set(got))
            extra = [s for s, count in Counter(got).items() if count > 1 or s not in want]
            problems.append(
                f"{name}: connection {number} (after {segment.after}) received "
                f"{len(got)} events, expected {len(want)}; missing {_shown(missing)}; "
                f"repeated or unexpected {_shown(extra)}; in order: {got == sorted(got)}"
            )
        resume = last
    final = matching[-1][0] if matching else 0
    if resume != final:
        problems.append(f"{name}: last event seen is {resume}, the last matching one is {final}")
    return problems


def projection_problems(
    relay: dict[str, list[EntityState]], reference: dict[str, list[EntityState]]
) -> list[str]:
    """The relay's projection equals the one built from the in-order history."""
    problems: list[str] = []
    for kind in sorted(reference):
        got = {state[0]: state for state in relay.get(kind, [])}
        want = {state[0]: state for state in reference[kind]}
        if got == want:
            continue
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        differ = sorted(i for i in set(got) & set(want) if got[i] != want[i])
        problems.append(
            f"projection of {kind}: missing {_shown(missing)}; extra {_shown(extra)}; "
            f"different {_shown([(i, got[i][2:], want[i][2:]) for i in differ])}"
        )
    return problems
