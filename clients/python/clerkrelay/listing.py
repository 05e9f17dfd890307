"""`Listing`: every page of a List RPC as one async iterator, with the snapshot's sequence.

A List RPC answers a page at a time; each page reports the log sequence the
*first* page reflected (`snapshot_sequence`). Subscribing after that sequence
misses nothing that happened during or after the listing (records on later
pages may already include some of those changes: handle an event whose
sequence is at or below a record's `event_sequence` as already applied).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["FetchPage", "Listing", "Page", "Snapshot"]

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Page(Generic[R]):
    """One page of a List RPC.

    Attributes:
        records: The records, ordered by id.
        next_page_token: The next page's token; empty on the last page.
        snapshot_sequence: The log sequence the first page reflected.
    """

    records: Sequence[R]
    next_page_token: str
    snapshot_sequence: int


@dataclass(frozen=True, slots=True)
class Snapshot(Generic[R]):
    """Every record of a listing, and the sequence to subscribe after.

    Attributes:
        records: All records, ordered by id.
        sequence: The log sequence the listing reflects: subscribe with
            `after_sequence=sequence` to miss nothing.
    """

    records: list[R]
    sequence: int


FetchPage = Callable[[str], Awaitable[Page[R]]]
"""Fetches the page for a page token ("" for the first page)."""


class Listing(Generic[R]):
    """A List query: iterate it for every record of every page.

    Nothing is fetched until it is iterated. Each iteration runs the query
    again from the first page.

    Args:
        fetch: Fetches one page by token.
    """

    __slots__ = ("_fetch", "_snapshot_sequence")

    def __init__(self, fetch: FetchPage[R]) -> None:
        self._fetch = fetch
        self._snapshot_sequence: int | None = None

    @property
    def snapshot_sequence(self) -> int | None:
        """The sequence the last iteration's first page reflected; None before any."""
        return self._snapshot_sequence

    async def pages(self) -> AsyncIterator[Page[R]]:
        """Every page, fetched as the previous one is consumed.

        Raises:
            RelayError: A page could not be fetched.
        """
        token = ""
        while True:
            page = await self._fetch(token)
            if not token:
                self._snapshot_sequence = page.snapshot_sequence
            yield page
            if not page.next_page_token:
                return
            token = page.next_page_token

    async def __aiter__(self) -> AsyncIterator[R]:
        async for page in self.pages():
            for record in page.records:
                yield record

    async def collect(self) -> Snapshot[R]:
        """Fetches every page; returns all records and the snapshot's sequence.

        Raises:
            RelayError: A page could not be fetched.
        """
        records = [record async for record in self]
        assert self._snapshot_sequence is not None  # set by the first page
        return Snapshot(records, self._snapshot_sequence)
