"""Consumer groups' stored state, as values, and the transaction seam each backend provides.

A group's durable state is three things (tables `consumer_groups`,
`consumer_pending`, `consumer_parked` in both backends), and a fourth table
says who is connected to it (`consumer_members`):

- the group: its settings (a serialized `ConsumerGroupSettings`), its cursor
  (the highest sequence of the log it has examined) and its counters;
- its pending events: examined, matching, not yet acked or parked. A pending
  event is *waiting* (no member; `due_ns` is when it may be delivered, 0 for
  at once) or *in flight* (a member holds it; `due_ns` is its ack deadline);
- its parked events, with their last error;
- its members, each recorded by the process it is connected to when it
  joins, again every `MEMBER_REFRESH_S` while it stays, and removed when it
  leaves; a member not seen for `MEMBER_EXPIRY_NS` (its process died) is
  no longer listed.

The group's position is derived, never stored: one below its lowest pending
sequence, or its cursor when nothing is pending. So an ack only deletes a row.

`ConsumerState` (in `service.storage.consumer_state`) runs every operation as
one transaction through `ConsumerDatabase`, which each backend implements:
SQLite on a writer thread of its own, PostgreSQL on a connection of its own.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeVar

__all__ = [
    "MEMBER_EXPIRY_NS",
    "MEMBER_REFRESH_S",
    "Claim",
    "ConsumerDatabase",
    "GroupExists",
    "GroupRow",
    "GroupStats",
    "MemberRow",
    "ParkedRow",
    "SettleKind",
    "Settlement",
    "Tx",
]


_T = TypeVar("_T")

MEMBER_REFRESH_S = 5.0
"""How often a process records again that its members of a group are connected."""
MEMBER_EXPIRY_NS = 3 * int(MEMBER_REFRESH_S * 1e9)
"""A member its process has not recorded for this long is gone (the process died)."""


class GroupExists(Exception):
    """A group of that name already exists."""


@dataclass(frozen=True, slots=True)
class GroupRow:
    """A stored group.

    Attributes:
        name: The group's name.
        settings: The serialized `ConsumerGroupSettings` (normalized, with the
            resolved start as `after_sequence`).
        create_time_ns: When it was created.
        cursor: The highest sequence it has examined.
        delivered: Deliveries made, redeliveries included.
        redelivered: Deliveries that were not a first attempt.
        acked: Events acked.
    """

    name: str
    settings: bytes
    create_time_ns: int
    cursor: int
    delivered: int = 0
    redelivered: int = 0
    acked: int = 0


@dataclass(frozen=True, slots=True)
class MemberRow:
    """A member of a group, connected to some process.

    Attributes:
        member_id: Made by its process when it joined, unique.
        name: The member's own label.
        address: Its peer address, as its process sees it.
        join_time_ns: When it joined.
        in_flight: Events it holds (0 when recording it).
    """

    member_id: str
    name: str
    address: str
    join_time_ns: int
    in_flight: int = 0


@dataclass(frozen=True, slots=True)
class GroupStats:
    """A group's figures, read in one transaction.

    Attributes:
        group: The group's row.
        position: Every matching sequence at or below it is acked or parked.
        pending: Events waiting to be delivered.
        in_flight: Events held by a member.
        parked: Events parked.
        members: Its members connected to any process, by join time.
    """

    group: GroupRow
    position: int
    pending: int
    in_flight: int
    parked: int
    members: tuple[MemberRow, ...] = ()


class Claim(NamedTuple):
    """One event handed to a member by `ConsumerState.claim` (a named tuple: one per delivery).

    Attributes:
        member: The member it is for.
        sequence: The event's sequence.
        attempt: This delivery's attempt (1 for the first).
        data: The serialized `Event`.
        previous_member: The member that held it before (its delivery timed
            out), or None.
    """

    member: str
    sequence: int
    attempt: int
    data: bytes
    previous_member: str | None


class SettleKind(enum.Enum):
    """What a member says about a delivery."""

    ACK = "ack"
    NACK = "nack"
    TERM = "term"


class Settlement(NamedTuple):
    """A member's answer about one delivery (a named tuple: one per settlement).

    Attributes:
        kind: Ack, nack or term.
        member: The member that answers.
        sequence: The event's sequence.
        attempt: The delivery's attempt (a settlement of an older attempt
            applies to nothing).
        delay_ns: For a nack, how long to wait before delivering it again.
        reason: For a nack or a term, why.
    """

    kind: SettleKind
    member: str
    sequence: int
    attempt: int
    delay_ns: int = 0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ParkedRow:
    """A parked event.

    Attributes:
        sequence: The event's sequence.
        attempts: How many times it was delivered.
        reason: Its last error.
        park_time_ns: When it was parked.
        data: The serialized `Event`; None when retention has trimmed it.
    """

    sequence: int
    attempts: int
    reason: str
    park_time_ns: int
    data: bytes | None


class Tx(Protocol):
    """One open transaction. SQL uses `?` placeholders (PostgreSQL's backend rewrites them)."""

    async def fetch(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Runs a query; returns every row."""
        ...

    async def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        """Runs a statement; returns how many rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """Runs a statement once per row of parameters."""
        ...

    async def announce(self, group: str) -> None:
        """Tells the other processes, once this commits, that the group has events to hand out.

        PostgreSQL: a `NOTIFY` heard by their `ConsumerDatabase.watch`.
        SQLite: nothing (one process opens the file).
        """
        ...


class ConsumerDatabase(Protocol):
    """A backend's transactions for consumer groups."""

    async def run(
        self,
        work: Callable[[Tx], Coroutine[Any, Any, _T]],
        lock_group: str | None = None,
        read_only: bool = False,
        durable: bool = True,
        brief: bool = False,
    ) -> _T:
        """Runs `work(tx)` in one transaction: committed when it returns, rolled back if it raises.

        `work` awaits nothing but its statements (`tx`'s methods): SQLite
        drives it whole on its database thread, in one hop from the event loop,
        or on the loop itself when it is `brief`.

        Args:
            work: The transaction's statements and the logic between them.
            read_only: It only reads (SQLite: it then does not take the write
                lock, so it never holds up the store's appends).
            lock_group: Serialize with every other transaction that locks this
                group, in any process (PostgreSQL: the group's row `FOR
                UPDATE`; SQLite's write transactions are serialized anyway).
            durable: The commit waits for the disk. Delivery's transactions
                (fill, claim, settle, release) pass False: their commit
                survives a crash of the relay, and a power loss (or a crash
                of PostgreSQL's server) can forget only the last of them,
                which redelivers what they had settled or claimed, as at
                least once allows. SQLite: `synchronous = NORMAL` (the
                next durable commit of the file, an append's, writes them
                to disk too); PostgreSQL: `synchronous_commit = off`.
            brief: The work touches a few rows (a live dispatch round), so it
                may block the event loop for as long as it takes. SQLite runs
                a brief write that is not `durable` on the loop whenever the
                file's write lock is free at that moment, saving the hop
                (each of whose two wake-ups waits behind whatever the busy
                loop is doing); PostgreSQL ignores it.

        Returns:
            What `work` returned.

        Raises:
            StoreUnavailable: The database failed or cannot be reached.
        """
        ...

    def watch(self, wake: Callable[[str], None]) -> None:
        """Calls `wake(group)` when another process announces a group (see `Tx.announce`).

        Called on the event loop; the first call starts listening, later
        calls replace `wake`. SQLite: never calls it.
        """
        ...

    async def close(self) -> None:
        """Releases the connection (and stops watching)."""
        ...
