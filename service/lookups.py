"""Lookups in the log: one event by sequence or webhook id, and one entity's history.

The gRPC servicer (`GetEvent`, `ListEntityEvents`) and the console both answer
from here, so they check their inputs and page the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from clerkrelay.kinds import KIND_BY_NAME
from service.errors import InvalidArgument, NotFound, quoted
from service.event_listing import fitting
from service.history_tokens import HistoryToken, decode_history_token, encode_history_token
from service.page_tokens import page_size
from service.storage import MAX_SEQUENCE, Store, StoredEvent

__all__ = ["MAX_ID_LENGTH", "HistoryResult", "find_event", "history"]

MAX_ID_LENGTH = 256
"""Longer ids are refused: no Clerk id or webhook id comes near it."""


@dataclass(frozen=True, slots=True)
class HistoryResult:
    """One page of an entity's history.

    Attributes:
        events: The events, in sequence order.
        next_page_token: Continues the listing; "" on the last page.
        snapshot_sequence: The head the page reflects.
    """

    events: list[StoredEvent]
    next_page_token: str
    snapshot_sequence: int


async def find_event(store: Store, *, sequence: int = 0, webhook_id: str = "") -> StoredEvent:
    """The retained event with this sequence (when not 0), else this webhook id.

    Raises:
        InvalidArgument: Neither is given, or the id is too long.
        NotFound: The log holds no such event.
    """
    if sequence:
        if sequence > MAX_SEQUENCE:
            raise NotFound(f"no event has sequence {sequence}")
        found = await store.get_event(sequence=sequence)
        if found is None:
            raise NotFound(f"no event with sequence {sequence} is in the log")
        return found
    if not webhook_id:
        raise InvalidArgument("a sequence (1 or more) or an id is required")
    _check_id("id", webhook_id)
    found = await store.get_event(webhook_id=webhook_id)
    if found is None:
        raise NotFound(f"no event with id {quoted(webhook_id)} is in the log")
    return found


async def history(
    store: Store, entity_id: str, kind: str = "", requested_size: int = 0, page_token: str = ""
) -> HistoryResult:
    """One page of the events about `entity_id` (of `kind`'s types, when given), in order.

    Raises:
        InvalidArgument: No id, an unknown kind, a negative size or a foreign token.
    """
    if not entity_id:
        raise InvalidArgument("entity_id is required")
    _check_id("entity_id", entity_id)
    families: tuple[str, ...] = ()
    if kind:
        if kind not in KIND_BY_NAME:
            raise InvalidArgument(
                f"unknown kind {quoted(kind)}; expected one of {', '.join(KIND_BY_NAME)}"
            )
        families = (KIND_BY_NAME[kind].family,)
    limit = page_size(requested_size)
    after = decode_history_token(page_token, entity_id, kind).after_sequence if page_token else 0
    page = await store.entity_history(entity_id, families, after, limit + 1)
    events = page.events[:limit]
    kept = fitting(events)  # large events: what one response to a default client holds
    more = len(page.events) > limit or kept < len(events)
    events = events[:kept]
    next_token = ""
    if more:
        next_token = encode_history_token(HistoryToken(entity_id, kind, events[-1].sequence))
    return HistoryResult(events, next_token, page.snapshot_sequence)


def _check_id(name: str, value: str) -> None:
    if len(value) > MAX_ID_LENGTH:
        raise InvalidArgument(f"{name} is longer than {MAX_ID_LENGTH} characters")
